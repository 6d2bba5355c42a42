"""Import MHSDS monthly statistics (provider x month) into the cocEval data contract.

Two layouts are recognised from a file's content (never its name):

``reduced``
    Four fields per row, with or without the header
    ``REPORTING_PERIOD_START,PRIMARY_LEVEL_DESCRIPTION,MEASURE_ID|MEASURE_NAME,MEASURE_VALUE``:
    provider rows cut from the monthly files, provider *names* as the only key (the
    PROD-ALERT-2 extracts in ``../shared/real/mhsds/``). There is no BREAKDOWN column, so a file
    that also holds national or commissioner rows (``England``, ``... CCG``, ``... ICB``) is
    refused: its provider rows cannot be told apart by name alone.
``official``
    The publisher's long CSV: ``REPORTING_PERIOD_START, ..., BREAKDOWN, PRIMARY_LEVEL|LEVEL_ONE,
    PRIMARY_LEVEL_DESCRIPTION|LEVEL_ONE_DESCRIPTION, ..., MEASURE_ID|METRIC,
    MEASURE_VALUE|METRIC_VALUE``. Rows whose BREAKDOWN is ``Provider`` are kept (keyed by the
    organisation code); ``Provider; Restrictive Intervention Type`` rows give the per-type counts;
    every other breakdown is dropped and counted in the log.

Each row's measure is read from its measure field (an id such as ``MHS76`` or a published
name such as ``Bed days in RP``); see :data:`MEASURES`. Published counts are intervals
(:class:`~cocEval.importers._common.Cell`): ``*`` is 0-4, a multiple of 5 is rounded (+/-2).
A provider-month without a row for a measure is *absent* (empty value and bounds), never 0.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from cocEval.data import RESTRICTIVE_MEASURES
from cocEval.errors import ImportDataError
from cocEval.importers._common import (
    Cell,
    expand_paths,
    fail,
    merge_participation,
    merge_report,
    parse_count,
    parse_month,
    read_rows,
    sha256,
    write_atomically,
)
from cocEval.importers.crosswalk import Crosswalk, assign_ids


@dataclass(frozen=True)
class Measure:
    """A published MHSDS measure: its id, published names, and the contract column it fills.

    ``column`` None means known but not imported (``reason`` says why). ``concept`` groups
    measures that a series may switch between (reported as a measure switch).
    """

    id: str
    names: tuple[str, ...]
    column: str | None
    concept: str
    reason: str = ""
    suppressed_lower: int = 0


#: Measures the importer knows. Extend this tuple for new measures; nothing else changes.
MEASURES: tuple[Measure, ...] = (
    Measure(
        "MHS76",
        (
            "People subject to restrictive intervention in the reporting period",
            "People subject to restrictive intervention",
        ),
        "people_restricted",
        "people subject to restrictive intervention",
    ),
    Measure(
        "MHS77",
        (
            "Restrictive interventions in the reporting period",
            "Number of restrictive interventions in the reporting period",
        ),
        "restrictive_interventions",
        "restrictive interventions",
    ),
    Measure("MHS24", ("Bed days in RP", "Bed days in the reporting period"), "occupied_bed_days", "bed days"),
    Measure(
        "MHS09",
        ("People subject to detention at the end of the reporting period",),
        "people_detained",
        "detention / Mental Health Act",
    ),
    Measure(
        "MHS08",
        ("People subject to the Mental Health Act at the end of the reporting period",),
        "people_subject_to_mha",
        "detention / Mental Health Act",
    ),
    Measure(
        "MHS96",
        ("Restrictive interventions per 1,000 occupied bed days",),
        None,
        "restrictive interventions",
        reason="a rate per 1,000 bed days: cocEval computes rates from the counts",
    ),
    Measure(
        "MHS97",
        ("Proportion of people in hospital subject to restrictive intervention",),
        None,
        "people subject to restrictive intervention",
        reason="a percentage: not a count in the data contract",
    ),
)

#: Contract columns in output order: the restrictive practice table's, then two provider-level extras.
COLUMNS = (*RESTRICTIVE_MEASURES, "people_detained", "people_subject_to_mha")

#: Intervention type description keywords -> per-type contract columns (prone is also physical).
TYPE_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("PRONE", ("physical_restraint", "prone_restraint")),
    ("PHYSICAL", ("physical_restraint",)),
    ("SECLUSION", ("seclusion",)),
    ("SEGREGATION", ("segregation",)),
    ("MECHANICAL", ("mechanical_restraint",)),
    ("CHEMICAL", ("chemical_restraint",)),
    ("TRANQUIL", ("chemical_restraint",)),
)

_ID_SHAPED = re.compile(r"^[A-Z]{2,8}\d{1,4}[A-Z0-9_]*$")
_NON_PROVIDER = re.compile(
    r"^(ENGLAND|NATIONAL|TOTAL|ALL PROVIDERS)$|\bCCG\b|\bICB\b|\bSUB[ -]ICB\b|COMMISSIONING SUPPORT UNIT|"
    r"^NHS ENGLAND\b|\bCOMMISSIONING REGION$|\bSTP\b"
)
_NOT_A_PROVIDER_NAMES = frozenset({"UNKNOWN", "NONE", ""})

REDUCED_HEADER = ("REPORTING_PERIOD_START", "PRIMARY_LEVEL_DESCRIPTION", "MEASURE_*", "MEASURE_VALUE")
_OFFICIAL_ALIASES = {
    "period": ("REPORTING_PERIOD_START", "REPORTING_PERIOD"),
    "breakdown": ("BREAKDOWN",),
    "code": ("PRIMARY_LEVEL", "LEVEL_ONE"),
    "name": ("PRIMARY_LEVEL_DESCRIPTION", "LEVEL_ONE_DESCRIPTION"),
    "secondary": ("SECONDARY_LEVEL_DESCRIPTION", "LEVEL_TWO_DESCRIPTION"),
    "measure": ("MEASURE_ID", "METRIC"),
    "value": ("MEASURE_VALUE", "METRIC_VALUE"),
}
_OFFICIAL_REQUIRED = ("period", "breakdown", "code", "name", "measure", "value")


def _key(text: str) -> str:
    return " ".join(text.upper().split())


_BY_KEY: dict[str, Measure] = {}
for _m in MEASURES:
    _BY_KEY[_key(_m.id)] = _m
    for _n in _m.names:
        _BY_KEY[_key(_n)] = _m


def find_measure(text: str) -> Measure | None:
    """The known measure whose id or published name is ``text`` (case and spacing ignored).

    Examples
    --------
    >>> find_measure("bed days in rp").id, find_measure("MHS76").column
    ('MHS24', 'people_restricted')
    >>> find_measure("Something else") is None
    True
    """
    return _BY_KEY.get(_key(text))


@dataclass
class _Obs:
    file: str
    line: int
    name: str
    code: str | None
    month: str
    measure: Measure
    columns: tuple[str, ...]
    cell: Cell
    detail: str  # intervention type for type rows, else ""


class _FileLog:
    def __init__(self, path: Path, layout: str, header: bool, rows: int):
        self.info = {
            "file": path.name,
            "sha256": sha256(path),
            "layout": layout,
            "header": header,
            "data_rows": rows,
            "rows_kept": 0,
            "rows_dropped": {},
            "measures": {},
            "months": [],
        }
        self.examples: dict[str, list] = defaultdict(list)
        self.months: set[str] = set()

    def keep(self, obs: _Obs) -> None:
        self.info["rows_kept"] += 1
        label = f"{obs.measure.id} ({obs.measure.names[0]})" if obs.measure.names else obs.measure.id
        self.info["measures"][label] = self.info["measures"].get(label, 0) + 1
        self.months.add(obs.month)

    def drop(self, line: int, reason: str, fields: list[str]) -> None:
        d = self.info["rows_dropped"]
        d[reason] = d.get(reason, 0) + 1
        if len(self.examples[reason]) < 50:
            self.examples[reason].append({"line": line, "fields": fields})

    def done(self) -> dict:
        self.info["months"] = sorted(self.months)
        self.info["dropped_examples"] = dict(self.examples)
        return self.info


def _measure_or_fail(text: str, path: Path, line: int, official: bool) -> Measure | None:
    m = find_measure(text)
    if m is not None:
        return m
    if official and _ID_SHAPED.match(text.strip().upper()):
        return None  # a publisher's measure id cocEval does not use: dropped and counted
    known = ", ".join(f"{x.id} ({x.names[0]})" if x.names else x.id for x in MEASURES)
    raise fail(path, line, "measure is one the importer knows", f"{text!r} is not one of: {known}")


def _read_reduced(path: Path, rows: list[tuple[int, list[str]]], header: bool) -> tuple[list[_Obs], dict]:
    body = rows[1:] if header else rows
    flog = _FileLog(path, "reduced (4 fields: period, provider name, measure, value)", header, len(body))
    for line, f in body:
        if len(f) != 4:
            raise fail(path, line, "4 fields per row (reduced layout)", f"found {len(f)} fields: {f!r}")
    mixed = [(line, f[1]) for line, f in body if _NON_PROVIDER.search(f[1].upper())]
    if mixed:
        eg = "; ".join(f"line {ln}: {n!r}" for ln, n in mixed[:3])
        raise fail(
            path,
            mixed[0][0],
            "provider rows only",
            f"the file mixes geographies ({len(mixed)} national or commissioner row(s), e.g. {eg}) and has no "
            "BREAKDOWN column to tell providers from other areas by; import the publisher's file (with BREAKDOWN) "
            "or a provider-only extract",
        )
    out = []
    for line, f in body:
        month = parse_month(f[0], file=path, line=line)
        measure = _measure_or_fail(f[2], path, line, official=False)
        cell = parse_count(f[3], file=path, line=line, suppressed_lower=measure.suppressed_lower)
        if measure.column is None:
            flog.drop(line, f"measure {measure.id} not imported: {measure.reason}", f)
            continue
        if _key(f[1]) in _NOT_A_PROVIDER_NAMES:
            flog.drop(line, f"provider name {f[1]!r} does not identify a provider", f)
            continue
        obs = _Obs(path.name, line, f[1], None, month, measure, (measure.column,), cell, "")
        flog.keep(obs)
        out.append(obs)
    return out, flog.done()


def _type_columns(description: str) -> tuple[str, ...]:
    d = description.upper()
    for word, cols in TYPE_KEYWORDS:
        if word in d:
            return cols
    return ()


def _read_official(path: Path, rows: list[tuple[int, list[str]]], idx: dict[str, int]) -> tuple[list[_Obs], dict]:
    body = rows[1:]
    flog = _FileLog(path, "official (long, with BREAKDOWN)", True, len(body))
    width = len(rows[0][1])
    out = []
    for line, f in body:
        if len(f) != width:
            raise fail(path, line, f"{width} fields per row (as in the header)", f"found {len(f)} fields")
        breakdown = " ".join(f[idx["breakdown"]].lower().split())
        is_type = breakdown.replace(" ", "") == "provider;restrictiveinterventiontype"
        if breakdown != "provider" and not is_type:
            flog.drop(line, f"breakdown {f[idx['breakdown']]!r} is not provider level", f)
            continue
        month = parse_month(f[idx["period"]], file=path, line=line)
        measure = _measure_or_fail(f[idx["measure"]], path, line, official=True)
        if measure is None:
            flog.drop(line, f"measure {f[idx['measure']]!r} not used by cocEval", f)
            continue
        if measure.column is None:
            flog.drop(line, f"measure {measure.id} not imported: {measure.reason}", f)
            continue
        cell = parse_count(f[idx["value"]], file=path, line=line, suppressed_lower=measure.suppressed_lower)
        code, name = f[idx["code"]].strip().upper(), f[idx["name"]]
        if code in _NOT_A_PROVIDER_NAMES or _key(name) in _NOT_A_PROVIDER_NAMES:
            flog.drop(line, "provider code or name UNKNOWN does not identify a provider", f)
            continue
        detail, columns = "", (measure.column,)
        if is_type:
            if measure.column != "restrictive_interventions":
                flog.drop(line, f"{measure.id} by intervention type is not in the data contract", f)
                continue
            detail = f[idx["secondary"]] if "secondary" in idx else ""
            columns = _type_columns(detail)
            if not columns:
                flog.drop(line, f"intervention type {detail!r} not mapped to a contract column", f)
                continue
        obs = _Obs(path.name, line, name, code, month, measure, columns, cell, detail)
        flog.keep(obs)
        out.append(obs)
    return out, flog.done()


def read_mhsds_file(path: str | Path) -> tuple[list[_Obs], dict]:
    """Recognise a file's layout from its content and read its provider rows.

    Returns the kept observations and the file's log entry.

    Raises
    ------
    ImportDataError
        Unknown layout, geography mix, unknown measure, unparseable date or value.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "any_name.csv"
    >>> _ = p.write_text("2023-04-01,SOME TRUST,MHS76,15\\n2023-04-01,OTHER TRUST,MHS76,*\\n")
    >>> obs, log = read_mhsds_file(p)
    >>> log["layout"].split()[0], log["rows_kept"], [o.cell.kind for o in obs]
    ('reduced', 2, ['rounded', 'suppressed'])
    """
    path = Path(path)
    rows = read_rows(path)
    if not rows:
        raise fail(path, None, "file has data rows", "the file is empty")
    first = [h.upper() for h in rows[0][1]]
    idx = {}
    for role, names in _OFFICIAL_ALIASES.items():
        hit = next((first.index(n) for n in names if n in first), None)
        if hit is not None:
            idx[role] = hit
    if all(r in idx for r in _OFFICIAL_REQUIRED):
        return _read_official(path, rows, idx)
    if (
        len(first) == 4
        and first[0] == REDUCED_HEADER[0]
        and first[1] == REDUCED_HEADER[1]
        and first[2] in ("MEASURE_ID", "MEASURE_NAME")
        and first[3] == REDUCED_HEADER[3]
    ):
        return _read_reduced(path, rows, header=True)
    if len(first) == 4 and not any(c.isalpha() for c in first[0]):
        return _read_reduced(path, rows, header=False)
    raise fail(
        path,
        rows[0][0],
        "known layout",
        "neither the reduced 4-field layout (period, provider name, measure, value; header optional) nor the "
        "official long layout (REPORTING_PERIOD_START, BREAKDOWN, PRIMARY_LEVEL, PRIMARY_LEVEL_DESCRIPTION, "
        f"MEASURE_ID, MEASURE_VALUE); first row: {rows[0][1][:6]!r}",
    )


def _measure_switches(obs: list[_Obs]) -> list[dict]:
    by_concept: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for o in obs:
        by_concept[o.measure.concept][o.measure.id].add(o.month)
    switches = []
    for concept, measures in by_concept.items():
        if len(measures) < 2:
            continue
        months = sorted(set().union(*measures.values()))
        seq = []
        for m in months:
            present = tuple(sorted(k for k, v in measures.items() if m in v))
            if not seq or seq[-1][1] != present:
                seq.append((m, present))
        switches.append(
            {
                "concept": concept,
                "measures": {
                    k: {
                        "column": next(o.measure.column for o in obs if o.measure.id == k),
                        "first_month": min(v),
                        "last_month": max(v),
                    }
                    for k, v in sorted(measures.items())
                },
                "changes": [
                    {"month": m, "from": list(seq[i - 1][1]), "to": list(p)} for i, (m, p) in enumerate(seq) if i > 0
                ],
                "handling": "different measures, written to different columns; not joined into one series",
            }
        )
    return switches


def import_mhsds(paths, out: str | Path, crosswalk: str | Path | Crosswalk | None = None) -> dict:
    """Import MHSDS files into ``out``: ``restrictive_practice.csv``, ``participation.csv`` and the log.

    Parameters
    ----------
    paths : iterable of str or Path
        Files, or folders whose ``*.csv`` files are all read (recursively).
    out : str or Path
        Output folder; written all or nothing (a temporary folder beside it, then moved).
    crosswalk : path or Crosswalk, optional
        Maps provider names to ODS codes (a staff-survey organisational results file or a
        name,code CSV; see :func:`~cocEval.importers.crosswalk.read_crosswalk`). Unmatched
        names keep a stable derived id.

    Returns
    -------
    dict
        The import log (also written to ``out/import_report.json`` under ``"mhsds"``).

    Raises
    ------
    ImportDataError
        One clear error naming the file, line and rule; nothing is written.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "x.csv").write_text("01/05/2023,A TRUST,MHS76,10\\n01/05/2023,A TRUST,Bed days in RP,3105\\n")
    >>> log = import_mhsds([d / "x.csv"], d / "out")
    >>> log["providers"], log["provider_months"], sorted(p.name for p in (d / "out").iterdir())
    (1, 1, ['import_report.json', 'participation.csv', 'restrictive_practice.csv'])
    """
    out = Path(out)
    obs: list[_Obs] = []
    file_logs = []
    for f in expand_paths(paths):
        o, flog = read_mhsds_file(f)
        obs.extend(o)
        file_logs.append(flog)
    pid, matching = _provider_ids(obs, crosswalk)
    cells, duplicates, combined = _cells(obs, pid)
    latest: dict[str, tuple[str, str]] = {}  # provider id -> (month, name) of its latest row
    for o, p in zip(obs, pid):
        if p not in latest or o.month >= latest[p][0]:
            latest[p] = (o.month, o.name)
    present_cols = [c for c in COLUMNS if any(k[2] == c for k in cells)]
    pms = sorted({(k[0], k[1]) for k in cells})
    rp = _restrictive_practice(cells, pms, present_cols, latest)
    providers = sorted({p for p, _ in pms})
    part = pd.DataFrame(
        {
            "provider_id": providers,
            "provider_name": [latest[p][1] for p in providers],
            **dict.fromkeys(("cohort", "start_month", "coaching_end_month", "wards_enrolled", "region"), pd.NA),
        }
    )
    report = _import_log(obs, cells, pms, present_cols, file_logs, matching, duplicates, combined)
    part, kept_existing = merge_participation(out, part)
    report["participation"] = {
        "rows": len(part),
        "kept_from_existing_file": kept_existing,
        "note": "cohort, start_month, coaching_end_month, wards_enrolled and region are left for you to fill",
    }
    write_atomically(
        out,
        {
            "restrictive_practice.csv": lambda t: rp.to_csv(t, index=False),
            "participation.csv": lambda t: part.to_csv(t, index=False),
            "import_report.json": merge_report(out, "mhsds", report),
        },
    )
    return report


def _provider_ids(obs: list[_Obs], crosswalk) -> tuple[list[str], dict]:
    """Each observation's provider id (its code, or the crosswalk's code for its name, or a
    stable derived id) and the name-matching log."""
    from cocEval.importers.crosswalk import read_crosswalk

    cw = crosswalk if isinstance(crosswalk, Crosswalk) or crosswalk is None else read_crosswalk(crosswalk)
    # names and codes published together in official files name the same providers in reduced files
    official_pairs = sorted({(o.name, o.code) for o in obs if o.code is not None})
    if official_pairs and any(o.code is None for o in obs):
        extra = Crosswalk.from_pairs(official_pairs, source="names and codes in the official-layout files")
        cw = (
            extra
            if cw is None
            else Crosswalk(
                codes={**cw.codes, **extra.codes},
                ambiguous={**cw.ambiguous, **extra.ambiguous},
                source=f"{extra.source}, then {cw.source}",
            )
        )
    named = sorted({o.name for o in obs if o.code is None})
    ids, matching = assign_ids(named, cw)
    for o in obs:
        if o.code is not None:
            ids.setdefault(o.name, o.code)
    return [o.code if o.code is not None else ids[o.name] for o in obs], matching


def _cells(obs: list[_Obs], pid: list[str]) -> tuple[dict[tuple[str, str, str], Cell], list, list]:
    """One cell per provider, month and column.

    The same row twice (e.g. two versions of a file) is kept once when equal and refused when
    different; rows of one provider under several names in one month are added up (logged).
    """
    seen: dict[tuple, _Obs] = {}
    cells: dict[tuple[str, str, str], Cell] = {}
    duplicates = []
    combined = []
    for o, p in zip(obs, pid):
        for col in o.columns:
            src = (p, o.month, col, " ".join(o.name.upper().split()), o.measure.id, o.detail)
            if src in seen:
                prev = seen[src]
                if prev.cell != o.cell:
                    raise fail(
                        o.file,
                        o.line,
                        "one value per provider, month and measure",
                        f"{o.name!r} {o.measure.id} {o.month} is {o.cell.value or '*'} here but "
                        f"{prev.cell.value or '*'} in {prev.file} line {prev.line}",
                    )
                duplicates.append({"file": o.file, "line": o.line, "same_as": f"{prev.file} line {prev.line}"})
                continue
            seen[src] = o
            key = (p, o.month, col)
            if key in cells:
                cells[key] = cells[key] + o.cell
                if not o.detail:
                    combined.append({"provider_id": p, "month": o.month, "column": col, "name": o.name})
            else:
                cells[key] = o.cell
    return cells, duplicates, combined


def _restrictive_practice(cells: dict, pms: list, present_cols: list[str], latest: dict) -> pd.DataFrame:
    """The provider-month table: each present column with its ``_lower`` and ``_upper`` bounds."""
    records = []
    for p, m in pms:
        rec = {"provider_id": p, "provider_name": latest[p][1], "month": m}
        for c in present_cols:
            cell = cells.get((p, m, c))
            rec[c] = None if cell is None else cell.value
            rec[f"{c}_lower"] = None if cell is None else cell.lower
            rec[f"{c}_upper"] = None if cell is None else cell.upper
        records.append(rec)
    rp = pd.DataFrame.from_records(
        records,
        columns=["provider_id", "provider_name", "month"]
        + [f"{c}{s}" for c in present_cols for s in ("", "_lower", "_upper")],
    )
    for c in rp.columns[3:]:
        rp[c] = rp[c].astype("Int64")
    return rp


def _import_log(obs, cells, pms, present_cols, file_logs, matching, duplicates, combined) -> dict:
    """The import log: files, providers, provider-months, cells by kind, name matches, switches."""
    per_column = {}
    for c in present_cols:
        kinds = Counter(v.kind for k, v in cells.items() if k[2] == c)
        per_column[c] = {
            "provider_months": sum(kinds.values()),
            "providers": len({k[0] for k in cells if k[2] == c}),
            "suppressed_cells": kinds.get("suppressed", 0),
            "rounded_cells": kinds.get("rounded", 0),
            "exact_cells": kinds.get("exact", 0),
            "sum_of_shown_values": int(sum(v.value or 0 for k, v in cells.items() if k[2] == c)),
        }
    suppressed_by_measure = Counter(o.measure.id for o in obs if o.cell.kind == "suppressed" and not o.detail)
    return {
        "importer": "mhsds",
        "files": file_logs,
        "providers": len({p for p, _ in pms}),
        "provider_months": len(pms),
        "months": sorted({m for _, m in pms}),
        "columns": per_column,
        "suppressed_cells_by_measure": dict(sorted(suppressed_by_measure.items())),
        "bounds": {
            "suppressed": "'*' -> value empty, bounds 0-4 (a count under 5)",
            "rounded": "a multiple of 5 -> value kept, bounds value-2..value+2, never below 5",
            "exact": "any other whole number -> bounds equal to the value",
            "absent": "no row for a provider-month -> value and bounds empty (not reported, not 0)",
        },
        "name_matching": matching,
        "measure_switches": _measure_switches(obs),
        "duplicate_rows_skipped": duplicates,
        "rows_combined": combined,
        "representation": "provider-month rows, no ward_id (MHSDS is published at provider level)",
    }


__all__ = ["COLUMNS", "MEASURES", "Measure", "find_measure", "import_mhsds", "read_mhsds_file", "ImportDataError"]
