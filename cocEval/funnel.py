"""Funnel plots for comparing providers (Spiegelhalter 2005), with overdispersion adjustment.

Two entry points share one engine:

- :func:`funnel_rates`: counts over an exposure, e.g. restrictive interventions per 1,000
  occupied bed days (Poisson);
- :func:`funnel_proportions`: e.g. positive responses out of responses (binomial).

Control limits
--------------
Without overdispersion the limits are exact: for a provider with denominator ``n`` and target
``theta``, the ``p`` limit is the ``p`` quantile ``y_p`` of Poisson(``theta n``) (or
Binomial(``n``, ``theta``)), smoothed by Spiegelhalter's (2005, Stat Med 24:1185, appendix)
interpolation ``(y_p - a) / n`` with ``a = (P(Y <= y_p) - p) / P(Y = y_p)``, truncated at zero
(and one for proportions). The quantiles and probabilities come from ``scipy.stats``.

Overdispersion
--------------
z-scores are computed on the variance-stabilised scale that NHS Digital's SHMI and
Spiegelhalter (2005, "Handling over-dispersion of performance indicators", Qual Saf Health Care
14:347) use: for rates ``y = sqrt(O / E)`` against 1 with ``s = 1 / (2 sqrt(E))``, so
``z = 2 (sqrt(O) - sqrt(E))``; for proportions ``y = asin(sqrt(p))`` against ``asin(sqrt(theta))``
with ``s = 1 / (2 sqrt(n))``. The z-scores are winsorised at their 10th and 90th percentiles
(numpy's default linear percentile, R's type 7) and

- ``"multiplicative"``: ``phi = mean(z_w^2)``; when ``phi > 1`` the limits become
  ``y0 +/- z_p sqrt(phi) s`` on the transformed scale, transformed back;
- ``"additive"``: DerSimonian-Laird ``tau2 = max(0, (k phi - (k - 1)) / (sum w - sum w^2 / sum w))``
  with ``w = 1 / s^2``; when ``tau2 > 0`` the limits are ``y0 +/- z_p sqrt(s^2 + tau2)``.

When no overdispersion is found (``phi <= 1``, ``tau2 = 0``) the exact limits are kept.
``kphi`` is also compared with chi-squared on ``k - 1`` df and the p-value is reported.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

from cocEval._results import ResultMixin
from cocEval.errors import InputError, NotEstimableError
from cocEval.style import NHS_BLUE, NHS_GREY, NHS_MID_GREY, new_axes

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from cocEval.effects import EffectSummary

__all__ = ["FunnelResult", "funnel_proportions", "funnel_rates"]

_WINSOR = 0.10
_OVERDISPERSION = (None, "multiplicative", "additive")


def _fmt_level(level: float) -> str:
    return f"{100 * level:g}%"


@dataclass(repr=False)
class FunnelResult(ResultMixin):
    """Funnel-plot comparison of providers (from :func:`funnel_rates` / :func:`funnel_proportions`).

    Attributes
    ----------
    table : DataFrame
        One row per provider: ``label``, ``observed``, ``denominator``, ``expected``
        (target x denominator), ``rate`` (per ``per``) or ``proportion``, ``ratio``
        (observed / expected), ``z`` (variance-stabilised z-score), ``z_adjusted`` (after the
        overdispersion adjustment; equal to ``z`` when none is applied), ``lower_<L>`` /
        ``upper_<L>`` limits at the provider's denominator, and ``position``: "within",
        "above 95%", "above 99.8%", "below 95%" or "below 99.8%" (the widest limit crossed).
    target : float
        The comparator on the display scale (rate per ``per``, or proportion).
    phi, tau2 : float
        Overdispersion estimates (NaN when not requested).
    adjusted : bool
        Whether the limits were widened for overdispersion.
    """

    kind: str  # "rate" or "proportion"
    table: pd.DataFrame
    target: float
    per: float
    limits: tuple
    overdispersion: str | None
    phi: float
    tau2: float
    overdispersion_pvalue: float
    adjusted: bool
    numerator_name: str
    denominator_name: str
    _theta: float = field(repr=False, default=np.nan)  # target per unit denominator

    def __repr__(self) -> str:
        counts = self.table["position"].value_counts().to_dict()
        return f"FunnelResult(kind={self.kind!r}, k={len(self.table)}, target={self.target:.4g}, positions={counts})"

    # --- limits -----------------------------------------------------------------------
    def limits_at(self, denominators: ArrayLike) -> pd.DataFrame:
        """Control limits (display scale) at the given denominators.

        Returns a frame with ``denominator``, ``target`` and ``lower_<L>`` / ``upper_<L>``
        columns for each level ``L`` (e.g. ``lower_95``, ``upper_99.8``).

        Examples
        --------
        >>> res = funnel_rates([10, 30], [1000, 2000], labels=["A", "B"], per=1000)
        >>> list(res.limits_at([1500]).columns)
        ['denominator', 'target', 'lower_95', 'upper_95', 'lower_99.8', 'upper_99.8']
        """
        n = np.asarray(denominators, dtype=float)
        out = {"denominator": n, "target": np.full(n.shape, self.target)}
        for level in self.limits:
            tag = f"{100 * level:g}"
            for side, p in (("lower", (1 - level) / 2), ("upper", 1 - (1 - level) / 2)):
                out[f"{side}_{tag}"] = self._scale(self._limit(p, n))
        return pd.DataFrame(out)

    def _scale(self, per_unit: np.ndarray) -> np.ndarray:
        return per_unit * self.per if self.kind == "rate" else per_unit

    def _limit(self, p: float, n: np.ndarray) -> np.ndarray:
        """Limit per unit of denominator at cumulative probability ``p``."""
        theta = self._theta
        if not self.adjusted:
            return _exact_limit(self.kind, p, n, theta)
        z = stats.norm.ppf(p)
        s2 = 1.0 / (4 * theta * n) if self.kind == "rate" else 1.0 / (4 * n)
        spread = np.sqrt(self.phi * s2) if self.overdispersion == "multiplicative" else np.sqrt(s2 + self.tau2)
        if self.kind == "rate":
            y: np.ndarray = np.maximum(1.0 + z * spread, 0.0)
            return theta * y**2
        y = np.clip(np.arcsin(np.sqrt(theta)) + z * spread, 0.0, np.pi / 2)
        share: np.ndarray = np.sin(y) ** 2
        return share

    # --- effect ---------------------------------------------------------------------------
    def effect_summary(
        self,
        label: object,
        *,
        outcome: str | None = None,
        scale: str | None = None,
        unit_factor: float | None = None,
        period: str = "",
        improvement: str | None = None,
    ) -> EffectSummary:
        """One provider against the comparator, as an EffectSummary.

        The estimate is the provider's value minus the comparator. Its interval is the funnel's
        inner (95%) limits at the provider's denominator, turned around the provider's value:
        ``[d - (upper - target), d + (target - lower)]``, so it excludes no change exactly when
        the provider lies outside those limits (including any overdispersion adjustment).
        Rates are stated per ``per`` units of the denominator (scale named by
        :func:`cocEval.wording.rate_scale`), proportions in percentage points.

        Examples
        --------
        >>> res = funnel_rates([10, 60, 22], [1000, 2000, 1500], labels=["A", "B", "C"])
        >>> e = res.effect_summary("B", improvement="decrease")
        >>> e.scale, e.verdict, res.table.set_index("label").at["B", "position"]
        ('per 1,000 occupied bed days', 'deterioration', 'above 95%')
        """
        from cocEval.effects import EffectSummary
        from cocEval.wording import rate_scale

        row = self._check_label(label)
        if row is None:
            raise InputError("effect_summary needs the label of one provider")
        value_col = "rate" if self.kind == "rate" else "proportion"
        if scale is None:
            scale = rate_scale(self.per, self.denominator_name) if self.kind == "rate" else "percentage points"
        if unit_factor is None:
            unit_factor = 1.0
        level = min(self.limits)
        tag = f"{100 * level:g}"
        lim = self.limits_at([row["denominator"]]).iloc[0]
        d = float(row[value_col] - self.target)
        lo = d - float(lim[f"upper_{tag}"] - self.target)
        hi = d + float(self.target - lim[f"lower_{tag}"])
        caveats = [f"The interval is the funnel's {tag}% control limits for a provider of this size"]
        caveats[0] += ", widened for real differences between providers." if self.adjusted else "."
        return EffectSummary(
            outcome=outcome or self.numerator_name.capitalize(),
            comparison=f"this provider against the average of all {len(self.table)} providers",
            scale=scale,
            estimate=d / unit_factor,
            ci_low=lo / unit_factor,
            ci_high=hi / unit_factor,
            period=period,
            method="funnel plot" + (f" ({self.overdispersion} overdispersion adjustment)" if self.adjusted else ""),
            n=len(self.table),
            n_label=f"{len(self.table)} providers",
            improvement=improvement,
            caveats=tuple(caveats),
            level=int(round(100 * level)),
        )

    # --- results-object API ---------------------------------------------------------------
    def get_plot_data(self, n_points: int = 200) -> pd.DataFrame:
        """Tidy frame of the limit curves behind :meth:`plot`.

        Columns ``denominator``, ``series`` ("target", "lower_95", "upper_95", ...) and
        ``value`` (display scale), over ``n_points`` denominators spanning the providers'.
        The provider points themselves are in :attr:`table`.

        Examples
        --------
        >>> res = funnel_rates([10, 30, 22], [1000, 2000, 1500], labels=["A", "B", "C"])
        >>> sorted(res.get_plot_data()["series"].unique())[:2]
        ['lower_95', 'lower_99.8']
        """
        den = self.table["denominator"].to_numpy(float)
        lo, hi = max(den.min() * 0.5, 1.0), den.max() * 1.1
        grid = np.geomspace(lo, hi, n_points)
        if self.kind == "proportion":
            grid = np.unique(np.round(grid))
        wide = self.limits_at(grid)
        return wide.melt(id_vars="denominator", var_name="series", value_name="value")

    def _check_label(self, highlight: object) -> pd.Series | None:
        if highlight is None:
            return None
        labels = self.table["label"].astype(str)
        if str(highlight) not in set(labels):
            raise InputError(f"highlight: label {highlight!r} is not one of the providers ({len(labels)} labels)")
        return self.table[labels == str(highlight)].iloc[0]

    def _value_text(self, v: float) -> str:
        if self.kind == "rate":
            return f"{v:,.1f} per {self.per:,g} {self.denominator_name}"
        return f"{100 * v:.1f}%"

    def _position_text(self, position: str) -> str:
        if position == "within":
            return f"within the {_fmt_level(min(self.limits))} control limits"
        side, level = position.split(" ")
        return f"{side} the {level} {'upper' if side == 'above' else 'lower'} control limit"

    def summary(self, highlight: object = None) -> str:
        """Plain-English paragraph; with ``highlight``, about that provider first.

        Examples
        --------
        >>> res = funnel_rates([10, 30, 22], [1000, 2000, 1500], labels=["A", "B", "C"])
        >>> res.summary(highlight="B").startswith("B:")
        True
        """
        row = self._check_label(highlight)
        t = self.table
        value_col = "rate" if self.kind == "rate" else "proportion"
        parts = []
        if row is not None:
            parts.append(
                f"{row['label']}: {row['observed']:,.0f} {self.numerator_name} out of "
                f"{row['denominator']:,.0f} {self.denominator_name} ({self._value_text(row[value_col])}) "
                f"against a comparator of {self._value_text(self.target)}; that is "
                f"{self._position_text(row['position'])}."
            )
        k = len(t)
        outer = _fmt_level(max(self.limits))
        inner = _fmt_level(min(self.limits))
        above_outer = int((t["position"] == f"above {outer}").sum())
        below_outer = int((t["position"] == f"below {outer}").sum())
        outside_inner = int((t["position"] != "within").sum())
        parts.append(
            f"Of {k} providers, {above_outer} above and {below_outer} below the {outer} limits; "
            f"{outside_inner} in all outside the {inner} limits, where chance alone would put about "
            f"{k * (1 - min(self.limits)):.1f}."
        )
        if self.overdispersion is None:
            parts.append("Limits are exact " + ("Poisson" if self.kind == "rate" else "binomial") + " limits.")
        else:
            how = (
                f"phi = {self.phi:.2f}"
                if self.overdispersion == "multiplicative"
                else f"phi = {self.phi:.2f}, tau-squared = {self.tau2:.3g}"
            )
            verdict = (
                f"limits widened ({self.overdispersion} random effects)"
                if self.adjusted
                else "no overdispersion found, so exact limits are kept"
            )
            parts.append(
                f"Overdispersion from winsorised z-scores: {how} (chi-squared p = "
                f"{self.overdispersion_pvalue:.2g}); {verdict}."
            )
        return " ".join(parts)

    def plot(
        self,
        *,
        ax: Axes | None = None,
        highlight: object = None,
        title: str | None = None,
        points: pd.DataFrame | None = None,
    ) -> tuple[Figure, Axes]:
        """Funnel plot: limit curves, anonymous grey providers, one provider highlighted and named.

        Parameters
        ----------
        ax : matplotlib Axes, optional
        highlight : label, optional
            The provider to show in NHS Blue with its name; every other provider is an
            unlabelled grey point.
        title : str, optional
            Defaults to an active title stating where the highlighted provider sits.
        points : DataFrame, optional
            The provider points to draw instead of :attr:`table` (e.g. after disclosure
            control): columns ``label``, ``denominator`` and ``rate`` or ``proportion``; rows
            with a missing value are not drawn.

        Returns
        -------
        (fig, ax)

        Examples
        --------
        >>> res = funnel_rates([10, 30, 22], [1000, 2000, 1500], labels=["A", "B", "C"])
        >>> fig, ax = res.plot(highlight="A")
        """
        row = self._check_label(highlight)
        own = ax is None
        fig, ax = new_axes(ax, figsize=(8, 5))
        curves = self.get_plot_data()
        wide = curves.pivot(index="denominator", columns="series", values="value")
        ax.plot(
            wide.index,
            wide["target"],
            color=NHS_GREY,
            lw=1.5,
            ls="-",
            label=f"Comparator ({self._value_text(self.target)})",
        )
        styles = ["--", ":", "-."]
        for level, ls in zip(sorted(self.limits), styles):
            tag = f"{100 * level:g}"
            ax.plot(wide.index, wide[f"upper_{tag}"], color="black", lw=1, ls=ls, label=f"{tag}% limits")
            ax.plot(wide.index, wide[f"lower_{tag}"], color="black", lw=1, ls=ls)
        value_col = "rate" if self.kind == "rate" else "proportion"
        t = self.table if points is None else points
        if points is not None and row is not None:
            mine = points[points["label"].astype(str) == str(highlight)]
            row = mine.iloc[0] if len(mine) and pd.notna(mine[value_col].iloc[0]) else None
        others = t if highlight is None else t[t["label"].astype(str) != str(highlight)]
        others = others[pd.to_numeric(others[value_col], errors="coerce").notna()]
        ax.scatter(
            others["denominator"],
            others[value_col],
            s=22,
            color=NHS_MID_GREY,
            alpha=0.8,
            marker="o",
            zorder=3,
            label="Other providers",
        )
        if row is not None:
            _draw_highlight(ax, row, value_col)
        ax.set_xlabel(self.denominator_name.capitalize())
        if self.kind == "rate":
            ax.set_ylabel(f"{self.numerator_name.capitalize()} per {self.per:,g} {self.denominator_name}")
        else:
            from matplotlib.ticker import PercentFormatter

            ax.yaxis.set_major_formatter(PercentFormatter(1.0))
            ax.set_ylabel(f"{self.numerator_name.capitalize()} (% of {self.denominator_name})")
        ax.set_ylim(bottom=0)
        if title is None:
            if row is not None and "position" in row.index:
                title = f"{row['label']} is {self._position_text(row['position'])}"
            else:
                outer = _fmt_level(max(self.limits))
                n_out = int(self.table["position"].str.endswith(outer).sum())
                title = f"{n_out} of {len(self.table)} providers lie outside the {outer} limits"
        ax.set_title(title)
        from matplotlib.ticker import StrMethodFormatter

        ax.xaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=3, frameon=False, fontsize=8)
        if own:  # a caller's axes keep the caller's layout
            fig.subplots_adjust(**_FUNNEL_MARGINS)
        return fig, ax


#: Subplot margins of a funnel plot's own 8 x 5 inch figure (figure fractions): room for the
#: labels and the legend below, as ``tight_layout`` finds it for these charts. Fixed, because
#: measuring costs about as much as drawing the chart.
_FUNNEL_MARGINS = {"left": 0.096, "right": 0.98, "bottom": 0.224, "top": 0.929}


def _draw_highlight(ax: Axes, row: pd.Series, value_col: str) -> None:
    """The highlighted provider: a blue diamond labelled with its name."""
    from matplotlib import patheffects

    ax.scatter(
        [row["denominator"]],
        [row[value_col]],
        s=80,
        color=NHS_BLUE,
        marker="D",
        edgecolor="white",
        zorder=4,
        label=str(row["label"]),
    )
    ax.annotate(
        str(row["label"]),
        (row["denominator"], row[value_col]),
        xytext=(6, 6),
        textcoords="offset points",
        color=NHS_BLUE,
        fontweight="bold",
        path_effects=[patheffects.withStroke(linewidth=3, foreground="white")],
    )


# --- engine --------------------------------------------------------------------------------


def _exact_limit(kind: str, p: float, n: np.ndarray, theta: float) -> np.ndarray:
    """Spiegelhalter's interpolated exact limit, per unit of denominator.

    Written out because scipy gives the discrete quantile but not the interpolation that makes
    the funnel smooth (Spiegelhalter 2005, appendix A.1.1).
    """
    dist = stats.poisson(theta * n) if kind == "rate" else stats.binom(np.round(n).astype(int), theta)
    y_p = dist.ppf(p)
    pmf = dist.pmf(y_p)
    with np.errstate(invalid="ignore", divide="ignore"):
        a = np.where(pmf > 0, (dist.cdf(y_p) - p) / pmf, 0.0)
    lim = (y_p - a) / n
    clipped: np.ndarray = np.clip(lim, 0.0, 1.0 if kind == "proportion" else np.inf)
    return clipped


def _transformed(
    kind: str, observed: np.ndarray, denominator: np.ndarray, theta: float
) -> tuple[np.ndarray, float, np.ndarray]:
    """(y, y0, s) on the variance-stabilised scale (see module docstring)."""
    if kind == "rate":
        expected = theta * denominator
        return np.sqrt(observed / expected), 1.0, 1.0 / (2 * np.sqrt(expected))
    return np.arcsin(np.sqrt(observed / denominator)), np.arcsin(np.sqrt(theta)), 1.0 / (2 * np.sqrt(denominator))


def _overdispersion(z: np.ndarray, s: np.ndarray) -> tuple[float, float, float]:
    """(phi, tau2, p-value) from winsorised z-scores (Spiegelhalter 2005; SHMI)."""
    k = z.size
    lo, hi = np.percentile(z, [100 * _WINSOR, 100 * (1 - _WINSOR)])
    zw = np.clip(z, lo, hi)
    phi = float(np.mean(zw**2))
    w = 1.0 / s**2
    tau2 = max(0.0, (k * phi - (k - 1)) / (w.sum() - np.sum(w**2) / w.sum()))
    pvalue = float(stats.chi2.sf(k * phi, k - 1))
    return phi, float(tau2), pvalue


def _validate(
    kind: str, numerators: ArrayLike, denominators: ArrayLike, labels: Iterable[object] | None
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    num = np.asarray(numerators, dtype=float).ravel()
    den = np.asarray(denominators, dtype=float).ravel()
    if labels is None:
        raise InputError("labels: a label per provider is required (the chart names the highlighted one)")
    names = [str(x) for x in (labels.tolist() if hasattr(labels, "tolist") else labels)]
    if not (num.size == den.size == len(names)):
        raise InputError(
            f"numerators ({num.size}), denominators ({den.size}) and labels ({len(names)}) differ in length"
        )
    if num.size < 2:
        raise NotEstimableError("need at least two providers for a funnel plot")
    dupes = sorted({x for x in names if names.count(x) > 1})
    if dupes:
        raise InputError(f"labels must be unique; repeated: {dupes}")

    def bad(mask: np.ndarray, what: str, values: np.ndarray) -> None:
        idx = np.flatnonzero(mask)
        if idx.size:
            shown = {names[i]: values[i].item() for i in idx[:10]}
            raise InputError(f"{what}; offending providers: {shown}")

    bad(~np.isfinite(num), "numerators must be finite (no NaN)", num)
    bad(~np.isfinite(den), "denominators must be finite (no NaN)", den)
    bad(num < 0, "numerators must be >= 0", num)
    bad(num != np.round(num), "numerators must be whole counts", num)
    bad(den <= 0, "denominators must be > 0", den)
    if kind == "proportion":
        bad(den != np.round(den), "denominators must be whole counts for proportions", den)
        bad(num > den, "numerators must not exceed denominators for proportions", num)
    return num, den, names


def _funnel(
    kind: str,
    numerators: ArrayLike,
    denominators: ArrayLike,
    *,
    labels: Iterable[object] | None,
    per: float,
    target: float | None,
    overdispersion: str | None,
    limits: Iterable[float],
    numerator_name: str,
    denominator_name: str,
) -> FunnelResult:
    num, den, names = _validate(kind, numerators, denominators, labels)
    if overdispersion not in _OVERDISPERSION:
        raise InputError(f"overdispersion must be one of {_OVERDISPERSION}, got {overdispersion!r}")
    limits = tuple(sorted(float(x) for x in limits))
    if not limits or any(not 0 < x < 1 for x in limits):
        raise InputError(f"limits must be coverage levels in (0, 1), e.g. (0.95, 0.998); got {limits}")
    if target is None:
        theta = num.sum() / den.sum()
    else:
        theta = float(target) / per if kind == "rate" else float(target)
    upper_ok = np.inf if kind == "rate" else 1.0
    if not (0 < theta < upper_ok) or not np.isfinite(theta):
        raise InputError(
            f"target must be strictly between 0 and {upper_ok} "
            f"({'per ' + format(per, 'g') if kind == 'rate' else 'proportion'}); got {theta * (per if kind == 'rate' else 1)}"
            + (" (no events in any provider)" if target is None and num.sum() == 0 else "")
        )

    y, y0, s = _transformed(kind, num, den, theta)
    z = (y - y0) / s
    if overdispersion is None:
        phi = tau2 = od_p = np.nan
        adjusted = False
        z_adj = z
    else:
        phi, tau2, od_p = _overdispersion(z, s)
        adjusted = phi > 1 if overdispersion == "multiplicative" else tau2 > 0
        if not adjusted:
            z_adj = z
        elif overdispersion == "multiplicative":
            z_adj = z / np.sqrt(phi)
        else:
            z_adj = (y - y0) / np.sqrt(s**2 + tau2)

    result = FunnelResult(
        kind=kind,
        table=pd.DataFrame(),
        target=float(theta * per if kind == "rate" else theta),
        per=per,
        limits=limits,
        overdispersion=overdispersion,
        phi=phi,
        tau2=tau2,
        overdispersion_pvalue=od_p,
        adjusted=bool(adjusted),
        numerator_name=numerator_name,
        denominator_name=denominator_name,
        _theta=theta,
    )
    value = num / den
    table = pd.DataFrame(
        {
            "label": names,
            "observed": num,
            "denominator": den,
            "expected": theta * den,
            ("rate" if kind == "rate" else "proportion"): value * per if kind == "rate" else value,
            "ratio": num / (theta * den),
            "z": z,
            "z_adjusted": z_adj,
        }
    )
    lims = result.limits_at(den).drop(columns=["denominator", "target"])
    shown = table.iloc[:, 4].to_numpy()
    position = np.array(["within"] * len(table), dtype=object)
    for level in limits:  # ascending, so the widest limit crossed wins
        tag = f"{100 * level:g}"
        position[shown > lims[f"upper_{tag}"].to_numpy()] = f"above {tag}%"
        position[shown < lims[f"lower_{tag}"].to_numpy()] = f"below {tag}%"
    table = pd.concat([table, lims.set_index(table.index)], axis=1)
    table["position"] = position
    result.table = table
    return result


def funnel_rates(
    numerators: ArrayLike,
    denominators: ArrayLike,
    *,
    labels: Iterable[object] | None,
    per: float = 1000,
    target: float | None = None,
    overdispersion: str | None = None,
    limits: Iterable[float] = (0.95, 0.998),
    numerator_name: str = "events",
    denominator_name: str = "occupied bed days",
) -> FunnelResult:
    """Funnel plot of Poisson rates, e.g. restrictive interventions per 1,000 occupied bed days.

    Parameters
    ----------
    numerators : array-like of whole counts
        Events per provider (e.g. restrictive interventions).
    denominators : array-like
        Exposure per provider (e.g. occupied bed days), > 0.
    labels : array-like
        Unique provider names (the chart names only the highlighted one).
    per : float
        Rates are shown per this many units of the denominator.
    target : float, optional
        Comparator rate per ``per``; default the programme average ``sum(O) / sum(D) * per``.
    overdispersion : {None, "multiplicative", "additive"}
        Widen the limits for between-provider variation (see the module docstring).
    limits : tuple of float
        Coverage of the control limits (two-sided), default 95% and 99.8%.
    numerator_name, denominator_name : str
        Words used in the summary and axis labels.

    Returns
    -------
    FunnelResult

    Examples
    --------
    >>> res = funnel_rates([12, 40, 25, 90], [1000, 2000, 1500, 2500], labels=list("ABCD"))
    >>> round(res.target, 2)
    23.86
    >>> res.table.loc[res.table["label"] == "D", "position"].item()
    'above 99.8%'
    """
    return _funnel(
        "rate",
        numerators,
        denominators,
        labels=labels,
        per=per,
        target=target,
        overdispersion=overdispersion,
        limits=limits,
        numerator_name=numerator_name,
        denominator_name=denominator_name,
    )


def funnel_proportions(
    numerators: ArrayLike,
    denominators: ArrayLike,
    *,
    labels: Iterable[object] | None,
    target: float | None = None,
    overdispersion: str | None = None,
    limits: Iterable[float] = (0.95, 0.998),
    numerator_name: str = "positive responses",
    denominator_name: str = "responses",
) -> FunnelResult:
    """Funnel plot of binomial proportions, e.g. positive responses out of responses.

    Parameters
    ----------
    numerators, denominators : array-like of whole counts
        Successes and trials per provider (``0 <= numerator <= denominator``, denominator > 0).
    labels : array-like
        Unique provider names.
    target : float, optional
        Comparator proportion in (0, 1); default the pooled proportion.
    overdispersion : {None, "multiplicative", "additive"}
        See the module docstring (arcsine-square-root scale).
    limits : tuple of float
        Coverage of the control limits, default 95% and 99.8%.
    numerator_name, denominator_name : str
        Words used in the summary and axis labels.

    Returns
    -------
    FunnelResult

    Examples
    --------
    >>> res = funnel_proportions([80, 45, 150], [100, 60, 200], labels=["A", "B", "C"])
    >>> round(res.target, 3)
    0.764
    """
    return _funnel(
        "proportion",
        numerators,
        denominators,
        labels=labels,
        per=1.0,
        target=target,
        overdispersion=overdispersion,
        limits=limits,
        numerator_name=numerator_name,
        denominator_name=denominator_name,
    )
