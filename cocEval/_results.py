"""The shape every results object shares (after CausalPy).

Each estimator returns an object that offers

- ``summary()`` -> str: a plain-English paragraph (findings first, then how sure we are);
- ``get_plot_data()`` -> DataFrame: the tidy frame behind its chart;
- ``plot(*, ax=None)`` -> (fig, ax);
- ``_repr_html_()``: summary paragraph plus its main table, for notebooks.

Subclasses set ``_table_attr`` to the attribute holding the main table.
"""

from __future__ import annotations

import html

import pandas as pd


class ResultMixin:
    """Mixin giving results objects a notebook representation built from ``summary()``."""

    _table_attr: str = "table"

    def summary(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def get_plot_data(self) -> pd.DataFrame:  # pragma: no cover - abstract
        raise NotImplementedError

    def _repr_html_(self) -> str:
        text = html.escape(self.summary())
        table = getattr(self, self._table_attr, None)
        table_html = table.to_html(float_format=lambda v: f"{v:.4g}") if isinstance(table, pd.DataFrame) else ""
        return f"<div><p>{text}</p>{table_html}</div>"


def pct(x: float, digits: int = 0) -> str:
    """Format a proportion as a percentage string: ``pct(0.183) == '18%'``.

    Examples
    --------
    >>> pct(0.183)
    '18%'
    >>> pct(-0.0456, 1)
    '-4.6%'
    """
    return f"{100 * x:.{digits}f}%"
