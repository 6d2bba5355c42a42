"""Random-effects pooling of provider (or study) results, as ``metafor::rma()``.

:func:`random_effects` pools estimates with their standard errors under the normal-normal
random-effects model ``y_i ~ N(mu, v_i + tau2)``. It reproduces ``metafor::rma(yi, vi,
method=..., test=...)`` and ``predict()`` for the intercept-only model:

- ``method="DL"``: DerSimonian-Laird moment estimator of ``tau2`` (truncated at zero);
- ``method="REML"``: Fisher scoring exactly as metafor (starting value the Hedges estimator,
  step ``(y'PPy - tr P) / tr(PP)`` halved while it would make ``tau2`` negative, stop when
  ``tau2`` changes by less than 1e-5, at most 100 iterations, and metafor's check that the
  likelihood at ``tau2 = 0`` is not higher); where full steps oscillate and metafor stops
  with an error, we warn and use half steps (metafor's ``control=list(stepadj=0.5)``);
- ``hartung_knapp=True``: metafor's ``test="knha"`` (variance of the pooled estimate multiplied
  by the weighted residual mean square, not truncated at 1; ``t`` with ``k - 1`` df);
- prediction interval: by default the parametric bootstrap of Nagashima, Noma & Furukawa (2019,
  R ``pimeta``), which keeps its level with few studies; ``prediction="metafor"`` gives
  ``predict.rma``: ``estimate +/- crit * sqrt(se^2 + tau2)`` with the same critical value as the
  confidence interval (normal, or ``t_{k-1}`` with Hartung-Knapp); ``"hts"`` Higgins, Thompson
  & Spiegelhalter (2009);
- ``I^2 = 100 tau2 / (tau2 + v~)`` with ``v~ = (k - 1) / (sum w - sum w^2 / sum w)``, ``Q`` the
  fixed-effect heterogeneity statistic on ``k - 1`` df.

statsmodels has ``combine_effects`` (DL and Paule-Mandel) but no REML or metafor-style
prediction interval, so the few lines of the model are written out here and checked against
metafor fixtures (``tests/reference/meta_reference.R``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

from cocEval._results import ResultMixin
from cocEval.errors import InputError
from cocEval.style import NHS_BLUE, NHS_GREY, new_axes

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from cocEval.effects import EffectSummary

__all__ = ["MetaResult", "random_effects", "tau2_confidence_draws", "PREDICTION_METHODS"]

#: A transform for display, applied to floats and arrays alike (``np.exp``, ``np.expm1``).
Transform: TypeAlias = Callable[[Any], Any]

#: metafor's Fisher-scoring controls (``rma.uni`` defaults).
_REML_THRESHOLD = 1e-5
_REML_MAXITER = 100
_LL0_TOL = np.finfo(float).eps ** 0.25


@dataclass(repr=False)
class MetaResult(ResultMixin):
    """Random-effects meta-analysis result (from :func:`random_effects`).

    Attributes
    ----------
    estimate, se : float
        Pooled estimate and its standard error (Hartung-Knapp-adjusted when requested).
    ci_low, ci_high : float
        Confidence interval at level ``1 - alpha``.
    pi_low, pi_high : float
        Prediction interval for the effect in a new provider/study (``prediction`` method of
        :func:`random_effects`; metafor ``predict()`` with ``prediction="metafor"``).
    tau2, i2, q, q_pvalue : float
        Between-study variance, I-squared (percent), Cochran's Q and its p-value.
    pvalue : float
        Two-sided p-value for the pooled estimate being zero.
    table : DataFrame
        One row per study: ``label``, ``estimate``, ``se``, ``ci_low``, ``ci_high``,
        ``weight`` (percent of the random-effects weight).
    prediction : str
        How the prediction interval was computed ("boot", "metafor" or "hts").
    """

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    pi_low: float
    pi_high: float
    tau2: float
    i2: float
    q: float
    q_pvalue: float
    pvalue: float
    k: int
    method: str
    hartung_knapp: bool
    alpha: float
    table: pd.DataFrame = field(default_factory=pd.DataFrame)
    prediction: str = "metafor"

    def __repr__(self) -> str:
        return (
            f"MetaResult(k={self.k}, method={self.method!r}, estimate={self.estimate:.4g}, "
            f"ci=({self.ci_low:.4g}, {self.ci_high:.4g}), tau2={self.tau2:.4g}, i2={self.i2:.1f}%)"
        )

    @property
    def level(self) -> int:
        """Confidence level in percent (95 for ``alpha=0.05``)."""
        return round(100 * (1 - self.alpha))

    def summary(self, *, transform: Transform | None = None, units: str = "") -> str:
        """Plain-English paragraph: the pooled result first, then heterogeneity and method.

        Parameters
        ----------
        transform : callable, optional
            Applied to estimate and interval ends before printing (``np.exp`` for log ratios).
        units : str
            Appended to the numbers, e.g. ``" per 1,000 bed days"``.

        Examples
        --------
        >>> res = random_effects([0.1, 0.3, 0.2], [0.1, 0.1, 0.1], method="DL")
        >>> res.summary().startswith("Pooled over 3 studies")
        True
        """
        f = transform if transform is not None else (lambda v: v)

        def num(v: float) -> str:
            return f"{f(v):.3g}{units}"

        word = "study" if self.k == 1 else "studies"
        text = (
            f"Pooled over {self.k} {word}, the random-effects estimate is {num(self.estimate)} "
            f"({self.level}% CI {num(self.ci_low)} to {num(self.ci_high)}"
        )
        text += f", p = {self.pvalue:.2g}). " if np.isfinite(self.pvalue) else "). "
        if self.k >= 2:
            text += (
                f"Results vary between studies: I-squared is {self.i2:.0f}% (Q = {self.q:.2f} on "
                f"{self.k - 1} df, p = {self.q_pvalue:.2g}; tau-squared = {self.tau2:.4g}). "
                f"A new study's result would be expected between {num(self.pi_low)} and "
                f"{num(self.pi_high)} ({self.level}% prediction interval). "
            )
        else:
            text += "With one study, between-study variation cannot be estimated. "
        hk = ", Hartung-Knapp adjustment" if self.hartung_knapp else ""
        text += f"Method: {self.method} estimate of tau-squared{hk}."
        return text

    # --- effect_summary (issue 10) -------------------------------------------------------
    def effect_summary(
        self,
        *,
        outcome: str = "Pooled effect",
        scale: str = "difference",
        transform: str | None = None,
        improvement: str | None = None,
        period: str = "",
        unit_name: str = "providers",
        caveats: Iterable[str] = (),
    ) -> EffectSummary:
        """The pooled estimate as an :class:`cocEval.effects.EffectSummary`.

        ``transform="percentage change"`` reads pooled log ratios as a percentage change
        (``exp(x) - 1``), ``"rate ratio"`` / ``"odds ratio"`` as ratios (``exp(x)``); otherwise
        the estimate is on ``scale`` as pooled. The prediction interval (where a new provider's
        effect would be expected) and the heterogeneity are added as caveats, in words.

        Examples
        --------
        >>> res = random_effects([-0.2, -0.3, -0.1], [0.05, 0.05, 0.05], labels=["A", "B", "C"])
        >>> e = res.effect_summary(outcome="Restraint", transform="percentage change", improvement="decrease")
        >>> e.scale, round(e.estimate, 3), e.verdict
        ('percentage change', -0.181, 'improvement')
        """
        from cocEval import wording as w
        from cocEval.effects import EffectSummary
        from cocEval.errors import InputError

        f: Transform
        if transform is None:
            f, sc = (lambda v: v), scale
        elif transform == "percentage change":
            f, sc = np.expm1, "percentage change"
        elif transform in ("rate ratio", "odds ratio"):
            f, sc = np.exp, transform
        else:
            raise InputError(
                f"transform must be None, 'percentage change', 'rate ratio' or 'odds ratio'; got {transform!r}"
            )
        notes = []
        if self.k >= 2:
            notes.append(
                f"A new provider's effect would be expected between {w.fmt_effect(f(self.pi_low), sc)} and "
                f"{w.fmt_effect(f(self.pi_high), sc)} ({self.level}% prediction interval)."
            )
        notes.append(w.heterogeneity_words(self.i2, self.tau2, self.k))
        return EffectSummary(
            outcome=outcome,
            comparison="observed against expected without coaching, pooled over providers",
            scale=sc,
            estimate=float(f(self.estimate)),
            ci_low=float(f(self.ci_low)),
            ci_high=float(f(self.ci_high)),
            period=period,
            method=f"random-effects meta-analysis ({self.method}{', Hartung-Knapp' if self.hartung_knapp else ''})",
            p_value=float(self.pvalue) if np.isfinite(self.pvalue) else None,
            n=int(self.k),
            n_label=f"{self.k} {unit_name}",
            improvement=improvement,
            caveats=(*notes, *caveats),
            level=self.level,
        )

    def get_plot_data(self, *, transform: Transform | None = None) -> pd.DataFrame:
        """Tidy frame behind :meth:`forest_plot`: one row per study plus pooled and prediction rows.

        Columns ``label``, ``kind`` ("study", "pooled", "prediction"), ``estimate``, ``low``,
        ``high``, ``weight`` (percent; NaN for the summary rows), all on the transformed scale
        when ``transform`` is given.

        Examples
        --------
        >>> res = random_effects([0.1, 0.3, 0.2], [0.1, 0.1, 0.1], labels=["A", "B", "C"])
        >>> list(res.get_plot_data()["kind"])
        ['study', 'study', 'study', 'pooled', 'prediction']
        """
        f = transform if transform is not None else (lambda v: v)
        t = self.table
        rows = pd.DataFrame(
            {
                "label": t["label"].astype(str),
                "kind": "study",
                "estimate": f(t["estimate"].to_numpy(float)),
                "low": f(t["ci_low"].to_numpy(float)),
                "high": f(t["ci_high"].to_numpy(float)),
                "weight": t["weight"].to_numpy(float),
            }
        )
        pooled = pd.DataFrame(
            {
                "label": [f"Random-effects ({self.method})", "Prediction interval"],
                "kind": ["pooled", "prediction"],
                "estimate": f(np.array([self.estimate, self.estimate])),
                "low": f(np.array([self.ci_low, self.pi_low])),
                "high": f(np.array([self.ci_high, self.pi_high])),
                "weight": [np.nan, np.nan],
            }
        )
        return pd.concat([rows, pooled], ignore_index=True)

    def forest_plot(
        self,
        *,
        ax: Axes | None = None,
        transform: Transform | None = None,
        xlabel: str | None = None,
        title: str | None = None,
    ) -> tuple[Figure, Axes]:
        """Forest plot: study rows (square sized by weight), pooled diamond, prediction interval.

        Parameters
        ----------
        ax : matplotlib Axes, optional
        transform : callable, optional
            E.g. ``np.exp`` to show log rate ratios as rate ratios (the axis is then logarithmic
            and the reference line is at 1).
        xlabel, title : str, optional
            Defaults state the estimate and its interval (an active title).

        Returns
        -------
        (fig, ax)

        Examples
        --------
        >>> res = random_effects([0.1, 0.3, 0.2], [0.1, 0.1, 0.1], labels=["A", "B", "C"])
        >>> fig, ax = res.forest_plot(transform=np.exp)
        """
        data = self.get_plot_data(transform=transform)
        fig, ax = new_axes(ax, figsize=(8, 1.2 + 0.35 * (self.k + 3)))
        studies = data[data["kind"] == "study"]
        n = len(studies)
        ys = np.arange(n, 0, -1) + 2.0  # studies on top, two rows below for the summaries
        wmax = np.nanmax(studies["weight"]) if n else 1.0
        ax.hlines(ys, studies["low"], studies["high"], color=NHS_GREY, lw=1.2)
        ax.scatter(
            studies["estimate"],
            ys,
            marker="s",
            color=NHS_GREY,
            zorder=3,
            s=20 + 120 * studies["weight"].to_numpy() / wmax,
            label="Study (size = weight)",
        )
        pooled = data[data["kind"] == "pooled"].iloc[0]
        pred = data[data["kind"] == "prediction"].iloc[0]
        y_pool = 1.0
        diamond_x = [pooled["low"], pooled["estimate"], pooled["high"], pooled["estimate"]]
        diamond_y = [y_pool, y_pool + 0.3, y_pool, y_pool - 0.3]
        ax.fill(diamond_x, diamond_y, color=NHS_BLUE, zorder=3, label=pooled["label"])
        if self.k >= 2:
            ax.hlines(
                0.0,
                pred["low"],
                pred["high"],
                color=NHS_BLUE,
                lw=2,
                linestyles="--",
                label=f"{self.level}% prediction interval",
            )
        ref = 1.0 if transform is not None and transform(0.0) == 1.0 else 0.0
        ax.axvline(ref, color="black", lw=0.8, ls=":")
        if transform is not None and np.all(data[["low", "high"]].to_numpy() > 0):
            from matplotlib.ticker import NullFormatter, ScalarFormatter

            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(ScalarFormatter())
            ax.xaxis.set_minor_formatter(NullFormatter())
        # estimate [CI] and weight printed at the right-hand edge of each row
        trans = ax.get_yaxis_transform()
        for y, (_, r) in zip(list(ys) + [y_pool], pd.concat([studies, pooled.to_frame().T]).iterrows()):
            wtxt = f"  {r['weight']:.1f}%" if np.isfinite(float(r["weight"])) else ""
            ax.text(
                1.02,
                y,
                f"{r['estimate']:.2f} [{r['low']:.2f}, {r['high']:.2f}]{wtxt}",
                transform=trans,
                va="center",
                fontsize=8,
            )
        labels = list(studies["label"]) + [pooled["label"], pred["label"] if self.k >= 2 else ""]
        ax.set_yticks(list(ys) + [y_pool, 0.0])
        ax.set_yticklabels(labels)
        ax.set_ylim(-0.7, n + 2.7)
        ax.set_xlabel(xlabel or "Estimate with confidence interval")
        ax.set_title(
            title
            or f"Pooled estimate {pooled['estimate']:.3g} ({self.level}% CI {pooled['low']:.3g} "
            f"to {pooled['high']:.3g}); I-squared {self.i2:.0f}%"
        )
        ax.legend(
            loc="upper center", bbox_to_anchor=(0.5, -0.08 - 1.2 / (self.k + 6)), ncol=3, frameon=False, fontsize=8
        )
        fig.tight_layout()
        return fig, ax

    def plot(self, *, ax: Axes | None = None, transform: Transform | None = None) -> tuple[Figure, Axes]:
        """Same as :meth:`forest_plot` (the results-object convention).

        Examples
        --------
        >>> fig, ax = random_effects([0.1, 0.3], [0.1, 0.2]).plot()
        """
        return self.forest_plot(ax=ax, transform=transform)


def _as_vector(values: ArrayLike, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float).ravel()
    if arr.size == 0:
        raise InputError(f"{name}: need at least one value")
    bad = ~np.isfinite(arr)
    if bad.any():
        raise InputError(f"{name}: values must be finite; non-finite at positions {np.flatnonzero(bad).tolist()}")
    return arr


def _tau2_dl(y: np.ndarray, v: np.ndarray) -> float:
    w = 1.0 / v
    mu = np.sum(w * y) / np.sum(w)
    q = np.sum(w * (y - mu) ** 2)
    tr_p = np.sum(w) - np.sum(w**2) / np.sum(w)
    return max(0.0, float((q - (len(y) - 1)) / tr_p))


def _reml_loglik(tau2: float, y: np.ndarray, v: np.ndarray) -> float:
    w = 1.0 / (v + tau2)
    mu = np.sum(w * y) / np.sum(w)
    return float(-0.5 * (np.sum(np.log(v + tau2)) + np.log(np.sum(w)) + np.sum(w * (y - mu) ** 2)))


def _tau2_reml(y: np.ndarray, v: np.ndarray) -> float:
    """REML tau2 by metafor's Fisher scoring, halving the step if the full step oscillates.

    metafor stops with "Fisher scoring algorithm did not converge" when full steps oscillate
    (it happens on ordinary data); its help suggests ``control=list(stepadj=0.5)``. We do that
    automatically, with a warning, so the answer equals metafor's with that control setting.
    """
    try:
        return _fisher_scoring(y, v, step=1.0)
    except RuntimeError:
        warnings.warn(
            "REML Fisher scoring with full steps did not converge (metafor's default would stop "
            "here); refitted with half steps, as metafor's control=list(stepadj=0.5).",
            stacklevel=3,
        )
        return _fisher_scoring(y, v, step=0.5)


def _fisher_scoring(y: np.ndarray, v: np.ndarray, step: float) -> float:
    """metafor's REML Fisher scoring for the intercept-only model (``P = W - w w' / sum w``)."""
    k = len(y)
    # Hedges (HE) starting value, as metafor: (sum (y - ybar)^2 - tr(PV)) / (k - 1).
    tau2 = max(0.0, (np.sum((y - y.mean()) ** 2) - v.sum() * (k - 1) / k) / (k - 1))
    change, it = np.inf, 0
    while change > _REML_THRESHOLD:
        it += 1
        old = tau2
        w = 1.0 / (v + tau2)
        sw = w.sum()
        p = np.diag(w) - np.outer(w, w) / sw
        py = p @ y
        pp_tr = np.sum(p * p)  # tr(PP), P symmetric
        adj = step * (py @ py - np.trace(p)) / pp_tr
        while tau2 + adj < 0:
            adj /= 2
        tau2 = tau2 + adj
        change = abs(old - tau2)
        if it > _REML_MAXITER:
            raise RuntimeError(
                f"REML Fisher scoring (step {step}) did not converge in {_REML_MAXITER} iterations; try method='DL'"
            )
    # metafor's ll0check: fall back to tau2 = 0 if that likelihood is clearly higher.
    if tau2 > _REML_THRESHOLD and _reml_loglik(0.0, y, v) - _reml_loglik(tau2, y, v) > _LL0_TOL:
        warnings.warn(
            "REML Fisher scoring may have stopped at a local maximum; setting tau2 = 0 (as metafor).", stacklevel=3
        )
        tau2 = 0.0
    return max(0.0, float(tau2))


# ---------------------------------------------------------------------------------------------
# prediction intervals
# ---------------------------------------------------------------------------------------------
#: Prediction-interval methods of :func:`random_effects` (``prediction=``).
PREDICTION_METHODS = ("boot", "metafor", "hts")


def tau2_confidence_draws(
    y: ArrayLike, se: ArrayLike, n: int, rng: np.random.Generator, grid: int = 120, mc: int = 20_000
) -> np.ndarray:
    """Draws of tau2 from its confidence distribution (Nagashima, Noma & Furukawa 2019).

    The confidence distribution is ``H(tau2) = P(Q > Q_obs; tau2)`` with ``Q`` Cochran's
    fixed-effect heterogeneity statistic, whose exact law under ``tau2`` is a weighted sum of
    chi-squares (weights: the nonzero eigenvalues of ``Z A Z``, ``Z = diag(sqrt(v + tau2))``,
    ``A = W - w w' / sum w``); ``H(0)`` is the heterogeneity test's p-value, so draws are 0 with
    that probability. ``H`` is evaluated on a grid of ``tau2`` (by Monte Carlo, ``mc`` draws of
    the chi-squares shared across the grid, so ``H`` is smooth and its error about 0.3%; R
    ``pimeta`` uses Farebrother's series) and inverted by interpolation.

    Examples
    --------
    >>> d = tau2_confidence_draws([0.1, -0.2, 0.3, 0.0], [0.1] * 4, 2000, np.random.default_rng(1))
    >>> bool(d.min() == 0.0 and 0.02 < np.median(d) < 0.1)
    True
    """
    y = np.asarray(y, dtype=float)
    v = np.asarray(se, dtype=float) ** 2
    w = 1.0 / v
    A = np.diag(w) - np.outer(w, w) / w.sum()
    q_obs = float(y @ A @ y)
    scale = float(np.median(v))
    x = np.linspace(0.0, 0.999, grid) ** 2
    t2 = np.r_[scale * x / (1 - x), 1e4 * scale + 10 * q_obs * scale]
    lam = np.empty((t2.size, y.size - 1))
    for i, t in enumerate(t2):
        z = np.sqrt(v + t)
        lam[i] = np.linalg.eigvalsh(z[:, None] * A * z[None, :])[1:]
    # the exact law of Q, evaluated by Monte Carlo with common draws across the grid
    chi = rng.chisquare(1.0, size=(mc, y.size - 1))
    H = np.mean(chi @ lam.T > q_obs, axis=0)
    H = np.maximum.accumulate(H)
    u = rng.uniform(size=n)
    out = np.interp(u, H, t2)
    out[u <= H[0]] = 0.0
    return out


def _pi_boot(y: np.ndarray, se: np.ndarray, alpha: float, n_boot: int, rng: np.random.Generator) -> tuple[float, float]:
    """Parametric-bootstrap prediction interval (Nagashima, Noma & Furukawa 2019; R ``pimeta``)."""
    k = y.size
    t2 = tau2_confidence_draws(y, se, n_boot, rng)
    wb = 1.0 / (se[None, :] ** 2 + t2[:, None])
    mb = (wb * y[None, :]).sum(axis=1) / wb.sum(axis=1)
    vb = (wb * (y[None, :] - mb[:, None]) ** 2).sum(axis=1) / (k - 1) / wb.sum(axis=1)
    draws = mb + rng.standard_normal(n_boot) * np.sqrt(t2) - rng.standard_t(k - 1, n_boot) * np.sqrt(vb)
    lo, hi = np.quantile(draws, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def _checked_inputs(
    estimates: ArrayLike,
    std_errors: ArrayLike,
    labels: Iterable[Any] | None,
    method: str,
    alpha: float,
    prediction: str,
) -> tuple[np.ndarray, np.ndarray, list[str], str]:
    """Estimates, standard errors, labels as text and the method in capitals, all checked."""
    y = _as_vector(estimates, "estimates")
    se = _as_vector(std_errors, "std_errors")
    if y.shape != se.shape:
        raise InputError(f"estimates and std_errors differ in length ({y.size} vs {se.size})")
    if np.any(se <= 0):
        bad = np.flatnonzero(se <= 0).tolist()
        raise InputError(
            f"std_errors: every standard error must be > 0 (inverse-variance weights); "
            f"got {se[bad].tolist()} at positions {bad}"
        )
    if prediction not in PREDICTION_METHODS:
        raise InputError(f"prediction must be one of {PREDICTION_METHODS}, got {prediction!r}")
    method = str(method).upper()
    if method not in {"REML", "DL"}:
        raise InputError(f"method must be 'REML' or 'DL', got {method!r}")
    if not 0 < alpha < 1:
        raise InputError(f"alpha must be in (0, 1), got {alpha}")
    k = y.size
    names = [str(i + 1) for i in range(k)] if labels is None else [str(lab) for lab in labels]
    if len(names) != k:
        raise InputError(f"labels has {len(names)} entries for {k} estimates")
    return y, se, names, method


def _heterogeneity(y: np.ndarray, v: np.ndarray, tau2: float) -> tuple[float, float, float]:
    """Cochran's Q, its p-value on ``k - 1`` df, and I^2 (percent) given ``tau2`` (k >= 2)."""
    k = y.size
    w_fe = 1.0 / v
    mu_fe = np.sum(w_fe * y) / np.sum(w_fe)
    q = max(0.0, float(np.sum(w_fe * (y - mu_fe) ** 2)))
    q_p = float(stats.chi2.sf(q, k - 1))
    vt = (k - 1) / (np.sum(w_fe) - np.sum(w_fe**2) / np.sum(w_fe))
    return q, q_p, float(100 * tau2 / (vt + tau2))


def _pooled(y: np.ndarray, v: np.ndarray, tau2: float, alpha: float, hk: bool) -> tuple[float, float, float, float]:
    """Pooled estimate, its variance, the interval's critical value and the p-value."""
    k = y.size
    w = 1.0 / (v + tau2)
    mu = float(np.sum(w * y) / np.sum(w))
    var_mu = float(1.0 / np.sum(w))
    if hk:
        rss = float(np.sum(w * (y - mu) ** 2))
        s2w = 0.0 if rss <= np.finfo(float).eps else rss / (k - 1)
        var_mu *= s2w
        crit = float(stats.t.ppf(1 - alpha / 2, k - 1))
        pvalue = float(2 * stats.t.sf(abs(mu) / np.sqrt(var_mu), k - 1)) if var_mu > 0 else np.nan
    else:
        crit = float(stats.norm.ppf(1 - alpha / 2))
        pvalue = float(2 * stats.norm.sf(abs(mu) / np.sqrt(var_mu)))
    return mu, var_mu, crit, pvalue


def _prediction_interval(
    y: np.ndarray,
    se: np.ndarray,
    alpha: float,
    prediction: str,
    metafor: tuple[float, float],
    n_boot: int,
    seed: int,
) -> tuple[float, float]:
    """The prediction interval by ``prediction``; ``metafor`` (the ``predict.rma`` interval)
    with fewer than three studies or when asked."""
    k = y.size
    if k >= 3 and prediction == "boot":
        return _pi_boot(y, se, alpha, int(n_boot), np.random.default_rng(seed))
    if k >= 3 and prediction == "hts":
        v = se**2
        t2_dl = _tau2_dl(y, v)
        w_dl = 1.0 / (v + t2_dl)
        mu_dl = float(np.sum(w_dl * y) / np.sum(w_dl))
        half = float(stats.t.ppf(1 - alpha / 2, k - 2) * np.sqrt(t2_dl + 1.0 / np.sum(w_dl)))
        return mu_dl - half, mu_dl + half
    return metafor


def random_effects(
    estimates: ArrayLike,
    std_errors: ArrayLike,
    *,
    method: str = "REML",
    labels: Iterable[Any] | None = None,
    alpha: float = 0.05,
    hartung_knapp: bool = False,
    prediction: str = "boot",
    n_boot: int = 5000,
    seed: int = 20190101,
) -> MetaResult:
    """Pool estimates by random-effects meta-analysis (identical to ``metafor::rma``).

    Parameters
    ----------
    estimates : array-like
        Per-provider (or per-study) estimates on an additive scale, e.g. log rate ratios.
    std_errors : array-like
        Their standard errors (strictly positive; a zero SE raises ``ValueError``).
    method : {"REML", "DL"}
        Estimator of the between-study variance ``tau2``.
    labels : array-like, optional
        Names for the rows of ``table`` and the forest plot (default "1", "2", ...).
    alpha : float
        1 - confidence level of the confidence and prediction intervals.
    hartung_knapp : bool
        Hartung-Knapp(-Sidik-Jonkman) adjustment (metafor ``test="knha"``). Ignored, with a
        warning, when there is a single study (metafor does the same).
    prediction : {"boot", "metafor", "hts"}
        Prediction interval for a new provider. "boot" (default): the parametric bootstrap of
        Nagashima, Noma & Furukawa (2019, R ``pimeta``), which keeps its 95% level with ten
        studies (see ``benchmarks/pi_coverage.py``); "metafor": ``predict.rma``, estimate
        +/- crit * sqrt(se^2 + tau2); "hts": Higgins, Thompson & Spiegelhalter (2009),
        ``t_{k-2}`` with the DerSimonian-Laird tau2 and the usual SE. The last two under-cover
        with few studies. With fewer than three studies "boot" and "hts" fall back to "metafor".
    n_boot, seed : int
        Bootstrap draws and seed for ``prediction="boot"`` (the same seed gives the same interval).

    Returns
    -------
    MetaResult

    Notes
    -----
    With one study, ``tau2`` is 0 and the result is that study's own estimate (with a warning).
    With two studies, ``tau2`` is estimated from one degree of freedom and the Hartung-Knapp
    interval uses ``t`` on 1 df: honest, but very wide.

    Examples
    --------
    >>> import numpy as np
    >>> res = random_effects([-0.89, -1.59, -1.35], np.sqrt([0.33, 0.19, 0.42]), method="DL")
    >>> round(res.estimate, 3), res.tau2
    (-1.338, 0.0)
    """
    y, se, labels, method = _checked_inputs(estimates, std_errors, labels, method, alpha, prediction)
    k = y.size
    v = se**2
    if k == 1:
        warnings.warn(
            "random_effects: one study only; tau2 set to 0 and no heterogeneity statistics "
            "(Hartung-Knapp not applied).",
            stacklevel=2,
        )
        tau2, q, q_p, i2 = 0.0, 0.0, 1.0, 0.0
        hk = False
    else:
        tau2 = _tau2_dl(y, v) if method == "DL" else _tau2_reml(y, v)
        q, q_p, i2 = _heterogeneity(y, v, tau2)
        hk = bool(hartung_knapp)
    mu, var_mu, crit, pvalue = _pooled(y, v, tau2, alpha, hk)
    se_mu = float(np.sqrt(var_mu))
    se_pred = np.sqrt(var_mu + tau2)
    metafor_pi = (float(mu - crit * se_pred), float(mu + crit * se_pred))
    pi_low, pi_high = _prediction_interval(y, se, alpha, prediction, metafor_pi, n_boot, seed)

    w = 1.0 / (v + tau2)
    z = stats.norm.ppf(1 - alpha / 2)
    table = pd.DataFrame(
        {
            "label": labels,
            "estimate": y,
            "se": se,
            "ci_low": y - z * se,
            "ci_high": y + z * se,
            "weight": 100 * w / w.sum(),
        }
    )
    return MetaResult(
        estimate=mu,
        se=se_mu,
        ci_low=float(mu - crit * se_mu),
        ci_high=float(mu + crit * se_mu),
        pi_low=pi_low,
        pi_high=pi_high,
        tau2=float(tau2),
        i2=float(i2),
        q=float(q),
        q_pvalue=float(q_p),
        pvalue=float(pvalue),
        k=k,
        method=method,
        hartung_knapp=hk,
        alpha=alpha,
        table=table,
        prediction=prediction if (k >= 3 or prediction == "metafor") else "metafor",
    )
