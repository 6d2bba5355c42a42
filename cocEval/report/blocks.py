"""Report sections as data: blocks, and the renderers that turn them into HTML or text.

A report section is a function from inputs to a :class:`Section` (a titled list of blocks:
:class:`Heading`, :class:`Paragraph`, :class:`Bullets`, :class:`Table`, :class:`Figure`,
:class:`Callout`). Sections make no display calls, so they are unit-tested as data without a
kernel. A notebook shows a section by leaving it as a cell's value (``_repr_html_``);
``print(section)`` in a terminal gives readable text (``__str__``).

Tables and figures are built only by the disclosure gate (:mod:`cocEval.report.gate`), which
checks every number they carry; the renderer refuses a table or figure that did not pass it.

Examples
--------
>>> s = Section("At a glance", [Paragraph("Restraint fell by 11%.", kind="finding")])
>>> print(s)
At a glance
===========
Restraint fell by 11%.
>>> "<h2>At a glance</h2>" in s._repr_html_()
True
"""

from __future__ import annotations

import base64
import html
import io
import itertools
import textwrap
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, TypeAlias, TypeVar

import numpy as np
import pandas as pd

from cocEval.errors import DisclosureError, InputError

if TYPE_CHECKING:
    from matplotlib.figure import Figure as MplFigure

__all__ = [
    "Block",
    "Bullets",
    "Callout",
    "Figure",
    "Heading",
    "Paragraph",
    "Section",
    "Table",
    "to_html",
    "to_text",
]


def esc(value: object) -> str:
    """HTML-escape any value as text.

    Examples
    --------
    >>> esc("<b>Trust</b>")
    '&lt;b&gt;Trust&lt;/b&gt;'
    """
    return html.escape(str(value))


@dataclass(frozen=True)
class Heading:
    """A heading (level 1 is the report title)."""

    text: str
    level: int = 2


@dataclass(frozen=True)
class Paragraph:
    """A paragraph of plain text. ``kind``: 'text', 'finding' (highlighted) or 'note' (small)."""

    text: str
    kind: Literal["text", "finding", "note"] = "text"


@dataclass(frozen=True)
class Bullets:
    """A bulleted list of plain-text items."""

    items: tuple[str, ...]

    def __init__(self, items: Iterable[str]):
        object.__setattr__(self, "items", tuple(items))


@dataclass(frozen=True)
class Callout:
    """A boxed message: 'info', 'warning' or 'banner' (shown at the top of a page)."""

    text: str
    kind: Literal["info", "warning", "banner"] = "info"


@dataclass(frozen=True)
class Table:
    """A table whose cells are already formatted strings, with its caption.

    Build it with :meth:`cocEval.report.gate.Gate.table`; ``frame`` keeps the disclosed values
    (numbers, or the suppression marker) behind the shown cells. ``_gated`` is set by the gate.
    """

    shown: pd.DataFrame
    caption: str = ""
    frame: pd.DataFrame | None = None
    _gated: bool = field(default=False, repr=False)
    #: disclosure role of shown columns ("count", "rate" or "rate:<per>", "denominator"); the
    #: renderer writes it as ``data-disclosure`` on each cell for the audit (set by the gate)
    roles: dict[str, str] | None = field(default=None, repr=False)
    #: name of the disclosure rule the gate applied (``data-disclosure-rule``)
    rule: str = ""

    def __post_init__(self) -> None:
        for c in self.shown.columns:
            if not isinstance(c, str) or not c.strip() or c.strip().lstrip("-").replace(".", "").isdigit():
                raise InputError(f"table column header {c!r} is not a name: headers must be words")


@dataclass(frozen=True)
class Figure:
    """A figure: PNG bytes, alt text, caption, and the tidy (disclosed) frame behind it.

    Build it with :meth:`cocEval.report.gate.Gate.figure`.
    """

    png: bytes
    alt: str
    caption: str = ""
    data: pd.DataFrame | None = None
    _gated: bool = field(default=False, repr=False)
    #: name of the disclosure rule the gate applied (``data-disclosure-rule``)
    rule: str = ""

    def __post_init__(self) -> None:
        if not self.alt.strip():
            raise InputError("a figure needs alt text")


Block = Heading | Paragraph | Bullets | Callout | Table | Figure
_B = TypeVar("_B", bound=Block)


@dataclass
class Section:
    """A titled list of blocks: what one report section shows.

    ``title`` becomes a level-2 heading (none when empty). Sections are iterable and add up
    (``a + b``), and display themselves in notebooks and terminals.
    """

    title: str = ""
    blocks: list[Block] = field(default_factory=list)
    level: int = 2

    def add(self, *blocks: Block | None) -> Section:
        """Append blocks (``None`` is skipped); returns self for chaining."""
        self.blocks.extend(b for b in blocks if b is not None)
        return self

    def all_blocks(self) -> list[Block]:
        """The heading (if titled) followed by the blocks."""
        return ([Heading(self.title, self.level)] if self.title else []) + list(self.blocks)

    def __iter__(self) -> Iterator[Block]:
        return iter(self.all_blocks())

    def __add__(self, other: Section) -> Section:
        return Section("", self.all_blocks() + other.all_blocks())

    def of_type(self, kind: type[_B]) -> list[_B]:
        """Blocks of one type (e.g. every :class:`Table`), for tests."""
        return [b for b in self.blocks if isinstance(b, kind)]

    def text(self) -> str:
        """All the words of the section (prose, tables, captions and alt text), for tests."""
        return to_text(self)

    def _repr_html_(self) -> str:
        return to_html(self)

    def __str__(self) -> str:
        return to_text(self)

    def __repr__(self) -> str:
        kinds = ", ".join(type(b).__name__ for b in self.blocks[:8])
        more = f", +{len(self.blocks) - 8} more" if len(self.blocks) > 8 else ""
        return f"Section({self.title!r}: {kinds}{more})"


#: What the renderers take: a section, or any mix of sections and blocks.
Renderable: TypeAlias = "Section | Iterable[Section | Block]"


# ------------------------------------------------------------------------------------------
# Renderers
# ------------------------------------------------------------------------------------------


def _check_gated(b: Block) -> None:
    if isinstance(b, Table | Figure) and not b._gated:
        raise DisclosureError(
            f"{type(b).__name__} {getattr(b, 'caption', '')!r} did not pass the disclosure gate; "
            "build tables and figures with cocEval.report.gate.Gate"
        )


def _blocks(obj: Renderable) -> list[Block]:
    if isinstance(obj, Section):
        return obj.all_blocks()
    out: list[Block] = []
    for b in obj:
        out.extend(_blocks(b) if isinstance(b, Section) else [b])
    return out


#: visually hidden, read by screen readers (the report stylesheet's .coc-sr-only, inline)
_SR_ONLY = "position:absolute;width:1px;height:1px;margin:-1px;overflow:hidden;clip:rect(0,0,0,0);white-space:nowrap"

_IDS = itertools.count(1)


def block_html(b: Block) -> str:
    """One block as HTML (data escaped)."""
    _check_gated(b)
    if isinstance(b, Heading):
        return f"<h{b.level}>{esc(b.text)}</h{b.level}>"
    if isinstance(b, Paragraph):
        cls = {"finding": ' class="coc-finding"', "note": ' class="coc-note"'}.get(b.kind, "")
        return f"<p{cls}>{esc(b.text)}</p>"
    if isinstance(b, Bullets):
        return "<ul>" + "".join(f"<li>{esc(i)}</li>" for i in b.items) + "</ul>"
    if isinstance(b, Callout):
        return f'<div class="coc-callout coc-{b.kind}" role="note">{esc(b.text)}</div>'
    if isinstance(b, Table):
        head = "".join(f'<th scope="col">{esc(c)}</th>' for c in b.shown.columns)
        attrs = [_disclosure_attrs((b.roles or {}).get(c)) for c in b.shown.columns]
        body = "".join(
            "<tr>" + "".join(f"<td{a}>{esc(v)}</td>" for a, v in zip(attrs, row, strict=True)) + "</tr>"
            for row in b.shown.itertuples(index=False)
        )
        rule = f' data-disclosure-rule="{esc(b.rule)}"' if b.rule else ""
        if not b.caption:
            table = f'<table class="coc-table"{rule}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
            return f'<div class="coc-table-wrap" role="region" tabindex="0">{table}</div>'
        # The table keeps its <caption> for screen readers and the disclosure audit; the reader sees
        # the same words above the table's scrolling box, where they wrap to the page's width.
        ref = f"coc-t{next(_IDS)}"
        # inline too: in Jupyter and the docs there is no report stylesheet to hide it (it showed twice)
        cap = f'<caption id="{ref}" class="coc-sr-only" style="{_SR_ONLY}">{esc(b.caption)}</caption>'
        table = f'<table class="coc-table"{rule}>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
        return (
            f'<div class="coc-table-block"><p class="coc-caption" aria-hidden="true">{esc(b.caption)}</p>'
            f'<div class="coc-table-wrap" role="region" tabindex="0" aria-labelledby="{ref}">{table}</div></div>'
        )
    if isinstance(b, Figure):
        src = "data:image/png;base64," + base64.b64encode(b.png).decode("ascii")
        cap = f"<figcaption>{esc(b.caption)}</figcaption>" if b.caption else ""
        rule = f' data-disclosure-rule="{esc(b.rule)}"' if b.rule else ""
        return f'<figure class="coc-figure"{rule}><img src="{src}" alt="{esc(b.alt)}">{cap}</figure>'
    raise TypeError(f"not a report block: {type(b).__name__}")


def _disclosure_attrs(role: str | None) -> str:
    """``data-disclosure`` (and ``data-per`` for rates) of a table cell, from its column's role."""
    if not role:
        return ""
    kind, _, per = role.partition(":")
    return f' data-disclosure="{esc(kind)}"' + (f' data-per="{esc(per)}"' if per else "")


def to_html(obj: Renderable) -> str:
    """Render a section, or a list of sections and blocks, as HTML.

    Examples
    --------
    >>> print(to_html([Section("Notes"), Callout("Data for March are provisional.", kind="warning")]))
    <h2>Notes</h2>
    <div class="coc-callout coc-warning" role="note">Data for March are provisional.</div>
    """
    return "\n".join(block_html(b) for b in _blocks(obj))


def _wrap(text: str, width: int = 100) -> str:
    return "\n".join(textwrap.wrap(text, width)) or text


def block_text(b: Block) -> str:
    """One block as plain text."""
    _check_gated(b)
    if isinstance(b, Heading):
        return f"{b.text}\n{('=' if b.level <= 2 else '-') * len(b.text)}"
    if isinstance(b, Paragraph):
        return _wrap(b.text)
    if isinstance(b, Bullets):
        return "\n".join(textwrap.fill(i, 100, initial_indent="- ", subsequent_indent="  ") for i in b.items)
    if isinstance(b, Callout):
        return _wrap(f"[{b.kind.upper()}] {b.text}")
    if isinstance(b, Table):
        return (_wrap(b.caption) + "\n" if b.caption else "") + _table_text(b.shown)
    if isinstance(b, Figure):
        return _wrap(f"[Figure: {b.alt}]" + (f" {b.caption}" if b.caption else ""))
    raise TypeError(f"not a report block: {type(b).__name__}")


def _table_text(t: pd.DataFrame, width: int = 100) -> str:
    """A table as left-aligned columns; one 'Header: value' block per row when that is too wide.

    Examples
    --------
    >>> print(_table_text(pd.DataFrame({"Ward": ["A", "B"], "Months": ["12", "9"]})))
    Ward  Months
    A     12
    B     9
    """
    t = t.astype(str)
    widths = [max([len(c), *map(len, t[c])]) for c in t.columns]
    if sum(widths) + 2 * (len(widths) - 1) <= width:
        lines = ["  ".join(str(c).ljust(wd) for c, wd in zip(t.columns, widths)).rstrip()]
        lines += ["  ".join(v.ljust(wd) for v, wd in zip(row, widths)).rstrip() for row in t.itertuples(index=False)]
        return "\n".join(lines)
    out = []
    for row in t.itertuples(index=False):
        for c, v in zip(t.columns, row):
            out.append(textwrap.fill(f"{c}: {v}", width, subsequent_indent="    "))
        out.append("")
    return "\n".join(out).rstrip()


def to_text(obj: Renderable) -> str:
    """Render a section, or a list of sections and blocks, as plain text.

    Examples
    --------
    >>> print(to_text(Section("Notes", [Bullets(["March is provisional.", "Two wards closed."])])))
    Notes
    =====
    - March is provisional.
    - Two wards closed.
    """
    return "\n".join(block_text(b) for b in _blocks(obj))


#: Room (inches: left, bottom, right, top) drawn around a figure so that what sticks out of it (a
#: legend beside the axes, a long title) lands on the canvas; :func:`figure_png` then crops to the ink.
CANVAS_MARGIN = (1.5, 1.5, 5.0, 1.0)


def figure_png(fig: MplFigure, *, dpi: int | None = None, colors: int = 64, pad_inches: float = 0.1) -> bytes:
    """Render a matplotlib figure to PNG bytes, cropped to its ink plus ``pad_inches``, and close it.

    The figure is drawn once, on a canvas :data:`CANVAS_MARGIN` larger than the figure, and
    cropped to what was drawn: what ``savefig(bbox_inches="tight")`` gives, without its second,
    layout-only draw. When the ink reaches the canvas's edge (something sticks out further than
    the margin) it falls back to ``bbox_inches="tight"``; an artist placed wholly beyond the
    margin (more than 5 inches right of the figure) is not seen, and not drawn. The image is reduced to a palette of
    ``colors`` colours (charts use a handful; the rest are anti-aliasing shades), which makes
    report pages about a third of their size with no visible change; ``colors=0`` keeps full
    colour. PNG compression is zlib's default level (6): level 9 made the same pixels about 4%
    smaller for five times the time (about 0.1 s of CPU a provider report).

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots(figsize=(4, 2))
    >>> _ = ax.plot([1, 2, 3], [1, 3, 2], label="a series")
    >>> _ = ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))  # outside the axes
    >>> png = figure_png(fig, dpi=50)
    >>> png[:8] == b"\\x89PNG\\r\\n\\x1a\\n" and int.from_bytes(png[16:20], "big") > 4 * 50  # the legend is kept
    True
    """
    import matplotlib.pyplot as plt
    from matplotlib.layout_engine import PlaceHolderLayoutEngine
    from matplotlib.transforms import Bbox
    from PIL import Image

    from cocEval.report.fonts import fonts_in_memory

    res: float = dpi or fig.dpi
    if isinstance(fig.get_layout_engine(), PlaceHolderLayoutEngine):
        # left by fig.tight_layout(): the layout is done, but savefig would draw once more for it
        # private: set_layout_engine(None) would leave a placeholder engine that savefig acts on
        fig._layout_engine = None  # type: ignore[attr-defined]
    for legend in fig.legends:  # keep figure legends where they are on the larger canvas
        # private: get_bbox_to_anchor() falls back to the parent's box, never None
        if legend._bbox_to_anchor is None:  # type: ignore[attr-defined]
            legend.set_bbox_to_anchor((0, 0, 1, 1), transform=fig.transFigure)
    width, height = fig.get_size_inches()
    left, bottom, right, top = CANVAS_MARGIN
    canvas = Bbox.from_extents(-left, -bottom, width + right, height + top)
    buf = io.BytesIO()
    try:
        with fonts_in_memory():  # the same pixels, without matplotlib's font file reads
            fig.savefig(buf, format="rgba", dpi=res, bbox_inches=canvas, pad_inches=0)
            w, h = round(canvas.width * res), round(canvas.height * res)
            pixels = np.frombuffer(buf.getbuffer(), np.uint32)  # one RGBA pixel per element
            ink = _crop_to_ink(pixels.reshape(h, w), round(pad_inches * res)) if pixels.size == w * h else None
            if ink is not None:
                image = Image.fromarray(np.ascontiguousarray(ink))
            else:  # ink at the canvas's edge (or an unexpected canvas): measure, then draw
                buf = io.BytesIO()
                fig.savefig(buf, format="png", dpi=res, bbox_inches="tight", pad_inches=pad_inches)
                buf.seek(0)
                image = Image.open(buf).convert("RGB")
    finally:
        plt.close(fig)
    if colors:
        image = image.quantize(colors=colors, method=Image.Quantize.MEDIANCUT)
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=6)
    return out.getvalue()


def _crop_to_ink(pixels: np.ndarray, pad: int) -> np.ndarray | None:
    """The part of an RGBA canvas (rows x columns of 32-bit pixels) that is not opaque white,
    with ``pad`` pixels around it, as an RGB array (rows x columns x 3); None when the ink
    touches the canvas's edge (or there is none).

    Examples
    --------
    >>> canvas = np.full((10, 10), 0xFFFFFFFF, dtype=np.uint32)
    >>> canvas[4, 5] = 0xFF000000  # one opaque black pixel
    >>> _crop_to_ink(canvas, pad=1).shape
    (3, 3, 3)
    >>> canvas[0, 5] = 0xFF000000  # ink on the edge: something may lie beyond it
    >>> _crop_to_ink(canvas, pad=1) is None
    True
    """
    ink = pixels != np.uint32(0xFFFFFFFF)
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    h, w = ink.shape
    if not len(rows) or rows[0] == 0 or cols[0] == 0 or rows[-1] == h - 1 or cols[-1] == w - 1:
        return None
    y0, y1 = max(rows[0] - pad, 0), min(rows[-1] + pad + 1, h)
    x0, x1 = max(cols[0] - pad, 0), min(cols[-1] + pad + 1, w)
    rgba = np.ascontiguousarray(pixels[y0:y1, x0:x1]).view(np.uint8).reshape(y1 - y0, x1 - x0, 4)
    return rgba[:, :, :3]
