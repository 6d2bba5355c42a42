"""The ITS chart: observed points, fitted segments, dashed counterfactual with its band."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cocEval._results import pct
from cocEval.its.narrative import _direction

if TYPE_CHECKING:
    from cocEval.its.results import ITSResult

__all__ = ["plot"]


def plot(res: ITSResult, *, ax: Any = None, per: float | None = None, title: str | None = None) -> tuple[Any, Any]:
    """Implementation of :meth:`ITSResult.plot` (see there)."""
    # Long but flat: one matplotlib call per chart element (control, observed, excluded, fitted
    # segments, counterfactual and band, start/end markers, labels), in drawing order.
    from cocEval.style import NHS_BLUE, NHS_GREY, NHS_LIGHT_BLUE, NHS_MID_GREY, new_axes

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
    kept = tr[~tr["excluded"]]
    ax.plot(
        kept["period"],
        kept["observed"],
        linestyle="none",
        marker="o",
        markersize=4,
        color=NHS_BLUE,
        label="Observed",
    )
    if tr["excluded"].any():
        ex = tr[tr["excluded"]]
        ax.plot(
            ex["period"],
            ex["observed"],
            linestyle="none",
            marker="o",
            markersize=5,
            markerfacecolor="white",
            color=NHS_MID_GREY,
            label="Excluded from fit",
        )
    first = True
    for _, seg in tr.groupby("phase", sort=False):
        ax.plot(seg["period"], seg["fitted"], color=NHS_BLUE, linewidth=2, label="Fitted" if first else None)
        first = False
    post = tr[tr["phase"] != "before"]
    ax.plot(
        post["period"],
        post["counterfactual"],
        color=NHS_GREY,
        linestyle="--",
        linewidth=1.5,
        label="Counterfactual (no intervention)",
    )
    ax.fill_between(
        post["period"],
        post["counterfactual_low"],
        post["counterfactual_high"],
        color=NHS_GREY,
        alpha=0.15,
        linewidth=0,
        label=f"{100 * (1 - res.alpha):.0f}% CI of counterfactual",
    )
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
