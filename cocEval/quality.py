"""Data completeness and quality for one provider: what the report says before any model.

Three things worth knowing before believing a trend: which ward-months (or, in provider-level
published data, provider-months) are missing, where a provider reported no restrictive practice
at all for a stretch (in MHSDS this is more often a recording gap than a run of perfect months),
and which months are provisional (the latest MHSDS months undercount).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cocEval.data import ProgrammeData, provider_months
from cocEval.errors import NotEstimableError


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
    if not is_ward_level(prog):
        raise NotEstimableError("provider-level data: there are no wards (see provider_month_completeness)")
    months = prog.months
    rows = []
    rp = prog.restrictive_practice[prog.restrictive_practice["provider_id"] == provider_id]
    pe = prog.patient_experience[prog.patient_experience["provider_id"] == provider_id]
    if rp.empty and pe.empty:
        raise NotEstimableError(f"provider {provider_id!r} has no ward-month rows")
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


def is_ward_level(prog: ProgrammeData) -> bool:
    """True when the monthly tables present are ward-months (they have ``ward_id``).

    Examples
    --------
    With ``prog = load_programme("data/synthetic")``:

    >>> is_ward_level(prog)
    True
    """
    tables = [t for t in ("restrictive_practice", "patient_experience") if t in prog.tables]
    return bool(tables) and all("ward_id" in getattr(prog, t).columns for t in tables)


def provider_month_completeness(prog: ProgrammeData, provider_id: str, table: str, count: str) -> dict:
    """Provider-level data: which months a provider reported one count, and how it was published.

    Months run from the provider's first row in ``table`` to the data's last month. A month is
    *not reported* when the provider has no row, or a row with neither the count nor its bounds
    (absent is not zero); *suppressed* when only bounds were published; *rounded* when the value
    has bounds around it.

    Returns
    -------
    dict
        ``expected``, ``reported``, ``suppressed``, ``rounded`` (numbers of months) and
        ``missing`` (the months not reported, as Timestamps).

    Examples
    --------
    >>> import pandas as pd
    >>> from types import SimpleNamespace
    >>> rp = pd.DataFrame({"provider_id": "A", "month": pd.to_datetime(["2024-01-01", "2024-03-01"]),
    ...                    "n": [None, 10.0], "n_lower": [0.0, 8], "n_upper": [4.0, 12]})
    >>> prog = SimpleNamespace(restrictive_practice=rp, months=pd.date_range("2024-01-01", periods=3, freq="MS"))
    >>> c = provider_month_completeness(prog, "A", "restrictive_practice", "n")
    >>> c["expected"], c["reported"], c["suppressed"], c["rounded"], [f"{m:%Y-%m}" for m in c["missing"]]
    (3, 2, 1, 1, ['2024-02'])
    """
    df = getattr(prog, table)
    rows = df[df["provider_id"] == provider_id]
    months = prog.months
    if rows.empty or count not in df.columns:
        return {"expected": 0, "reported": 0, "suppressed": 0, "rounded": 0, "missing": []}
    expected = months[months >= rows["month"].min()]
    lo = rows[f"{count}_lower"] if f"{count}_lower" in rows.columns else rows[count]
    up = rows[f"{count}_upper"] if f"{count}_upper" in rows.columns else rows[count]
    reported = rows[rows[count].notna() | (lo.notna() & up.notna())]
    suppressed = int((reported[count].isna()).sum())
    rounded = int((reported[count].notna() & (lo[reported.index] < up[reported.index])).sum())
    missing = list(expected.difference(pd.DatetimeIndex(reported["month"])))
    return {
        "expected": len(expected),
        "reported": int(reported["month"].nunique()),
        "suppressed": suppressed,
        "rounded": rounded,
        "missing": missing,
    }


def zero_stretches(prog: ProgrammeData, provider_id: str, *, min_length: int = 3) -> pd.DataFrame:
    """Runs of at least ``min_length`` months in which the provider reported no restrictive
    interventions at all while reporting occupied bed days.

    Examples
    --------
    With ``prog = load_programme("data/synthetic")``:

    >>> zero_stretches(prog, "SYN001").columns.tolist()
    ['first_month', 'last_month', 'months', 'bed_days']
    """
    # every provider's runs at once, kept with the data
    runs = prog.derived(("zero_stretches", min_length), lambda: _all_zero_stretches(prog, min_length))
    return runs[runs["provider_id"] == provider_id].drop(columns="provider_id").reset_index(drop=True)


def _all_zero_stretches(prog: ProgrammeData, min_length: int) -> pd.DataFrame:
    cols = ["provider_id", "first_month", "last_month", "months", "bed_days"]
    sums = provider_months(prog, "restrictive_practice")
    # published provider-level data may carry people restricted only (MHSDS MHS76)
    count = next((c for c in ("restrictive_interventions", "people_restricted") if c in sums.columns), None)
    if count is None or "occupied_bed_days" not in sums.columns or sums.empty:
        return pd.DataFrame(columns=cols)
    grid = pd.MultiIndex.from_product([sums["provider_id"].unique(), prog.months], names=["provider_id", "month"])
    pm = sums.set_index(["provider_id", "month"])[[count, "occupied_bed_days"]]
    pm = pm.reindex(grid, fill_value=0).reset_index()
    # a suppressed or not-reported count (NaN) is not a zero
    zero = ((pm[count] == 0) & (pm["occupied_bed_days"] > 0)).to_numpy(dtype=bool)
    pid = pm["provider_id"].to_numpy(dtype=object)
    # a run starts where "zero" changes or a new provider begins
    starts = np.r_[True, (zero[1:] != zero[:-1]) | (pid[1:] != pid[:-1])]
    pm["zero"], pm["run"] = zero, np.cumsum(starts)
    z = pm[pm["zero"]]
    runs = z.groupby("run").agg(
        provider_id=("provider_id", "first"),
        first=("month", "min"),
        last=("month", "max"),
        months=("month", "size"),
        bed_days=("occupied_bed_days", "sum"),
    )
    runs = runs[runs["months"] >= min_length]
    return pd.DataFrame(
        {
            "provider_id": runs["provider_id"].to_numpy(),
            "first_month": runs["first"].dt.strftime("%Y-%m").to_numpy(),
            "last_month": runs["last"].dt.strftime("%Y-%m").to_numpy(),
            "months": runs["months"].astype(int).to_numpy(),
            "bed_days": runs["bed_days"].astype(int).to_numpy(),
        },
        columns=cols,
    )


def provisional_months(prog: ProgrammeData, n: int) -> list[pd.Timestamp]:
    """The last ``n`` months of the data, treated as provisional (left out of models).

    Examples
    --------
    With ``prog = load_programme("data/synthetic")``:

    >>> provisional_months(prog, 1)
    [Timestamp('2026-03-01 00:00:00')]
    """
    return list(prog.months[-n:]) if n > 0 else []
