"""Import NHS Staff Survey organisation-level results into ``staff_survey.csv``.

Recognised layout (from the header, never the file name): one row per organisation x survey
year with ``ODS code``, ``Year``, ``Organisation name``, ``Weighting`` and, per question, a
percentage ``<Question>_rate`` (0-100, weighted as ``Weighting`` says) and its base
``<Question>_base`` (number of responses to that question) - the merged organisational results
in ``../shared/real/staff_survey/``.

What is written: the published percentages and bases, never counts derived from them (the
percentages are weighted, so ``rate x base`` is not a count of respondents). The contract's
count columns (``violence_from_patients``, ...) are left empty; ``<indicator>_pct`` and
``<indicator>_base`` carry the data, and ``weighting`` states how the percentage was weighted.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pandas as pd

from cocEval.importers._common import (
    expand_paths,
    fail,
    merge_participation,
    merge_report,
    read_rows,
    sha256,
    write_atomically,
)

#: Contract indicator -> question stem in the merged file (``<stem>_rate``, ``<stem>_base``).
INDICATORS: dict[str, tuple[str, str]] = {
    "violence_from_patients": (
        "Physical_public",
        "Q13a: physical violence from patients/service users, relatives or the public (% at least once)",
    ),
    "harassment_from_patients": (
        "Emotional_public",
        "Q14a: harassment, bullying or abuse from patients/service users, relatives or the public (% at least once)",
    ),
    "discrimination_from_patients": (
        "Discrimination_public",
        "Q16a: discrimination from patients/service users, relatives or the public (% yes)",
    ),
    "violence_from_managers": ("Physical_manager", "Q13b: physical violence from managers (% at least once)"),
    "violence_from_colleagues": (
        "Physical_colleagues",
        "Q13c: physical violence from other colleagues (% at least once)",
    ),
    "harassment_from_managers": (
        "Emotional_manager",
        "Q14b: harassment, bullying or abuse from managers (% at least once)",
    ),
    "harassment_from_colleagues": (
        "Emotional_colleagues",
        "Q14c: harassment, bullying or abuse from other colleagues (% at least once)",
    ),
    "discrimination_from_staff": (
        "Discrimination_internal",
        "Q16b: discrimination from a manager, team leader or colleagues (% yes)",
    ),
    "work_stress": ("Stress", "Q11c: unwell as a result of work-related stress in the last 12 months (% yes)"),
    "burned_out": ("Burned_out", "Q12b: burnt out because of work (% often or always)"),
    "enough_staff": ("Enough_staff", "Q3i: enough staff to do the job properly (% agree or strongly agree)"),
}

#: Contract columns with no source in the organisational results: left empty.
NOT_AVAILABLE = ("engagement", "morale", "recommend_workplace")

NHS_REGIONS = frozenset(
    {"LONDON", "SOUTH EAST", "SOUTH WEST", "MIDLANDS", "EAST OF ENGLAND", "NORTH EAST AND YORKSHIRE", "NORTH WEST"}
)

_REQUIRED = ("ODS CODE", "YEAR", "ORGANISATION NAME", "WEIGHTING")
_NUM = re.compile(r"^-?\d+(\.\d+)?([eE]-?\d+)?$")


def _region(v: str) -> str:
    return " ".join(v.upper().replace("&", "AND").split())


def import_staff_survey(paths, out: str | Path) -> dict:
    """Import staff survey organisational results into ``out/staff_survey.csv`` (and the log).

    Rows are keyed by ODS code and survey year (the autumn fieldwork year). When ``out`` already
    holds a ``participation.csv`` (e.g. from :func:`~cocEval.importers.mhsds.import_mhsds`),
    only its providers' rows are kept and the others are counted as dropped; otherwise every
    organisation is kept and a participation template listing them is written.

    Raises
    ------
    ImportDataError
        Unknown layout, a bad year, percentage or base, or a duplicate organisation-year, naming
        the file, line and rule; nothing is written.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "nss.csv").write_text(
    ...     "ODS code,Year,Organisation name,Weighting,Respondents,Physical_public_base,Physical_public_rate\\n"
    ...     "RXX,2023,Some NHS Trust,Occupation Group,812,800,15.25\\n")
    >>> log = import_staff_survey([d / "nss.csv"], d / "out")
    >>> row = pd.read_csv(d / "out" / "staff_survey.csv").iloc[0]
    >>> str(row["provider_id"]), float(row["violence_from_patients_pct"]), int(row["violence_from_patients_base"])
    ('RXX', 15.25, 800)
    """
    out = Path(out)
    files = expand_paths(paths)
    frames, file_logs = [], []
    for path in files:
        df, flog = _read_file(path)
        frames.append(df)
        file_logs.append(flog)
    ss = pd.concat(frames, ignore_index=True)
    dup = ss.duplicated(["provider_id", "survey_year"], keep=False)
    if dup.any():
        d = ss[dup].iloc[:2]
        raise fail(
            d.iloc[1]["_file"],
            int(d.iloc[1]["_line"]),
            "one row per ODS code and survey year",
            f"{d.iloc[0]['provider_id']} {d.iloc[0]['survey_year']} also at {d.iloc[0]['_file']} line {d.iloc[0]['_line']}",
        )

    prev = out / "participation.csv"
    dropped = {}
    if prev.is_file():
        known = set(pd.read_csv(prev, dtype="string")["provider_id"].dropna())
        keep = ss["provider_id"].isin(known)
        dropped = {
            "organisation not in the existing participation.csv": int((~keep).sum()),
        }
        ss = ss[keep]
    ss = ss.sort_values(["provider_id", "survey_year"]).reset_index(drop=True)
    provenance_cols = ["_file", "_line"]
    table = ss.drop(columns=provenance_cols)

    names = table.sort_values("survey_year").groupby("provider_id")["provider_name"].last()
    part = pd.DataFrame(
        {
            "provider_id": names.index,
            "provider_name": names.to_numpy(),
            "cohort": pd.NA,
            "start_month": pd.NA,
            "coaching_end_month": pd.NA,
            "wards_enrolled": pd.NA,
            "region": pd.NA,
        }
    )
    part, kept_existing = merge_participation(out, part)

    report = {
        "importer": "staff-survey",
        "files": file_logs,
        "rows_written": len(table),
        "rows_dropped": dropped,
        "organisations": int(table["provider_id"].nunique()),
        "survey_years": sorted(int(y) for y in table["survey_year"].unique()),
        "weighting": {str(k): int(v) for k, v in Counter(table["weighting"]).items()},
        "indicators": {k: {"source": f"{v[0]}_rate / {v[0]}_base", "question": v[1]} for k, v in INDICATORS.items()},
        "not_available": {c: "not in the organisational results file; left empty" for c in NOT_AVAILABLE},
        "counts": (
            "violence_from_patients, harassment_from_patients and discrimination_from_patients are left empty: "
            "the published percentages are weighted, so percentage x base is not an exact count; use the _pct "
            "and _base columns"
        ),
        "respondents": "the file's Respondents column, which the merged file derived as the largest question base "
        "in the row, not the official number of completed questionnaires",
        "benchmarking_groups": {str(k): int(v) for k, v in Counter(table["benchmarking_group"].fillna("")).items()},
        "participation": {"rows": len(part), "kept_from_existing_file": kept_existing},
    }

    write_atomically(
        out,
        {
            "staff_survey.csv": lambda t: table.to_csv(t, index=False),
            "participation.csv": lambda t: part.to_csv(t, index=False),
            "import_report.json": merge_report(out, "staff_survey", report),
        },
    )
    return report


#: Text the merged file uses for "no value" in its region and ICS columns.
_NO_TEXT = ("", "-", "NA", "<NA>")


def _read_file(path: Path) -> tuple[pd.DataFrame, dict]:
    rows = read_rows(path)
    if not rows:
        raise fail(path, None, "file has rows", "the file is empty")
    header = rows[0][1]
    usable = _usable_indicators(path, rows[0][0], header)
    col = {h.upper(): i for i, h in enumerate(header)}

    def get(f, name):
        i = col.get(name.upper())
        return f[i] if i is not None and i < len(f) else ""

    records = []
    for line, f in rows[1:]:
        if len(f) != len(header):
            raise fail(path, line, f"{len(header)} fields per row (as in the header)", f"found {len(f)}")
        records.append(_record(path, line, f, get, usable))
    df, swapped_years = _region_columns(pd.DataFrame.from_records(records))
    order = [
        "provider_id",
        "survey_year",
        "provider_name",
        "benchmarking_group",
        "region",
        "ics",
        "weighting",
        "respondents",
    ]
    ind_cols = [c for ind in INDICATORS if ind in usable for c in (f"{ind}_pct", f"{ind}_base", ind)]
    df = df[order + ind_cols + list(NOT_AVAILABLE) + ["_file", "_line"]]
    for c in df.columns:
        if c.endswith("_base") or c == "respondents" or c in INDICATORS:
            df[c] = df[c].astype("Int64")
    flog = {
        "file": path.name,
        "sha256": sha256(path),
        "layout": "staff survey organisational results (one row per organisation x year, <question>_rate/_base)",
        "data_rows": len(rows) - 1,
        "rows_kept": len(df),
        "indicators_found": usable,
        "region_columns_swapped_in_years": swapped_years,
    }
    return df, flog


def _usable_indicators(path: Path, line: int, header: list[str]) -> list[str]:
    """The indicators whose ``<question>_rate``/``_base`` pair the header holds; refuses an
    unknown layout (required columns missing, or no question pair at all)."""
    up = [h.upper() for h in header]
    missing = [c for c in _REQUIRED if c not in up]
    stems = {h[: -len("_rate")] for h in header if h.endswith("_rate")} & {
        h[: -len("_base")] for h in header if h.endswith("_base")
    }
    usable = [k for k, (stem, _) in INDICATORS.items() if stem in stems]
    if missing or not usable:
        raise fail(
            path,
            line,
            "known layout (staff survey organisational results)",
            f"expected columns 'ODS code', 'Year', 'Organisation name', 'Weighting' and <question>_rate/<question>_base "
            f"pairs for {', '.join(v[0] for v in INDICATORS.values())}; missing: {missing or 'every question pair'}",
        )
    return usable


def _record(path: Path, line: int, f: list[str], get, usable: list[str]) -> dict:
    """One organisation-year: keys, weighting, respondents and each indicator's percentage and base."""
    code = get(f, "ODS code").strip()
    if not code:
        raise fail(path, line, "ODS code present", "empty ODS code")
    year = get(f, "Year").strip()
    if not re.fullmatch(r"\d{4}", year) or not 1990 <= int(year) <= 2100:
        raise fail(path, line, "survey year as YYYY", f"{year!r}")
    weighting = get(f, "Weighting").strip()
    if not weighting:
        raise fail(path, line, "weighting stated", "empty Weighting")
    rec = {
        "provider_id": code,
        "survey_year": int(year),
        "provider_name": get(f, "Organisation name").strip(),
        "benchmarking_group": get(f, "Benchmarking group").strip() or None,
        **{k: get(f, name).strip() for k, name in (("_region", "Region"), ("_ics_stp", "ICS/STP"), ("_ics", "ICS"))},
        "weighting": weighting,
        "respondents": _base(get(f, "Respondents"), path, line, "Respondents"),
        **{c: None for c in NOT_AVAILABLE},
        "_file": path.name,
        "_line": line,
    }
    for k in ("_region", "_ics_stp", "_ics"):
        rec[k] = "" if rec[k] in _NO_TEXT else rec[k]
    for ind, (stem, _) in INDICATORS.items():
        if ind in usable:
            rec[f"{ind}_pct"] = _pct(get(f, f"{stem}_rate"), path, line, f"{stem}_rate")
            rec[f"{ind}_base"] = _base(get(f, f"{stem}_base"), path, line, f"{stem}_base")
            rec[ind] = None
    return rec


def _region_columns(df: pd.DataFrame) -> tuple[pd.DataFrame, list[int]]:
    """``region`` and ``ics`` recognised from their content (one year of the merged file has
    Region and ICS/STP swapped); returns the frame and the years found swapped."""
    swapped_years = []
    region, system = [], []
    for y, g in df.groupby("survey_year", sort=True):
        in_region = g["_region"].map(_region).isin(NHS_REGIONS).sum()
        in_stp = g["_ics_stp"].map(_region).isin(NHS_REGIONS).sum()
        swap = in_stp > in_region
        if swap:
            swapped_years.append(int(y))
        region.append((g["_ics_stp"] if swap else g["_region"]).rename("region"))
        other = g["_region"] if swap else g["_ics_stp"]
        system.append(other.where(other != "", g["_ics"]).rename("ics"))
    df["region"] = pd.concat(region)
    df["ics"] = pd.concat(system)
    df = df.drop(columns=["_region", "_ics_stp", "_ics"])
    for c in ("region", "ics"):
        df[c] = df[c].where(~df[c].isin(_NO_TEXT))
    return df, swapped_years


def _pct(v: str, path, line, column) -> float | None:
    v = v.strip()
    if v == "":
        return None
    if not _NUM.match(v) or not 0 <= float(v) <= 100:
        raise fail(path, line, f"{column} is a percentage 0-100 or empty", f"{v!r}")
    return float(v)


def _base(v: str, path, line, column) -> int | None:
    v = v.strip()
    if v == "":
        return None
    if not _NUM.match(v) or float(v) < 0 or float(v) % 1:
        raise fail(path, line, f"{column} is a whole number >= 0 or empty", f"{v!r}")
    return int(float(v))
