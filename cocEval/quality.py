"""Data completeness and quality for one provider: what the report says before any model.

Three things worth knowing before believing a trend: which ward-months are missing, where a
provider reported no restrictive practice at all for a stretch (in MHSDS this is more often a
recording gap than a run of perfect months), and which months are provisional (the latest
MHSDS months undercount).
"""

from __future__ import annotations

import pandas as pd

from cocEval.data import ProgrammeData


def ward_completeness(prog: ProgrammeData, provider_id: str) -> pd.DataFrame:
    """Months reported and missing per ward (restrictive practice and patient experience).

    Returns
    -------
    DataFrame
        One row per ward: ``ward_id``, ``first_month``, ``last_month``, ``months_expected``
        (from the provider's first to the programme's last month), ``rp_months``,
        ``pe_months``, ``missing_months`` (restrictive practice, as "YYYY-MM, ...").

    Examples
    --------
    With ``prog = load_programme("data/synthetic")``:

    >>> ward_completeness(prog, "SYN001").columns[0]
    'ward_id'
    """
    months = prog.months
    rows = []
    rp = prog.restrictive_practice[prog.restrictive_practice["provider_id"] == provider_id]
    pe = prog.patient_experience[prog.patient_experience["provider_id"] == provider_id]
    if rp.empty and pe.empty:
        raise ValueError(f"provider {provider_id!r} has no ward-month rows")
    for ward, g in rp.groupby("ward_id"):
        expected = months[months >= g["month"].min()]
        missing = expected.difference(pd.DatetimeIndex(g["month"]))
        rows.append(
            {
                "ward_id": ward,
                "first_month": g["month"].min().strftime("%Y-%m"),
                "last_month": g["month"].max().strftime("%Y-%m"),
                "months_expected": len(expected),
                "rp_months": g["month"].nunique(),
                "pe_months": int((pe["ward_id"] == ward).sum()),
                "missing_months": ", ".join(m.strftime("%Y-%m") for m in missing),
            }
        )
    return pd.DataFrame(rows)


def zero_stretches(prog: ProgrammeData, provider_id: str, *, min_length: int = 3) -> pd.DataFrame:
    """Runs of at least ``min_length`` months in which the provider reported no restrictive
    interventions at all while reporting occupied bed days.

    Examples
    --------
    With ``prog = load_programme("data/synthetic")``:

    >>> zero_stretches(prog, "SYN001").columns.tolist()
    ['first_month', 'last_month', 'months', 'bed_days']
    """
    rp = prog.restrictive_practice[prog.restrictive_practice["provider_id"] == provider_id]
    pm = (
        rp.groupby("month")[["restrictive_interventions", "occupied_bed_days"]].sum().reindex(prog.months, fill_value=0)
    )
    zero = (pm["restrictive_interventions"] == 0) & (pm["occupied_bed_days"] > 0)
    run_id = (zero != zero.shift()).cumsum()
    out = []
    for _, g in pm[zero].groupby(run_id[zero]):
        if len(g) >= min_length:
            out.append(
                {
                    "first_month": g.index.min().strftime("%Y-%m"),
                    "last_month": g.index.max().strftime("%Y-%m"),
                    "months": len(g),
                    "bed_days": int(g["occupied_bed_days"].sum()),
                }
            )
    return pd.DataFrame(out, columns=["first_month", "last_month", "months", "bed_days"])


def provisional_months(prog: ProgrammeData, n: int) -> list[pd.Timestamp]:
    """The last ``n`` months of the data, treated as provisional (left out of models).

    Examples
    --------
    With ``prog = load_programme("data/synthetic")``:

    >>> provisional_months(prog, 1)
    [Timestamp('2026-03-01 00:00:00')]
    """
    return list(prog.months[-n:]) if n > 0 else []
