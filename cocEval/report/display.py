"""What a report cell shows: headings, findings, tables (always through disclosure control),
figures. Everything that comes from data or config is HTML-escaped here, so a provider name
containing markup renders as text.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from cocEval.disclosure import apply_disclosure


def _display(obj) -> None:
    from IPython.display import display

    display(obj)


def esc(value) -> str:
    """HTML-escape any value as text.

    Examples
    --------
    >>> esc("<b>Trust</b>")
    '&lt;b&gt;Trust&lt;/b&gt;'
    """
    return html.escape(str(value))


def show_html(markup: str) -> None:
    """Display trusted markup (built by this package, with data already escaped)."""
    from IPython.display import HTML

    _display(HTML(markup))


def heading(text: str, level: int = 2) -> None:
    """Display a heading (text escaped)."""
    show_html(f"<h{level}>{esc(text)}</h{level}>")


def paragraph(text: str, *, css_class: str | None = None) -> None:
    """Display a paragraph of plain text (escaped)."""
    cls = f' class="{css_class}"' if css_class else ""
    show_html(f"<p{cls}>{esc(text)}</p>")


def finding(text: str) -> None:
    """Display a highlighted plain-English finding."""
    paragraph(text, css_class="coc-finding")


def bullets(items: Iterable[str]) -> None:
    """Display a bulleted list of plain-text items."""
    show_html("<ul>" + "".join(f"<li>{esc(i)}</li>" for i in items) + "</ul>")


def fmt_number(v, digits: int = 1) -> str:
    """Format a number for a table cell; strings (e.g. the suppression marker) pass through.

    Examples
    --------
    >>> fmt_number(3.14159), fmt_number("*"), fmt_number(float("nan"))
    ('3.1', '*', '')
    """
    if isinstance(v, str):
        return v
    if v is None or (isinstance(v, float) and math.isnan(v)) or pd.isna(v):
        return ""
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    return f"{float(v):,.{digits}f}"


def show_table(
    df: pd.DataFrame,
    *,
    counts: str | Iterable[str] = (),
    rates: Mapping[str, tuple[str, str | None]] | None = None,
    rule="mhsds",
    drop: Iterable[str] = (),
    formats: Mapping[str, object] | None = None,
    caption: str | None = None,
) -> pd.DataFrame:
    """Display a table after disclosure control; return the displayed frame.

    Every table in a report goes through here. ``counts`` are suppressed and rounded,
    ``rates`` are suppressed when the counts behind them are small (see
    :func:`cocEval.disclosure.apply_disclosure`); ``drop`` removes helper columns (e.g. the
    numerators behind rates) after disclosure; ``formats`` maps a column to a format function.
    All cells are escaped.

    Examples
    --------
    >>> t = pd.DataFrame({"ward": ["A", "B"], "events": [3, 12]})
    >>> show_table(t, counts="events")["events"].tolist()  # doctest: +SKIP
    ['*', 10]
    """
    has_numbers = bool(rates) or (counts if isinstance(counts, str) else list(counts))
    # A table without counts or rates of people or events (e.g. months reported) has nothing to suppress.
    shown = (apply_disclosure(df, counts=counts, rates=rates, rule=rule) if has_numbers else df).drop(
        columns=list(drop)
    )
    formats = dict(formats or {})
    out = shown.copy()
    for c in out.columns:
        f = formats.get(c)
        out[c] = [(_apply_format(f, v) if f else (fmt_number(v) if not isinstance(v, str) else v)) for v in out[c]]
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    head = "".join(f"<th>{esc(c)}</th>" for c in out.columns)
    body = "".join("<tr>" + "".join(f"<td>{esc(v)}</td>" for v in row) + "</tr>" for row in out.itertuples(index=False))
    show_html(f'<table class="coc-table">{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>')
    return shown


def _apply_format(f, v) -> str:
    if isinstance(v, str):
        return v
    if v is None or pd.isna(v):
        return ""
    return f(v)


def show_figure(fig) -> None:
    """Display a matplotlib figure as an embedded PNG and close it."""
    import matplotlib.pyplot as plt

    _display(fig)
    plt.close(fig)
