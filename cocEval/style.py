"""Chart conventions shared by every figure: NHS England's data-visualisation palette.

Colour is never the only cue: pair these with markers, line styles or direct labels.
"""

from __future__ import annotations

NHS_BLUE = "#005EB8"
NHS_LIGHT_BLUE = "#41B6E6"
NHS_GREY = "#4C6272"
NHS_WARM_YELLOW = "#FFB81C"
NHS_PINK = "#AE2573"
NHS_AQUA_GREEN = "#00A499"
NHS_ORANGE = "#ED8B00"
NHS_MID_GREY = "#768692"

#: Series order for categorical charts (NHS England data-viz guidance).
PALETTE = [NHS_BLUE, NHS_LIGHT_BLUE, NHS_GREY, NHS_WARM_YELLOW, NHS_PINK, NHS_AQUA_GREEN]

#: Matplotlib rc settings applied by :func:`use_nhs_style`.
RC = {
    "axes.prop_cycle": None,  # filled in below
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlelocation": "left",
    "axes.titleweight": "bold",
    "axes.titlesize": 11,
    # Titles sit just above the axes (no chart here puts ticks or labels on top). A fixed height
    # spares matplotlib measuring the axes' top decorations on every draw to place them.
    "axes.titley": 1.0,
    "font.size": 10,
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "figure.figsize": (8, 4),
    # Labels come from data and config (cohort names, outcome labels): show them literally. With
    # mathtext on, a label with one "$" (e.g. "Cohort $1") raises a parse error at draw time.
    "text.parse_math": False,
}


def use_nhs_style(dpi: int | None = None) -> None:
    """Apply the NHS palette and a clean axis style to matplotlib globally.

    ``dpi`` sets the resolution of figures shown in notebooks (and so their size in a report).

    Examples
    --------
    >>> from cocEval.style import use_nhs_style, PALETTE
    >>> use_nhs_style()
    >>> import matplotlib as mpl
    >>> mpl.rcParams["axes.prop_cycle"].by_key()["color"][0].lower() == PALETTE[0].lower()
    True
    >>> mpl.rcParams["text.parse_math"]
    False
    """
    import matplotlib as mpl
    from cycler import cycler

    rc = dict(RC)
    rc["axes.prop_cycle"] = cycler(color=PALETTE)
    if dpi is not None:
        rc["figure.dpi"] = rc["savefig.dpi"] = dpi
    mpl.rcParams.update(rc)


def new_axes(ax=None, figsize=None):
    """Return ``(fig, ax)``: the given axes and its figure, or a fresh pair.

    Examples
    --------
    >>> fig, ax = new_axes()
    >>> fig is ax.figure
    True
    """
    import matplotlib.pyplot as plt

    if ax is not None:
        return ax.figure, ax
    fig, ax = plt.subplots(figsize=figsize)
    return fig, ax


def mark_suppressed(ax, x, label: str) -> None:
    """Mark months not shown (suppressed by the disclosure rule) as ticks at the foot of ``ax``,
    at positions ``x``: a gap in a line then reads as "not shown", not as "no data".

    Examples
    --------
    >>> fig, ax = new_axes()
    >>> mark_suppressed(ax, [1, 2], "Month not shown (small numbers)")
    >>> ax.collections[0].get_label()
    'Month not shown (small numbers)'
    """
    import numpy as np

    ax.scatter(
        x,
        np.zeros(len(x)),
        transform=ax.get_xaxis_transform(),
        marker="|",
        s=60,
        color=NHS_GREY,
        zorder=4,
        clip_on=False,
        label=label,
    )
