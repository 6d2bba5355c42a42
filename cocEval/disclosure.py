"""Statistical disclosure control for every number that leaves the building.

Four named rules (:data:`~cocEval.disclosure_rules.PRESETS`), each with its source:

``"mhsds"`` (default)
    The NHS England Mental Health Services Data Set (MHSDS) provider-level convention, as in its
    monthly statistics and restrictive-interventions tables: counts from 1 to 4 are shown as
    ``"*"``, every other count is rounded to the nearest 5. A rate is shown as ``"*"`` when its
    numerator is suppressed or under 5, or its denominator (occupied bed days) is under 100.

    **Zero.** This package suppresses 0 as well (0-4 -> ``"*"``). Reason: a shown zero is an
    exact, known part of every total it belongs to, so it narrows what the other cells can be
    when a reader subtracts (e.g. a rounded total of 5 beside parts ``0, 0, *`` pins the ``*``
    to 3 or 4), and it tells the reader that every ``*`` month had at least one event. Rates
    with a zero numerator are suppressed in any case (numerator under 5), so nothing is lost
    that the rate would have shown. Use ``get_rule("mhsds", suppress_zero=False)`` to show 0.

``"staff-survey"``
    NHS Staff Survey practice: results are not reported for a group with fewer than 11
    responses, the figure usually quoted for the survey's breakdown reports. Here: a share or
    score is ``"*"`` when fewer than 11 staff responded (its denominator), and a count of
    respondents under 11 is ``"*"``. Counts are not rounded (the survey publishes response
    counts as they are); the share's numerator alone does not suppress it (the survey shows
    percentages for every group of 11 or more). *Source checked*: the stored copies of the
    Coordination Centre's guidance (2007, 2014 and 2018 editions, "Breakdown of results by
    directorate / department / site") and of nhsstaffsurveys.com were searched; the section
    exists in each but the sentence stating the minimum was not in the stored text, so the
    figure 11 rests on the usual quotation and should be checked against the current
    Technical Document before the rule is relied on.

``"hes"``
    NHS Digital, "Disclosure control methodology for Hospital Episode Statistics (HES) and
    Emergency Care Data Set (ECDS)" (applied from September 2018), sub-national counts: 0 is
    shown as 0, counts from 1 to 7 are ``"*"``, other counts are rounded to the nearest 5;
    rates are suppressed when their numerator is, with no denominator rule. *Verified* in the
    stored text of NHS Digital's page: its title, scope (HES and ECDS outputs of the Secondary
    Care Analysis team from September 2018) and that it replaced the old rule (1-5 -> ``*``
    with manual secondary suppression) by an automatable one. *Verified* in a stored copy of
    the methodology's wording (not on NHS Digital's own page): at sub-national level a value
    calculated from 1-7 individuals is ``*``; no control at national level; values not about
    individuals are not rounded; percentages are calculated from the rounded numerator and
    denominator. *Not verified* (the counts paragraph was cut off in every stored copy): the
    exact wording "1-7 -> ``*``, others to the nearest 5" for counts and the treatment of
    zero; both are taken from the published HES tables and should be checked against the
    current guide before a new output relies on them.

``"none"``
    No disclosure control, for internal runs only. Every page then carries the banner
    :data:`NOT_FOR_CIRCULATION` (see :func:`banner_text`, :func:`index_note`) and the audit
    (:mod:`cocEval.audit`) insists on it.

Exact halves are rounded **up** (away from zero): 12.5 -> 15, 7.5 -> 10, 17.5 -> 20. This is
the conservative choice and what the published spreadsheets do (Excel's ``MROUND``); Python's
own ``round`` (half to even) would give 12.5 -> 10 and is deliberately not used. Counts are
normally whole numbers; non-whole counts (e.g. averaged or imputed) are rounded the same way.

**Rates are computed from the rounded count**: a rate shown beside its denominator is
``rate * rounded / exact`` (the same scale), so rate x denominator gives back only the rounded
count, never the exact one (``tests/test_disclosure_rules.py`` proves it).

**Secondary suppression** (:func:`secondary_suppression`; ``totals=`` / ``groups=`` of
:func:`apply_disclosure`) protects tables with totals or complementary cells, following the
three-step method of NHS England's Friends and Family Test publication pipeline
(``nhsengland/fft_pipeline``, ``src/fft/suppression.py``: first-level suppression of 1-4,
second-level suppression of the next-smallest cell in the same group, cascade suppression of
the two smallest children of a suppressed parent), repeated until stable. Two additions close
gaps that rounding leaves: a group's suppressed cells must include one that is not itself
small (else the rounded total can pin them), and a group with a single child is tied to its
parent. Totals are rounded like any count, never summed from shown cells.

Missing values (NaN) stay missing: they disclose nothing.

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
2        50  20.0
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias, overload

import numpy as np
import pandas as pd

# The rules themselves live (and are documented) in cocEval.disclosure_rules; still importable
# from here.
from cocEval.disclosure_rules import NOT_FOR_CIRCULATION as NOT_FOR_CIRCULATION
from cocEval.disclosure_rules import PRESETS as PRESETS
from cocEval.disclosure_rules import DisclosureRule as DisclosureRule
from cocEval.disclosure_rules import banner_text as banner_text
from cocEval.disclosure_rules import get_rule as get_rule
from cocEval.disclosure_rules import index_note as index_note
from cocEval.errors import InputError

__all__ = [
    "apply_disclosure",
    "disclose_count",
    "disclosure_issues",
    "rate_columns",
    "round_half_up",
    "secondary_suppression",
]

#: Rates as the functions here take them: ``{rate column: (numerator, denominator)}``, or the
#: numerator column alone when there is no denominator.
Rates: TypeAlias = Mapping[str, str | tuple[str, str | None]]


@overload
def round_half_up(x: float, base: int = 5) -> float: ...
@overload
def round_half_up(x: np.ndarray | Sequence[float], base: int = 5) -> np.ndarray: ...
def round_half_up(x: float | np.ndarray | Sequence[float], base: int = 5) -> float | np.ndarray:
    """Round to the nearest multiple of ``base``, exact halves up (12.5 -> 15 with base 5).

    Works on scalars and arrays; NaN stays NaN.

    Examples
    --------
    >>> float(round_half_up(12.5)), float(round_half_up(7)), float(round_half_up(8))
    (15.0, 5.0, 10.0)
    """
    arr = np.asarray(x, dtype=float)
    out = np.floor(arr / base + 0.5) * base
    return out if out.ndim else float(out[()])


def _is_suppressed(v: np.ndarray, rule: DisclosureRule) -> np.ndarray:
    v = np.asarray(v, dtype=float)
    if not rule.controlled:
        return np.zeros(v.shape, dtype=bool)
    small = v < rule.suppress_below
    if not rule.suppress_zero:
        small &= v != 0
    return small


def _rounded(v: np.ndarray, rule: DisclosureRule) -> np.ndarray:
    return np.asarray(v, dtype=float) if not rule.controlled else round_half_up(v, rule.rounding_base)


def disclose_count(value: object, rule: str | DisclosureRule = "mhsds") -> str | int | float:
    """Display value of one count: the marker, the rounded whole number, or NaN if missing.

    Examples
    --------
    >>> [disclose_count(v) for v in (0, 4, 5, 7, 8, 12.5)]
    ['*', '*', 5, 5, 10, 15]
    >>> [disclose_count(v, "hes") for v in (0, 7, 8)]
    [0, '*', 10]
    >>> [disclose_count(v, "none") for v in (0, 3, 12)]
    [0, 3, 12]
    """
    r = get_rule(rule)
    s = _display_counts(pd.Series([value], name="value", dtype=object), "value", r)
    shown: str | int | float = s.iloc[0]
    return shown


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
        raise InputError(
            f"{role} column {col!r} has values that are neither numbers nor the marker "
            f"{rule.marker!r}: {list(s[bad].unique()[:5])} (rows {list(df.index[bad][:5])})"
        )
    bad = np.isinf(as_num) | (as_num < 0)
    if bad.any():
        raise InputError(
            f"{role} column {col!r} must be finite and non-negative; got {list(s[bad].unique()[:5])} "
            f"(rows {list(df.index[bad][:5])})"
        )
    return _Numbers(as_num, marked)


def _whole(x: float) -> int | float:
    return int(x) if float(x).is_integer() else float(x)


def _display_counts(df_or_s: pd.DataFrame | pd.Series, col: str, rule: DisclosureRule) -> pd.Series:
    df = df_or_s.to_frame() if isinstance(df_or_s, pd.Series) else df_or_s
    nums = _numbers(df, col, rule, "count")
    v = nums.values
    rounded = _rounded(v, rule)
    out = np.empty(len(v), dtype=object)
    for i, (x, r) in enumerate(zip(v, rounded, strict=True)):
        out[i] = np.nan if np.isnan(x) else _whole(r)
    out[_is_suppressed(v, rule) | nums.marked] = rule.marker
    return pd.Series(out, index=df.index, name=col, dtype=object)


def rate_columns(rates: Rates | None) -> dict[str, tuple[str, str | None]]:
    """Each rate column's ``(numerator, denominator)`` (None: no denominator), from ``rates``
    as :func:`apply_disclosure` takes it (a numerator column alone, or a pair).

    Examples
    --------
    >>> rate_columns({"rate": ("incidents", "bed_days"), "share": "positive"})
    {'rate': ('incidents', 'bed_days'), 'share': ('positive', None)}
    """
    spec: dict[str, tuple[str, str | None]] = {}
    for rate_col, nd in (rates or {}).items():
        if isinstance(nd, str):
            spec[rate_col] = (nd, None)
        elif isinstance(nd, Iterable) and len(tuple(nd)) in (1, 2):
            t: tuple[Any, ...] = tuple(nd)  # a pair, or a numerator alone, from untyped input
            spec[rate_col] = (t[0], t[1] if len(t) == 2 else None)
        else:
            raise InputError(
                f"rates[{rate_col!r}] must be a numerator column or a (numerator, denominator) pair; got {nd!r}"
            )
    return spec


def _roles(
    df: pd.DataFrame, counts: str | Iterable[str] | None, rates: Rates | None, rule: DisclosureRule
) -> tuple[list[str], dict[str, tuple[str, str | None]]]:
    count_cols = [counts] if isinstance(counts, str) else list(counts or [])
    spec = rate_columns(rates)
    counts = count_cols
    if not counts and not spec:
        raise InputError("say which columns are counts (counts=[...]) and/or rates (rates={rate: (num, den)})")
    both = set(counts) & set(spec)
    if both:
        raise InputError(f"columns listed both as counts and as rates: {sorted(both)}")
    needed = set(counts) | set(spec) | {n for n, _ in spec.values()} | {d for _, d in spec.values() if d}
    missing = sorted(needed - set(df.columns))
    if missing:
        raise InputError(f"columns not in the table: {missing}")
    # numerators are counts too: showing them unrounded would undo the rule
    if rule.rate_numerator_rule:
        for num, _ in spec.values():
            if num not in counts and num not in spec:
                counts.append(num)
    return counts, spec


def _rate_reasons(df: pd.DataFrame, rate_col: str, num: str, den: str | None, rule: DisclosureRule) -> list[str | None]:
    """Per row: None if the rate may be shown, else why it must be suppressed."""
    if not rule.controlled:
        return [None] * len(df)
    n = _numbers(df, num, rule, "numerator")
    d = _numbers(df, den, rule, "denominator") if den else None
    small = _is_suppressed(n.values, rule)
    reasons: list[str | None] = []
    for i in range(len(df)):
        if n.marked[i]:
            reasons.append(f"its numerator {num!r} is suppressed")
        elif rule.rate_numerator_rule and np.isnan(n.values[i]):
            reasons.append(f"its numerator {num!r} is missing, so it cannot be checked")
        elif rule.rate_numerator_rule and small[i]:
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
# secondary suppression
# --------------------------------------------------------------------------------------------
Group = tuple[Hashable | None, Sequence[Hashable]]


def secondary_suppression(
    values: pd.Series | Mapping[Hashable, float],
    groups: Iterable[Group],
    rule: str | DisclosureRule = "mhsds",
    *,
    primary: Iterable[Hashable] = (),
) -> pd.Series:
    """Which cells to suppress so that no suppressed cell can be recovered by subtraction.

    The three steps of NHS England's Friends and Family Test publication pipeline
    (``nhsengland/fft_pipeline``, ``src/fft/suppression.py``), repeated until nothing changes:

    1. *first level*: cells the rule suppresses (MHSDS: 0-4) and any ``primary`` cells;
    2. *second level*: in a group with exactly one suppressed cell, also the next-smallest cell
       (never a zero when the rule shows zeros: the FFT pipeline ranks only non-zero cells);
    3. *cascade*: for a suppressed parent, its two smallest children.

    Two additions, because totals here are rounded rather than exact: the suppressed cells of a
    group must include one that is not itself small (two suppressed 1s beside a rounded total
    can be pinned), and a parent with a single child is suppressed with it (they are equal).

    Parameters
    ----------
    values : Series or mapping
        Exact counts by cell key (any hashable, e.g. ``(row, column)``); NaN = missing.
    groups : iterable of ``(parent, children)``
        ``parent`` is the key of the cell holding the total of ``children`` (or None when the
        total is not in this table but is known elsewhere, e.g. a cohort's published total).
    rule : str or DisclosureRule
    primary : iterable of keys
        Cells to suppress whatever their value (e.g. suppressed for another reason).

    Returns
    -------
    Series of bool
        True for every cell to show as the marker, indexed like ``values``.

    Examples
    --------
    Restraint types summing to all restrictive interventions (the parent):

    >>> v = {"physical": 30, "seclusion": 3, "chemical": 9, "mechanical": 12, "all": 54}
    >>> s = secondary_suppression(v, [("all", ["physical", "seclusion", "chemical", "mechanical"])])
    >>> sorted(k for k, hide in s.items() if hide)
    ['chemical', 'seclusion']
    """
    r = get_rule(rule)
    vs = pd.Series(values, dtype=float) if not isinstance(values, pd.Series) else values.astype(float)
    if not vs.index.is_unique:
        raise InputError("secondary_suppression: cell keys must be unique")
    first = _is_suppressed(vs.to_numpy(), r) & vs.notna().to_numpy()
    if not r.controlled:
        return pd.Series(False, index=vs.index)
    v = dict(zip(vs.index, vs.to_numpy(), strict=True))  # plain dicts: this loop runs often
    sup = dict(zip(vs.index, first.tolist(), strict=True))
    for k in primary:
        if k in sup:
            sup[k] = True
    listed = [(p, list(c)) for p, c in groups]
    for p, kids in listed:
        unknown = [k for k in ([p] if p is not None else []) + kids if k not in v]
        if unknown:
            raise InputError(f"secondary_suppression: group cells not in the values: {unknown[:5]}")
    # (parent, children with a value, all children in their given order)
    present = [(p, [k for k in kids if not np.isnan(v[k])], kids) for p, kids in listed]

    def small(k: Hashable) -> bool:
        return bool(v[k] < r.suppress_below)

    def next_smallest(kids: list[Hashable], order: list[Hashable]) -> Hashable | None:
        free: list[Hashable] = [k for k in kids if not sup[k]]
        if not r.suppress_zero:  # zeros are shown under this rule: never hidden to protect others
            free = [k for k in free if v[k] != 0]
        if not free:
            return None
        # smallest value first; ties broken by position in the group (deterministic)
        return min(free, key=lambda k: (v[k], order.index(k)))

    for _ in range(10 * (len(v) + 1)):
        changed = False
        for p, kids, order in present:
            if not kids:
                continue
            has_parent = p is not None and not np.isnan(v[p])
            if has_parent and len(kids) == 1:
                if sup[p] != sup[kids[0]]:
                    sup[p] = sup[kids[0]] = True
                    changed = True
                continue
            if has_parent and sup[p]:  # cascade: two smallest children of a suppressed parent
                while sum(sup[k] for k in kids) < min(2, len(kids)):
                    k = next_smallest(kids, order)
                    if k is None:
                        break
                    sup[k] = True
                    changed = True
            hidden = [k for k in kids if sup[k]]
            while hidden and (len(hidden) < 2 or all(small(k) for k in hidden)):
                k = next_smallest(kids, order)
                if k is None:
                    break
                sup[k] = True
                hidden.append(k)
                changed = True
        if not changed:
            return pd.Series(sup, index=vs.index, dtype=bool)
    raise AssertionError("secondary suppression did not converge")  # pragma: no cover


def _table_groups(
    df: pd.DataFrame,
    count_cols: list[str],
    totals: Mapping[str, Sequence[str]] | None,
    groups: Mapping[Hashable, Sequence[Hashable]] | Sequence[Sequence[Hashable]] | None,
) -> list[Group]:
    out: list[Group] = []
    for parent, kids in (totals or {}).items():
        missing = [c for c in [parent, *kids] if c not in df.columns]
        if missing:
            raise InputError(f"totals: columns not in the table: {missing}")
        for row in df.index:
            out.append(((row, parent), [(row, c) for c in kids]))
    if groups is not None:
        pairs = list(groups.items()) if isinstance(groups, Mapping) else [(None, list(g)) for g in groups]
        for top, rows in pairs:
            absent = [x for x in ([top] if top is not None else []) + list(rows) if x not in df.index]
            if absent:
                raise InputError(f"groups: rows not in the table's index: {absent[:5]}")
            for c in count_cols:
                out.append(((top, c) if top is not None else None, [(x, c) for x in rows]))
    return out


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------
def apply_disclosure(
    df: pd.DataFrame,
    *,
    counts: str | Iterable[str] = (),
    rates: Rates | None = None,
    rule: str | DisclosureRule = "mhsds",
    totals: Mapping[str, Sequence[str]] | None = None,
    groups: Mapping[Hashable, Sequence[Hashable]] | Sequence[Sequence[Hashable]] | None = None,
    scores: Mapping[str, str] | None = None,
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
        denominator is under ``rule.min_denominator``. A rate that is shown is recomputed from
        the *rounded* numerator (``rate * rounded / exact``), so rate x denominator gives back
        only the rounded count. Numerator columns are treated as counts as well (showing them
        raw would undo the rule); denominators are left as they are.
    rule : "mhsds", "staff-survey", "hes", "none" or DisclosureRule
    totals : mapping, optional
        ``{total_column: [part columns]}``: in every row the total column is the sum of the part
        columns (e.g. all restrictive interventions = the types). Secondary suppression is
        applied (:func:`secondary_suppression`); the total is rounded, not summed.
    groups : mapping or list, optional
        Rows that add up: ``{total_row_label: [part row labels]}`` (e.g. a year and its months),
        or a list of lists of row labels whose total is shown elsewhere (providers in a cohort).
        Applied to every count column.
    scores : mapping, optional
        ``{score_column: group_size_column}``: a score or mean (e.g. a Staff Survey engagement
        score) is shown as the marker when its group has fewer members than the rule's minimum
        (``min_denominator``, else ``suppress_below``: 11 respondents under ``"staff-survey"``).

    Returns
    -------
    DataFrame
        Count and rate columns become ``object`` columns holding numbers, the marker or NaN.
        Applying it twice gives the same table.

    Raises
    ------
    InputError
        Unknown rule or columns; values that are neither numbers nor the marker; negative or
        infinite values (the column and example rows are named).

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"ward": ["A", "B", "C"], "restraints": [0, 7, 12.5]})
    >>> apply_disclosure(t, counts="restraints")["restraints"].tolist()
    ['*', 5, 15]
    >>> t = pd.DataFrame({"restraint": [3, 40], "seclusion": [20, 9], "all": [23, 49]})
    >>> apply_disclosure(t, counts=["restraint", "seclusion"], totals={"all": ["restraint", "seclusion"]})
      restraint seclusion all
    0         *         *  25
    1        40        10  50
    """
    r = get_rule(rule)
    count_cols: list[str]
    spec: dict[str, tuple[str, str | None]]
    if scores and not counts and not rates and not totals:
        count_cols, spec = [], {}
    else:
        count_cols, spec = _roles(df, counts, rates, r)
    for parent, kids in (totals or {}).items():
        for c in [parent, *kids]:
            if c not in count_cols and c in df.columns:
                count_cols.append(c)
    src = df
    if (totals or groups is not None) and r.controlled:
        cells, primary = {}, []
        for c in count_cols:
            nums = _numbers(df, c, r, "count")
            for label, x, m in zip(df.index, nums.values, nums.marked, strict=True):
                cells[(label, c)] = 0.0 if m else x  # already suppressed: value unknown, treated as small
                if m:
                    primary.append((label, c))
        hide = secondary_suppression(
            pd.Series(cells, dtype=float), _table_groups(df, count_cols, totals, groups), r, primary=primary
        )
        src = df.copy()
        for (label, c), h in hide.items():
            if h:
                src[c] = src[c].astype(object)
                src.loc[label, c] = r.marker
    out = src.copy()
    for rate_col, (num, den) in spec.items():
        reasons = _rate_reasons(src, rate_col, num, den, r)
        col = out[rate_col].astype(object)
        already = col.map(lambda v: isinstance(v, str) and v == r.marker).to_numpy(dtype=bool)
        vals = _numbers(src, rate_col, r, "rate").values
        hide_rate = np.array([x is not None for x in reasons]) & col.notna().to_numpy()
        if r.controlled and r.rounding_base > 1:
            n = _numbers(src, num, r, "numerator").values
            scale = np.where(n > 0, _rounded(n, r) / np.where(n > 0, n, 1.0), 1.0)
            shown = vals * scale
            for i in np.flatnonzero(~hide_rate & ~already & ~np.isnan(vals)):
                col.iloc[i] = float(shown[i])
        col[hide_rate | already] = r.marker
        out[rate_col] = col
    for score_col, size_col in (scores or {}).items():
        missing = [c for c in (score_col, size_col) if c not in df.columns]
        if missing:
            raise InputError(f"scores: columns not in the table: {missing}")
        if not r.controlled:
            continue
        size = _numbers(src, size_col, r, "group size")
        minimum = r.min_denominator if r.min_denominator is not None else r.suppress_below
        col = out[score_col].astype(object)
        hide = size.marked | np.isnan(size.values) | (size.values < minimum)
        col[hide & col.notna().to_numpy()] = r.marker
        out[score_col] = col
    for c in count_cols:
        out[c] = _display_counts(src, c, r)
    return out


def disclosure_issues(
    df: pd.DataFrame,
    *,
    counts: str | Iterable[str] = (),
    rates: Rates | None = None,
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
    count_cols, spec = _roles(df, counts, rates, r)
    rows: list[dict[str, Any]] = []
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
