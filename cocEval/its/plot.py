"""The ITS chart: observed points, fitted segments, dashed counterfactual with its band."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cocEval._results import pct
from cocEval.its.narrative import _direction

if TYPE_CHECKING:
    import pandas as pd

    from cocEval.its.results import ITSResult

__all__ = ["LABELS", "draw_series", "plot"]

#: Legend words of the ITS chart (``band`` takes the interval's ``{level}``); the provider
#: report passes its own plain-English words.
LABELS = {
    "observed": "Observed",
    "excluded": "Excluded from fit",
    "fitted": "Fitted",
    "counterfactual": "Counterfactual (no intervention)",
    "band": "{level}% CI of counterfactual",
}


def plot(res: ITSResult, *, ax: Any = None, per: float | None = None, title: str | None = None) -> tuple[Any, Any]:
    """Implementation of :meth:`ITSResult.plot` (see there)."""
    # Drawing order: control series, the treated series (draw_series), start/end lines, labels.
    from cocEval.style import NHS_LIGHT_BLUE, new_axes

    fig, ax = new_axes(ax)
    d = res.predict(per=per)
    tr = d[d["series"] == "treated"]
    if res.controlled:
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
    draw_series(ax, tr, level=f"{100 * (1 - res.alpha):.0f}")
    _mark(ax, res.start, "Start", ":")
    if res.end is not None:
        _mark(ax, res.end, "End", "-.")
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
    ax.legend(loc="best", fontsize=8, frameon=False)
    return fig, ax


def draw_series(ax: Any, d: pd.DataFrame, *, level: str, labels: Mapping[str, str] = LABELS) -> None:
    """Draw one series of :meth:`ITSResult.predict` on ``ax``: observed points (hollow grey where
    excluded from the fit), the fitted segments, and after the start the counterfactual with its
    ``level``% band. ``labels`` gives the legend words (keys as :data:`LABELS`).

    Examples
    --------
    >>> import numpy as np, pandas as pd, matplotlib.pyplot as plt
    >>> from cocEval.its import fit_its
    >>> df = pd.DataFrame({"t": range(1, 31), "y": np.random.default_rng(3).normal(size=30)})
    >>> fig, ax = plt.subplots()
    >>> draw_series(ax, fit_its(df, "y", "t", 16, errors="ols").predict(), level="95")
    >>> [t.get_text() for t in ax.legend().get_texts()]
    ['Observed', 'Fitted', 'Counterfactual (no intervention)', '95% CI of counterfactual']
    >>> plt.close(fig)
    """
    from cocEval.style import NHS_BLUE, NHS_GREY, NHS_MID_GREY

    excluded = d["excluded"].astype(bool)
    kept = d[~excluded]
    ax.plot(
        kept["period"],
        kept["observed"],
        linestyle="none",
        marker="o",
        markersize=4,
        color=NHS_BLUE,
        label=labels["observed"],
    )
    ex = d[excluded]
    if ex["observed"].notna().any():
        ax.plot(
            ex["period"],
            ex["observed"],
            linestyle="none",
            marker="o",
            markersize=5,
            markerfacecolor="white",
            color=NHS_MID_GREY,
            label=labels["excluded"],
        )
    first = True
    for _, seg in d.groupby("phase", sort=False):
        ax.plot(seg["period"], seg["fitted"], color=NHS_BLUE, linewidth=2, label=labels["fitted"] if first else None)
        first = False
    post = d[d["phase"] != "before"]
    ax.plot(
        post["period"],
        post["counterfactual"],
        color=NHS_GREY,
        linestyle="--",
        linewidth=1.5,
        label=labels["counterfactual"],
    )
    ax.fill_between(
        post["period"],
        post["counterfactual_low"],
        post["counterfactual_high"],
        color=NHS_GREY,
        alpha=0.15,
        linewidth=0,
        label=labels["band"].format(level=level),
    )


def _mark(ax: Any, x: Any, text: str, linestyle: str) -> None:
    """A vertical line at ``x`` labelled at the top of the axes (start or end of the intervention)."""
    from cocEval.style import NHS_GREY

    ax.axvline(x, color=NHS_GREY, linestyle=linestyle, linewidth=1)
    ax.annotate(
        text,
        (x, 1),
        xycoords=("data", "axes fraction"),
        ha="left",
        va="top",
        fontsize=9,
        color=NHS_GREY,
        xytext=(3, -2),
        textcoords="offset points",
    )
