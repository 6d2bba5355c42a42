"""Statistical disclosure control for every table that leaves the building.

Default rule: the MHSDS provider-level convention (``"mhsds"``):

- a count under 5 (including 0) is shown as ``"*"``; every other count is rounded to the
  nearest 5;
- a rate or proportion is shown as ``"*"`` when the count behind it (its numerator) is
  suppressed, or its denominator (e.g. occupied bed days) is under 100.

Preset ``"hes"``: the NHS Digital HES/ECDS method from September 2018 (sub-national outputs):
counts from 1 to 7 are ``"*"``, zero is shown as 0, other counts are rounded to the nearest 5;
rates are suppressed when their numerator is, with no denominator rule. (Source: NHS Digital,
"Disclosure control methodology for HES and ECDS"; check it against the current guide before
relying on it for a new output.)

Exact halves are rounded **up** (away from zero): 12.5 -> 15, 7.5 -> 10, 17.5 -> 20. This is
the conservative choice and what the published spreadsheets do (Excel's ``MROUND``); Python's
own ``round`` (half to even) would give 12.5 -> 10 and is deliberately not used. Counts are
normally whole numbers; non-whole counts (e.g. averaged or imputed) are rounded the same way.

Missing values (NaN) stay missing: they disclose nothing. Rates are not rounded here; format
them for display afterwards. Secondary (differencing) disclosure between cells or tables, e.g.
a total minus the shown cells, is *not* checked: keep totals consistent with rounded cells or
suppress a second cell by hand.

Examples
--------
>>> import pandas as pd
>>> from cocEval.disclosure import apply_disclosure
>>> t = pd.DataFrame({"incidents": [3, 12, 48], "bed_days": [900, 80, 2500]})
>>> t["rate"] = 1000 * t["incidents"] / t["bed_days"]
>>> apply_disclosure(t, rates={"rate": ("incidents", "bed_days")})[["incidents", "rate"]]
  incidents  rate
0         *     *
1        10     *
2        50  19.2
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "DisclosureRule",
    "PRESETS",
    "get_rule",
    "round_half_up",
    "disclose_count",
    "apply_disclosure",
    "disclosure_issues",
]


class DisclosureRule(BaseModel):
    """A disclosure-control rule.

    Parameters
    ----------
    name : str
        Shown in messages.
    suppress_below : int
        Counts strictly under this are suppressed (5 for MHSDS: 0-4; 8 for HES: 1-7).
    suppress_zero : bool
        Whether a zero count is suppressed too (MHSDS: yes, "under 5"; HES: no).
    rounding_base : int
        Other counts are rounded to the nearest multiple of this (halves up); 1 = no rounding.
    min_denominator : float or None
        A rate or proportion whose denominator is under this is suppressed; None = no rule.
    marker : str
        What a suppressed cell shows.

    Examples
    --------
    >>> DisclosureRule(name="strict", suppress_below=10).rounding_base
    5
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = "custom"
    suppress_below: int = Field(5, ge=0)
    suppress_zero: bool = True
    rounding_base: int = Field(5, ge=1)
    min_denominator: float | None = Field(100.0, ge=0)
    marker: str = "*"


#: Named rules: ``"mhsds"`` (default) and ``"hes"``.
PRESETS: dict[str, DisclosureRule] = {
    "mhsds": DisclosureRule(name="mhsds"),
    "hes": DisclosureRule(name="hes", suppress_below=8, suppress_zero=False, min_denominator=None),
}


def get_rule(rule: str | DisclosureRule = "mhsds", **overrides) -> DisclosureRule:
    """Return a rule by preset name (or pass one through), optionally with fields changed.

    Examples
    --------
    >>> get_rule("hes").suppress_below
    8
    >>> get_rule("mhsds", min_denominator=50).min_denominator
    50.0
    """
    if isinstance(rule, DisclosureRule):
        base = rule
    elif isinstance(rule, str) and rule.lower() in PRESETS:
        base = PRESETS[rule.lower()]
    else:
        raise ValueError(f"unknown disclosure rule {rule!r}; use one of {sorted(PRESETS)} or a DisclosureRule")
    # rebuild rather than model_copy(update=...) so that the overrides are validated
    return DisclosureRule(**{**base.model_dump(), **overrides}) if overrides else base


def round_half_up(x, base: int = 5):
    """Round to the nearest multiple of ``base``, exact halves up (12.5 -> 15 with base 5).

    Works on scalars and arrays; NaN stays NaN.

    Examples
    --------
    >>> float(round_half_up(12.5)), float(round_half_up(7)), float(round_half_up(8))
    (15.0, 5.0, 10.0)
    """
    x = np.asarray(x, dtype=float)
    out = np.floor(x / base + 0.5) * base
    return out if out.ndim else out[()]


def _is_suppressed(v: np.ndarray, rule: DisclosureRule) -> np.ndarray:
    small = v < rule.suppress_below
    if not rule.suppress_zero:
        small &= v != 0
    return small


def disclose_count(value, rule: str | DisclosureRule = "mhsds"):
    """Display value of one count: the marker, the rounded whole number, or NaN if missing.

    Examples
    --------
    >>> [disclose_count(v) for v in (0, 4, 5, 7, 8, 12.5)]
    ['*', '*', 5, 5, 10, 15]
    >>> [disclose_count(v, "hes") for v in (0, 7, 8)]
    [0, '*', 10]
    """
    r = get_rule(rule)
    s = _display_counts(pd.Series([value], name="value", dtype=object), "value", r)
    return s.iloc[0]


# --------------------------------------------------------------------------------------------
# reading columns
# --------------------------------------------------------------------------------------------
@dataclass
class _Numbers:
    values: np.ndarray  # float, NaN where missing or already suppressed
    marked: np.ndarray  # bool, cell already shows the marker


def _numbers(df: pd.DataFrame, col: str, rule: DisclosureRule, role: str) -> _Numbers:
    """Read a column as numbers; the rule's marker is allowed (already suppressed)."""
    s = df[col]
    marked = s.astype(object).map(lambda v: isinstance(v, str) and v == rule.marker).to_numpy(dtype=bool)
    as_num = pd.to_numeric(s.where(~marked), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    # anything that was present but not a number is an error, not a silent NaN
    present = s.notna().to_numpy() & ~marked
    bad = present & np.isnan(as_num)
    if bad.any():
        raise ValueError(
            f"{role} column {col!r} has values that are neither numbers nor the marker "
            f"{rule.marker!r}: {list(s[bad].unique()[:5])} (rows {list(df.index[bad][:5])})"
        )
    bad = np.isinf(as_num) | (as_num < 0)
    if bad.any():
        raise ValueError(
            f"{role} column {col!r} must be finite and non-negative; got {list(s[bad].unique()[:5])} "
            f"(rows {list(df.index[bad][:5])})"
        )
    return _Numbers(as_num, marked)


def _display_counts(df_or_s, col: str, rule: DisclosureRule) -> pd.Series:
    df = df_or_s.to_frame() if isinstance(df_or_s, pd.Series) else df_or_s
    nums = _numbers(df, col, rule, "count")
    v = nums.values
    rounded = round_half_up(v, rule.rounding_base)
    out = np.empty(len(v), dtype=object)
    for i, (x, r) in enumerate(zip(v, rounded)):
        out[i] = np.nan if np.isnan(x) else int(r)
    out[_is_suppressed(v, rule) | nums.marked] = rule.marker
    return pd.Series(out, index=df.index, name=col, dtype=object)


def _roles(df: pd.DataFrame, counts, rates) -> tuple[list[str], dict[str, tuple[str, str | None]]]:
    counts = [counts] if isinstance(counts, str) else list(counts or [])
    spec: dict[str, tuple[str, str | None]] = {}
    for rate_col, nd in (rates or {}).items():
        if isinstance(nd, str):
            spec[rate_col] = (nd, None)
        elif isinstance(nd, Iterable) and len(tuple(nd)) in (1, 2):
            t = tuple(nd)
            spec[rate_col] = (t[0], t[1] if len(t) == 2 else None)
        else:
            raise ValueError(
                f"rates[{rate_col!r}] must be a numerator column or a (numerator, denominator) pair; got {nd!r}"
            )
    if not counts and not spec:
        raise ValueError("say which columns are counts (counts=[...]) and/or rates (rates={rate: (num, den)})")
    both = set(counts) & set(spec)
    if both:
        raise ValueError(f"columns listed both as counts and as rates: {sorted(both)}")
    needed = set(counts) | set(spec) | {n for n, _ in spec.values()} | {d for _, d in spec.values() if d}
    missing = sorted(needed - set(df.columns))
    if missing:
        raise ValueError(f"columns not in the table: {missing}")
    # numerators are counts too: showing them unrounded would undo the rule
    for num, _ in spec.values():
        if num not in counts and num not in spec:
            counts.append(num)
    return counts, spec


def _rate_reasons(df: pd.DataFrame, rate_col: str, num: str, den: str | None, rule: DisclosureRule) -> list:
    """Per row: None if the rate may be shown, else why it must be suppressed."""
    n = _numbers(df, num, rule, "numerator")
    d = _numbers(df, den, rule, "denominator") if den else None
    small = _is_suppressed(n.values, rule)
    reasons: list[str | None] = []
    for i in range(len(df)):
        if n.marked[i]:
            reasons.append(f"its numerator {num!r} is suppressed")
        elif np.isnan(n.values[i]):
            reasons.append(f"its numerator {num!r} is missing, so it cannot be checked")
        elif small[i]:
            reasons.append(f"its numerator {num!r} = {n.values[i]:g} is under {rule.suppress_below}")
        elif d is not None and rule.min_denominator is not None:
            if d.marked[i] or np.isnan(d.values[i]):
                reasons.append(f"its denominator {den!r} is missing, so it cannot be checked")
            elif d.values[i] < rule.min_denominator:
                reasons.append(f"its denominator {den!r} = {d.values[i]:g} is under {rule.min_denominator:g}")
            else:
                reasons.append(None)
        else:
            reasons.append(None)
    return reasons


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------
def apply_disclosure(
    df: pd.DataFrame,
    *,
    counts: str | Iterable[str] = (),
    rates: Mapping[str, str | tuple[str, str | None]] | None = None,
    rule: str | DisclosureRule = "mhsds",
) -> pd.DataFrame:
    """Return a display copy of ``df`` with the disclosure rule applied.

    Parameters
    ----------
    df : DataFrame
        Any tidy table; other columns are passed through unchanged.
    counts : column name or list of names
        Counts of people or events: suppressed under the threshold, otherwise rounded.
    rates : mapping, optional
        ``{rate_column: (numerator_column, denominator_column)}`` (or just the numerator column):
        the rate is shown as the marker when its numerator is suppressed (or missing) or its
        denominator is under ``rule.min_denominator``. Numerator columns are treated as counts
        as well (showing them raw would undo the rule); denominators are left as they are.
    rule : "mhsds", "hes" or DisclosureRule

    Returns
    -------
    DataFrame
        Count and rate columns become ``object`` columns holding numbers, the marker or NaN.
        Applying it twice gives the same table.

    Raises
    ------
    ValueError
        Unknown rule or columns; values that are neither numbers nor the marker; negative or
        infinite values (the column and example rows are named).

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"ward": ["A", "B", "C"], "restraints": [0, 7, 12.5]})
    >>> apply_disclosure(t, counts="restraints")["restraints"].tolist()
    ['*', 5, 15]
    """
    r = get_rule(rule)
    count_cols, spec = _roles(df, counts, rates)
    out = df.copy()
    for rate_col, (num, den) in spec.items():
        reasons = _rate_reasons(df, rate_col, num, den, r)
        col = out[rate_col].astype(object)
        already = col.map(lambda v: isinstance(v, str) and v == r.marker).to_numpy(dtype=bool)
        _numbers(df, rate_col, r, "rate")  # validate the rate column itself
        hide = np.array([x is not None for x in reasons]) & col.notna().to_numpy()
        col[hide | already] = r.marker
        out[rate_col] = col
    for c in count_cols:
        out[c] = _display_counts(df, c, r)
    return out


def disclosure_issues(
    df: pd.DataFrame,
    *,
    counts: str | Iterable[str] = (),
    rates: Mapping[str, str | tuple[str, str | None]] | None = None,
    rule: str | DisclosureRule = "mhsds",
) -> pd.DataFrame:
    """List the cells of ``df`` that would disclose if the table were shown as it is.

    Works on raw tables and on displayed ones (cells showing the marker are fine), so
    ``disclosure_issues(apply_disclosure(t, ...), ...)`` is empty.

    Parameters
    ----------
    df, counts, rates, rule
        As for :func:`apply_disclosure`.

    Returns
    -------
    DataFrame
        One row per disclosing cell: ``row`` (index label), ``column``, ``value`` and ``reason``.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"incidents": [3, 15, 12], "bed_days": [900, 80, 2500]})
    >>> t["rate"] = 1000 * t["incidents"] / t["bed_days"]
    >>> issues = disclosure_issues(t, rates={"rate": ("incidents", "bed_days")})
    >>> issues[["row", "column"]].values.tolist()
    [[0, 'rate'], [1, 'rate'], [0, 'incidents'], [2, 'incidents']]
    """
    r = get_rule(rule)
    count_cols, spec = _roles(df, counts, rates)
    rows: list[dict] = []
    for rate_col, (num, den) in spec.items():
        _numbers(df, rate_col, r, "rate")
        reasons = _rate_reasons(df, rate_col, num, den, r)
        for (label, value), why in zip(df[rate_col].items(), reasons):
            shown = not (isinstance(value, str) and value == r.marker) and pd.notna(value)
            if why is not None and shown:
                rows.append({"row": label, "column": rate_col, "value": value, "reason": f"rate shown but {why}"})
    for c in count_cols:
        nums = _numbers(df, c, r, "count")
        small = _is_suppressed(nums.values, r)
        off_grid = round_half_up(nums.values, r.rounding_base) != nums.values
        for i, (label, value) in enumerate(df[c].items()):
            if nums.marked[i] or np.isnan(nums.values[i]):
                continue
            if small[i]:
                why = f"count {nums.values[i]:g} is under {r.suppress_below} ({r.name} rule: show {r.marker!r})"
            elif off_grid[i]:
                why = f"count {nums.values[i]:g} is not rounded to a multiple of {r.rounding_base}"
            else:
                continue
            rows.append({"row": label, "column": c, "value": value, "reason": why})
    return pd.DataFrame(rows, columns=["row", "column", "value", "reason"])
