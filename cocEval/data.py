"""Data layer: load, validate and aggregate the programme's four tidy tables.

The data contract (see the README's data dictionary) is four tables in one folder, as CSV or
Parquet:

- ``participation``: one row per provider (cohort and coaching dates);
- ``restrictive_practice``: one row per ward-month (occupied bed days, restrictive
  interventions in all and by type, people restricted);
- ``patient_experience``: one row per ward-month (responses, positive responses);
- ``staff_survey``: one row per provider-year (respondents, scores, counts).

:func:`load_programme` reads and validates them with pandera schemas, collecting *every* failure
before raising :class:`DataValidationError`, whose message names the file, the column, the rule
and example rows. Months become month-start Timestamps. Real extracts whose column names differ
are mapped onto the contract with a YAML mapping (``params/column_mapping.example.yaml``)
instead of editing code.

Aggregation helpers turn ward-months into provider-months (rates per 1,000 occupied bed days,
the MHSDS convention; proportions for patient experience) and build the balanced provider-period
panels the estimators take.
"""

from __future__ import annotations

import hashlib
import logging
import warnings
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
import pandera.pandas as pa
import yaml

from cocEval.errors import DataError, InputError

log = logging.getLogger(__name__)

_T = TypeVar("_T")

TABLES = ("participation", "restrictive_practice", "patient_experience", "staff_survey")

#: Per-type restrictive intervention counts. ``restrictive_interventions`` equals the sum of
#: ``physical_restraint``, ``seclusion``, ``segregation``, ``chemical_restraint`` and
#: ``mechanical_restraint``; ``prone_restraint`` is a subset of ``physical_restraint``.
RESTRICTIVE_TYPES = (
    "physical_restraint",
    "seclusion",
    "segregation",
    "chemical_restraint",
    "mechanical_restraint",
)
RESTRICTIVE_COUNTS = ("restrictive_interventions", *RESTRICTIVE_TYPES, "prone_restraint", "people_restricted")
#: The restrictive practice table's measures in file order (after its keys and ``ward_type``),
#: as the synthetic data and the MHSDS importer write them.
RESTRICTIVE_MEASURES = (
    "occupied_bed_days",
    "restrictive_interventions",
    "physical_restraint",
    "prone_restraint",
    "seclusion",
    "segregation",
    "chemical_restraint",
    "mechanical_restraint",
    "people_restricted",
)
STAFF_COUNTS = (
    "violence_from_patients",
    "harassment_from_patients",
    "discrimination_from_patients",
    "recommend_workplace",
)
STAFF_SCORES = ("engagement", "morale")

KEYS = {
    "participation": ["provider_id"],
    "restrictive_practice": ["provider_id", "ward_id", "month"],
    "patient_experience": ["provider_id", "ward_id", "month"],
    "staff_survey": ["provider_id", "survey_year"],
}

_MONTH_RE = r"^\d{4}-(0[1-9]|1[0-2])$"
_MAX_EXAMPLES = 5

#: A provider id: 1 to 40 letters, digits, ``-`` or ``_``, starting with a letter or digit (NHS
#: organisation codes such as ``RX4`` or ``TAJ`` fit). Ids become report file names, so nothing
#: else is allowed: no dots, slashes, spaces or other characters a file system or a web
#: browser treats specially.
PROVIDER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$"

#: Ids a provider may not take (compared ignoring case): the names of the batch's own files
#: and folders (the programme report, the index, the manifest, the run log) and the names
#: Windows reserves for devices.
RESERVED_IDS = frozenset(
    {"programme", "index", "manifest", "run", "executed", "providers", "stale"}
    | {"con", "prn", "aux", "nul"}
    | {f"{d}{i}" for d in ("com", "lpt") for i in range(10)}
)

#: Counts at or above this are rejected as implausible (and would overflow some arithmetic).
MAX_COUNT = 1_000_000_000

#: A ward can record at most this many restrictive interventions per occupied bed day (one an
#: hour); more is a data error (for example bed days and counts in swapped columns).
MAX_INTERVENTIONS_PER_BED_DAY = 24

#: The earliest month the data may hold (the MHSDS began in 2016; nothing before 2000 is real).
EARLIEST_MONTH = "2000-01"

#: Columns holding identifiers: read as text, with only an empty cell counting as missing (so a
#: provider called ``NA`` or ``NULL`` keeps its id).
ID_COLUMNS = ("provider_id", "ward_id")


def check_provider_id(provider_id: object) -> str | None:
    """The rule a provider id breaks, in words, or None when the id is acceptable.

    Parameters
    ----------
    provider_id : object
        The id as read from the data (anything; only strings can pass).

    Returns
    -------
    str or None
        None for a good id, else the rule it breaks.

    Examples
    --------
    >>> check_provider_id("RX4") is None
    True
    >>> check_provider_id("../../evil")
    'provider id pattern (1-40 letters, digits, - or _, starting with a letter or digit)'
    >>> check_provider_id("Index")
    'provider id not a reserved name (programme, index, manifest, ...)'
    """
    import re

    if not isinstance(provider_id, str) or not re.fullmatch(PROVIDER_ID_PATTERN, provider_id):
        return "provider id pattern (1-40 letters, digits, - or _, starting with a letter or digit)"
    if provider_id.lower() in RESERVED_IDS:
        return "provider id not a reserved name (programme, index, manifest, ...)"
    return None


def _current_month() -> str:
    return pd.Timestamp.now().strftime("%Y-%m")


class DataValidationError(DataError):
    """Raised when input data break the contract.

    ``failures`` is a DataFrame with one row per failing cell or row: ``file``, ``column``,
    ``rule``, ``row`` (1-based data row, i.e. the file line minus the header) and ``value``.
    The message groups them by file, column and rule, with example rows.
    """

    def __init__(self, source: str, failures: pd.DataFrame):
        self.source = source
        self.failures = failures
        super().__init__(self._format())

    def _format(self) -> str:
        groups = self.failures.groupby(["file", "column", "rule"], sort=False, dropna=False)
        lines = [f"Data validation failed for {self.source}: {groups.ngroups} rule(s) broken"]
        if groups.ngroups == 1:  # one broken rule: one line
            lines = [f"Data validation failed for {self.source}:"]
        for (file, column, rule), g in groups:
            examples = []
            for _, r in g.head(_MAX_EXAMPLES).iterrows():
                where = f"row {int(r['row'])}" if pd.notna(r["row"]) else "whole table"
                examples.append(f"{where}: {r['value']}" if r["value"] != "" else where)
            more = f" (+{len(g) - _MAX_EXAMPLES} more)" if len(g) > _MAX_EXAMPLES else ""
            lines.append(
                f"- file {file}, column '{column}', rule '{rule}': {len(g)} failing; e.g. {'; '.join(examples)}{more}"
            )
        return " ".join(lines) if len(lines) == 2 else "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Schemas (pandera). Rules are named in words because the names reach the error message.
# --------------------------------------------------------------------------------------------


def _numeric(s: pd.Series) -> pd.Series:
    return pd.to_numeric(s, errors="coerce")


def _check(fn, name: str) -> pa.Check:
    return pa.Check(fn, name=name, error=name)


_is_number = _check(lambda s: _numeric(s).notna() | s.isna(), "is a number")
_non_negative_integer = _check(
    lambda s: (_numeric(s) >= 0) & (_numeric(s) % 1 == 0) | _numeric(s).isna(),
    "non-negative integer",
)
_positive_integer = _check(
    lambda s: (_numeric(s) > 0) & (_numeric(s) % 1 == 0) | _numeric(s).isna(), "positive integer"
)
_month = _check(lambda s: s.astype(str).str.match(_MONTH_RE) | s.isna(), "month as YYYY-MM")
_year = _check(lambda s: (_numeric(s) % 1 == 0) & _numeric(s).between(1990, 2100) | s.isna(), "year (YYYY)")
_score = _check(lambda s: _numeric(s).between(0, 10) | s.isna(), "score within 0-10")
_below_max = _check(lambda s: (_numeric(s) < MAX_COUNT) | _numeric(s).isna(), "count below 1,000,000,000")
_provider_id = _check(
    lambda s: s.map(lambda v: check_provider_id(v) is None) | s.isna(),
    "provider id: 1-40 letters, digits, - or _, starting with a letter or digit; not a reserved name",
)
# Ids that differ only by case would share a report file on a case-insensitive file system
# (Windows, macOS). Exact duplicates are the key rule's business.
_unique_ignoring_case = _check(
    lambda s: ~(s.astype(str).str.lower().duplicated(keep=False) & ~s.duplicated(keep=False)) | s.isna(),
    "unique ignoring case (ids become file names)",
)
_month_in_range = _check(
    lambda s: (
        ~s.astype(str).str.match(_MONTH_RE)
        | ((s.astype(str) >= EARLIEST_MONTH) & (s.astype(str) <= _current_month()))
        | s.isna()
    ),
    f"month from {EARLIEST_MONTH} to the current month",
)
_text_id = _check(lambda s: s.map(lambda v: isinstance(v, str) and v.strip() != "") | s.isna(), "non-blank text")


def _col(checks=(), nullable=False) -> pa.Column:
    return pa.Column(checks=list(checks), nullable=nullable, coerce=False, required=True)


def _count(nullable=False) -> pa.Column:
    return _col([_is_number, _non_negative_integer, _below_max], nullable)


def _num(x: pd.DataFrame, c: str) -> pd.Series:
    return _numeric(x[c]).fillna(0)


def _at_most(d: pd.DataFrame, a: str, b: str, k: float) -> pd.Series:
    """Plausibility ``a <= k * b`` on each row; rows where either is not reported pass. With
    ``<col>_lower``/``<col>_upper`` bounds (disclosure-controlled inputs) the lower end of ``a``
    is compared with the upper end of ``b``. A table without either column passes (published
    provider-level data may carry only some counts)."""
    if a not in d.columns or b not in d.columns:
        return pd.Series(True, index=d.index)
    lo = _numeric(d[f"{a}_lower"] if f"{a}_lower" in d.columns else d[a])
    up = _numeric(d[f"{b}_upper"] if f"{b}_upper" in d.columns else d[b])
    return (lo <= k * up) | lo.isna() | up.isna()


#: Row rules that involve several columns, and the columns each one reads.
ROW_RULES: dict[str, tuple[str, ...]] = {}


def _row_rule(name: str, columns: tuple[str, ...], fn) -> pa.Check:
    ROW_RULES[name] = columns
    return pa.Check(fn, name=name, error=name)


SCHEMAS: dict[str, pa.DataFrameSchema] = {
    "participation": pa.DataFrameSchema(
        {
            "provider_id": _col([_provider_id, _unique_ignoring_case]),
            "provider_name": _col(),
            "cohort": _col(nullable=True),
            "start_month": _col([_month, _month_in_range], nullable=True),
            "coaching_end_month": _col([_month], nullable=True),
            "wards_enrolled": _col([_is_number, _non_negative_integer, _below_max], nullable=True),
            "region": _col(nullable=True),
        },
        checks=[
            _row_rule(
                "cohort and start_month both given or both empty",
                ("cohort", "start_month"),
                lambda d: d["start_month"].isna() == d["cohort"].isna(),
            ),
            _row_rule(
                "coaching_end_month not before start_month",
                ("start_month", "coaching_end_month"),
                lambda d: (
                    d["coaching_end_month"].isna()
                    | d["start_month"].isna()
                    | (d["coaching_end_month"].astype(str) >= d["start_month"].astype(str))
                ),
            ),
        ],
        unique=KEYS["participation"],
        report_duplicates="all",
    ),
    "restrictive_practice": pa.DataFrameSchema(
        {
            "provider_id": _col(),
            "ward_id": _col([_text_id]),
            "month": _col([_month, _month_in_range]),
            "occupied_bed_days": _col([_is_number, _non_negative_integer, _below_max]),
            **{c: _count() for c in RESTRICTIVE_COUNTS},
        },
        checks=[
            _row_rule(
                "restrictive_interventions equals the sum of the per-type counts",
                ("restrictive_interventions", *RESTRICTIVE_TYPES),
                lambda d: _num(d, "restrictive_interventions") == sum(_num(d, c) for c in RESTRICTIVE_TYPES),
            ),
            _row_rule(
                "prone_restraint <= physical_restraint",
                ("prone_restraint", "physical_restraint"),
                lambda d: _num(d, "prone_restraint") <= _num(d, "physical_restraint"),
            ),
            _row_rule(
                "people_restricted between 1 and restrictive_interventions when any",
                ("people_restricted", "restrictive_interventions"),
                lambda d: (
                    (_num(d, "people_restricted") <= _num(d, "restrictive_interventions"))
                    & ((_num(d, "people_restricted") > 0) | (_num(d, "restrictive_interventions") == 0))
                ),
            ),
            _row_rule(
                "occupied_bed_days positive where interventions were counted",
                ("occupied_bed_days", "restrictive_interventions"),
                lambda d: (_num(d, "occupied_bed_days") > 0) | (_num(d, "restrictive_interventions") == 0),
            ),
            _row_rule(
                f"restrictive_interventions at most {MAX_INTERVENTIONS_PER_BED_DAY} per occupied bed day",
                ("restrictive_interventions", "occupied_bed_days"),
                lambda d: _at_most(d, "restrictive_interventions", "occupied_bed_days", MAX_INTERVENTIONS_PER_BED_DAY),
            ),
            _row_rule(
                "people_restricted <= occupied_bed_days",
                ("people_restricted", "occupied_bed_days"),
                lambda d: _at_most(d, "people_restricted", "occupied_bed_days", 1),
            ),
        ],
        unique=KEYS["restrictive_practice"],
        report_duplicates="all",
    ),
    "patient_experience": pa.DataFrameSchema(
        {
            "provider_id": _col(),
            "ward_id": _col([_text_id]),
            "month": _col([_month, _month_in_range]),
            "responses": _count(),
            "positive_responses": _count(),
        },
        checks=[
            _row_rule(
                "responses >= positive_responses",
                ("responses", "positive_responses"),
                lambda d: _num(d, "positive_responses") <= _num(d, "responses"),
            )
        ],
        unique=KEYS["patient_experience"],
        report_duplicates="all",
    ),
    "staff_survey": pa.DataFrameSchema(
        {
            "provider_id": _col(),
            "survey_year": _col([_year]),
            "respondents": _count(),
            **{c: _col([_is_number, _score], nullable=True) for c in STAFF_SCORES},
            **{c: _count(nullable=True) for c in STAFF_COUNTS},
        },
        checks=[
            _row_rule(
                "respondent counts <= respondents",
                ("respondents", *STAFF_COUNTS),
                lambda d: pd.concat([_num(d, c) for c in STAFF_COUNTS], axis=1).max(axis=1) <= _num(d, "respondents"),
            )
        ],
        unique=KEYS["staff_survey"],
        report_duplicates="all",
    ),
}


# --------------------------------------------------------------------------------------------
# Provider-level tables, optional tables and count bounds (issue 13: published data)
#
# - ``ward_id`` is optional in the ward-month tables: without it a row is a provider-month (what
#   MHSDS publishes), the key is provider_id + month, and only the denominator is a required count.
# - Any count column X may carry ``X_lower`` and ``X_upper`` (disclosure-controlled inputs): a
#   suppressed cell has X empty with bounds (e.g. 0-4), a rounded one X with bounds around it, an
#   exact one equal bounds; a cell with X and both bounds empty is *not reported* (absent, never 0).
# - Row rules compare intervals (lower of one side <= upper of the other), which for exact counts
#   is the rule as written, and are skipped on rows where a value they need is not reported.
# - Only ``participation`` and one other table are required; absent tables load as empty frames
#   and ``ProgrammeData.tables`` lists the tables present.
# --------------------------------------------------------------------------------------------

#: Tables keyed by ward-month (provider-month when ``ward_id`` is absent).
MONTH_TABLES = ("restrictive_practice", "patient_experience")

#: Count columns per table (the columns that may carry ``_lower``/``_upper`` bounds).
COUNT_COLUMNS: dict[str, tuple[str, ...]] = {
    "restrictive_practice": ("occupied_bed_days", *RESTRICTIVE_COUNTS),
    "patient_experience": ("responses", "positive_responses"),
    "staff_survey": ("respondents", *STAFF_COUNTS),
}

#: Columns that stay required in a provider-level table (no ``ward_id``).
PROVIDER_LEVEL_REQUIRED = {
    "restrictive_practice": ("provider_id", "month", "occupied_bed_days"),
    "patient_experience": ("provider_id", "month", "responses", "positive_responses"),
}

BOUND_SUFFIXES = ("_lower", "_upper")


def _lo(d: pd.DataFrame, c: str) -> pd.Series:
    """Lower end of a count: ``c_lower`` when the table has bounds, else the value itself."""
    if c not in d.columns:
        return pd.Series(np.nan, index=d.index)
    return _numeric(d[f"{c}_lower"] if f"{c}_lower" in d.columns else d[c])


def _up(d: pd.DataFrame, c: str) -> pd.Series:
    """Upper end of a count: ``c_upper`` when the table has bounds, else the value itself."""
    if c not in d.columns:
        return pd.Series(np.nan, index=d.index)
    return _numeric(d[f"{c}_upper"] if f"{c}_upper" in d.columns else d[c])


def _reported(d: pd.DataFrame, cols) -> pd.Series:
    """Rows where every one of ``cols`` is reported (a value or bounds)."""
    ok = pd.Series(True, index=d.index)
    for c in cols:
        ok &= _lo(d, c).notna() & _up(d, c).notna()
    return ok


#: Interval forms of the row rules (same names as the rules in SCHEMAS); (columns, test on rows
#: where all columns are reported).
INTERVAL_RULES = {
    "restrictive_interventions equals the sum of the per-type counts": (
        ("restrictive_interventions", *RESTRICTIVE_TYPES),
        lambda d: (
            (_lo(d, "restrictive_interventions") <= sum(_up(d, c) for c in RESTRICTIVE_TYPES))
            & (sum(_lo(d, c) for c in RESTRICTIVE_TYPES) <= _up(d, "restrictive_interventions"))
        ),
    ),
    "prone_restraint <= physical_restraint": (
        ("prone_restraint", "physical_restraint"),
        lambda d: _lo(d, "prone_restraint") <= _up(d, "physical_restraint"),
    ),
    "people_restricted between 1 and restrictive_interventions when any": (
        ("people_restricted", "restrictive_interventions"),
        lambda d: (
            (_lo(d, "people_restricted") <= _up(d, "restrictive_interventions"))
            & ((_up(d, "people_restricted") > 0) | (_lo(d, "restrictive_interventions") == 0))
        ),
    ),
    "occupied_bed_days positive where interventions were counted": (
        ("occupied_bed_days", "restrictive_interventions"),
        lambda d: (_up(d, "occupied_bed_days") > 0) | (_lo(d, "restrictive_interventions") == 0),
    ),
    "responses >= positive_responses": (
        ("responses", "positive_responses"),
        lambda d: _lo(d, "positive_responses") <= _up(d, "responses"),
    ),
}


def _interval_check(name: str, cols: tuple[str, ...], fn) -> pa.Check:
    def check(d: pd.DataFrame) -> pd.Series:
        present = [c for c in cols if c in d.columns]
        if len(present) < len(cols):  # a provider-level table without these columns: not applicable
            return pd.Series(True, index=d.index)
        return fn(d) | ~_reported(d, cols)

    return pa.Check(check, name=name, error=name)


def _bounds_checks(table: str, df: pd.DataFrame) -> list[pa.Check]:
    out = []
    for c in COUNT_COLUMNS.get(table, ()):
        lo, up = f"{c}_lower", f"{c}_upper"
        if c not in df.columns or (lo not in df.columns and up not in df.columns):
            continue
        if lo not in df.columns or up not in df.columns:
            continue  # reported as a missing column by the caller
        rules = {
            f"{lo} <= {up}": lambda d, lo=lo, up=up: (_numeric(d[lo]) <= _numeric(d[up])) | d[lo].isna() | d[up].isna(),
            f"{c} within {lo}..{up}": lambda d, c=c, lo=lo, up=up: (
                d[c].isna() | ((_numeric(d[c]) >= _numeric(d[lo])) & (_numeric(d[c]) <= _numeric(d[up])))
            ),
            f"{lo} and {up} both given or both empty": lambda d, lo=lo, up=up: d[lo].isna() == d[up].isna(),
            f"{c} given only with its bounds": lambda d, c=c, lo=lo: d[c].isna() | d[lo].notna(),
        }
        for name, fn in rules.items():
            ROW_RULES[name] = (c, lo, up)
            out.append(pa.Check(fn, name=name, error=name))
    return out


def schema_for(table: str, df: pd.DataFrame) -> pa.DataFrameSchema:
    """The schema a frame is validated against: :data:`SCHEMAS` adapted to its level and bounds.

    Without ``ward_id`` a month table is provider-level (key provider_id + month; counts other
    than the denominator optional). Count columns with ``_lower``/``_upper`` may be empty (a
    suppressed or not reported cell) and get bound rules; row rules compare intervals.

    Examples
    --------
    >>> df = pd.DataFrame({"provider_id": ["A"], "month": ["2024-01"], "occupied_bed_days": [None],
    ...                    "occupied_bed_days_lower": [0], "occupied_bed_days_upper": [4]})
    >>> s = schema_for("restrictive_practice", df)
    >>> "ward_id" in s.columns, s.columns["occupied_bed_days"].nullable, s.unique
    (False, True, ['provider_id', 'month'])
    >>> _ = s.validate(df)
    """
    base = SCHEMAS[table]
    ward_level = table not in MONTH_TABLES or "ward_id" in df.columns
    columns = {}
    for name, col in base.columns.items():
        if name == "ward_id" and not ward_level:
            continue
        required = ward_level or name in PROVIDER_LEVEL_REQUIRED[table]
        has_bounds = f"{name}_lower" in df.columns or f"{name}_upper" in df.columns
        columns[name] = pa.Column(
            checks=list(col.checks), nullable=col.nullable or has_bounds, coerce=False, required=required
        )
    for c in COUNT_COLUMNS.get(table, ()):
        for sfx in BOUND_SUFFIXES:
            if f"{c}_lower" in df.columns or f"{c}_upper" in df.columns:
                columns[f"{c}{sfx}"] = _count(nullable=True)
    checks = []
    for chk in base.checks:
        if chk.name in INTERVAL_RULES:
            cols, fn = INTERVAL_RULES[chk.name]
            checks.append(_interval_check(chk.name, cols, fn))
        else:
            checks.append(chk)
    checks.extend(_bounds_checks(table, df))
    unique = [k for k in KEYS[table] if ward_level or k != "ward_id"]
    return pa.DataFrameSchema(columns, checks=checks, unique=unique, report_duplicates="all")


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


@dataclass
class ColumnMapping:
    """How a real extract maps onto the data contract (read from YAML).

    ``files`` maps a table name to its file name in the data folder; ``columns`` maps, per
    table, a source column name to the contract's name. Unmapped columns pass through.
    """

    files: dict[str, str] = field(default_factory=dict)
    columns: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def from_yaml(cls, path: str | Path) -> ColumnMapping:
        """Read a mapping file.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "m.yaml"
        >>> _ = p.write_text("columns:\\n  staff_survey:\\n    OrgCode: provider_id\\n")
        >>> ColumnMapping.from_yaml(p).columns["staff_survey"]["OrgCode"]
        'provider_id'
        """
        from cocEval.errors import ConfigError

        try:
            raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise ConfigError(f"mapping {path}: cannot be read as a YAML file ({type(exc).__name__})") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"mapping {path}: expected a mapping with 'files' and 'columns'")
        unknown = set(raw) - {"files", "columns"}
        if unknown:
            raise ConfigError(f"{path}: unknown key(s) {sorted(unknown)}; expected 'files' and 'columns'")
        for section in ("files", "columns"):
            bad = set(raw.get(section) or {}) - set(TABLES)
            if bad:
                raise ConfigError(f"{path}: '{section}' names unknown table(s) {sorted(bad)}; tables are {TABLES}")
        return cls(
            files=dict(raw.get("files") or {}),
            columns={k: dict(v or {}) for k, v in (raw.get("columns") or {}).items()},
        )


@dataclass
class ProgrammeData:
    """The four validated tables of one programme data folder.

    Months are month-start Timestamps (``start_month``, ``coaching_end_month``, ``month``);
    ids are strings; counts are integers. ``truth`` holds the synthetic generator's known
    effects when the folder carries ``truth.csv`` (synthetic data only), else None.
    """

    participation: pd.DataFrame
    restrictive_practice: pd.DataFrame
    patient_experience: pd.DataFrame
    staff_survey: pd.DataFrame
    source: Path
    data_hash: str
    truth: pd.DataFrame | None = None
    #: tables present in the folder (absent ones are empty frames); issue 13
    tables: tuple[str, ...] = TABLES
    #: results derived from the frames and computed once (see :meth:`derived`)
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def derived(self, key: Hashable, compute: Callable[[], _T]) -> _T:
        """``compute()``, computed once for this programme and kept with it under ``key``.

        For results that depend on the whole programme, not on one provider (provider-month sums,
        every provider's staff survey changes): a batch computes them once in its warm-kernel
        parent, and every report kernel forked from it finds them done. The frames are not
        changed after loading, so a kept result stays right; callers copy a result before they
        change it. A ``compute`` that raises keeps nothing.

        Examples
        --------
        With ``prog = load_programme("data/synthetic")``:

        >>> n = prog.derived(("example", "providers"), lambda: len(prog.participation))
        >>> prog.derived(("example", "providers"), lambda: 0) == n  # kept: not computed again
        True
        """
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    @cached_property
    def months(self) -> pd.DatetimeIndex:
        """Every month from the first to the last in the ward-month tables (computed once)."""
        m = pd.concat([self.restrictive_practice["month"], self.patient_experience["month"]]).dropna()
        if m.empty:
            return pd.DatetimeIndex([], freq="MS")
        return pd.date_range(m.min(), m.max(), freq="MS")

    @property
    def participating(self) -> pd.DataFrame:
        """Participation rows of providers that joined the programme."""
        return self.participation[self.participation["start_month"].notna()]

    def describe(self) -> str:
        """One paragraph describing what was loaded.

        Examples
        --------
        With ``prog = load_programme("data/synthetic")``:

        >>> "participating" in prog.describe()
        True
        """
        p = self.participation
        months = self.months
        cohorts = p["cohort"].dropna().value_counts().sort_index()
        return (
            f"{self.source}: {len(p)} providers ({len(self.participating)} participating in "
            f"{len(cohorts)} cohorts: {', '.join(f'{k} {v}' for k, v in cohorts.items())}; "
            f"{len(p) - len(self.participating)} never joined), "
            + (
                f"{self.restrictive_practice['ward_id'].nunique()} wards, "
                if "ward_id" in self.restrictive_practice.columns and len(self.restrictive_practice)
                else "provider-level data (no wards), "
            )
            + (
                f"{len(months)} months {months[0]:%Y-%m} to {months[-1]:%Y-%m}, "
                if len(months)
                else "no monthly data, "
            )
            + (
                f"staff survey {self.staff_survey['survey_year'].min()}-{self.staff_survey['survey_year'].max()}. "
                if len(self.staff_survey)
                else "no staff survey. "
            )
            + (
                f"Tables absent: {', '.join(t for t in TABLES if t not in self.tables)}. "
                if set(self.tables) != set(TABLES)
                else ""
            )
            + f"Data hash {self.data_hash[:12]}."
        )


def _find_file(folder: Path, table: str, mapping: ColumnMapping) -> Path:
    if table in mapping.files:
        path = folder / mapping.files[table]
        if not path.is_file():
            raise DataValidationError(
                str(folder),
                pd.DataFrame(
                    [
                        {
                            "file": path.name,
                            "column": "",
                            "rule": "file exists (from the mapping)",
                            "row": np.nan,
                            "value": "",
                        }
                    ]
                ),
            )
        return path
    for ext in (".csv", ".parquet"):
        path = folder / f"{table}{ext}"
        if path.is_file():
            return path
    raise DataValidationError(
        str(folder),
        pd.DataFrame(
            [
                {
                    "file": f"{table}.csv",
                    "column": "",
                    "rule": "file exists (.csv or .parquet)",
                    "row": np.nan,
                    "value": "",
                }
            ]
        ),
    )


def _file_failure(file: str, rule: str, value: str = "", column: str = "") -> pd.DataFrame:
    return pd.DataFrame([{"file": file, "column": column, "rule": rule, "row": np.nan, "value": value}])


def _read(path: Path, table: str) -> pd.DataFrame:
    """Read one table. Text is UTF-8 (a byte-order mark is allowed); ids keep values such as
    ``NA`` (only an empty cell is missing). Raises DataValidationError for a file that is
    empty, not UTF-8 or not a table."""
    if path.suffix == ".parquet":
        try:
            return pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises several types for a damaged file
            raise DataValidationError(
                str(path.parent), _file_failure(path.name, "readable Parquet file", f"{type(exc).__name__}: {exc}")
            ) from None
    text_cols = {
        "provider_id",
        "provider_name",
        "cohort",
        "start_month",
        "coaching_end_month",
        "region",
        "ward_id",
        "month",
    }
    raw = path.read_bytes()
    if not raw.strip():
        raise DataValidationError(
            str(path.parent), _file_failure(path.name, "file not empty (a header row and data rows)", "0 bytes")
        )
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataValidationError(
            str(path.parent),
            _file_failure(
                path.name,
                "text encoded as UTF-8 (save the file as CSV UTF-8)",
                f"byte 0x{raw[exc.start]:02x} on line {line} is not UTF-8 (Latin-1 or Windows-1252?)",
            ),
        ) from None
    import io

    try:
        header = pd.read_csv(io.BytesIO(raw), nrows=0, encoding="utf-8-sig").columns
        na_default = sorted(pd._libs.parsers.STR_NA_VALUES)
        return pd.read_csv(
            io.BytesIO(raw),
            encoding="utf-8-sig",
            dtype={c: "string" for c in header if c in text_cols},
            keep_default_na=False,
            na_values={c: ([""] if c in ID_COLUMNS else na_default) for c in header},
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataValidationError(
            str(path.parent), _file_failure(path.name, "a comma-separated table", str(exc).strip())
        ) from None


def _failures_from_pandera(err: pa.errors.SchemaErrors, file: str, frame: pd.DataFrame) -> pd.DataFrame:
    """One row per failing (column or row rule, data row), in words a data manager can act on."""
    table = Path(file).stem
    keycols = [c for c in ("provider_id", "ward_id", "month", "survey_year") if c in frame.columns]

    def where(idx) -> str:
        return " ".join(str(frame.at[idx, c]) for c in keycols)

    rows = []
    for _, r in err.failure_cases.iterrows():
        check, idx = str(r["check"]), r["index"]
        idx = int(idx) if pd.notna(idx) else None
        if check == "multiple_fields_uniqueness":
            column, rule, value = "+".join(KEYS[table]), "unique key (no duplicate rows)", f"duplicate ({where(idx)})"
        elif check in ROW_RULES:
            cols = ROW_RULES[check]
            column, rule = ", ".join(cols), check
            value = ", ".join(f"{c}={frame.at[idx, c]}" for c in cols) + f" ({where(idx)})"
        elif check.startswith("not_nullable"):
            column, rule, value = str(r["column"]), "no missing values", f"missing ({where(idx)})"
        else:
            column, rule, value = str(r["column"]), check, f"{r['failure_case']!r} ({where(idx)})"
        rows.append(
            {
                "file": file,
                "column": column,
                "rule": rule,
                "row": idx + 1 if idx is not None else np.nan,
                "value": value,
            }
        )
    return pd.DataFrame(rows).drop_duplicates(ignore_index=True)


def _to_month(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s, format="%Y-%m")


def _hash_files(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def load_programme(path: str | Path, mapping: str | Path | ColumnMapping | None = None) -> ProgrammeData:
    """Read and validate a programme data folder.

    Parameters
    ----------
    path : str or Path
        Folder holding ``participation``, ``restrictive_practice``, ``patient_experience`` and
        ``staff_survey`` as ``.csv`` or ``.parquet`` (and, for synthetic data, ``truth.csv``).
    mapping : path to a YAML file or ColumnMapping, optional
        File names and column renames for real extracts; see
        ``params/column_mapping.example.yaml``.

    Returns
    -------
    ProgrammeData
        Typed, validated frames (months as month-start Timestamps).

    Raises
    ------
    DataValidationError
        With every broken rule: file, column, rule and example rows.

    Examples
    --------
    >>> prog = load_programme("data/synthetic")
    >>> months = prog.restrictive_practice["month"]
    >>> pd.api.types.is_datetime64_dtype(months), bool((months.dt.day == 1).all())
    (True, True)
    """
    folder = Path(path)
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.exists() else "not found"
        raise DataError(f"data folder {folder}: {what} (the rule: --data names a folder holding the four tables)")
    if mapping is None:
        mapping = ColumnMapping()
    elif not isinstance(mapping, ColumnMapping):
        mapping = ColumnMapping.from_yaml(mapping)

    failures: list[pd.DataFrame] = []
    frames: dict[str, pd.DataFrame] = {}
    files: list[Path] = []
    absent: list[pd.DataFrame] = []
    for table in TABLES:
        try:
            f = _find_file(folder, table, mapping)
        except DataValidationError as exc:
            # tables other than participation are optional (issue 13); at least one is needed
            (failures if table == "participation" or table in mapping.files else absent).append(exc.failures)
            continue
        files.append(f)
        try:
            df = _read(f, table).rename(columns=mapping.columns.get(table, {}))
        except DataValidationError as exc:
            failures.append(exc.failures)
            continue
        schema = schema_for(table, df)
        missing = [c for c, col in schema.columns.items() if col.required and c not in df.columns]
        missing += [
            f"{c}{sfx}"
            for c in COUNT_COLUMNS.get(table, ())
            for sfx in BOUND_SUFFIXES
            if f"{c}{sfx}" not in df.columns and any(f"{c}{x}" in df.columns for x in BOUND_SUFFIXES)
        ]
        if missing:  # row rules cannot run without their columns: report the columns alone
            failures.append(
                pd.DataFrame(
                    {
                        "file": f.name,
                        "column": missing,
                        "rule": "required column present",
                        "row": np.nan,
                        "value": f"columns found: {', '.join(map(str, df.columns))}",
                    }
                )
            )
            continue
        if df.empty:
            failures.append(_file_failure(f.name, "at least one data row", "header only"))
            continue
        try:
            schema.validate(df, lazy=True)
        except pa.errors.SchemaErrors as err:
            failures.append(_failures_from_pandera(err, f.name, df))
        frames[table] = df

    if len(absent) == len(TABLES) - 1:
        failures.extend(absent)  # no data table at all
    if not failures:
        failures.extend(_cross_table_failures(frames, {Path(p).stem: p.name for p in files}))
    if failures:
        raise DataValidationError(str(folder), pd.concat(failures, ignore_index=True))

    typed = _typed(frames)
    truth_path = folder / "truth.csv"
    truth = (
        pd.read_csv(truth_path, dtype={"provider_id": "string", "period": "string"}) if truth_path.is_file() else None
    )
    if truth_path.is_file():
        files.append(truth_path)
    present = tuple(t for t in TABLES if t in frames)
    prog = ProgrammeData(**typed, source=folder, data_hash=_hash_files(files), truth=truth, tables=present)
    log.debug("loaded %s", prog.describe())
    return prog


def _cross_table_failures(frames: dict[str, pd.DataFrame], names: dict[str, str]) -> list[pd.DataFrame]:
    out = []
    part = frames["participation"]
    known = set(part["provider_id"])
    months = pd.concat([frames[t]["month"] for t in MONTH_TABLES if t in frames] + [pd.Series([], dtype=object)])
    months = months.dropna()
    lo, hi = months.min(), months.max()
    for table in [t for t in TABLES[1:] if t in frames]:
        df = frames[table]
        bad = df.index[~df["provider_id"].isin(known)]
        if len(bad):
            out.append(
                pd.DataFrame(
                    {
                        "file": names[table],
                        "column": "provider_id",
                        "rule": f"provider appears in {names['participation']}",
                        "row": bad + 1,
                        "value": df.loc[bad, "provider_id"].astype(str).to_numpy(),
                    }
                )
            )
    starts = part["start_month"]
    bad = part.index[starts.notna() & ((starts < lo) | (starts > hi))] if len(months) else part.index[:0]
    if len(bad):
        out.append(
            pd.DataFrame(
                {
                    "file": names["participation"],
                    "column": "start_month",
                    "rule": f"start month inside the data range {lo} to {hi}",
                    "row": bad + 1,
                    "value": (part.loc[bad, "provider_id"] + " " + part.loc[bad, "start_month"]).to_numpy(),
                }
            )
        )
    return out


def _as_count(s: pd.Series) -> pd.Series:
    """int64 when complete; float64 with NaN where a count is suppressed or not reported."""
    n = _numeric(s)
    return n.astype("int64") if n.notna().all() else n.astype("float64")


def _empty(table: str) -> pd.DataFrame:
    """An absent table: no rows, the contract's columns (ward tables without ward_id)."""
    cols = [c for c in SCHEMAS[table].columns if not (table in MONTH_TABLES and c == "ward_id")]
    return pd.DataFrame({c: pd.Series(dtype="object") for c in cols})


def _typed(frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    frames = {t: frames[t] if t in frames else _empty(t) for t in TABLES}
    part = frames["participation"].copy()
    for c in ("start_month", "coaching_end_month"):
        part[c] = _to_month(part[c])
    part["wards_enrolled"] = part["wards_enrolled"].astype("Int64")
    part["cohort"] = part["cohort"].astype("string")
    out = {"participation": part}
    for table in MONTH_TABLES:
        d = frames[table].copy()
        d["month"] = _to_month(d["month"].astype("object"))
        for c in COUNT_COLUMNS[table]:
            for name in (c, f"{c}_lower", f"{c}_upper"):
                if name in d.columns:
                    d[name] = _as_count(d[name])
        out[table] = d
    ss = frames["staff_survey"].copy()
    ss["survey_year"] = _numeric(ss["survey_year"]).astype("int64")
    ss["respondents"] = _as_count(ss["respondents"])
    for c in STAFF_COUNTS:
        ss[c] = ss[c].astype("Int64") if len(ss) else ss[c].astype("float64")
    out["staff_survey"] = ss

    def sort(d, table):
        return d.sort_values([k for k in KEYS[table] if k in d.columns]).reset_index(drop=True)

    return {t: sort(out[t], t) for t in TABLES}


# --------------------------------------------------------------------------------------------
# Aggregation
# --------------------------------------------------------------------------------------------

#: Denominator of each ward-month table and the scale its rates are shown on.
DENOMINATORS = {"restrictive_practice": ("occupied_bed_days", 1000.0), "patient_experience": ("responses", 1.0)}


def provider_months(prog: ProgrammeData, table: str = "restrictive_practice") -> pd.DataFrame:
    """Sum ward-months to provider-months, with rates.

    For ``restrictive_practice`` every count gets a ``<count>_rate`` per 1,000 occupied bed
    days (the MHSDS convention); for ``patient_experience`` ``positive_share`` is
    positive_responses / responses. ``wards_reporting`` counts the ward rows behind each month.
    Rates are NaN where the denominator is zero.

    Examples
    --------
    With ``prog = load_programme("data/synthetic")``:

    >>> pm = provider_months(prog)
    >>> pm.filter(like="_rate").columns[0]
    'restrictive_interventions_rate'
    """
    if table not in DENOMINATORS:
        raise InputError(f"table must be one of {list(DENOMINATORS)}, got {table!r}")
    return prog.derived(("provider_months", table), lambda: _sum_provider_months(prog, table)).copy()


def _sum_provider_months(prog: ProgrammeData, table: str) -> pd.DataFrame:
    df = getattr(prog, table)
    counts = [
        c for c in df.columns if c not in ("provider_id", "ward_id", "month") and pd.api.types.is_numeric_dtype(df[c])
    ]
    keys = ["provider_id", "month"]
    # provider-level tables: one row per provider-month (wards_reporting counts rows)
    wards = ("ward_id", "nunique") if "ward_id" in df.columns else ("provider_id", "size")
    out = df.groupby(keys, as_index=False).agg(wards_reporting=wards, **{c: (c, "sum") for c in counts})
    out["wards_reporting"] = out["wards_reporting"].astype("int64")
    # a sum with a suppressed or not-reported part is unknown (NaN), never a partial sum
    holes = [c for c in counts if df[c].isna().any()]
    if holes:
        unknown = df[holes].isna().groupby([df[k] for k in keys]).any().reset_index(drop=True)
        for c in holes:
            out[c] = out[c].where(~unknown[c].to_numpy())
    denom, per = DENOMINATORS[table]
    d = out[denom].where(out[denom] > 0)
    if table == "restrictive_practice":
        for c in RESTRICTIVE_COUNTS:
            if c in out.columns:  # provider-level published data carry only some counts
                out[f"{c}_rate"] = out[c] / d * per
    else:
        out["positive_share"] = out["positive_responses"] / d
    return out


def provider_month_panel(
    prog: ProgrammeData,
    numerator: str,
    *,
    table: str | None = None,
    denominator: str | None = None,
    per: float | None = None,
    exclude_months: list | None = None,
    balance: str = "drop",
) -> pd.DataFrame:
    """Balanced provider-month panel of one outcome, with cohort and start period.

    Parameters
    ----------
    prog : ProgrammeData
    numerator : str
        A count column of ``restrictive_practice`` or ``patient_experience``.
    table, denominator, per : optional
        Default to the numerator's table, its denominator (occupied bed days or responses)
        and scale (per 1,000 bed days; proportions for patient experience).
    exclude_months : list, optional
        Months to leave out (e.g. a provisional last month), as "YYYY-MM" or Timestamps.
    balance : {"drop", "keep"}
        Providers missing any month (or with a zero denominator) are dropped with a warning
        naming them ("drop", what the DiD estimators need) or kept with NaN ("keep").

    Returns
    -------
    DataFrame
        ``provider_id, month, numerator, denominator, value, cohort, start_month,
        coaching_end_month, period, first_period, post``: ``period`` numbers the months from 1;
        ``first_period`` is the period coaching started (0 if never); ``post`` is 1 from the
        start on.

    Examples
    --------
    With ``prog = load_programme("data/synthetic")``:

    >>> panel = provider_month_panel(prog, "restrictive_interventions")
    >>> panel.groupby("provider_id").size().nunique()
    1
    """
    if table is None:
        table = next((t for t in DENOMINATORS if numerator in getattr(prog, t).columns), None)
        if table is None:
            raise InputError(f"numerator {numerator!r} is not a column of {list(DENOMINATORS)}")
    den_default, per_default = DENOMINATORS[table]
    denominator = denominator or den_default
    per = per_default if per is None else per
    if balance not in ("drop", "keep"):
        raise InputError(f"balance must be 'drop' or 'keep', got {balance!r}")

    agg = provider_months(prog, table)[["provider_id", "month", numerator, denominator]]
    agg = agg.rename(columns={numerator: "numerator", denominator: "denominator"})
    months = prog.months
    if exclude_months:
        drop = pd.to_datetime(pd.Series(exclude_months).astype(str), format="mixed")
        months = months[~months.isin(drop)]
    grid = pd.MultiIndex.from_product([prog.participation["provider_id"], months], names=["provider_id", "month"])
    panel = agg.set_index(["provider_id", "month"]).reindex(grid).reset_index()
    panel["value"] = panel["numerator"] / panel["denominator"].where(panel["denominator"] > 0) * per

    incomplete = panel.loc[panel["value"].isna(), "provider_id"].unique()
    if len(incomplete) and balance == "drop":
        warnings.warn(
            f"provider_month_panel({numerator!r}): dropped {len(incomplete)} provider(s) with missing "
            f"or zero-denominator months to balance the panel: {', '.join(map(str, incomplete))}",
            stacklevel=2,
        )
        panel = panel[~panel["provider_id"].isin(incomplete)]

    part = prog.participation[["provider_id", "cohort", "start_month", "coaching_end_month"]]
    panel = panel.merge(part, on="provider_id", how="left")
    period_of = {m: i + 1 for i, m in enumerate(months)}
    panel["period"] = panel["month"].map(period_of).astype("int64")
    panel["first_period"] = panel["start_month"].map(period_of).fillna(0).astype("int64")
    panel["post"] = ((panel["first_period"] > 0) & (panel["period"] >= panel["first_period"])).astype("int64")
    return panel.sort_values(["provider_id", "month"]).reset_index(drop=True)


def provider_year_panel(prog: ProgrammeData, indicator: str) -> pd.DataFrame:
    """Staff survey indicator by provider-year, with cohort timing.

    Counts (e.g. ``violence_from_patients``) become proportions of respondents (or, where the
    count is empty and the table has ``<indicator>_pct``, the published percentage / 100 with
    its question base as ``respondents``: imported survey results); scores
    (``engagement``, ``morale``) are used as they are. A survey year counts as after the start
    (``post``) when coaching started by September of that year (fieldwork is September to
    November). ``first_year`` is the first such year (0 if never).

    Examples
    --------
    With ``prog = load_programme("data/synthetic")``:

    >>> provider_year_panel(prog, "engagement").columns[:3].tolist()
    ['provider_id', 'survey_year', 'value']
    """
    if indicator not in prog.staff_survey.columns:
        raise InputError(f"indicator {indicator!r} is not a column of staff_survey")
    return prog.derived(("provider_year_panel", indicator), lambda: _staff_panel(prog, indicator)).copy()


def _staff_panel(prog: ProgrammeData, indicator: str) -> pd.DataFrame:
    ss = prog.staff_survey
    out = ss[["provider_id", "survey_year", "respondents"]].copy()
    if indicator in STAFF_COUNTS:
        out["value"] = ss[indicator].astype("float64") / ss["respondents"].where(ss["respondents"] > 0)
        pct, base = f"{indicator}_pct", f"{indicator}_base"
        if pct in ss.columns:  # published (weighted) percentage where no count is given (issue 13)
            use = out["value"].isna() & ss[pct].notna()
            out.loc[use, "value"] = pd.to_numeric(ss.loc[use, pct]) / 100
            if base in ss.columns:
                out.loc[use, "respondents"] = ss.loc[use, base]
    else:
        out["value"] = ss[indicator].astype("float64")
    out = out[["provider_id", "survey_year", "value", "respondents"]]
    part = prog.participation[["provider_id", "cohort", "start_month"]]
    out = out.merge(part, on="provider_id", how="left")
    sm = out["start_month"]
    first = np.where(sm.dt.month <= 9, sm.dt.year, sm.dt.year + 1)
    out["first_year"] = pd.Series(first, index=out.index).where(sm.notna(), 0).astype("int64")
    out["post"] = ((out["first_year"] > 0) & (out["survey_year"] >= out["first_year"])).astype("int64")
    return out.sort_values(["provider_id", "survey_year"]).reset_index(drop=True)
