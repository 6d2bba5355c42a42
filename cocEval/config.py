"""Programme configuration (``params/programme.yaml``), validated with pydantic.

A wrong key or value is a clear :class:`ConfigError` naming the file, the key path and the rule,
before any notebook starts. Per-provider overrides (``providers: {ID: {...}}``) adjust model
options or exclude months for one provider.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any, Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cocEval.data import RESTRICTIVE_COUNTS, STAFF_COUNTS, STAFF_SCORES, ProgrammeData, load_programme
from cocEval.errors import ConfigError, DataError

# --- ITS schema derived from the estimator's family registry (its engineer) ---------------------
from cocEval.its.design import MIN_PERIODS
from cocEval.its.families import ALL_ERRORS, FAMILIES, MAX_SEASONALITY, get_family
from cocEval.wording import fmt_period

#: ``family`` and ``errors`` values the config accepts: exactly the registry's.
FamilyName = Literal[FAMILIES]  # type: ignore[valid-type]
ErrorsName = Literal[ALL_ERRORS]  # type: ignore[valid-type]
# --- end ITS schema ------------------------------------------------------------------------------

#: The project folder (the checkout holding params/ and data/), for resolving relative paths.
PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = PROJECT_ROOT / "params" / "programme.yaml"


def project_path(path: str | Path | None, default: Path) -> Path:
    """Resolve a path given to a notebook: as given when it exists from the working folder,
    else relative to the project folder (notebooks run from ``notebooks/`` in JupyterLab and
    from the project folder in the batch); ``default`` when None.

    Examples
    --------
    >>> project_path(None, DEFAULT_CONFIG) == DEFAULT_CONFIG
    True
    """
    if path is None:
        return default
    p = Path(path)
    if p.is_absolute() or p.exists():
        return p
    return PROJECT_ROOT / p


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Outcome(_Strict):
    """A monthly ward-level outcome: numerator over denominator."""

    table: Literal["restrictive_practice", "patient_experience"]
    numerator: str
    denominator: Literal["occupied_bed_days", "responses"]
    per: float = Field(1000.0, gt=0, description="rate scale: 1000 for per 1,000 bed days, 1 for a proportion")
    family: FamilyName = "negbin"
    improvement: Literal["increase", "decrease"] = "decrease"
    label: str
    short_label: str | None = None
    headline: bool = False

    @model_validator(mode="after")
    def _check_columns(self) -> Self:
        allowed = set(RESTRICTIVE_COUNTS) if self.table == "restrictive_practice" else {"positive_responses"}
        if self.numerator not in allowed:
            raise ValueError(f"numerator {self.numerator!r} is not a count of {self.table} (one of {sorted(allowed)})")
        expected = "occupied_bed_days" if self.table == "restrictive_practice" else "responses"
        if self.denominator != expected:
            raise ValueError(f"denominator of {self.table} must be {expected!r}")
        # counts per bed day need a count family (or gaussian on the rate); shares a binomial one
        needs = get_family(self.family).needs
        fits = {"restrictive_practice": ("exposure", None), "patient_experience": ("trials", None)}[self.table]
        if needs not in fits:
            ok = [f for f in FAMILIES if get_family(f).needs in fits]
            raise ValueError(f"family {self.family!r} does not suit {self.table} outcomes (use one of {ok})")
        return self

    @property
    def name(self) -> str:
        return self.short_label or self.label

    @property
    def is_share(self) -> bool:
        """A proportion (per = 1), shown in per cent; otherwise a rate per ``per``."""
        return self.per == 1

    @property
    def display_per(self) -> float:
        """Scale values are shown on: per cent for shares, ``per`` for rates."""
        return 100.0 if self.is_share else self.per


class StaffIndicator(_Strict):
    """A staff survey indicator by provider-year (a 0-10 score or a share of respondents)."""

    column: str
    improvement: Literal["increase", "decrease"]
    label: str

    @property
    def is_score(self) -> bool:
        """A 0-10 score (points); otherwise a count shown as a share of respondents."""
        return self.column in STAFF_SCORES

    @field_validator("column")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in (*STAFF_SCORES, *STAFF_COUNTS):
            raise ValueError(f"{v!r} is not a staff survey column ({', '.join((*STAFF_SCORES, *STAFF_COUNTS))})")
        return v


class ITSOptions(_Strict):
    """Options of every provider's ITS models (bounds and choices from the family registry).

    ``errors`` left out means each family's default (:data:`cocEval.its.DEFAULT_ERRORS`); a
    value must suit every outcome's family (checked by :class:`ProgrammeConfig`). Fewer fitted
    months than ``min_months_before`` / ``min_months_after`` make a provider's outcome not
    estimable (the report says so).
    """

    seasonality: int = Field(2, ge=0, le=MAX_SEASONALITY)
    errors: ErrorsName | None = None
    maxlags: int | None = Field(None, ge=1)
    min_months_before: int = Field(12, ge=MIN_PERIODS)
    min_months_after: int = Field(6, ge=MIN_PERIODS)

    @model_validator(mode="after")
    def _maxlags_needs_newey_west(self) -> Self:
        if self.maxlags is not None and self.errors != "newey-west":
            raise ValueError("maxlags only applies to errors: newey-west")
        return self

    def errors_for(self, family: str) -> str:
        """The ``errors`` used for ``family``: the configured one or the family's default."""
        return self.errors if self.errors is not None else get_family(family).default_errors


class DiDOptions(_Strict):
    control_group: Literal["notyettreated", "nevertreated"] = "notyettreated"
    method: Literal["dr", "reg", "ipw"] = "dr"
    bootstrap: bool = True
    n_boot: int = Field(999, ge=99)
    seed: int = 20240401
    max_e: int | None = 18
    min_e: int | None = -12


# --- primary analysis (issue 10: the programme report's verdict) ------------------------------
class PrimaryAnalysis(_Strict):
    """The pre-specified primary analysis the programme report's verdict rests on.

    ``control_group`` None means the ``did`` section's; when given it must agree with it.
    ``event_time`` (dynamic only): the verdict quotes the effect at that event time instead of
    the average over all event times from the start.
    """

    method: Literal["staggered_did"] = "staggered_did"
    aggregation: Literal["dynamic", "simple", "group"] = "dynamic"
    control_group: Literal["notyettreated", "nevertreated"] | None = None
    event_time: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _event_time_dynamic(self) -> Self:
        if self.event_time is not None and self.aggregation != "dynamic":
            raise ValueError("event_time needs aggregation: dynamic")
        return self


# --- end primary analysis ---------------------------------------------------------------------


class DisclosureOptions(_Strict):
    preset: Literal["mhsds", "hes", "none"] = "mhsds"  # "none": internal runs only (banner on every page)


class ReportOptions(_Strict):
    kernel: str = "coceval"
    timeout_seconds: int = Field(600, ge=10)
    retries: int = Field(2, ge=0, le=5)
    baseline_months: int = Field(12, ge=6)
    exclude_provisional_months: int = Field(1, ge=0, description="last N months left out of models (provisional)")
    show_truth: bool = True
    dpi: int = Field(90, ge=50, le=300)


class ProviderOverride(_Strict):
    exclude_months: list[str] = Field(default_factory=list)
    its: ITSOptions | None = None

    @field_validator("exclude_months")
    @classmethod
    def _months(cls, v: list[str]) -> list[str]:
        import re

        bad = [m for m in v if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", str(m))]
        if bad:
            raise ValueError(f"months must be YYYY-MM, got {bad}")
        return v


class ProgrammeConfig(_Strict):
    """Everything a report run needs besides the data. See ``params/programme.yaml``."""

    data_dir: Path = Path("data/synthetic")
    mapping: Path | None = None
    outcomes: dict[str, Outcome]
    staff_indicators: dict[str, StaffIndicator] = Field(default_factory=dict)
    its: ITSOptions = ITSOptions()
    did: DiDOptions = DiDOptions()
    primary_analysis: PrimaryAnalysis = PrimaryAnalysis()
    disclosure: DisclosureOptions = DisclosureOptions()
    report: ReportOptions = ReportOptions()
    providers: dict[str, ProviderOverride] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _has_outcomes(self) -> Self:
        if not self.outcomes:
            raise ValueError("outcomes: at least one outcome is needed")
        pa = self.primary_analysis.control_group
        if pa is not None and pa != self.did.control_group:
            raise ValueError(
                f"primary_analysis.control_group ({pa}) differs from did.control_group ({self.did.control_group})"
            )
        return self

    @model_validator(mode="after")
    def _errors_suit_families(self) -> Self:
        """Each ITS ``errors`` (programme and provider overrides) must suit every outcome's family."""
        options = {"its": self.its} | {f"providers.{p}.its": o.its for p, o in self.providers.items() if o.its}
        for where, opts in options.items():
            for key, o in self.outcomes.items():
                allowed = get_family(o.family).errors
                if opts.errors is not None and opts.errors not in allowed:
                    raise ValueError(
                        f"{where}.errors {opts.errors!r} does not suit outcome {key!r} (family {o.family!r} "
                        f"allows {', '.join(allowed)}); leave errors out to use each family's default"
                    )
        return self

    def its_options(self, provider_id: str) -> ITSOptions:
        """ITS options for one provider (its override, else the programme default)."""
        o = self.providers.get(provider_id)
        return o.its if o is not None and o.its is not None else self.its

    def excluded_months(self, provider_id: str | None = None) -> list[str]:
        """Months a provider's models leave out (its override)."""
        o = self.providers.get(provider_id) if provider_id else None
        return list(o.exclude_months) if o is not None else []


@functools.lru_cache(maxsize=4)
def _parse_yaml(text: str) -> Any:
    """``text`` parsed as YAML, remembered: a report kernel forked from the batch's warm parent
    finds the config the parent parsed (about 0.05 s of CPU a report). Callers copy the result."""
    return yaml.safe_load(text)


def load_config(path: str | Path = "params/programme.yaml", **overrides: Any) -> ProgrammeConfig:
    """Read and validate a programme configuration file.

    Parameters
    ----------
    path : str or Path
        YAML file.
    **overrides
        Top-level keys to replace (e.g. ``data_dir="other/folder"``).

    Raises
    ------
    ConfigError
        Naming the file, each offending key path and the rule it breaks.

    Examples
    --------
    >>> cfg = load_config("params/programme.yaml")
    >>> cfg.outcomes["restrictive_interventions"].per
    1000.0
    """
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"config {path}: is a folder (the rule: the config is a YAML file)")
    try:
        raw = copy.deepcopy(_parse_yaml(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"config {path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x}); save it as UTF-8"
        ) from None
    except OSError as exc:
        raise ConfigError(f"config {path}: cannot be read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    raw.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return ProgrammeConfig.model_validate(raw)
    except ValidationError as exc:
        lines = [f"{path}: {exc.error_count()} problem(s) in the configuration"]
        for e in exc.errors():
            key = ".".join(str(p) for p in e["loc"]) or "(top level)"
            msg = "unknown key (not allowed here)" if e["type"] == "extra_forbidden" else e["msg"]
            lines.append(
                f"- {key}: {msg} (got {e.get('input')!r})"
                if e["type"] != "missing"
                else f"- {key}: required key missing"
            )
        raise ConfigError("\n".join(lines)) from None


def load_inputs(
    data_dir: str | Path | None = None, config: str | Path | ProgrammeConfig | None = None
) -> tuple[ProgrammeConfig, ProgrammeData, ProgrammeConfig | Path]:
    """Config and validated data for a report; ``None`` means the project defaults.

    The data folder is ``data_dir`` if given, else the config's ``data_dir``; relative paths
    resolve from the working folder or else the project folder.

    Examples
    --------
    >>> cfg, prog, source = load_inputs()
    >>> source.name, "SYN001" in set(prog.participation["provider_id"])
    ('programme.yaml', True)
    """
    if not isinstance(config, ProgrammeConfig):
        config = project_path(config, DEFAULT_CONFIG)
    cfg = config if isinstance(config, ProgrammeConfig) else load_config(config)
    folder = project_path(data_dir if data_dir is not None else cfg.data_dir, cfg.data_dir)
    mapping = None if cfg.mapping is None else project_path(cfg.mapping, cfg.mapping)
    prog = _load_programme_cached(folder, mapping)
    check_config_against_data(cfg, prog, config if isinstance(config, Path) else "config")
    return cfg, prog, config


#: The last validated data, keyed by the folder and the size and modification time of every
#: file in it. Off by default (a caller could change the frames in place); the batch's warm
#: kernel parent turns it on with :func:`preload_inputs`, loads and validates the data once, and
#: every report kernel forked from it finds them here (a changed file changes the key).
_DATA_CACHE: dict[tuple, ProgrammeData] = {}
_CACHE_ON = False


def preload_inputs(data_dir: str | Path | None = None, config: str | Path | ProgrammeConfig | None = None) -> None:
    """Turn on this process's data cache and fill it (used by the batch's warm kernels).

    Examples
    --------
    >>> preload_inputs()  # loads and validates data/synthetic once
    >>> load_inputs()[1] is load_inputs()[1]
    True
    >>> _uncache()
    """
    global _CACHE_ON
    _CACHE_ON = True
    load_inputs(data_dir, config)


def _uncache() -> None:
    global _CACHE_ON
    _CACHE_ON = False
    _DATA_CACHE.clear()


def _file_stamps(*paths: Path | None) -> tuple:
    out = []
    for p in paths:
        if p is None:
            continue
        p = Path(p)
        files = sorted(f for f in p.iterdir() if f.is_file()) if p.is_dir() else [p]
        for f in files:
            st = f.stat()
            out.append((str(f.resolve()), st.st_size, st.st_mtime_ns))
    return tuple(out)


def _load_programme_cached(folder: Path, mapping: Path | None) -> ProgrammeData:
    if not _CACHE_ON:
        return load_programme(folder, mapping=mapping)
    try:
        key = (str(Path(folder).resolve()), str(mapping), _file_stamps(folder, mapping))
    except OSError:  # a missing folder: let load_programme say so
        return load_programme(folder, mapping=mapping)
    if key not in _DATA_CACHE:
        _DATA_CACHE.clear()
        _DATA_CACHE[key] = load_programme(folder, mapping=mapping)
    return _DATA_CACHE[key]


def check_config_against_data(cfg: ProgrammeConfig, prog: ProgrammeData, where: str | Path = "config") -> None:
    """Rules that need both the configuration and the data.

    - every ``providers:`` override names a provider in the data (a typo would otherwise be
      ignored silently);
    - ``report.exclude_provisional_months`` leaves at least one month of data;
    - an override's ``exclude_months`` fall inside the data's months.

    Raises
    ------
    ConfigError
        Naming the file, the key path and the rule.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> import pandas as pd
    >>> prog = SimpleNamespace(participation=pd.DataFrame({"provider_id": ["P1"]}),
    ...                        months=pd.date_range("2024-01-01", periods=3, freq="MS"))
    >>> cfg = load_config(DEFAULT_CONFIG)
    >>> check_config_against_data(cfg, prog)  # no overrides: fine
    >>> bad = cfg.model_copy(update={"providers": {"P9": ProviderOverride()}})
    >>> check_config_against_data(bad, prog)
    Traceback (most recent call last):
    cocEval.errors.ConfigError: config: providers.P9: not a provider in the data (the rule: every override names a provider_id of the participation table)
    """
    known = set(prog.participation["provider_id"])
    unknown = sorted(set(cfg.providers) - known)
    if unknown:
        raise ConfigError(
            f"{where}: providers.{unknown[0]}: not a provider in the data (the rule: every override names "
            f"a provider_id of the participation table){' (and ' + ', '.join(unknown[1:]) + ')' if unknown[1:] else ''}"
        )
    n_months = len(prog.months)
    k = cfg.report.exclude_provisional_months
    if not n_months:
        raise DataError(
            f"{prog.source}: no monthly table (restrictive_practice or patient_experience) in the data folder, "
            "so the reports have no months to cover (the rule: a report needs at least one monthly table; a staff "
            "survey alone can be analysed with cocEval.data.provider_year_panel and cocEval.did.att_gt)"
        )
    if k >= n_months:
        raise ConfigError(
            f"{where}: report.exclude_provisional_months: {k} would leave none of the data's {n_months} month(s) "
            "(the rule: it must be smaller than the number of months)"
        )
    span = {fmt_period(m) for m in prog.months}
    for pid, o in cfg.providers.items():
        outside = [m for m in o.exclude_months if m not in span]
        if outside:
            raise ConfigError(
                f"{where}: providers.{pid}.exclude_months: {outside[0]} is not a month of the data "
                f"({min(span)} to {max(span)})"
            )
