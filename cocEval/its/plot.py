"""The ITS chart: observed points, fitted segments, dashed counterfactual with its band.

One function, :func:`draw`, draws the chart from a frame shaped like the treated rows of
:meth:`ITSResult.predict`: the model's own prediction (:meth:`ITSResult.plot`) or the disclosed
frame a report shows (a :meth:`cocEval.report.gate.Gate.frame` result, whose suppressed months
are gaps flagged in its ``suppressed`` column).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cocEval._results import pct
from cocEval.its.narrative import _direction

if TYPE_CHECKING:
    import pandas as pd

    from cocEval.its.results import ITSResult

__all__ = ["WORDS", "draw", "plot"]

#: The chart's legend and marker words: ``"model"`` (statistical, the default of
#: :meth:`ITSResult.plot`) and ``"report"`` (plain English, the provider reports').
WORDS: dict[str, dict[str, str]] = {
    "model": {
        "observed": "Observed",
        "excluded": "Excluded from fit",
        "fitted": "Fitted",
        "counterfactual": "Counterfactual (no intervention)",
        "band": "{level:.0f}% CI of counterfactual",
        "suppressed": "Month not shown (small numbers)",
        "start": "Start",
        "end": "End",
    },
    "report": {
        "observed": "Observed",
        "excluded": "Left out of the model",
        "fitted": "Model",
        "counterfactual": "Expected without coaching",
        "band": "{level:.0f}% interval of expected",
        "suppressed": "Month not shown (small numbers)",
        "start": "coaching starts",
        "end": "after coaching",
    },
}


def plot(
    res: ITSResult,
    *,
    ax: Any = None,
    per: float | None = None,
    title: str | None = None,
    data: pd.DataFrame | None = None,
    words: str = "model",
    zero: bool = False,
    legend: bool = True,
) -> tuple[Any, Any]:
    """Implementation of :meth:`ITSResult.plot` (see there)."""
    from cocEval.style import NHS_LIGHT_BLUE, new_axes

    fig, ax = new_axes(ax)
    d = res.predict(per=per) if data is None else data
    tr = d[d["series"] == "treated"] if "series" in d.columns else d
    if data is None and res.controlled:
        co = d[d["series"] == "control"]
        ax.plot(
            co["period"],
            co["observed"],
            linestyle="none",
            marker="s",
            markersize=4,
            color=NHS_LIGHT_BLUE,
            label="Control (observed)",
        )
        for _, seg in co.groupby("phase", sort=False):
            ax.plot(seg["period"], seg["fitted"], color=NHS_LIGHT_BLUE, linewidth=1.5)
    draw(ax, tr, start=res.start, end=res.end, level=100 * (1 - res.alpha), words=words, zero=zero)
    ylab = res._outcome_words()
    if res.exposure:
        ylab += f" per {res._per(per):,.0f} {res.exposure.replace('_', ' ')}"
    elif res.trials:
        ylab += f" (proportion of {res.trials.replace('_', ' ')})"
    ax.set_ylabel(ylab)
    ax.set_xlabel(res._time.kind == "month" and "Month" or "Period")
    if title is None:
        e0 = res.effect_at(0).iloc[0]
        title = f"{res._outcome_words()} {_direction(e0['relative'])} {pct(abs(e0['relative']))} when the intervention started"
    ax.set_title(title)
    if legend:
        ax.legend(loc="best", fontsize=8, frameon=False)
    return fig, ax


def draw(
    ax: Any,
    d: pd.DataFrame,
    *,
    start: Any,
    end: Any = None,
    level: float = 95.0,
    words: str = "model",
    zero: bool = False,
) -> None:
    """Draw one series' ITS chart on ``ax``: observed points (gaps where suppressed), fitted
    segments, the counterfactual with its band (``level`` per cent), and the start (and end) lines.

    ``d`` has the columns of :meth:`ITSResult.predict` for one series (``period``, ``phase``,
    ``observed``, ``fitted``, ``counterfactual``, ``counterfactual_low``/``_high``,
    ``excluded``) and optionally ``suppressed`` (months drawn as a tick at the foot of the axes,
    never at a value). ``words`` picks the legend words from :data:`WORDS`; ``zero`` starts the
    y axis at 0. Axis labels, title and legend are the caller's.

    Examples
    --------
    >>> import matplotlib.pyplot as plt, numpy as np, pandas as pd
    >>> from cocEval.its import fit_its
    >>> df = pd.DataFrame({"t": range(1, 31), "y": np.random.default_rng(3).normal(10, 1, 30)})
    >>> res = fit_its(df, "y", "t", 16, errors="ols")
    >>> fig, ax = plt.subplots()
    >>> draw(ax, res.predict(), start=res.start, words="report", zero=True)
    >>> sorted(ax.get_legend_handles_labels()[1])[:2]
    ['95% interval of expected', 'Expected without coaching']
    >>> plt.close(fig)
    """
    import pandas as pd

    from cocEval.style import NHS_BLUE, NHS_GREY, NHS_MID_GREY, mark_suppressed

    say = WORDS[words]
    excluded = d["excluded"].astype(bool)
    kept = d[~excluded]
    ax.plot(kept["period"], kept["observed"], ls="none", marker="o", ms=4, color=NHS_BLUE, label=say["observed"])
    ex = d[excluded]
    if ex["observed"].notna().any():
        ax.plot(
            ex["period"],
            ex["observed"],
            ls="none",
            marker="o",
            ms=5,
            mfc="white",
            color=NHS_MID_GREY,
            label=say["excluded"],
        )
    first = True
    for _, seg in d.groupby("phase", sort=False):
        ax.plot(seg["period"], seg["fitted"], color=NHS_BLUE, lw=2, label=say["fitted"] if first else None)
        first = False
    post = d[d["phase"] != "before"]
    ax.plot(post["period"], post["counterfactual"], color=NHS_GREY, ls="--", lw=1.5, label=say["counterfactual"])
    ax.fill_between(
        post["period"],
        post["counterfactual_low"],
        post["counterfactual_high"],
        color=NHS_GREY,
        alpha=0.15,
        lw=0,
        label=say["band"].format(level=level),
    )
    if "suppressed" in d.columns and d["suppressed"].any():
        mark_suppressed(ax, d.loc[d["suppressed"].astype(bool), "period"], say["suppressed"])
    if zero:
        ax.set_ylim(bottom=0)
    _mark(ax, start, say["start"], ":", 1.0)
    if end is not None:
        _mark(ax, end, say["end"], "-.", 0.92)
    if pd.api.types.is_datetime64_any_dtype(d["period"]):
        import matplotlib.dates as mdates

        locator = mdates.AutoDateLocator(maxticks=8)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _mark(ax: Any, x: Any, text: str, linestyle: str, y: float) -> None:
    """A vertical line at ``x`` labelled at height ``y`` (axes fraction): start or end."""
    from cocEval.style import NHS_GREY

    ax.axvline(x, color=NHS_GREY, ls=linestyle, lw=1)
    ax.annotate(f" {text}", xy=(x, y), xycoords=("data", "axes fraction"), va="top", fontsize=8, color=NHS_GREY)
