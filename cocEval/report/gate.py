"""The one disclosure gate: every number that reaches a report passes through here.

Report sections build their tables with :meth:`Gate.table`, the data behind their charts with
:meth:`Gate.frame` (suppressed values become gaps, flagged in a ``suppressed`` column), their
figures with :meth:`Gate.figure` (which only accepts a frame the gate produced), and any count
they quote in prose with :meth:`Gate.count`. The renderer in :mod:`cocEval.report.blocks`
refuses tables and figures that did not come from a gate, so a section cannot bypass it.

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
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from cocEval.disclosure import DisclosureRule, apply_disclosure, get_rule
from cocEval.report.blocks import Figure, Table, figure_png
from cocEval.wording import fmt_number

__all__ = ["Gate", "alt_text"]

_DISCLOSED = "cocEval_disclosed"


class Gate:
    """Disclosure control for one report, under one rule.

    Parameters
    ----------
    rule : str or DisclosureRule
        A preset name of :mod:`cocEval.disclosure` ("mhsds", "hes", ...) or a rule.
    dpi : int
        Resolution of figures.
    """

    def __init__(self, rule: str | DisclosureRule = "mhsds", *, dpi: int = 90):
        self.rule = get_rule(rule)
        self.dpi = dpi

    # -- numbers in prose ------------------------------------------------------------------
    def count(self, value) -> str:
        """A count as a report may quote it: the marker, or rounded."""
        shown = apply_disclosure(pd.DataFrame({"v": [value]}), counts="v", rule=self.rule)["v"].iloc[0]
        return fmt_number(shown, 0) if not isinstance(shown, str) else shown

    # -- tables ----------------------------------------------------------------------------
    def table(
        self,
        df: pd.DataFrame,
        *,
        counts: str | Iterable[str] = (),
        rates: Mapping[str, tuple[str, str | None]] | None = None,
        drop: Iterable[str] = (),
        formats: Mapping[str, Callable] | None = None,
        caption: str = "",
        digits: int = 1,
    ) -> Table:
        """A table block: disclosure applied, helper columns dropped, cells formatted.

        ``counts`` are suppressed and rounded; ``rates`` (``{rate: (numerator, denominator)}``)
        are suppressed when the count behind them is small; ``drop`` removes helper columns
        (e.g. the numerators behind rates) after disclosure; ``formats`` maps a column to a
        function of a number. Missing values show as empty cells, never ``nan``.
        """
        names = [counts] if isinstance(counts, str) else list(counts)
        has_numbers = bool(rates) or bool(names)
        shown = apply_disclosure(df, counts=names, rates=rates, rule=self.rule) if has_numbers else df.copy()
        shown = shown.drop(columns=list(drop))
        formats = dict(formats or {})
        cells = shown.copy()
        for c in cells.columns:
            f = formats.get(c)
            cells[c] = [_cell(v, f, digits) for v in cells[c]]
        cells = cells.astype(object)
        return Table(shown=cells.reset_index(drop=True), caption=caption, frame=shown, _gated=True)

    # -- chart data ------------------------------------------------------------------------
    def frame(
        self,
        df: pd.DataFrame,
        *,
        counts: str | Iterable[str] = (),
        rates: Mapping[str, tuple[str, str | None]] | None = None,
        values: Iterable[str] = (),
    ) -> pd.DataFrame:
        """The data behind a chart, disclosed: suppressed cells become NaN (gaps).

        ``values`` are columns that carry no count (model estimates, limits) and pass as they
        are. A boolean column ``suppressed`` marks rows where any count or rate was hidden.
        """
        names = [counts] if isinstance(counts, str) else list(counts)
        out = apply_disclosure(df, counts=names, rates=rates, rule=self.rule) if (names or rates) else df.copy()
        cols = names + list((rates or {}).keys())
        hidden = np.zeros(len(out), dtype=bool)
        for c in cols:
            is_marker = out[c].map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)
            hidden |= is_marker
            out[c] = pd.to_numeric(out[c].where(~is_marker), errors="coerce")
        out["suppressed"] = hidden
        out.attrs[_DISCLOSED] = self.rule.name
        return out

    def figure(self, fig, *, data: pd.DataFrame, alt: str, caption: str = "") -> Figure:
        """A figure block from a matplotlib figure drawn from ``data`` (a :meth:`frame` result)."""
        if data is None or data.attrs.get(_DISCLOSED) is None:
            import matplotlib.pyplot as plt

            plt.close(fig)
            from cocEval.errors import DisclosureError

            raise DisclosureError(
                "a figure's data must come from Gate.frame (the data behind every chart is disclosed)"
            )
        return Figure(png=figure_png(fig, dpi=self.dpi), alt=alt, caption=caption, data=data, _gated=True)


def _cell(v, f, digits: int) -> str:
    if isinstance(v, str):
        return v
    if v is None or (not isinstance(v, tuple | list) and pd.isna(v)):
        return ""
    return f(v) if f else fmt_number(v, digits)


def alt_text(what: str, data: pd.DataFrame, x: str, y: str, *, unit: str = "", digits: int = 1) -> str:
    """Alt text for a line chart, generated from the data behind it.

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

    def lab(v):
        return f"{pd.Timestamp(v):%B %Y}" if isinstance(v, pd.Timestamp | np.datetime64) else str(v)

    first, last = d.iloc[0], d.iloc[-1]
    a, b = float(first[y]), float(last[y])
    move = "stayed at" if round(a, digits) == round(b, digits) else ("fell from" if b < a else "rose from")
    span = f"{lab(first[x])} to {lab(last[x])}"
    trend = f"{move} {a:.{digits}f}" + ("" if move == "stayed at" else f" to {b:.{digits}f}") + unit
    n_gap = int(data[y].isna().sum())
    gaps = f" {n_gap} value(s) not shown (suppressed or missing)." if n_gap else ""
    return f"{what}, {span}: {trend}; last value {b:.{digits}f}{unit} ({lab(last[x])}).{gaps}"
