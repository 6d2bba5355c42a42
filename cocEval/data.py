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
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
import yaml

from cocEval.errors import DataError

log = logging.getLogger(__name__)

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
        for (file, column, rule), g in groups:
            examples = []
            for _, r in g.head(_MAX_EXAMPLES).iterrows():
                where = f"row {int(r['row'])}" if pd.notna(r["row"]) else "whole table"
                examples.append(f"{where}: {r['value']}" if r["value"] != "" else where)
            more = f" (+{len(g) - _MAX_EXAMPLES} more)" if len(g) > _MAX_EXAMPLES else ""
            lines.append(
                f"- file {file}, column '{column}', rule '{rule}': {len(g)} failing; e.g. {'; '.join(examples)}{more}"
            )
        return "\n".join(lines)


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


def _col(checks=(), nullable=False) -> pa.Column:
    return pa.Column(checks=list(checks), nullable=nullable, coerce=False, required=True)


def _count(nullable=False) -> pa.Column:
    return _col([_is_number, _non_negative_integer], nullable)


def _num(x: pd.DataFrame, c: str) -> pd.Series:
    return _numeric(x[c]).fillna(0)


#: Row rules that involve several columns, and the columns each one reads.
ROW_RULES: dict[str, tuple[str, ...]] = {}


def _row_rule(name: str, columns: tuple[str, ...], fn) -> pa.Check:
    ROW_RULES[name] = columns
    return pa.Check(fn, name=name, error=name)


SCHEMAS: dict[str, pa.DataFrameSchema] = {
    "participation": pa.DataFrameSchema(
        {
            "provider_id": _col(),
            "provider_name": _col(),
            "cohort": _col(nullable=True),
            "start_month": _col([_month], nullable=True),
            "coaching_end_month": _col([_month], nullable=True),
            "wards_enrolled": _col([_is_number, _non_negative_integer], nullable=True),
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
            "ward_id": _col(),
            "month": _col([_month]),
            "occupied_bed_days": _col([_is_number, _non_negative_integer]),
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
        ],
        unique=KEYS["restrictive_practice"],
        report_duplicates="all",
    ),
    "patient_experience": pa.DataFrameSchema(
        {
            "provider_id": _col(),
            "ward_id": _col(),
            "month": _col([_month]),
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
        raw = yaml.safe_load(Path(path).read_text()) or {}
        unknown = set(raw) - {"files", "columns"}
        if unknown:
            raise ValueError(f"{path}: unknown key(s) {sorted(unknown)}; expected 'files' and 'columns'")
        for section in ("files", "columns"):
            bad = set(raw.get(section) or {}) - set(TABLES)
            if bad:
                raise ValueError(f"{path}: '{section}' names unknown table(s) {sorted(bad)}; tables are {TABLES}")
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
    #: results derived from the frames and computed once, e.g. provider-month sums per table
    #: (the frames are not changed after loading)
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @cached_property
    def months(self) -> pd.DatetimeIndex:
        """Every month from the first to the last in the ward-month tables (computed once)."""
        m = pd.concat([self.restrictive_practice["month"], self.patient_experience["month"]])
        return pd.date_range(m.min(), m.max(), freq="MS")

    @property
    def participating(self) -> pd.DataFrame:
        """Participation rows of providers that joined the programme."""
        return self.participation[self.participation["start_month"].notna()]

    def describe(self) -> str:
        """One paragraph describing what was loaded.

        Examples
        --------
        >>> print(load_programme("data/synthetic").describe())  # doctest: +SKIP
        """
        p = self.participation
        months = self.months
        cohorts = p["cohort"].dropna().value_counts().sort_index()
        return (
            f"{self.source}: {len(p)} providers ({len(self.participating)} participating in "
            f"{len(cohorts)} cohorts: {', '.join(f'{k} {v}' for k, v in cohorts.items())}; "
            f"{len(p) - len(self.participating)} never joined), "
            f"{self.restrictive_practice['ward_id'].nunique()} wards, "
            f"{len(months)} months {months[0]:%Y-%m} to {months[-1]:%Y-%m}, staff survey "
            f"{self.staff_survey['survey_year'].min()}-{self.staff_survey['survey_year'].max()}. "
            f"Data hash {self.data_hash[:12]}."
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


def _read(path: Path, table: str) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
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
    header = pd.read_csv(path, nrows=0).columns
    return pd.read_csv(path, dtype={c: "string" for c in header if c in text_cols}, keep_default_na=True)


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
    >>> prog = load_programme("data/synthetic")  # doctest: +SKIP
    >>> prog.restrictive_practice["month"].dtype  # doctest: +SKIP
    dtype('<M8[ns]')
    """
    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"data folder not found: {folder}")
    if mapping is None:
        mapping = ColumnMapping()
    elif not isinstance(mapping, ColumnMapping):
        mapping = ColumnMapping.from_yaml(mapping)

    failures: list[pd.DataFrame] = []
    frames: dict[str, pd.DataFrame] = {}
    files: list[Path] = []
    for table in TABLES:
        try:
            f = _find_file(folder, table, mapping)
        except DataValidationError as exc:
            failures.append(exc.failures)
            continue
        files.append(f)
        df = _read(f, table).rename(columns=mapping.columns.get(table, {}))
        missing = [c for c in SCHEMAS[table].columns if c not in df.columns]
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
        try:
            SCHEMAS[table].validate(df, lazy=True)
        except pa.errors.SchemaErrors as err:
            failures.append(_failures_from_pandera(err, f.name, df))
        frames[table] = df

    if not failures:
        failures.extend(_cross_table_failures(frames, {t: p.name for t, p in zip(TABLES, files)}))
    if failures:
        raise DataValidationError(str(folder), pd.concat(failures, ignore_index=True))

    typed = _typed(frames)
    truth_path = folder / "truth.csv"
    truth = (
        pd.read_csv(truth_path, dtype={"provider_id": "string", "period": "string"}) if truth_path.is_file() else None
    )
    if truth_path.is_file():
        files.append(truth_path)
    prog = ProgrammeData(**typed, source=folder, data_hash=_hash_files(files), truth=truth)
    log.debug("loaded %s", prog.describe())
    return prog


def _cross_table_failures(frames: dict[str, pd.DataFrame], names: dict[str, str]) -> list[pd.DataFrame]:
    out = []
    part = frames["participation"]
    known = set(part["provider_id"])
    months = pd.concat([frames["restrictive_practice"]["month"], frames["patient_experience"]["month"]])
    lo, hi = months.min(), months.max()
    for table in TABLES[1:]:
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
    bad = part.index[starts.notna() & ((starts < lo) | (starts > hi))]
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


def _typed(frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    part = frames["participation"].copy()
    for c in ("start_month", "coaching_end_month"):
        part[c] = _to_month(part[c])
    part["wards_enrolled"] = part["wards_enrolled"].astype("Int64")
    part["cohort"] = part["cohort"].astype("string")
    rp = frames["restrictive_practice"].copy()
    rp["month"] = _to_month(rp["month"])
    for c in ("occupied_bed_days", *RESTRICTIVE_COUNTS):
        rp[c] = rp[c].astype("int64")
    pe = frames["patient_experience"].copy()
    pe["month"] = _to_month(pe["month"])
    for c in ("responses", "positive_responses"):
        pe[c] = pe[c].astype("int64")
    ss = frames["staff_survey"].copy()
    ss["survey_year"] = ss["survey_year"].astype("int64")
    ss["respondents"] = ss["respondents"].astype("int64")
    for c in STAFF_COUNTS:
        ss[c] = ss[c].astype("Int64")
    sort = lambda d, k: d.sort_values(k).reset_index(drop=True)  # noqa: E731
    return {
        "participation": sort(part, KEYS["participation"]),
        "restrictive_practice": sort(rp, KEYS["restrictive_practice"]),
        "patient_experience": sort(pe, KEYS["patient_experience"]),
        "staff_survey": sort(ss, KEYS["staff_survey"]),
    }


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
    >>> pm = provider_months(load_programme("data/synthetic"))  # doctest: +SKIP
    >>> pm.filter(like="_rate").columns[0]  # doctest: +SKIP
    'restrictive_interventions_rate'
    """
    if table not in DENOMINATORS:
        raise ValueError(f"table must be one of {list(DENOMINATORS)}, got {table!r}")
    if table not in prog._cache:
        prog._cache[table] = _sum_provider_months(prog, table)
    return prog._cache[table].copy()


def _sum_provider_months(prog: ProgrammeData, table: str) -> pd.DataFrame:
    df = getattr(prog, table)
    counts = [
        c for c in df.columns if c not in ("provider_id", "ward_id", "month") and pd.api.types.is_numeric_dtype(df[c])
    ]
    out = df.groupby(["provider_id", "month"], as_index=False).agg(
        wards_reporting=("ward_id", "nunique"), **{c: (c, "sum") for c in counts}
    )
    denom, per = DENOMINATORS[table]
    d = out[denom].where(out[denom] > 0)
    if table == "restrictive_practice":
        for c in RESTRICTIVE_COUNTS:
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
    >>> panel = provider_month_panel(load_programme("data/synthetic"), "restrictive_interventions")  # doctest: +SKIP
    >>> panel.groupby("provider_id").size().nunique()  # doctest: +SKIP
    1
    """
    if table is None:
        table = next((t for t in DENOMINATORS if numerator in getattr(prog, t).columns), None)
        if table is None:
            raise ValueError(f"numerator {numerator!r} is not a column of {list(DENOMINATORS)}")
    den_default, per_default = DENOMINATORS[table]
    denominator = denominator or den_default
    per = per_default if per is None else per
    if balance not in ("drop", "keep"):
        raise ValueError(f"balance must be 'drop' or 'keep', got {balance!r}")

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

    Counts (e.g. ``violence_from_patients``) become proportions of respondents; scores
    (``engagement``, ``morale``) are used as they are. A survey year counts as after the start
    (``post``) when coaching started by September of that year (fieldwork is September to
    November). ``first_year`` is the first such year (0 if never).

    Examples
    --------
    >>> provider_year_panel(load_programme("data/synthetic"), "engagement").columns[:3].tolist()  # doctest: +SKIP
    ['provider_id', 'survey_year', 'value']
    """
    ss = prog.staff_survey
    if indicator not in ss.columns:
        raise ValueError(f"indicator {indicator!r} is not a column of staff_survey")
    out = ss[["provider_id", "survey_year", "respondents"]].copy()
    if indicator in STAFF_COUNTS:
        out["value"] = ss[indicator].astype("float64") / ss["respondents"].where(ss["respondents"] > 0)
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
