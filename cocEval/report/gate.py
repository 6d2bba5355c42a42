"""The one disclosure gate: every number that reaches a report passes through here.

Report sections build their tables with :meth:`Gate.table`, the data behind their charts with
:meth:`Gate.frame` (suppressed values become gaps, flagged in a ``suppressed`` column), their
figures with :meth:`Gate.figure` (which only accepts a frame the gate produced), and any count
they quote in prose with :meth:`Gate.count`. The renderer in :mod:`cocEval.report.blocks`
refuses tables and figures that did not come from a gate, so a section cannot bypass it, and
writes machine-checkable markers (``data-disclosure`` on count, rate and denominator cells,
``data-disclosure-rule`` on tables and figures) that :mod:`cocEval.audit` reads back.

Charts: draw from the frame (gaps where ``NaN``) and call :func:`mark_suppressed` to show the
suppressed points as markers with a legend entry; when :meth:`Gate.mostly_suppressed` says a
chart would be mostly gaps, show :meth:`Gate.not_shown` instead of the chart.

Staff Survey shares use the survey's own rule: ``gate.table(..., rule="staff-survey")`` (or
``gate.survey``). Under the ``"none"`` rule every override is ignored (nothing is controlled)
and :meth:`Gate.banner` returns the not-for-circulation banner that every page must carry.

The rules themselves live in :mod:`cocEval.disclosure`.

Examples
--------
>>> import pandas as pd
>>> g = Gate("mhsds")
>>> t = g.table(pd.DataFrame({"Ward": ["A", "B"], "Restraints": [3, 12]}), counts="Restraints")
>>> t.shown["Restraints"].tolist()
['*', '10']
>>> g.count(3), g.count(12)
('*', '10')
>>> Gate("none").banner().text
'Not for circulation: no disclosure control applied'
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cocEval.disclosure import NOT_FOR_CIRCULATION, DisclosureRule, Rates, apply_disclosure, get_rule, rate_columns
from cocEval.errors import DisclosureError
from cocEval.report.blocks import Callout, Figure, Paragraph, Table, figure_png
from cocEval.wording import fmt_month, fmt_number

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure as MplFigure

__all__ = ["Gate", "alt_text", "mark_suppressed"]

_DISCLOSED = "cocEval_disclosed"

#: legend label of suppressed points on charts
SUPPRESSED_LABEL = "Not shown (small number)"


def _names(counts: str | Iterable[str] | None) -> list[str]:
    return [counts] if isinstance(counts, str) else list(counts or [])


def _rate_per(df: pd.DataFrame, rate: str, num: str, den: str | None) -> float | None:
    """The scale of a rate (e.g. 1,000 for per 1,000 bed days), read off the exact data."""
    if den is None or den not in df.columns:
        return None
    r = pd.to_numeric(df[rate], errors="coerce")
    n = pd.to_numeric(df[num], errors="coerce")
    d = pd.to_numeric(df[den], errors="coerce")
    ok = (n > 0) & (d > 0) & r.notna()
    if not ok.any():
        return None
    per = float((r[ok] * d[ok] / n[ok]).median())
    return float(10 ** round(np.log10(per))) if per > 0 else None


class Gate:
    """Disclosure control for one report, under one rule.

    Parameters
    ----------
    rule : str or DisclosureRule
        A preset name of :mod:`cocEval.disclosure` ("mhsds", "hes", "none", ...) or a rule.
    dpi : int
        Resolution of figures.
    survey_rule : str or DisclosureRule
        The rule for Staff Survey results (``"staff-survey"``); ignored under ``"none"``.
    """

    def __init__(
        self,
        rule: str | DisclosureRule = "mhsds",
        *,
        dpi: int = 90,
        survey_rule: str | DisclosureRule = "staff-survey",
    ):
        self.rule = get_rule(rule)
        self.dpi = dpi
        self._survey = get_rule(survey_rule)

    # -- the rule ---------------------------------------------------------------------------
    @property
    def controlled(self) -> bool:
        """False under the ``"none"`` rule (internal runs)."""
        return self.rule.controlled

    @property
    def survey(self) -> DisclosureRule:
        """The rule for Staff Survey results (the report's own rule when uncontrolled)."""
        return self._survey if self.controlled else self.rule

    def _rule(self, rule: str | DisclosureRule | None) -> DisclosureRule:
        if rule is None or not self.controlled:
            return self.rule
        return get_rule(rule)

    def banner(self) -> Callout | None:
        """The banner every page must carry under the ``"none"`` rule (None otherwise).

        Put it first on every page: ``section.add(gate.banner())`` (``None`` is skipped).
        """
        return None if self.controlled else Callout(NOT_FOR_CIRCULATION, kind="banner")

    # -- numbers in prose ------------------------------------------------------------------
    def count(self, value: float | None, *, rule: str | DisclosureRule | None = None) -> str:
        """A count as a report may quote it: the marker, or rounded."""
        r = self._rule(rule)
        shown = apply_disclosure(pd.DataFrame({"v": [value]}), counts="v", rule=r)["v"].iloc[0]
        return fmt_number(shown, 0) if not isinstance(shown, str) else shown

    def rate(
        self,
        numerator: float | None,
        denominator: float | None,
        *,
        per: float = 1000,
        digits: int = 1,
        rule: str | DisclosureRule | None = None,
    ) -> str:
        """A rate as a report may quote it: the marker when the count behind it is small or
        the denominator too small, else ``per`` x rounded count / denominator, formatted.

        Use it for sentences such as the funnel plot's ("20 restrictive interventions over
        4,512 bed days, 4.4 per 1,000"): quote the count with :meth:`count` and the rate
        with this, never the exact count or a rate computed from it.

        Examples
        --------
        >>> g = Gate()
        >>> g.rate(3, 900), g.rate(22, 4512), g.rate(22, 80)
        ('*', '4.4', '*')
        """
        t = pd.DataFrame({"n": [numerator], "d": [denominator]})
        t["r"] = per * t["n"] / t["d"].where(t["d"] > 0)
        shown = apply_disclosure(t, rates={"r": ("n", "d")}, rule=self._rule(rule))["r"].iloc[0]
        return shown if isinstance(shown, str) else fmt_number(shown, digits)

    # -- tables ----------------------------------------------------------------------------
    def table(
        self,
        df: pd.DataFrame,
        *,
        counts: str | Iterable[str] = (),
        rates: Rates | None = None,
        drop: Iterable[str] = (),
        formats: Mapping[str, Callable[[Any], str]] | None = None,
        caption: str = "",
        digits: int = 1,
        totals: Mapping[str, Sequence[str]] | None = None,
        groups: Mapping[Hashable, Sequence[Hashable]] | Sequence[Sequence[Hashable]] | None = None,
        rule: str | DisclosureRule | None = None,
        scores: Mapping[str, str] | None = None,
    ) -> Table:
        """A table block: disclosure applied, helper columns dropped, cells formatted.

        ``counts`` are suppressed and rounded; ``rates`` (``{rate: (numerator, denominator)}``)
        are suppressed when the count behind them is small and otherwise computed from the
        rounded count; ``totals`` (``{total column: [part columns]}``) and ``groups`` (rows
        that add up: ``{total row: [part rows]}`` or lists of rows) get secondary suppression
        (:func:`cocEval.disclosure.secondary_suppression`); ``drop`` removes helper columns
        (e.g. the numerators behind rates) after disclosure; ``formats`` maps a column to a
        function of a number; ``scores`` (``{score: group size column}``) hides scores of
        groups under the rule's minimum (Staff Survey: 11 respondents); ``rule`` overrides the gate's rule for this table (e.g.
        ``"staff-survey"``). A denominator that counts people (responses, respondents) must be
        listed in ``counts`` too; other numeric columns are shown as they are, so pass only
        columns meant to be shown. Missing values show as empty cells, never ``nan``.
        """
        r = self._rule(rule)
        names = _names(counts)
        has_numbers = bool(rates) or bool(names) or bool(totals) or bool(scores)
        shown = (
            apply_disclosure(df, counts=names, rates=rates, rule=r, totals=totals, groups=groups, scores=scores)
            if has_numbers
            else df.copy()
        )
        shown = shown.drop(columns=list(drop))
        formats = dict(formats or {})
        cells = shown.copy()
        for c in cells.columns:
            f = formats.get(c)
            cells[c] = [_cell(v, f, digits) for v in cells[c]]
        cells = cells.astype(object)
        roles: dict[str, str] = {}
        for rate, (num, den) in rate_columns(rates).items():
            per = _rate_per(df, rate, num, den)
            roles[rate] = f"rate:{per:g}" if per else "rate"
            if den:
                roles[den] = "denominator"
            if r.rate_numerator_rule:
                roles.setdefault(num, "count")
        for c in names + [c for p, kids in (totals or {}).items() for c in [p, *kids]]:
            roles[c] = "count"
        roles = {c: v for c, v in roles.items() if c in cells.columns}
        return Table(
            shown=cells.reset_index(drop=True), caption=caption, frame=shown, _gated=True, roles=roles, rule=r.name
        )

    # -- chart data ------------------------------------------------------------------------
    def frame(
        self,
        df: pd.DataFrame,
        *,
        counts: str | Iterable[str] = (),
        rates: Rates | None = None,
        values: Iterable[str] = (),
        totals: Mapping[str, Sequence[str]] | None = None,
        groups: Mapping[Hashable, Sequence[Hashable]] | Sequence[Sequence[Hashable]] | None = None,
        rule: str | DisclosureRule | None = None,
        scores: Mapping[str, str] | None = None,
    ) -> pd.DataFrame:
        """The data behind a chart, disclosed: suppressed cells become NaN (gaps).

        Counts are rounded, rates are computed from the rounded counts (and hidden when the
        count behind them is small), exactly as in tables. ``values`` are columns that carry no
        count (model estimates, limits, occupied bed days) and pass as they are. Any other
        numeric column is dropped, including a rate's denominator unless it is declared (a
        number nobody declared does not reach a chart; a denominator that counts people, such
        as responses, belongs in ``counts``); dates, labels and flags pass. A boolean column ``suppressed``
        marks rows where any count or rate was hidden (draw them with
        :func:`mark_suppressed`).
        """
        r = self._rule(rule)
        names = _names(counts)
        has_numbers = bool(names) or bool(rates) or bool(totals) or bool(scores)
        out = (
            apply_disclosure(df, counts=names, rates=rates, rule=r, totals=totals, groups=groups, scores=scores)
            if has_numbers
            else df.copy()
        )
        cols = list(
            dict.fromkeys(
                names
                + list((rates or {}).keys())
                + [c for p, k in (totals or {}).items() for c in [p, *k]]
                + list(scores or {})
            )
        )
        if r.rate_numerator_rule:
            for num, _ in rate_columns(rates).values():
                if num not in cols:
                    cols.append(num)
        # numbers nobody declared do not reach a chart: undeclared numeric columns are dropped
        keep = set(cols) | set(values)
        undeclared = [
            c
            for c in out.columns
            if c not in keep and pd.api.types.is_numeric_dtype(out[c]) and not pd.api.types.is_bool_dtype(out[c])
        ]
        out = out.drop(columns=undeclared)
        hidden = np.zeros(len(out), dtype=bool)
        for c in cols:
            is_marker = out[c].map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)
            hidden |= is_marker
            out[c] = pd.to_numeric(out[c].where(~is_marker), errors="coerce")
        out["suppressed"] = hidden
        out.attrs[_DISCLOSED] = r.name
        return out

    @staticmethod
    def mostly_suppressed(data: pd.DataFrame, share: float = 0.5) -> bool:
        """True when more than ``share`` of a :meth:`frame`'s rows are suppressed: show
        :meth:`not_shown` instead of the chart."""
        return bool(len(data)) and float(data["suppressed"].mean()) > share

    @staticmethod
    def not_shown(what: str) -> Paragraph:
        """The note a section shows instead of a chart that would be mostly suppressed."""
        return Paragraph(
            f"{what} is not shown: most of its values are small numbers, which are not published "
            "so that no individual can be identified.",
            kind="note",
        )

    def figure(self, fig: MplFigure, *, data: pd.DataFrame, alt: str, caption: str = "") -> Figure:
        """A figure block from a matplotlib figure drawn from ``data`` (a :meth:`frame` result)."""
        if data is None or data.attrs.get(_DISCLOSED) is None:
            import matplotlib.pyplot as plt

            plt.close(fig)
            raise DisclosureError(
                "a figure's data must come from Gate.frame (the data behind every chart is disclosed)"
            )
        return Figure(
            png=figure_png(fig, dpi=self.dpi),
            alt=alt,
            caption=caption,
            data=data,
            _gated=True,
            rule=str(data.attrs[_DISCLOSED]),
        )

    def mark_suppressed(self, ax: Axes, data: pd.DataFrame, x: str, y: str | None = None, **kw: Any) -> int:
        """See :func:`mark_suppressed`."""
        return mark_suppressed(ax, data, x, y, **kw)


def mark_suppressed(
    ax: Axes,
    data: pd.DataFrame,
    x: str,
    y: str | None = None,
    *,
    label: str = SUPPRESSED_LABEL,
    color: str = "#768692",
    marker: str = "x",
) -> int:
    """Draw the suppressed points of a :meth:`Gate.frame` as markers along the bottom of ``ax``.

    The line itself is drawn by the caller from the frame, so a suppressed point is already a
    gap; this adds a marker at each suppressed ``x`` (at the foot of the axes, never at a
    value) and one legend entry, ``label``. ``y``: only mark rows whose ``y`` is hidden
    (default: every row flagged ``suppressed``). Returns the number of points marked.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> d = Gate().frame(pd.DataFrame({"month": [1, 2, 3], "n": [12, 3, 20]}), counts="n", values=["month"])
    >>> fig, ax = plt.subplots()
    >>> _ = ax.plot(d["month"], d["n"])
    >>> mark_suppressed(ax, d, "month", "n")
    1
    >>> [t.get_text() for t in ax.get_legend().get_texts()]
    ['Not shown (small number)']
    >>> plt.close(fig)
    """
    import matplotlib.transforms as mtransforms

    if "suppressed" not in data.columns:
        raise DisclosureError("mark_suppressed needs a Gate.frame result (it has a 'suppressed' column)")
    rows = data["suppressed"].to_numpy(dtype=bool).copy()
    if y is not None:
        rows &= data[y].isna().to_numpy()
    xs = data.loc[rows, x]
    if not len(xs):
        return 0
    trans = mtransforms.blended_transform_factory(ax.transData, ax.transAxes)
    ax.plot(
        xs,
        np.full(len(xs), 0.03),
        transform=trans,
        linestyle="none",
        marker=marker,
        color=color,
        label=label,
        clip_on=False,
        zorder=5,
    )
    handles, labels = ax.get_legend_handles_labels()
    keep = {lab: h for h, lab in zip(handles, labels, strict=True)}
    ax.legend(list(keep.values()), list(keep.keys()), frameon=False, fontsize="small")
    return int(len(xs))


def _cell(v: Any, f: Callable[[Any], str] | None, digits: int) -> str:  # v: any cell pandas holds
    if isinstance(v, str):
        return v
    if v is None or (not isinstance(v, tuple | list) and pd.isna(v)):
        return ""
    return f(v) if f else fmt_number(v, digits)


def alt_text(what: str, data: pd.DataFrame, x: str, y: str, *, unit: str = "", digits: int = 1) -> str:
    """Alt text for a line chart, generated from the (disclosed) data behind it.

    Says what is shown, the direction from first to last shown value, and the last value.

    Examples
    --------
    >>> d = pd.DataFrame({"month": pd.date_range("2024-01-01", periods=3, freq="MS"), "rate": [4.0, 3.5, 3.1]})
    >>> alt_text("Restraint rate by month", d, "month", "rate", unit=" per 1,000 bed days")
    'Restraint rate by month, January 2024 to March 2024: fell from 4.0 to 3.1 per 1,000 bed days; last value 3.1 per 1,000 bed days (March 2024).'
    """
    d = data[[x, y]].dropna()
    if d.empty:
        return f"{what}: no values can be shown."

    def lab(v: object) -> str:
        return fmt_month(v) if isinstance(v, pd.Timestamp | np.datetime64) else str(v)

    first, last = d.iloc[0], d.iloc[-1]
    a, b = float(first[y]), float(last[y])
    move = "stayed at" if round(a, digits) == round(b, digits) else ("fell from" if b < a else "rose from")
    span = f"{lab(first[x])} to {lab(last[x])}"
    trend = f"{move} {a:.{digits}f}" + ("" if move == "stayed at" else f" to {b:.{digits}f}") + unit
    n_gap = int(data[y].isna().sum())
    gaps = f" {n_gap} value(s) not shown (suppressed or missing)." if n_gap else ""
    return f"{what}, {span}: {trend}; last value {b:.{digits}f}{unit} ({lab(last[x])}).{gaps}"
