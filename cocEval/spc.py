"""NHS England "Making Data Count" XmR (statistical process control) charts.

:func:`xmr` reproduces the rules of NHSRplotthedots 0.2.2 (NHS-R community), which mimics the
Making Data Count Excel tools:

- centre line: the mean of the (baseline) points; process limits: mean +/- 2.66 x the mean
  moving range (MR); "close to a limit": beyond 2/3 of that distance from the mean but not
  outside the limits; optional screening drops moving ranges >= 3.267 x their mean once, before
  the limits are computed;
- special-cause rules, in this precedence (the first that applies names the point):

  1. a point outside the limits (strictly above the upper or below the lower);
  2. a 7-point trend: 7 points each strictly higher (or lower) than the one before; every point
     of the run is flagged and coloured by the trend's direction (not by its side of the mean);
  3. 2 of 3 consecutive points close to a limit with all 3 on the same side of the mean; only
     the close points are flagged;
  4. 7 consecutive points on the same side of the mean (a point exactly on the mean breaks the
     run); all 7 are flagged.

- ``rebase`` splits the series into segments, each with its own limits; every rule looks only
  within a segment (a run never crosses a rebase), and the moving range across a rebase is not
  used. ``fix_after_n_points`` fixes each segment's limits on its first n points (NHSRplotthedots
  applies it per segment too). A segment with fewer than 12 points gets a trial-limits warning.
- variation: the last point's type; assurance: the target against the *last segment's* limits
  (increase is good: target above the upper limit -> consistent fail, below the lower limit ->
  consistent pass, otherwise inconsistent; reversed for decrease; none when neutral).

No Python library implements these MDC-specific rules (and the R package is not available to
call), so they are written here from the NHSRplotthedots source and documentation.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cocEval._results import ResultMixin
from cocEval.errors import InputError, NotEstimableError
from cocEval.style import mark_suppressed, new_axes

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from cocEval.effects import EffectSummary

__all__ = [
    "SPCChart",
    "xmr",
    "at_a_glance",
    "draw_icons",
    "LIMIT",
    "SCREEN",
    "MIN_POINTS",
    "COLOURS",
]

#: Width of the process limits in mean moving ranges (3 / d2 with d2 = 1.128).
LIMIT = 2.66
#: Moving ranges at or above this multiple of their mean are screened out (when asked).
SCREEN = 3.267
#: Fewer points than this in a segment: the limits are trial limits.
MIN_POINTS = 12
#: Length of a trend or of a shift run.
RUN = 7

_IMPROVEMENTS = {"increase": 1, "decrease": -1, "neutral": 0}

#: Making Data Count colours (as NHSRplotthedots 0.2.2's ``ptd_spc_colours()``).
COLOURS = {
    "common_cause": "#a6a6a6",
    "special_cause_improvement": "#00b0f0",
    "special_cause_concern": "#e46c0a",
    "special_cause_neutral": "#490092",
    "value_line": "#a6a6a6",
    "mean_line": "#000000",
    "limits": "#a6a6a6",
    "target": "#de1b1b",
}

#: Marker per point type, so that colour is never the only cue.
_MARKERS = {
    "common_cause": "o",
    "special_cause_improvement": "D",
    "special_cause_concern": "s",
    "special_cause_neutral_high": "^",
    "special_cause_neutral_low": "v",
}

_POINT_LABELS = {
    "common_cause": "Common cause",
    "special_cause_improvement": "Special cause: improvement",
    "special_cause_concern": "Special cause: concern",
    "special_cause_neutral_high": "Special cause: high (neutral)",
    "special_cause_neutral_low": "Special cause: low (neutral)",
}

_VARIATION_TEXT = {
    "common_cause": "common cause variation (no signal of change)",
    "special_cause_improvement": "special cause improvement",
    "special_cause_concern": "special cause concern",
    "special_cause_neutral_high": "special cause variation (high; neither direction is better)",
    "special_cause_neutral_low": "special cause variation (low; neither direction is better)",
}

_ASSURANCE_TEXT = {
    "consistent_pass": "the target ({t}) is consistently met: it lies beyond the process limits on the better side",
    "consistent_fail": "the target ({t}) will consistently be missed unless the process changes: it lies beyond "
    "the process limits on the worse side",
    "inconsistent": "the target ({t}) is not consistently met: it lies within the process limits, so the "
    "process will sometimes meet it and sometimes miss it",
}


# --------------------------------------------------------------------------------------------
# rules
# --------------------------------------------------------------------------------------------
def _windows_any(flags: np.ndarray, width: int = RUN) -> np.ndarray:
    """``out[i]`` is True when a run ending at any of ``i .. i+width-1`` was detected.

    Rules 2 and 4 mark the *last* point of each qualifying window; every point of the window is
    then part of the run.
    """
    n = len(flags)
    out = np.zeros(n, dtype=bool)
    for end in np.flatnonzero(flags):
        out[max(0, end - width + 1) : end + 1] = True
    return out


def _trend_ends(y: np.ndarray) -> np.ndarray:
    """+1/-1 at the last point of 7 points each strictly higher/lower than the one before."""
    n = len(y)
    out = np.zeros(n, dtype=int)
    if n < RUN:
        return out
    s = np.sign(np.diff(y))
    for end in range(RUN - 1, n):
        d = s[end - RUN + 1 : end]
        if np.all(d == 1):
            out[end] = 1
        elif np.all(d == -1):
            out[end] = -1
    return out


def _shift_ends(rtm: np.ndarray) -> np.ndarray:
    """True at the last point of 7 consecutive points on the same side of the mean."""
    n = len(rtm)
    out = np.zeros(n, dtype=bool)
    for end in range(RUN - 1, n):
        w = rtm[end - RUN + 1 : end + 1]
        out[end] = w[-1] != 0 and np.all(w == w[-1])
    return out


def _two_in_three(close: np.ndarray, rtm: np.ndarray) -> np.ndarray:
    """Close points in a window of 3 with >= 2 close to a limit and all 3 on one side of the mean."""
    n = len(close)
    in_window = np.zeros(n, dtype=bool)
    for start in range(0, n - 2):
        c = close[start : start + 3]
        r = rtm[start : start + 3]
        if c.sum() >= 2 and abs(r.sum()) == 3:
            in_window[start : start + 3] = True
    flagged: np.ndarray = in_window & close
    return flagged


def _segment_types(
    y: np.ndarray, rtm: np.ndarray, close: np.ndarray, outside: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Special-cause type (text) and direction (+1 high / -1 low / 0 none) for one segment."""
    n = len(y)
    trend = _windows_any(_trend_ends(y) != 0)
    two3 = _two_in_three(close, rtm)
    shift = _windows_any(_shift_ends(rtm))

    # direction of a trend point: the step into the next point when that point is in the trend
    # too, otherwise the step from the previous point (NHSRplotthedots 0.2.2, issues #167/#171)
    sdy = np.sign(np.diff(y)) if n > 1 else np.zeros(0)
    right = np.append(sdy, sdy[-1] if n > 1 else 0)
    left = np.insert(sdy, 0, 0)
    both = trend & np.append(trend[1:], False)
    trend_dir = np.where(both, right, left)

    side = np.where(rtm > 0, "Above", "Below")
    kind = np.full(n, "Common Cause", dtype=object)
    direction = np.zeros(n, dtype=int)
    # assign in reverse precedence so the higher rule overwrites
    kind[shift] = [f"7 Points {s} CL" for s in side[shift]]
    kind[two3] = [f"2 in 3 {s} CL" for s in side[two3]]
    kind[trend] = [f"7 Point Trend ({'In' if d == 1 else 'De'}creasing)" for d in trend_dir[trend]]
    kind[outside] = ["Above UCL" if r == 1 else "Below LCL" for r in rtm[outside]]
    for mask, d in ((shift, np.where(rtm > 0, 1, -1)), (two3, np.where(rtm > 0, 1, -1))):
        direction[mask] = d[mask]
    direction[trend] = np.where(trend_dir[trend] == 1, 1, -1)
    direction[outside] = np.where(rtm[outside] == 1, 1, -1)
    return kind, direction


def _point_type(direction: np.ndarray, improvement: int) -> np.ndarray:
    if improvement == 0:
        return np.select(
            [direction > 0, direction < 0],
            ["special_cause_neutral_high", "special_cause_neutral_low"],
            "common_cause",
        )
    oriented = direction * improvement
    return np.select(
        [oriented > 0, oriented < 0],
        ["special_cause_improvement", "special_cause_concern"],
        "common_cause",
    )


def _assurance(target: float | None, ucl: float, lcl: float, improvement: int) -> str | None:
    if target is None or improvement == 0:
        return None
    if target > ucl:
        return "consistent_fail" if improvement == 1 else "consistent_pass"
    if target < lcl:
        return "consistent_pass" if improvement == 1 else "consistent_fail"
    return "inconsistent"


# --------------------------------------------------------------------------------------------
# result object
# --------------------------------------------------------------------------------------------
@dataclass(repr=False)
class SPCChart(ResultMixin):
    """An XmR chart: one row per point plus the chart-level verdicts.

    Attributes
    ----------
    table : DataFrame
        Indexed by the series index (``x``), one row per point: ``value``, ``segment`` (0, 1, ...
        split at each rebase), ``baseline`` (point used for the limits), ``moving_range``,
        ``mr_screened`` (moving range dropped by outlier screening), ``mean``, ``ucl``, ``lcl``,
        ``near_ucl``, ``near_lcl`` (2/3 of the way to each limit), ``outside_limits``,
        ``close_to_limits``, ``relative_to_mean`` (-1, 0, 1), ``special_cause_type`` (which rule:
        "Above UCL", "7 Point Trend (Increasing)", "2 in 3 Below CL", "7 Points Above CL",
        "Common Cause", ...), ``special_cause_flag``, ``point_type`` and ``trial_limits``
        (segment shorter than 12 points).
    improvement : str
        "increase", "decrease" or "neutral".
    target : float or None
    variation : str
        The last point's ``point_type``.
    assurance : str or None
        "consistent_pass", "consistent_fail", "inconsistent"; None without a target or when
        neutral.
    warnings : list of str
        Trial-limits warnings (also issued as ``UserWarning``).
    """

    table: pd.DataFrame
    improvement: str
    target: float | None
    variation: str
    assurance: str | None
    warnings: list[str] = field(default_factory=list)
    _table_attr = "table"

    def __repr__(self) -> str:
        last = self._last_limits()
        n_special = int(self.table["special_cause_flag"].sum())
        return (
            f"SPCChart({len(self.table)} points, {self.n_segments} segment(s), improvement={self.improvement!r})\n"
            f"  mean {last['mean']:.4g}, limits {last['lcl']:.4g} to {last['ucl']:.4g}; "
            f"latest point: {_VARIATION_TEXT[self.variation]}; {n_special} special-cause point(s)"
        )

    # ---- effect ----------------------------------------------------------------------------
    def limits(self, *, floor: float | None = None) -> dict:
        """Mean and process limits of the latest segment, the lower limit raised to ``floor``.

        Returns ``{"mean", "lcl", "ucl", "clipped"}``; ``clipped`` is True when the lower limit
        was below ``floor`` (e.g. 0 for a rate, which cannot be negative) and was raised to it.

        Examples
        --------
        >>> xmr([1, 9, 1, 9, 1, 9, 1, 9, 1, 9, 1, 9]).limits(floor=0)["clipped"]
        True
        """
        last = self._last_limits()
        lcl = float(last["lcl"])
        clipped = floor is not None and lcl < floor
        return {
            "mean": float(last["mean"]),
            "lcl": float(floor) if floor is not None and clipped else lcl,
            "ucl": float(last["ucl"]),
            "clipped": bool(clipped),
        }

    def effect_summary(
        self,
        *,
        outcome: str = "Value",
        scale: str = "difference",
        unit_factor: float = 1.0,
        period: str | None = None,
    ) -> EffectSummary:
        """Mean of the points after the baseline against the baseline mean, as an EffectSummary.

        The baseline is the points that set the limits (``fix_after_n_points``; every point
        when the limits were not fixed, and then there is nothing to compare). The interval
        uses the chart's own estimate of month-to-month variation (sigma = mean moving range /
        1.128, as the limits do) and, like the limits, assumes points vary independently around
        the mean: ``se = sigma * sqrt(1/n_baseline + 1/n_after)``. ``unit_factor`` divides the
        values to reach the scale's stored unit (100 for values in per cent on the
        "percentage points" scale).

        Examples
        --------
        >>> c = xmr([10, 11, 9, 10, 12, 10, 11, 9, 10, 11, 10, 9, 6, 7, 6, 5, 6, 7],
        ...         improvement="decrease", fix_after_n_points=12)
        >>> e = c.effect_summary(outcome="Restraint rate")
        >>> round(e.estimate, 2), e.verdict, e.n
        (-4.0, 'improvement', 18)
        """
        from scipy import stats as _stats

        from cocEval.effects import EffectSummary
        from cocEval.wording import fmt_month

        t = self.table
        first = t[t["segment"] == t["segment"].iloc[-1]]
        base, after = first[first["baseline"]], first[~first["baseline"]]
        imp = None if self.improvement == "neutral" else self.improvement
        if after.empty:
            return EffectSummary.not_estimable(outcome, "every point sets the limits, so there is no later period")
        sigma = float(base["ucl"].iloc[0] - base["mean"].iloc[0]) / 3.0
        diff = float(after["value"].mean() - base["value"].mean())
        se = sigma * np.sqrt(1 / len(base) + 1 / len(after))
        z = float(_stats.norm.ppf(0.975))
        p = float(2 * _stats.norm.sf(abs(diff) / se)) if se > 0 else None
        if period is None:
            period = f"the {len(after)} points after the {len(base)}-point baseline"
            if isinstance(after.index[0], pd.Timestamp):
                period = f"{fmt_month(after.index[0])} to {fmt_month(after.index[-1])}"
        return EffectSummary(
            outcome=outcome,
            comparison="the mean of these months against the mean of the baseline months",
            scale=scale,
            estimate=diff / unit_factor,
            ci_low=(diff - z * se) / unit_factor,
            ci_high=(diff + z * se) / unit_factor,
            period=period,
            method="SPC (XmR chart): difference in means, variation from the baseline moving range",
            p_value=p,
            n=len(base) + len(after),
            n_label=f"{len(base)} baseline and {len(after)} later points",
            improvement=imp,
            caveats=("Like the SPC limits, the interval assumes months vary independently around the mean.",),
        )

    # ---- text ----------------------------------------------------------------------------
    @property
    def n_segments(self) -> int:
        """Number of segments (1 + the number of rebases inside the series)."""
        return int(self.table["segment"].max()) + 1

    def _last_limits(self) -> pd.Series:
        return self.table.iloc[-1][["mean", "lcl", "ucl"]]

    def headline(self) -> str:
        """Active chart title: what the latest point shows and whether the target is met.

        Examples
        --------
        >>> chart = xmr([5, 6, 5, 7, 6, 5, 6, 7, 5, 6, 6, 5], improvement="increase")
        >>> chart.headline()
        'Common cause variation at the latest point'
        """
        v = {
            "common_cause": "Common cause variation",
            "special_cause_improvement": "Special cause improvement",
            "special_cause_concern": "Special cause concern",
            "special_cause_neutral_high": "Special cause variation (high)",
            "special_cause_neutral_low": "Special cause variation (low)",
        }[self.variation]
        a = {
            "consistent_pass": "; target consistently met",
            "consistent_fail": "; target consistently missed",
            "inconsistent": "; target met inconsistently",
            None: "",
        }[self.assurance]
        return f"{v} at the latest point{a}"

    def summary(self) -> str:
        """Plain-English summary: variation, assurance, then the limits and caveats.

        Examples
        --------
        >>> chart = xmr([5, 6, 5, 7, 6, 5, 6, 7, 5, 6, 6, 5], target=9, improvement="increase")
        >>> chart.summary().split(";")[0]
        'The latest point shows common cause variation (no signal of change)'
        """
        t = self.table
        text = f"The latest point shows {_VARIATION_TEXT[self.variation]}"
        if self.assurance is not None:
            text += "; " + _ASSURANCE_TEXT[self.assurance].format(t=f"{self.target:.4g}")
        elif self.target is not None:
            text += "; no assurance is given against the target because neither direction is better"
        text += "."
        last = self._last_limits()
        n_special = int(t["special_cause_flag"].sum())
        seg = " in the latest segment" if self.n_segments > 1 else ""
        text += (
            f" The process mean{seg} is {last['mean']:.4g} with limits {last['lcl']:.4g} to {last['ucl']:.4g};"
            f" {n_special} of {len(t)} points show special cause variation"
        )
        counts = t["point_type"].value_counts()
        parts = [
            f"{counts[k]} {label}"
            for k, label in (
                ("special_cause_improvement", "improvement"),
                ("special_cause_concern", "concern"),
            )
            if k in counts
        ]
        text += f" ({', '.join(parts)})." if parts else "."
        if self.warnings:
            text += " " + " ".join(self.warnings)
        return text

    def icon_label(self) -> str:
        """Compact text for an 'at a glance' table, e.g. ``'Improvement (low) | Inconsistent'``.

        Examples
        --------
        >>> xmr([5, 6, 5, 7, 6, 5, 6, 7, 5, 6, 6, 5]).icon_label()
        'Common cause | No target'
        """
        return f"{_variation_short(self.variation, self.improvement)} | {_assurance_short(self.assurance)}"

    # ---- charts --------------------------------------------------------------------------
    def get_plot_data(self) -> pd.DataFrame:
        """Tidy frame behind :meth:`plot`: the point table with the index as column ``x``.

        Examples
        --------
        >>> xmr([1, 2, 3, 2, 1, 2, 3, 2, 1, 2, 3, 2]).get_plot_data().columns[:3].tolist()
        ['x', 'value', 'segment']
        """
        out = self.table.copy()
        out.index.name = "x"
        out = out.reset_index()
        out["target"] = self.target
        return out

    def plot(
        self,
        *,
        ax: Axes | None = None,
        title: str | None = None,
        icons: bool = True,
        ylabel: str | None = None,
        data: pd.DataFrame | None = None,
        floor: float | None = None,
        suppressed_label: str = "Month not shown (small count)",
    ) -> tuple[Figure, Axes]:
        """Draw the chart in the Making Data Count style; returns ``(fig, ax)``.

        Grey line and points; special-cause points in blue (improvement), orange (concern) or
        purple (neutral), each with its own marker; dashed process limits and a solid mean per
        segment; a red dotted target line; the variation and assurance icons top right.

        ``data`` replaces :meth:`get_plot_data` (e.g. the same frame after disclosure control:
        missing values are drawn as gaps, and rows flagged in a boolean ``suppressed`` column get
        a marker on the axis and a legend entry). ``floor`` raises limits below it to it (0 for
        rates, which cannot be negative) and says so under the chart.

        Examples
        --------
        >>> fig, ax = xmr([5, 6, 5, 7, 6, 5, 6, 7, 5, 6, 6, 5]).plot(floor=0)
        """
        fig, ax = new_axes(ax, figsize=(8, 4))
        d = (self.get_plot_data() if data is None else data).copy()
        clipped = False
        if floor is not None:
            clipped = bool((d["lcl"] < floor).any())
            for c in ("lcl", "near_lcl"):
                d[c] = d[c].clip(lower=floor)
        x = d["x"]
        ax.plot(x, d["value"], color=COLOURS["value_line"], lw=1.5, zorder=1)
        for seg, s in d.groupby("segment", sort=True):
            lab = seg == 0
            ax.plot(s["x"], s["mean"], color=COLOURS["mean_line"], lw=1.2, label="Mean" if lab else None, zorder=2)
            ax.plot(s["x"], s["ucl"], color=COLOURS["limits"], lw=1.2, ls="--", label="Process limits" if lab else None)
            ax.plot(s["x"], s["lcl"], color=COLOURS["limits"], lw=1.2, ls="--")
        if self.target is not None:
            ax.axhline(self.target, color=COLOURS["target"], ls=":", lw=1.4, label=f"Target ({self.target:.4g})")
        for ptype, s in d.groupby("point_type", sort=False):
            colour = _point_colour(ptype)
            ax.scatter(
                s["x"],
                s["value"],
                color=colour,
                marker=_MARKERS[ptype],
                s=22 if ptype == "common_cause" else 42,
                zorder=3,
                label=_POINT_LABELS[ptype],
            )
        if "suppressed" in d.columns and d["suppressed"].any():
            mark_suppressed(ax, d.loc[d["suppressed"].astype(bool), "x"], suppressed_label)
        if floor is not None:
            ax.set_ylim(bottom=floor)
        if clipped:
            ax.annotate(
                f"Lower limit below {floor:g} shown at {floor:g}",
                xy=(1, -0.14),
                xycoords="axes fraction",
                ha="right",
                fontsize=8,
                color="#4C6272",
            )
        ax.set_title(title if title is not None else self.headline())
        if ylabel:
            ax.set_ylabel(ylabel)
        if pd.api.types.is_datetime64_any_dtype(x):
            import matplotlib.dates as mdates

            locator = mdates.AutoDateLocator(maxticks=8)
            ax.xaxis.set_major_locator(locator)
            ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8)
        if icons:
            draw_icons(
                ax.inset_axes((1.02, 0.02, 0.22, 0.22 * _aspect(ax))),
                self.variation,
                self.assurance,
                self.improvement,
            )
        if self.warnings:
            ax.annotate(
                "Trial limits (fewer than 12 points)",
                xy=(0, -0.14),
                xycoords="axes fraction",
                fontsize=8,
                color="#4C6272",
            )
        return fig, ax

    def icons(self, *, ax: Axes | None = None) -> tuple[Figure, Axes]:
        """Compact rendering of just the variation and assurance icons; returns ``(fig, ax)``.

        Examples
        --------
        >>> fig, ax = xmr([5, 6, 5, 7, 6, 5, 6, 7, 5, 6, 6, 5]).icons()
        """
        fig, ax = new_axes(ax, figsize=(1.2, 0.6))
        draw_icons(ax, self.variation, self.assurance, self.improvement)
        return fig, ax


def _aspect(ax: Axes) -> float:
    """Half the axes' width over its height, in inches (so a square icon stays square)."""
    w, h = ax.figure.figure.get_size_inches()  # the root figure, also when ax is in a subfigure
    pos = ax.get_position()
    return float((w * pos.width) / (h * pos.height) / 2.0)


def _point_colour(point_type: str) -> str:
    if point_type.startswith("special_cause_neutral"):
        return COLOURS["special_cause_neutral"]
    return COLOURS[point_type]


def _variation_short(variation: str, improvement: str) -> str:
    if variation == "common_cause":
        return "Common cause"
    if variation.startswith("special_cause_neutral"):
        return "Neutral (" + variation.rsplit("_", 1)[1] + ")"
    high = (variation == "special_cause_improvement") == (improvement == "increase")
    kind = "Improvement" if variation == "special_cause_improvement" else "Concern"
    return f"{kind} ({'high' if high else 'low'})"


def _assurance_short(assurance: str | None) -> str:
    return {
        "consistent_pass": "Pass",
        "consistent_fail": "Fail",
        "inconsistent": "Inconsistent",
        None: "No target",
    }[assurance]


# --------------------------------------------------------------------------------------------
# icons (drawn with matplotlib patches; no image files)
# --------------------------------------------------------------------------------------------
def draw_icons(ax: Axes, variation: str, assurance: str | None, improvement: str = "decrease") -> None:
    """Draw the MDC variation icon (and the assurance icon when there is one) on ``ax``.

    Variation: a circle in the point colour with a small run of dots (flat for common cause,
    rising or falling at the end for special cause) and a letter H/L for high/low. Assurance: a
    circle with P (pass, blue), F (fail, orange) or ? (inconsistent, grey). Letters mean that
    colour is never the only cue.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots()
    >>> draw_icons(ax, "special_cause_improvement", "inconsistent", "decrease")
    """
    from matplotlib.patches import Circle

    ax.set_xlim(0, 2.2)
    ax.set_ylim(0, 1.1)
    ax.set_aspect("equal")
    ax.axis("off")

    # variation icon
    colour = _point_colour(variation)
    ax.add_patch(Circle((0.55, 0.55), 0.5, facecolor="white", edgecolor=colour, lw=2.5))
    xs = np.linspace(0.22, 0.88, 7)
    if variation == "common_cause":
        ys = np.array([0.55, 0.6, 0.5, 0.58, 0.52, 0.57, 0.53])
        dot_colours = [COLOURS["common_cause"]] * 7
        letter = ""
    else:
        high = variation in ("special_cause_neutral_high",) or (
            variation != "special_cause_neutral_low"
            and (variation == "special_cause_improvement") == (improvement == "increase")
        )
        step = np.array([0, 0.02, -0.02, 0.0, 0.12, 0.2, 0.26])
        ys = 0.5 + (step if high else -step) * 1.0
        dot_colours = [COLOURS["common_cause"]] * 4 + [colour] * 3
        letter = "H" if high else "L"
    ax.plot(xs, ys, color=COLOURS["common_cause"], lw=1, zorder=2)
    ax.scatter(xs, ys, s=9, c=dot_colours, zorder=3)
    if letter:
        ax.text(
            0.55,
            0.28 if letter == "H" else 0.8,
            letter,
            ha="center",
            va="center",
            fontsize=8,
            fontweight="bold",
            color=colour,
        )

    # assurance icon
    if assurance is not None:
        a_colour = {
            "consistent_pass": COLOURS["special_cause_improvement"],
            "consistent_fail": COLOURS["special_cause_concern"],
            "inconsistent": COLOURS["common_cause"],
        }[assurance]
        a_letter = {"consistent_pass": "P", "consistent_fail": "F", "inconsistent": "?"}[assurance]
        ax.add_patch(Circle((1.65, 0.55), 0.5, facecolor="white", edgecolor=a_colour, lw=2.5))
        ax.text(1.65, 0.55, a_letter, ha="center", va="center", fontsize=12, fontweight="bold", color=a_colour)


def at_a_glance(charts: Mapping[str, SPCChart]) -> pd.DataFrame:
    """One row per chart for an 'at a glance' summary table.

    Columns: ``measure``, ``latest`` (last value), ``mean``, ``lcl``, ``ucl`` (latest segment),
    ``target``, ``variation``, ``assurance`` and ``label`` (:meth:`SPCChart.icon_label`).

    Examples
    --------
    >>> c = xmr([5, 6, 5, 7, 6, 5, 6, 7, 5, 6, 6, 5])
    >>> at_a_glance({"Restraint rate": c})["label"].iloc[0]
    'Common cause | No target'
    """
    rows = []
    for name, c in charts.items():
        last = c.table.iloc[-1]
        rows.append(
            {
                "measure": name,
                "latest": last["value"],
                "mean": last["mean"],
                "lcl": last["lcl"],
                "ucl": last["ucl"],
                "target": c.target,
                "variation": c.variation,
                "assurance": c.assurance,
                "label": c.icon_label(),
            }
        )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# main entry point
# --------------------------------------------------------------------------------------------
def _as_list(x: Any) -> list[Any]:
    if x is None:
        return []
    if isinstance(x, (str, pd.Timestamp)) or np.isscalar(x):
        return [x]
    return list(x)


def _checked_series(
    values: Sequence[float] | pd.Series | np.ndarray, index: Sequence[Any] | pd.Index | None
) -> tuple[pd.Index, np.ndarray]:
    """The values as floats and their labels, checked (finite, unique labels) and sorted by label."""
    if isinstance(values, pd.Series):
        idx = pd.Index(values.index) if index is None else pd.Index(index)
        y = values.to_numpy(dtype=float, na_value=np.nan)
    else:
        y = np.asarray(values, dtype=float)
        idx = pd.RangeIndex(len(y)) if index is None else pd.Index(index)
    if y.ndim != 1:
        raise InputError(f"values must be one-dimensional; got shape {y.shape}")
    if len(idx) != len(y):
        raise NotEstimableError(f"index has {len(idx)} labels but values has {len(y)}")
    if len(y) < 2:
        raise NotEstimableError(f"an XmR chart needs at least 2 points; got {len(y)}")
    bad = ~np.isfinite(y)
    if bad.any():
        raise InputError(
            "values must be finite (no missing periods): non-finite values at "
            f"{list(idx[bad][:10])} ({int(bad.sum())} in all); drop or impute them first"
        )
    if idx.has_duplicates:
        raise InputError(f"index labels must be unique; duplicated: {list(idx[idx.duplicated()].unique()[:10])}")
    order = np.argsort(idx.to_numpy(), kind="stable")
    return idx[order], y[order]


def _checked_options(fix_after_n_points: int | None, target: float | None) -> float | None:
    """Check ``fix_after_n_points``; return the target as a finite float (or None)."""
    if fix_after_n_points is not None:
        if isinstance(fix_after_n_points, bool) or int(fix_after_n_points) != fix_after_n_points:
            raise InputError(f"fix_after_n_points must be a whole number; got {fix_after_n_points!r}")
        if fix_after_n_points < MIN_POINTS:
            raise InputError(
                f"fix_after_n_points must be at least {MIN_POINTS} (NHSRplotthedots rule); got {fix_after_n_points}"
            )
    if target is None:
        return None
    target = float(target)
    if not np.isfinite(target):
        raise InputError(f"target must be a finite number; got {target}")
    return target


def _segment_ids(idx: pd.Index, rebase: Any) -> np.ndarray:
    """Segment number (0, 1, ...) of each point: a new segment starts at each rebase label."""
    rebase_labels = _as_list(rebase)
    starts = np.zeros(len(idx), dtype=int)
    if rebase_labels:
        try:
            rebase_idx = pd.Index(rebase_labels).astype(idx.dtype) if len(idx) else pd.Index(rebase_labels)
        except (TypeError, ValueError) as exc:
            raise InputError(f"rebase labels {rebase_labels!r} do not match the index type {idx.dtype}") from exc
        missing = rebase_idx[~rebase_idx.isin(idx)]
        if len(missing):
            raise InputError(f"rebase labels not in the index: {list(missing)}")
        starts = idx.isin(rebase_idx).astype(int)
    segment = np.cumsum(starts)
    segment -= segment[0]  # a rebase at the first point does not start a second segment
    return segment


def _segment_columns(ys: np.ndarray, n_base: int, screen_outliers: bool) -> dict[str, np.ndarray]:
    """One segment's columns: moving ranges, limits from its first ``n_base`` points, special causes."""
    m = len(ys)
    base = ys[:n_base]
    mr = np.abs(np.diff(base))
    moving_range = np.full(m, np.nan)
    moving_range[1:n_base] = mr
    screened = np.zeros(m, dtype=bool)
    amr = mr.mean()
    if screen_outliers:
        keep = mr < SCREEN * amr
        screened[1:n_base][~keep] = True
        amr = mr[keep].mean()
    mean = base.mean()
    ucl, lcl = mean + LIMIT * amr, mean - LIMIT * amr
    nucl, nlcl = mean + 2 * LIMIT / 3 * amr, mean - 2 * LIMIT / 3 * amr
    outside = (ys > ucl) | (ys < lcl)
    rtm = np.sign(ys - mean).astype(int)
    close = ~outside & ((ys < nlcl) | (ys > nucl))
    kinds, direction = _segment_types(ys, rtm, close, outside)
    limits = {"mean": mean, "ucl": ucl, "lcl": lcl, "near_ucl": nucl, "near_lcl": nlcl}
    return {
        "baseline": np.arange(m) < n_base,
        "moving_range": moving_range,
        "mr_screened": screened,
        **{name: np.full(m, v) for name, v in limits.items()},
        "kind": kinds,
        "direction": direction,
    }


def xmr(
    values: Sequence[float] | pd.Series | np.ndarray,
    *,
    index: Sequence[Any] | pd.Index | None = None,
    improvement: str = "decrease",
    target: float | None = None,
    fix_after_n_points: int | None = None,
    rebase: Any = None,
    screen_outliers: bool = False,
) -> SPCChart:
    """Build a Making Data Count XmR chart (NHSRplotthedots 0.2.2 rules).

    Parameters
    ----------
    values : sequence of float or Series
        The measure, one value per period, no missing values (drop or impute them first: a
        missing month would silently join its neighbours' moving range).
    index : sequence, optional
        Period labels (e.g. month-start Timestamps); defaults to the Series index or 0..n-1.
        Must be unique; points are sorted by it (as NHSRplotthedots does).
    improvement : {"decrease", "increase", "neutral"}
        Which direction is better. Default "decrease" (fewer restrictive practices is better).
    target : float, optional
        Target for the assurance icon.
    fix_after_n_points : int, optional
        Compute each segment's limits from its first n points only (a baseline); at least 12.
    rebase : label or list of labels, optional
        Index labels where a new segment (with its own mean and limits) starts, e.g. the
        coaching start month. Every label must be in the index.
    screen_outliers : bool
        Drop moving ranges >= 3.267 x their mean before computing the limits (once).
        NHSRplotthedots defaults to True; the programme's default here is False.

    Returns
    -------
    SPCChart

    Raises
    ------
    InputError
        Unknown ``improvement``; missing or infinite values (their positions are named);
        duplicated index labels; a rebase label not in the index; ``fix_after_n_points`` < 12;
        a segment of a single point; a non-finite target.
    NotEstimableError
        Fewer than 2 points, or an index whose length differs from the values'.

    Warns
    -----
    UserWarning
        A segment has fewer than 12 points: its limits are trial limits.

    Examples
    --------
    >>> chart = xmr([10, 12, 11, 13, 12, 11, 12, 13, 11, 12, 25, 12], improvement="decrease")
    >>> chart.table["point_type"].iloc[10]
    'special_cause_concern'
    >>> float(round(chart.table["ucl"].iloc[0], 3))  # 154/12 + 2.66 * 38/11
    22.022
    """
    if improvement not in _IMPROVEMENTS:
        raise InputError(f"improvement must be one of {sorted(_IMPROVEMENTS)}; got {improvement!r}")
    imp = _IMPROVEMENTS[improvement]
    idx, y = _checked_series(values, index)
    target = _checked_options(fix_after_n_points, target)
    segment = _segment_ids(idx, rebase)

    parts: list[dict[str, np.ndarray]] = []
    trial = np.zeros(len(y), dtype=bool)
    warn_msgs: list[str] = []
    for seg in np.unique(segment):  # segments are contiguous runs of the sorted points
        pos = np.flatnonzero(segment == seg)
        m = len(pos)
        if m < 2:
            raise InputError(
                f"the segment starting at {idx[pos[0]]!r} has a single point; "
                "a segment needs at least 2 points for a moving range (move or drop that rebase)"
            )
        n_base = m if fix_after_n_points is None else min(m, int(fix_after_n_points))
        parts.append(_segment_columns(y[pos], n_base, screen_outliers))
        if m < MIN_POINTS:
            trial[pos] = True
            warn_msgs.append(
                f"The segment starting at {_fmt_label(idx[pos[0]])} has {m} points (fewer than {MIN_POINTS}): "
                "its limits are trial limits."
            )
    cols = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
    names = ("baseline", "moving_range", "mr_screened", "mean", "ucl", "lcl", "near_ucl", "near_lcl")
    table = pd.DataFrame({"value": y, "segment": segment, **{c: cols[c] for c in names}}, index=idx)
    table["outside_limits"] = (table["value"] > table["ucl"]) | (table["value"] < table["lcl"])
    table["close_to_limits"] = ~table["outside_limits"] & (
        (table["value"] > table["near_ucl"]) | (table["value"] < table["near_lcl"])
    )
    table["relative_to_mean"] = np.sign(table["value"] - table["mean"]).astype(int)
    table["special_cause_type"] = cols["kind"].astype(str)
    table["special_cause_flag"] = table["special_cause_type"] != "Common Cause"
    table["point_type"] = _point_type(cols["direction"], imp)
    table["trial_limits"] = trial

    for msg in warn_msgs:
        warnings.warn(msg, UserWarning, stacklevel=2)

    last = table.iloc[-1]
    return SPCChart(
        table=table,
        improvement=improvement,
        target=target,
        variation=str(last["point_type"]),
        assurance=_assurance(target, last["ucl"], last["lcl"], imp),
        warnings=warn_msgs,
    )


def _fmt_label(label: Any) -> str:
    if isinstance(label, pd.Timestamp):
        return str(label.strftime("%Y-%m-%d"))
    return str(label)
