"""Interrupted time series (segmented regression), validated against R.

:func:`fit_its` fits one series (optionally against a control series) and returns an
:class:`ITSResult` with the coefficient table, reader-facing effects, effects at a horizon with
delta-method intervals, the tidy frame behind every chart, diagnostics, a plain-English summary
and a plot.

Model (Wagner et al. 2002; Lopez Bernal, Cummins & Gasparrini 2017). With ``t`` the integer
period (months for month dates), ``t0`` the first period in the data, ``s`` the first
intervention period (``start``) and ``e`` the optional end of the intervention (``end``)::

    g(E[y_t]) = b0 + trend * (t - t0 + 1) + level_change * [t >= s] + trend_change * (t - s) [t >= s]
                + sustain_level_change * [t >= e] + sustain_trend_change * (t - e) [t >= e]
                + sum_k (sin_k sin(2 pi k m_t / 12) + cos_k cos(2 pi k m_t / 12)) + log(exposure_t)

so ``level_change`` is the fitted value minus the counterfactual at ``start`` on the
linear-predictor scale, ``trend_change`` the change of slope per period from there, ``trend``
the pre-intervention slope, and ``intercept`` the level one period before the first row.

Families and standard errors (each checked against R in ``tests/test_its.py``):

=============== ==================================== ============================================
family          R equivalent                          ``errors``
=============== ==================================== ============================================
gaussian        ``lm``                                "ols"
gaussian        ``lm`` + ``sandwich::NeweyWest``      "newey-west" (Bartlett, ``prewhite=FALSE``,
                                                      ``adjust=TRUE``)
gaussian        ``nlme::gls(corAR1, method="ML")``    "ar1" (``"ar1-reml"`` for ``method="REML"``)
poisson         ``glm(family=poisson)``               "model" or "newey-west"
quasipoisson    ``glm(family=quasipoisson)``          "model" (Pearson dispersion) or "newey-west"
negbin          ``MASS::glm.nb``                      "model" (SEs as glm.nb reports) or
                                                      "newey-west"
binomial        ``glm(cbind(y, n - y), binomial)``    "model" or "newey-west" (needs ``trials``)
quasibinomial   ``glm(..., quasibinomial)``           "model" (Pearson dispersion) or "newey-west"
=============== ==================================== ============================================

The default ``errors`` per family are in :data:`DEFAULT_ERRORS`, chosen from the Monte-Carlo
coverage study in ``benchmarks/its_coverage.py`` (see that script's docstring for the table).
"""

from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import linalg, optimize, special, stats

from cocEval.errors import InputError

if TYPE_CHECKING:
    from cocEval.effects import EffectSummary
from statsmodels.stats import sandwich_covariance as sw
from statsmodels.stats.diagnostic import acorr_ljungbox
from statsmodels.stats.stattools import durbin_watson

from cocEval._results import ResultMixin, pct

__all__ = [
    "fit_its",
    "ITSResult",
    "DEFAULT_ERRORS",
    "FAMILIES",
    "MIN_PERIODS",
    "RECOMMENDED_PERIODS",
]

FAMILIES = ("gaussian", "poisson", "quasipoisson", "negbin", "binomial", "quasibinomial")
COUNT_FAMILIES = ("poisson", "quasipoisson", "negbin")
BINOMIAL_FAMILIES = ("binomial", "quasibinomial")
GAUSSIAN_ERRORS = ("ols", "newey-west", "ar1", "ar1-reml")
GLM_ERRORS = ("model", "newey-west")

#: Default ``errors`` for each family, chosen from ``benchmarks/its_coverage.py`` (60 months,
#: 36 before the start, 1000 replications per scenario; coverage of level_change / trend_change):
#: gaussian with AR(1) errors rho 0 / 0.3 / 0.6: "ar1-reml" 93.9/94.1, 93.9/94.6, 92.7/92.3 against
#: ML "ar1" 92.1/92.7, 91.8/91.7, 89.0/86.9, "ols" 94.9/94.3, 85.4/85.7, 69.5/65.6 and Newey-West
#: 88.4/86.8, 85.1/83.3, 75.7/72.6. Negative-binomial counts with bed days and seasonality:
#: "model" SEs give quasipoisson 95.6/94.5 and negbin 93.1/91.6 (glm.nb SEs ignore the
#: uncertainty in theta), Newey-West 87.0/85.7, plain poisson 79.2/79.7. So overdispersed counts
#: are best fitted with family="quasipoisson" (or "negbin" when the rate-ratio intervals may be
#: slightly narrow), never plain "poisson" without checking ``diagnostics()``.
DEFAULT_ERRORS = {
    "gaussian": "ar1-reml",
    "poisson": "model",
    "quasipoisson": "model",
    "negbin": "model",
    "binomial": "model",
    "quasibinomial": "model",
}

#: Hard minimum of (non-excluded) periods before ``start`` and from ``start`` on: fewer is an error.
MIN_PERIODS = 3
#: Fewer periods than this on either side of ``start`` gives a warning (Wagner et al. 2002
#: recommend about 12; the Cochrane EPOC criteria ask for at least 3).
RECOMMENDED_PERIODS = 8

_INTERVENTION_TERMS = ("level_change", "trend_change", "sustain_level_change", "sustain_trend_change")
_TERM_LABELS = {
    "level_change": "Level change at start",
    "trend_change": "Trend change per period",
    "sustain_level_change": "Level change at end",
    "sustain_trend_change": "Trend change per period after end",
    "diff_level_change": "Level change vs control",
    "diff_trend_change": "Trend change per period vs control",
    "diff_sustain_level_change": "Level change at end vs control",
    "diff_sustain_trend_change": "Trend change after end vs control",
    "trend": "Pre-intervention trend per period",
}


# --------------------------------------------------------------------------------------------
# time handling
# --------------------------------------------------------------------------------------------
@dataclass
class _Time:
    kind: str  # "month" or "int"
    index: np.ndarray  # integer period numbers (months since year 0 for month dates)
    month: np.ndarray | None  # calendar month 1..12 (month dates only)

    def label(self, idx) -> Any:
        idx = np.asarray(idx, dtype=np.int64)
        if self.kind == "month":
            return pd.PeriodIndex.from_ordinals(idx - (1970 * 12), freq="M").to_timestamp()
        return idx


def _convert_time(values: pd.Series, column: str) -> _Time:
    """Turn a time column into integer periods; month dates keep their calendar month."""
    if values.isna().any():
        rows = list(values.index[values.isna()][:5])
        raise ValueError(f"time column {column!r} has missing values (rows {rows}); every period needs a time")
    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype):
        raise ValueError(f"time column {column!r} is boolean; give integer periods or month dates")
    if isinstance(dtype, pd.PeriodDtype):
        if not dtype.freq.freqstr.startswith("M"):
            raise ValueError(f"time column {column!r} holds {dtype.freq.freqstr} periods; monthly periods are needed")
        per = pd.PeriodIndex(values)
    elif pd.api.types.is_datetime64_any_dtype(dtype):
        per = pd.PeriodIndex(
            pd.DatetimeIndex(values).tz_localize(None) if getattr(dtype, "tz", None) else values, freq="M"
        )
    elif pd.api.types.is_integer_dtype(dtype) or pd.api.types.is_float_dtype(dtype):
        v = values.to_numpy(dtype=float)
        bad = values[~np.isclose(v, np.round(v))]
        if len(bad):
            raise ValueError(f"time column {column!r} must hold whole periods; non-integer values {list(bad[:5])}")
        return _Time("int", np.round(v).astype(np.int64), None)
    else:
        try:
            per = pd.PeriodIndex(pd.to_datetime(values.astype(str), format="mixed"), freq="M")
        except (ValueError, TypeError) as err:
            raise ValueError(
                f"time column {column!r} is neither integer periods nor month dates and cannot be sorted "
                f"as time (examples {list(values[:3])}): {err}"
            ) from err
    index = np.asarray(per.asi8, dtype=np.int64) + 1970 * 12
    return _Time("month", index, np.asarray(per.month, dtype=int))


def _convert_point(value, time: _Time, what: str) -> int:
    """Convert ``start``/``end``/``exclude`` values to the integer period scale of ``time``."""
    if time.kind == "month":
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            raise ValueError(f"{what}={value!r} is an integer but the time column holds month dates; give a month")
        try:
            return int(pd.Period(value, freq="M").ordinal) + 1970 * 12
        except (ValueError, TypeError) as err:
            raise ValueError(f"{what}={value!r} is not a month: {err}") from err
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not float(value).is_integer():
        raise ValueError(f"{what}={value!r} must be an integer period like the time column")
    return int(value)


# --------------------------------------------------------------------------------------------
# design matrix
# --------------------------------------------------------------------------------------------
def _design(
    t: np.ndarray, month: np.ndarray | None, t0: int, start: int, end: int | None, seasonality: int
) -> pd.DataFrame:
    """Segmented-regression design (see the module docstring); one function for fit and prediction."""
    t = np.asarray(t, dtype=float)
    post = (t >= start).astype(float)
    cols = {
        "intercept": np.ones_like(t),
        "trend": t - t0 + 1,
        "level_change": post,
        "trend_change": (t - start) * post,
    }
    if end is not None:
        post2 = (t >= end).astype(float)
        cols["sustain_level_change"] = post2
        cols["sustain_trend_change"] = (t - end) * post2
    for k in range(1, seasonality + 1):
        ang = 2 * np.pi * k * np.asarray(month, dtype=float) / 12
        cols[f"sin{k}"] = np.sin(ang)
        cols[f"cos{k}"] = np.cos(ang)
    return pd.DataFrame(cols)


def _stack_control(X: pd.DataFrame, is_control: np.ndarray, terms: list[str]) -> pd.DataFrame:
    """Controlled ITS: add ``diff_<term>`` = -(1 - g) * term, so ``diff_*`` is treated minus control."""
    out = X.copy()
    for term in terms:
        out[f"diff_{term}"] = -is_control.astype(float) * X[term].to_numpy()
    return out


# --------------------------------------------------------------------------------------------
# estimation engines
# --------------------------------------------------------------------------------------------
@dataclass
class _Fit:
    params: np.ndarray
    cov: np.ndarray
    df_resid: float
    use_t: bool
    resid: np.ndarray  # residuals for diagnostics (normalised for AR(1), Pearson for GLMs)
    info: dict = field(default_factory=dict)


def _hac(scores: np.ndarray, bread: np.ndarray, maxlags: int, groups: np.ndarray) -> np.ndarray:
    """Newey-West covariance as ``sandwich::NeweyWest(prewhite=FALSE, adjust=TRUE)``.

    Bartlett-kernel meat from statsmodels' ``S_hac_simple`` (summed within each series when a
    control series is stacked), bread = unscaled (X'WX)^-1 and the n/(n-k) adjustment. Written
    as a tuple call rather than ``cov_type="HAC"`` because statsmodels' GLM HAC uses the observed
    Hessian as bread, which differs from R's (expected-information) bread for the negative
    binomial's non-canonical log link.
    """
    meat = sum(sw.S_hac_simple(scores[groups == g], nlags=maxlags) for g in np.unique(groups))
    n, k = scores.shape
    return bread @ meat @ bread.T * n / (n - k)


def _fit_ols(y, X, errors, maxlags, groups) -> _Fit:
    res = sm.OLS(y, X).fit()
    cov = np.asarray(res.cov_params())
    if errors == "newey-west":
        cov = _hac(X * res.resid[:, None], np.asarray(res.normalized_cov_params), maxlags, groups)
    return _Fit(res.params, cov, res.df_resid, True, res.resid, {"sigma": float(np.sqrt(res.scale))})


class _AR1Profile:
    """Profiled (RE)ML for regression with AR(1) errors, as ``nlme::gls(correlation = corAR1(form = ~ t | g))``.

    Written here because statsmodels' GLSAR is iterated feasible GLS (Cochrane-Orcutt style), not
    maximum likelihood, and does not reproduce nlme. Errors within a series are correlated as
    phi^|t_i - t_j| (so excluded periods leave honest gaps); series (treated/control) are
    independent with a common phi and sigma. Series are short (tens of periods), so the dense
    Cholesky factor is cheap.
    """

    def __init__(self, y, X, t, groups, reml: bool):
        self.y, self.X, self.reml = y, X, reml
        self.lag = np.abs(t[:, None] - t[None, :]).astype(float)
        self.same = groups[:, None] == groups[None, :]
        self.n, self.p = X.shape

    def _whiten(self, phi):
        V = np.where(self.same, np.power(phi, self.lag), 0.0)
        L = np.linalg.cholesky(V)
        Xs = _tri_solve(L, self.X)
        ys = _tri_solve(L, self.y)
        return L, Xs, ys

    def loglik(self, phi: float) -> tuple[float, dict]:
        L, Xs, ys = self._whiten(phi)
        q, r = np.linalg.qr(Xs)
        beta = np.linalg.solve(r, q.T @ ys)
        resid_w = ys - Xs @ beta
        rss = float(resid_w @ resid_w)
        logdet_v = 2 * np.sum(np.log(np.diag(L)))
        n, p = self.n, self.p
        if self.reml:
            m = n - p
            ll = -0.5 * m * (np.log(2 * np.pi * rss / m) + 1) - 0.5 * logdet_v - np.sum(np.log(np.abs(np.diag(r))))
            sigma2 = rss / m
        else:
            ll = -0.5 * n * (np.log(2 * np.pi * rss / n) + 1) - 0.5 * logdet_v
            sigma2 = rss / n
        return ll, {"beta": beta, "r": r, "resid_w": resid_w, "sigma2": sigma2}

    def fit(self) -> _Fit:
        # optimise on nlme's unconstrained scale z = log((1 + phi) / (1 - phi))
        obj = lambda z: -self.loglik(np.tanh(z / 2))[0]  # noqa: E731
        grid = np.linspace(-6, 6, 25)
        z0 = grid[int(np.argmin([obj(z) for z in grid]))]
        lo, hi = (z0 - 0.5, z0 + 0.5) if abs(z0) < 6 else ((5.5, 12.0) if z0 > 0 else (-12.0, -5.5))
        res = optimize.minimize_scalar(obj, bounds=(lo, hi), method="bounded", options={"xatol": 1e-10})
        phi = float(np.tanh(res.x / 2))
        ll, st = self.loglik(phi)
        rinv = np.linalg.inv(st["r"])
        # nlme reports varBeta with the residual variance on n - p degrees of freedom for ML too
        # (gls() rescales sigma by sqrt(N / (N - p)) before computing varBeta)
        rss = float(st["resid_w"] @ st["resid_w"])
        cov = rss / (self.n - self.p) * rinv @ rinv.T
        if abs(phi) > 0.99:
            warnings.warn(
                f"AR(1) coefficient estimated at {phi:.3f} (near the unit root): the trend and the "
                "errors cannot be told apart; treat the intervals with caution",
                stacklevel=4,
            )
        info = {
            "phi": phi,
            "sigma": float(np.sqrt(st["sigma2"])),
            "loglik": float(ll),
            "method": "REML" if self.reml else "ML",
        }
        return _Fit(st["beta"], cov, self.n - self.p, True, st["resid_w"] / np.sqrt(st["sigma2"]), info)


def _tri_solve(L, b):
    return linalg.solve_triangular(L, b, lower=True)


def _nb_loglik(y: np.ndarray, mu: np.ndarray, theta: float) -> float:
    """Negative-binomial log-likelihood (MASS's parameterisation: variance mu + mu^2 / theta)."""
    return float(
        np.sum(
            special.gammaln(theta + y)
            - special.gammaln(theta)
            - special.gammaln(y + 1)
            + theta * np.log(theta)
            + special.xlogy(y, mu)
            - (theta + y) * np.log(theta + mu)
        )
    )


_THETA_MAX = 1e6


def _fit_glm(y, X, offset, trials, family, errors, maxlags, groups) -> _Fit:
    """GLM fits with statsmodels' IRLS (model-based SEs from the expected information, as R)."""
    quasi = family in ("quasipoisson", "quasibinomial")
    info: dict[str, Any] = {}
    if family in BINOMIAL_FAMILIES:
        endog = np.column_stack([y, trials - y])
        fam = sm.families.Binomial()
    else:
        endog = y
        fam = sm.families.Poisson()

    def glm(f):
        return sm.GLM(endog, X, family=f, offset=offset).fit(scale=1.0, tol=1e-12, maxiter=200)

    res = glm(fam)
    if family == "negbin":
        # Joint maximum likelihood for (beta, theta), the fixed point MASS::glm.nb reaches by
        # alternating; found here by maximising the profile likelihood over log(theta) (a GLM
        # fit at each theta, warm-started), which converges in far fewer GLM fits. The final GLM
        # at the ML theta gives glm.nb's coefficient SEs (expected information, theta fixed);
        # statsmodels' discrete NegativeBinomial reports the joint-Hessian SEs instead.
        start_params = [np.asarray(res.params)]

        def nb_fit(log_theta):
            r = sm.GLM(endog, X, family=sm.families.NegativeBinomial(alpha=np.exp(-log_theta)), offset=offset).fit(
                scale=1.0, tol=1e-12, maxiter=200, start_params=start_params[0]
            )
            start_params[0] = np.asarray(r.params)
            return r

        prof = optimize.minimize_scalar(
            lambda lt: -_nb_loglik(y, nb_fit(lt).fittedvalues, np.exp(lt)),
            bounds=(np.log(1e-3), np.log(_THETA_MAX)),
            method="bounded",
            options={"xatol": 1e-9},
        )
        theta = float(np.exp(prof.x))
        res = nb_fit(prof.x)
        if theta > _THETA_MAX / 10:
            warnings.warn(
                "negbin: no overdispersion found (theta runs to infinity); the fit is the Poisson "
                "fit. Consider family='poisson'.",
                stacklevel=4,
            )
        info["theta"] = theta
    pearson = np.asarray(res.resid_pearson)
    info["dispersion"] = float(res.pearson_chi2 / res.df_resid)
    # quasi families: Pearson dispersion as R's summary.glm. Computed here because statsmodels'
    # scale="X2" works on the proportion scale for a two-column binomial endog and disagrees with R.
    cov = np.asarray(res.cov_params()) * (info["dispersion"] if quasi else 1.0)
    if errors == "newey-west":
        # R's estfun.glm (working residual x working weight x X, dispersion cancelling) is the
        # unit-scale score; bread (X'WX)^-1
        scores = res.model.score_obs(res.params, scale=1.0)
        cov = _hac(scores, np.asarray(res.normalized_cov_params), maxlags, groups)
    info["deviance"] = float(res.deviance)
    return _Fit(np.asarray(res.params), cov, res.df_resid, quasi, pearson, info)


# --------------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------------
def _require_columns(data: pd.DataFrame, cols: dict[str, str | None], what: str) -> None:
    missing = [f"{role}={c!r}" for role, c in cols.items() if c is not None and c not in data.columns]
    if missing:
        raise ValueError(f"{what} lacks column(s) {', '.join(missing)}; columns are {list(data.columns)}")


def _numeric(data: pd.DataFrame, col: str, role: str, periods) -> np.ndarray:
    s = data[col]
    if not (pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype)):
        try:
            s = pd.to_numeric(s)
        except (ValueError, TypeError) as err:
            raise ValueError(f"{role} column {col!r} must be numeric: {err}") from err
    v = s.to_numpy(dtype=float)
    if np.isnan(v).any():
        bad = list(np.asarray(periods)[np.isnan(v)][:8])
        raise ValueError(
            f"{role} column {col!r} has missing values at periods {bad}; fill them or drop the rows "
            "(or pass those periods in exclude=) before fitting"
        )
    return v


def _check_counts(v: np.ndarray, col: str, family: str, periods) -> None:
    bad = (v < 0) | ~np.isclose(v, np.round(v))
    if bad.any():
        ex = {str(p): x for p, x in zip(np.asarray(periods)[bad][:5], v[bad][:5])}
        raise ValueError(f"family={family!r} needs non-negative whole counts in {col!r}; offending values {ex}")


# --------------------------------------------------------------------------------------------
# public entry point
# --------------------------------------------------------------------------------------------
def fit_its(
    data: pd.DataFrame,
    outcome: str,
    time: str,
    start,
    *,
    family: str = "gaussian",
    exposure: str | None = None,
    trials: str | None = None,
    errors: str | None = None,
    maxlags: int | None = None,
    seasonality: int = 0,
    end=None,
    exclude=None,
    control: pd.DataFrame | None = None,
    slope_change: bool = True,
    alpha: float = 0.05,
) -> ITSResult:
    """Fit an interrupted time series (segmented regression) to one series.

    Parameters
    ----------
    data : DataFrame
        One row per period (any order).
    outcome : str
        Outcome column. Counts for count families; successes for binomial families.
    time : str
        Column of integer periods, month dates (Timestamps, any day of the month) or monthly
        ``Period`` values. Duplicate or missing times are errors.
    start : int, str, Timestamp or Period
        First period of the intervention (a value on the scale of ``time``, e.g. ``"2024-04"``).
        At least :data:`MIN_PERIODS` (3) fitted periods are needed before it and from it on;
        fewer than :data:`RECOMMENDED_PERIODS` (8) on either side gives a warning.
    family : {"gaussian", "poisson", "quasipoisson", "negbin", "binomial", "quasibinomial"}
        ``quasi*`` scale SEs by the Pearson dispersion (as R); ``negbin`` estimates theta by
        maximum likelihood and reports SEs as ``MASS::glm.nb``. Binomial families use the logit
        link and need ``trials``.
    exposure : str, optional
        Column of exposures (e.g. occupied bed days) for count families, used as the offset
        ``log(exposure)`` so effects are rate ratios. Must be positive.
    trials : str, optional
        Binomial denominator column (e.g. responses). Periods with zero trials carry no
        information and are dropped with a warning.
    errors : str, optional
        Gaussian: "ols", "newey-west", "ar1" (AR(1) errors, ML as ``nlme::gls(corAR1(), "ML")``)
        or "ar1-reml". Other families: "model" or "newey-west". Default
        :data:`DEFAULT_ERRORS` [family].
    maxlags : int, optional
        Newey-West lag; default ``floor(4 (n/100)^(2/9))`` (3 for 60 periods). Lags count rows,
        so excluded periods close up.
    seasonality : int
        Number K (0-5) of Fourier pairs sin/cos(2 pi k m / 12) on calendar month m (needs month
        dates).
    end : optional
        First period after the intervention ended: adds ``sustain_level_change`` and
        ``sustain_trend_change``. If fewer than 3 fitted periods lie from ``end`` on (including
        an ``end`` after the data) it is ignored with a warning.
    exclude : list, optional
        Periods to drop from the fit (e.g. a transition window); they are still predicted.
    control : DataFrame, optional
        Comparison series with the same columns (controlled ITS). Adds ``diff_*`` terms: the
        treated series minus the control in intercept, trend and each intervention term; the
        headline effects are then the ``diff_`` terms. AR(1) errors are fitted within each series
        with a common phi; Newey-West meats are summed over the two series.
    slope_change : bool
        False drops ``trend_change`` (a level-change-only model, as Lopez Bernal et al. models 1-3).
    alpha : float
        1 - confidence level of every interval.

    Returns
    -------
    ITSResult

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from cocEval.its import fit_its
    >>> rng = np.random.default_rng(1)
    >>> df = pd.DataFrame({"month": pd.date_range("2021-04-01", periods=48, freq="MS")})
    >>> df["beds"] = 3000.0
    >>> df["restraints"] = rng.poisson(3 * np.where(df.month >= "2023-04-01", 0.7, 1.0) * 3)
    >>> res = fit_its(df, "restraints", "month", "2023-04", family="poisson", exposure="beds")
    >>> list(res.coefficients.index[:4])
    ['intercept', 'trend', 'level_change', 'trend_change']
    >>> bool(res.effects.loc["level_change", "estimate"] < 1)
    True
    """
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame, not {type(data).__name__}")
    if family not in FAMILIES:
        raise ValueError(f"family={family!r} is not one of {FAMILIES}")
    if errors is None:
        errors = DEFAULT_ERRORS[family]
    allowed = GAUSSIAN_ERRORS if family == "gaussian" else GLM_ERRORS
    if errors not in allowed:
        raise ValueError(f"errors={errors!r} is not available for family={family!r}; choose one of {allowed}")
    if maxlags is not None and errors != "newey-west":
        raise ValueError(f"maxlags={maxlags} only applies to errors='newey-west' (errors={errors!r})")
    if not (0 < alpha < 1):
        raise ValueError(f"alpha={alpha} must lie strictly between 0 and 1")
    if not isinstance(seasonality, numbers.Integral) or not 0 <= seasonality <= 5:
        raise ValueError(f"seasonality={seasonality!r} must be an integer number of Fourier pairs from 0 to 5")
    if family in BINOMIAL_FAMILIES and trials is None:
        raise ValueError(f"family={family!r} needs trials= (the column of denominators, e.g. responses)")
    if trials is not None and family not in BINOMIAL_FAMILIES:
        raise ValueError(f"trials={trials!r} only applies to binomial families, not family={family!r}")
    if exposure is not None and family not in COUNT_FAMILIES:
        raise ValueError(f"exposure={exposure!r} only applies to count families {COUNT_FAMILIES}, not {family!r}")

    series = {"treated": data} if control is None else {"treated": data, "control": control}
    frames = []
    for name, df in series.items():
        what = "data" if name == "treated" else "control"
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"{what} must be a pandas DataFrame, not {type(df).__name__}")
        _require_columns(df, {"outcome": outcome, "time": time, "exposure": exposure, "trials": trials}, what)
        tm = _convert_time(df[time], time)
        if len(frames) and tm.kind != frames[0]["_time"].kind:
            raise ValueError("control's time column must be of the same kind (integers or months) as data's")
        dup = pd.Series(tm.index).duplicated(keep=False).to_numpy()
        if dup.any():
            raise ValueError(
                f"{what}: time column {time!r} has duplicate periods {sorted(set(tm.label(tm.index[dup])))[:5]}; "
                "give one row per period (aggregate first)"
            )
        labels = tm.label(tm.index)
        y = _numeric(df, outcome, "outcome", labels)
        frame = {"_time": tm, "t": tm.index, "month": tm.month, "y": y, "is_control": name == "control"}
        if family in COUNT_FAMILIES:
            _check_counts(y, outcome, family, labels)
        frame["exposure"] = _numeric(df, exposure, "exposure", labels) if exposure else None
        if exposure is not None and (frame["exposure"] <= 0).any():
            bad = frame["exposure"] <= 0
            raise ValueError(
                f"exposure column {exposure!r} must be positive (log offset); periods "
                f"{list(np.asarray(labels)[bad][:5])} have {list(frame['exposure'][bad][:5])}"
            )
        if trials is not None:
            n_tr = _numeric(df, trials, "trials", labels)
            _check_counts(n_tr, trials, family, labels)
            _check_counts(y, outcome, family, labels)
            over = y > n_tr
            if over.any():
                raise ValueError(
                    f"outcome {outcome!r} exceeds trials {trials!r} at periods {list(np.asarray(labels)[over][:5])}"
                )
            frame["trials"] = n_tr
        frames.append(frame)

    tm = frames[0]["_time"]
    if seasonality and tm.kind != "month":
        raise ValueError(f"seasonality={seasonality} needs month dates in {time!r}; it holds integer periods")
    s = _convert_point(start, tm, "start")
    all_t = np.concatenate([f["t"] for f in frames])
    t0 = int(all_t.min())
    for f in frames:
        lo, hi = f["t"].min(), f["t"].max()
        if not (lo < s <= hi):
            raise ValueError(
                f"start={start!r} lies outside the {'control' if f['is_control'] else 'data'} periods "
                f"{tm.label([lo])[0]} to {tm.label([hi])[0]}: it must be after the first period and no later than the last"
            )

    notes: list[str] = []
    excl = set()
    if exclude is not None:
        ex_list = [exclude] if isinstance(exclude, (str, numbers.Number, pd.Timestamp, pd.Period)) else list(exclude)
        excl = {_convert_point(v, tm, "exclude") for v in ex_list}
        unknown = excl - set(all_t.tolist())
        if unknown:
            warnings.warn(f"exclude: periods {sorted(tm.label(sorted(unknown)))} are not in the data", stacklevel=2)

    e = None
    if end is not None:
        e = _convert_point(end, tm, "end")
        if e <= s:
            raise ValueError(f"end={end!r} must come after start={start!r}")
        after = sum(int(np.sum((f["t"] >= e) & ~np.isin(f["t"], list(excl)))) for f in frames[:1])
        if after < MIN_PERIODS:
            msg = (
                f"end={end!r}: only {after} fitted period(s) from the end of the intervention on (at least "
                f"{MIN_PERIODS} needed), so sustainability is not estimated and end is ignored"
            )
            warnings.warn(msg, stacklevel=2)
            notes.append(msg)
            e = None

    for f in frames:
        fitted = ~np.isin(f["t"], list(excl))
        f["fitted"] = fitted
        pre, post = int(np.sum(fitted & (f["t"] < s))), int(np.sum(fitted & (f["t"] >= s)))
        who = "control" if f["is_control"] else "data"
        if pre < MIN_PERIODS or post < MIN_PERIODS:
            raise ValueError(
                f"{who}: {pre} fitted period(s) before start and {post} from start on; at least {MIN_PERIODS} "
                f"are needed on each side (at least {RECOMMENDED_PERIODS} recommended)"
            )
        if pre < RECOMMENDED_PERIODS or post < RECOMMENDED_PERIODS:
            msg = (
                f"{who}: only {pre} period(s) before and {post} from the start; fewer than "
                f"{RECOMMENDED_PERIODS} on a side gives unstable trends and unreliable intervals"
            )
            warnings.warn(msg, stacklevel=2)
            notes.append(msg)
        if family in COUNT_FAMILIES:
            yy = f["y"][fitted]
            if yy.sum() == 0:
                raise ValueError(
                    f"{who}: outcome {outcome!r} is zero in every fitted period; no rate or change can be estimated"
                )
            pre_sum, post_sum = yy[f["t"][fitted] < s].sum(), yy[f["t"][fitted] >= s].sum()
            if pre_sum == 0 or post_sum == 0:
                raise ValueError(
                    f"{who}: outcome {outcome!r} is zero in every period {'before' if pre_sum == 0 else 'from'} the "
                    "start, so the level change is infinite on the log scale; no finite estimate exists"
                )
            if yy.sum() < 20:
                msg = f"{who}: only {int(yy.sum())} events in all; count models are unreliable with so few events"
                warnings.warn(msg, stacklevel=2)
                notes.append(msg)
        if trials is not None:
            zero = f["trials"] == 0
            if zero.any():
                msg = f"{who}: dropped {int(zero.sum())} period(s) with zero {trials!r} (they carry no information)"
                warnings.warn(msg, stacklevel=2)
                notes.append(msg)
                f["fitted"] = f["fitted"] & ~zero
            yy, nn = f["y"][f["fitted"]], f["trials"][f["fitted"]]
            if yy.sum() == 0 or yy.sum() == nn.sum():
                raise ValueError(
                    f"{who}: outcome {outcome!r} is 0% or 100% in every fitted period; the logit is infinite"
                )

    # assemble the stacked frame
    rows = []
    for gi, f in enumerate(frames):
        rows.append(
            pd.DataFrame(
                {
                    "series": "control" if f["is_control"] else "treated",
                    "t": f["t"],
                    "month": f["month"] if f["month"] is not None else np.nan,
                    "y": f["y"],
                    "exposure": f["exposure"] if f["exposure"] is not None else np.nan,
                    "trials": f.get("trials", np.nan),
                    "fitted_row": f["fitted"],
                    "group": gi,
                }
            )
        )
    frame = pd.concat(rows, ignore_index=True).sort_values(["group", "t"], kind="stable").reset_index(drop=True)
    month = frame["month"].to_numpy() if tm.kind == "month" else None
    X = _design(frame["t"].to_numpy(), month, t0, s, e, seasonality)
    if not slope_change:
        X = X.drop(columns="trend_change")
    interventions = [c for c in _INTERVENTION_TERMS if c in X.columns]
    if control is not None:
        X = _stack_control(X, frame["group"].to_numpy() == 1, ["intercept", "trend", *interventions])
        effect_terms = [f"diff_{c}" for c in interventions]
    else:
        effect_terms = interventions

    use = frame["fitted_row"].to_numpy()
    Xf = X[use].to_numpy()
    if np.linalg.matrix_rank(Xf) < Xf.shape[1]:
        raise ValueError(
            f"the design ({list(X.columns)}) is rank deficient on the fitted periods; "
            "check exclude=, end= and seasonality= against the data"
        )
    if Xf.shape[0] - Xf.shape[1] < 2:
        raise ValueError(f"{Xf.shape[0]} fitted periods for {Xf.shape[1]} parameters: too few to fit")
    if errors == "newey-west" and maxlags is None:
        maxlags = int(np.floor(4 * (int(np.sum(use & (frame["group"].to_numpy() == 0))) / 100) ** (2 / 9)))
    yv = frame["y"].to_numpy()[use]
    groups = frame["group"].to_numpy()[use]
    if family == "gaussian":
        if errors in ("ar1", "ar1-reml"):
            fit = _AR1Profile(yv, Xf, frame["t"].to_numpy()[use].astype(float), groups, errors == "ar1-reml").fit()
        else:
            fit = _fit_ols(yv, Xf, errors, maxlags, groups)
    else:
        offset = np.log(frame["exposure"].to_numpy()[use]) if exposure else None
        tr = frame["trials"].to_numpy()[use] if trials else None
        fit = _fit_glm(yv, Xf, offset, tr, family, errors, maxlags, groups)
    if maxlags is not None:
        fit.info["maxlags"] = maxlags

    return ITSResult(
        fit=fit,
        X=X,
        frame=frame,
        effect_terms=effect_terms,
        family=family,
        errors=errors,
        outcome=outcome,
        time=tm,
        start=s,
        end=e,
        alpha=alpha,
        exposure=exposure,
        trials=trials,
        notes=notes,
        controlled=control is not None,
        seasonality=seasonality,
    )


# --------------------------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------------------------
class ITSResult(ResultMixin):
    """Results of :func:`fit_its`.

    Attributes
    ----------
    coefficients : DataFrame
        Indexed by term; ``estimate``, ``se``, ``ci_low``, ``ci_high``, ``p_value`` on the
        linear-predictor scale (log rate for counts, logit for binomial).
    effects : DataFrame
        Reader-facing table of the intervention terms: rate ratios (counts), odds ratios
        (binomial) or absolute changes (gaussian), with intervals and p-values.
    cov : DataFrame
        Covariance matrix of the coefficients.
    model_info : dict
        Family, errors, n, residual df and fitted extras (``phi``, ``sigma``, ``theta``,
        ``dispersion``, ``maxlags``).
    notes : list of str
        Warnings raised while fitting (kept for reports).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from cocEval.its import fit_its
    >>> df = pd.DataFrame({"t": range(1, 31), "y": np.r_[np.arange(15) * 0.1, 4.5 + np.arange(15) * 0.1]})
    >>> df["y"] += np.random.default_rng(0).normal(0, 0.2, 30)
    >>> res = fit_its(df, "y", "t", 16, errors="ols")
    >>> round(res.coefficients.loc["level_change", "estimate"])
    3
    """

    _table_attr = "effects"

    def __init__(
        self,
        *,
        fit: _Fit,
        X,
        frame,
        effect_terms,
        family,
        errors,
        outcome,
        time,
        start,
        end,
        alpha,
        exposure,
        trials,
        notes,
        controlled,
        seasonality,
    ):
        self._fit, self._X, self._frame = fit, X, frame
        self.family, self.errors, self.outcome, self.alpha = family, errors, outcome, alpha
        self._time, self._start, self._end = time, start, end
        self.exposure, self.trials, self.notes = exposure, trials, list(notes)
        self.controlled, self.seasonality = controlled, seasonality
        self.effect_terms = list(effect_terms)
        terms = list(X.columns)
        self.params = pd.Series(fit.params, index=terms)
        self.cov = pd.DataFrame(fit.cov, index=terms, columns=terms)
        se = np.sqrt(np.diag(fit.cov))
        crit = self._crit()
        stat = fit.params / se
        p = 2 * (stats.t.sf(np.abs(stat), fit.df_resid) if fit.use_t else stats.norm.sf(np.abs(stat)))
        self.coefficients = pd.DataFrame(
            {
                "estimate": fit.params,
                "se": se,
                "ci_low": fit.params - crit * se,
                "ci_high": fit.params + crit * se,
                "p_value": p,
            },
            index=pd.Index(terms, name="term"),
        )
        self.model_info = {
            "family": family,
            "errors": errors,
            "n": int(frame["fitted_row"].sum()),
            "df_resid": float(fit.df_resid),
            "use_t": fit.use_t,
            **fit.info,
        }
        self.start = time.label([start])[0]
        self.end = None if end is None else time.label([end])[0]
        self.effects = self._effects_table()

    # -- basic helpers ------------------------------------------------------------------------
    def _crit(self) -> float:
        q = 1 - self.alpha / 2
        return float(stats.t.ppf(q, self._fit.df_resid) if self._fit.use_t else stats.norm.ppf(q))

    @property
    def _log_link(self) -> bool:
        return self.family in COUNT_FAMILIES

    def _inv_link(self, eta):
        if self.family == "gaussian":
            return eta, np.ones_like(eta)
        if self._log_link:
            mu = np.exp(eta)
            return mu, mu
        mu = special.expit(eta)
        return mu, mu * (1 - mu)

    @property
    def _scale_name(self) -> str:
        return {"gaussian": "absolute change", "binomial": "odds ratio", "quasibinomial": "odds ratio"}.get(
            self.family, "rate ratio" if self.exposure else "count ratio"
        )

    def _effects_table(self) -> pd.DataFrame:
        terms = [t for t in (*self.effect_terms, "trend") if t in self.coefficients.index]
        c = self.coefficients.loc[terms]
        tf = (lambda v: v) if self.family == "gaussian" else np.exp
        out = pd.DataFrame(
            {
                "effect": [_TERM_LABELS.get(t, t) for t in terms],
                "scale": self._scale_name,
                "estimate": tf(c["estimate"].to_numpy()),
                "ci_low": tf(c["ci_low"].to_numpy()),
                "ci_high": tf(c["ci_high"].to_numpy()),
                "p_value": c["p_value"].to_numpy(),
            },
            index=pd.Index(terms, name="term"),
        )
        return out

    # -- design rows for arbitrary periods ------------------------------------------------------
    def _rows(self, t: np.ndarray, series: str = "treated") -> tuple[np.ndarray, np.ndarray]:
        """Design rows (fitted) and the effect rows E (fitted - counterfactual = E @ beta)."""
        t = np.asarray(t, dtype=np.int64)
        month = None
        if self._time.kind == "month":
            month = np.asarray(pd.DatetimeIndex(self._time.label(t)).month)
        t0 = int(self._frame["t"].min())
        X = _design(t, month, t0, self._start, self._end, self.seasonality)
        X = X[[c for c in self._X.columns if c in X.columns]]
        E = pd.DataFrame(0.0, index=X.index, columns=self._X.columns)
        if self.controlled:
            is_c = np.full(len(t), series == "control")
            Xc = _stack_control(X, is_c, ["intercept", "trend", *[c[5:] for c in self.effect_terms]])
            if series == "treated":
                for term in self.effect_terms:
                    E[term] = X[term[5:]].to_numpy()
            X = Xc
        else:
            for term in self.effect_terms:
                E[term] = X[term].to_numpy()
        X = X.reindex(columns=self._X.columns, fill_value=0.0)
        return X.to_numpy(), E.to_numpy()

    def _per(self, per):
        return (1000.0 if per is None else float(per)) if self.exposure else 1.0

    # -- public API ---------------------------------------------------------------------------
    @property
    def months_after_start(self) -> int:
        """How many periods from the start on were fitted (excluded ones do not count)."""
        fr = self._frame[(self._frame["series"] == "treated") & self._frame["fitted_row"]]
        return int((fr["t"] >= self._start).sum())

    def effect_summary(
        self,
        month: int = 12,
        *,
        outcome: str | None = None,
        improvement: str | None = None,
        per: float | None = None,
    ) -> EffectSummary:
        """The effect in month ``month`` after the start (counted from 1), as an EffectSummary.

        Counts are stated as a percentage change (fitted against expected without the
        intervention), binomial outcomes in percentage points, gaussian ones as a difference.
        When fewer than ``month`` periods after the start were fitted, the last fitted one is
        used and a caveat says so; months left out of the fit are named in the caveats.

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> from cocEval.its import fit_its
        >>> df = pd.DataFrame({"t": range(1, 31), "y": np.r_[np.full(15, 10.0), np.full(15, 8.0)]})
        >>> df["y"] += np.random.default_rng(0).normal(0, 0.3, 30)
        >>> e = fit_its(df, "y", "t", 16, errors="ols").effect_summary(6, improvement="decrease")
        >>> e.scale, e.verdict, e.period
        ('difference', 'improvement', 'month 6 after the start (21)')
        """
        from cocEval.effects import EffectSummary, coaching_month_label

        if month < 1:
            raise InputError(f"month is counted from 1 (the start period); got {month}")
        available = self.months_after_start
        caveats = []
        if available == 0:
            return EffectSummary.not_estimable(outcome or self.outcome, "no fitted period after the start")
        if month > available:
            caveats.append(
                f"Only {available} month(s) after the start are modelled, so the effect is read in month {available}."
            )
            month = available
        row = self.effect_at(month - 1, per=per).iloc[0]
        period_label = row["period"]
        if self._time.kind == "month":
            period = coaching_month_label(month, period_label)
        else:
            label = int(period_label) if float(period_label).is_integer() else period_label
            period = f"month {month} after the start ({label})"
        excluded = self._frame[(self._frame["series"] == "treated") & ~self._frame["fitted_row"]]
        if len(excluded):
            labels = ", ".join(_fmt_period(v) for v in self._time.label(excluded["t"].to_numpy()))
            caveats.append(f"Left out of the model: {labels}.")
        absolute = None
        if self.family in COUNT_FAMILIES:
            scale, est, lo, hi = "percentage change", row["relative"], row["relative_low"], row["relative_high"]
            comparison = "observed against expected without coaching"
        elif self.family in ("binomial", "quasibinomial"):
            scale, est, lo, hi = "percentage points", row["absolute"], row["absolute_low"], row["absolute_high"]
            comparison = "observed against expected without coaching"
        else:
            scale, est, lo, hi = "difference", row["absolute"], row["absolute_low"], row["absolute_high"]
            comparison = "observed against expected without the intervention"
        p = self.coefficients["p_value"]
        return EffectSummary(
            outcome=outcome or self.outcome,
            comparison=comparison,
            scale=scale,
            estimate=float(est),
            ci_low=float(lo),
            ci_high=float(hi),
            period=period,
            method=f"interrupted time series ({self.family}, {self.errors} errors)",
            p_value=float(p["level_change"]) if "level_change" in p.index and month == 1 else None,
            n=self.model_info["n"],
            n_label=f"{self.model_info['n']} months modelled",
            improvement=improvement,
            caveats=tuple(caveats),
            level=int(round(100 * (1 - self.alpha))),
            absolute=absolute,
        )

    def effect_at(self, h=0, *, per: float | None = None) -> pd.DataFrame:
        """Difference between fitted and counterfactual ``h`` periods after ``start``.

        Parameters
        ----------
        h : int or sequence of int
            Periods after the start (0 = the first intervention period).
        per : float, optional
            With an exposure, absolute differences are rates per ``per`` exposure units
            (default 1,000, e.g. per 1,000 occupied bed days).

        Returns
        -------
        DataFrame
            One row per ``h``: ``period``, ``fitted``, ``counterfactual``, ``absolute`` (fitted minus
            counterfactual on the outcome scale: rate, count, proportion or mean) and
            ``relative`` (fitted / counterfactual - 1), each with ``_se``, ``_low``, ``_high``.
            Intervals are delta-method; for log-link families the relative interval is the
            delta-method interval of the log ratio, transformed (so it stays above -100%).

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> from cocEval.its import fit_its
        >>> df = pd.DataFrame({"t": range(1, 31), "y": np.r_[np.full(15, 10.0), np.full(15, 8.0)]})
        >>> df["y"] += np.random.default_rng(0).normal(0, 0.3, 30)
        >>> eff = fit_its(df, "y", "t", 16, errors="ols").effect_at([0, 5])
        >>> bool((eff["relative"] < 0).all())
        True
        """
        hs = np.atleast_1d(np.asarray(h, dtype=np.int64))
        t = self._start + hs
        X, E = self._rows(t)
        Xc = X - E
        b, V = self.params.to_numpy(), self.cov.to_numpy()
        mf, df_ = self._inv_link(X @ b)
        mc, dc = self._inv_link(Xc @ b)
        per = self._per(per)
        crit = self._crit()
        abs_est = per * (mf - mc)
        g_abs = per * (df_[:, None] * X - dc[:, None] * Xc)
        abs_se = np.sqrt(np.einsum("ij,jk,ik->i", g_abs, V, g_abs))
        if self._log_link:
            d = E @ b
            d_se = np.sqrt(np.einsum("ij,jk,ik->i", E, V, E))
            rel, rel_se = np.expm1(d), np.exp(d) * d_se
            rel_lo, rel_hi = np.expm1(d - crit * d_se), np.expm1(d + crit * d_se)
        else:
            rel = mf / mc - 1
            g_rel = (df_[:, None] * X * mc[:, None] - mf[:, None] * dc[:, None] * Xc) / (mc**2)[:, None]
            rel_se = np.sqrt(np.einsum("ij,jk,ik->i", g_rel, V, g_rel))
            rel_lo, rel_hi = rel - crit * rel_se, rel + crit * rel_se
        return pd.DataFrame(
            {
                "period": self._time.label(t),
                "fitted": per * mf,
                "counterfactual": per * mc,
                "absolute": abs_est,
                "absolute_se": abs_se,
                "absolute_low": abs_est - crit * abs_se,
                "absolute_high": abs_est + crit * abs_se,
                "relative": rel,
                "relative_se": rel_se,
                "relative_low": rel_lo,
                "relative_high": rel_hi,
            },
            index=pd.Index(hs, name="h"),
        )

    def predict(self, *, per: float | None = None) -> pd.DataFrame:
        """Tidy frame behind every chart: observed, fitted and counterfactual with intervals.

        Values are on the outcome scale: rates per ``per`` exposure units (default 1,000) when an
        exposure was given, proportions for binomial families, otherwise the outcome itself.
        The counterfactual continues the pre-intervention segment (for a controlled ITS: the
        treated series with the control's changes); before ``start`` it equals the fitted line.

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> from cocEval.its import fit_its
        >>> df = pd.DataFrame({"t": range(1, 25), "y": np.r_[np.zeros(12), np.ones(12)]})
        >>> df["y"] += np.random.default_rng(0).normal(0, 0.1, 24)
        >>> list(fit_its(df, "y", "t", 13, errors="ols").predict().columns[:5])
        ['series', 'period', 'phase', 'excluded', 'observed']
        """
        per = self._per(per)
        out = []
        b, V = self.params.to_numpy(), self.cov.to_numpy()
        crit = self._crit()
        for series, fr in self._frame.groupby("series", sort=False):
            t = fr["t"].to_numpy()
            X, E = self._rows(t, series)
            Xc = X - E

            def band(M):
                eta = M @ b
                se = np.sqrt(np.einsum("ij,jk,ik->i", M, V, M))
                return [self._inv_link(v)[0] * per for v in (eta, eta - crit * se, eta + crit * se)]

            f, flo, fhi = band(X)
            c, clo, chi = band(Xc)
            if self.exposure:
                obs = per * fr["y"].to_numpy() / fr["exposure"].to_numpy()
            elif self.trials:
                with np.errstate(invalid="ignore", divide="ignore"):
                    obs = fr["y"].to_numpy() / fr["trials"].to_numpy()
            else:
                obs = fr["y"].to_numpy()
            phase = np.where(t < self._start, "before", "during")
            if self._end is not None:
                phase = np.where(t >= self._end, "after", phase)
            out.append(
                pd.DataFrame(
                    {
                        "series": series,
                        "period": self._time.label(t),
                        "phase": phase,
                        "excluded": ~fr["fitted_row"].to_numpy(),
                        "observed": obs,
                        "fitted": f,
                        "fitted_low": flo,
                        "fitted_high": fhi,
                        "counterfactual": c,
                        "counterfactual_low": clo,
                        "counterfactual_high": chi,
                    }
                )
            )
        return pd.concat(out, ignore_index=True)

    def get_plot_data(self) -> pd.DataFrame:
        """The frame :meth:`plot` draws (same as :meth:`predict`)."""
        return self.predict()

    def diagnostics(self, *, lags: int | None = None, warn: bool = True) -> pd.DataFrame:
        """Residual checks: autocorrelation tests and, for counts, overdispersion.

        Residuals are the model's: raw (OLS / Newey-West), normalised (AR(1): whitened, so a
        well-fitting AR(1) leaves none) or Pearson (GLMs), per series in time order.

        Returns
        -------
        DataFrame
            Rows ``durbin_watson``, ``ljung_box``, ``breusch_godfrey``, ``acf_lag1``..``acf_lag3``
            and for count/binomial families ``dispersion``; columns ``statistic``, ``p_value``,
            ``flag`` (True when the assumption looks broken) and ``note``. With ``warn`` each
            flag also raises a warning.

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> from cocEval.its import fit_its
        >>> df = pd.DataFrame({"t": range(1, 41), "y": np.random.default_rng(2).normal(size=40)})
        >>> d = fit_its(df, "y", "t", 21, errors="ols").diagnostics(warn=False)
        >>> "breusch_godfrey" in d.index
        True
        """
        fr = self._frame[self._frame["fitted_row"]].reset_index(drop=True)
        r = np.asarray(self._fit.resid, dtype=float)
        groups = fr["group"].to_numpy()
        first = groups == 0
        n = int(first.sum())
        lags = lags or max(1, min(12, n // 5))
        rows = {}
        rows["durbin_watson"] = (
            durbin_watson(r[first]),
            np.nan,
            None,
            "near 2 when residuals are uncorrelated; below ~1.5 suggests positive autocorrelation",
        )
        lb = acorr_ljungbox(r[first], lags=[lags])
        rows["ljung_box"] = (
            float(lb["lb_stat"].iloc[0]),
            float(lb["lb_pvalue"].iloc[0]),
            None,
            f"Ljung-Box test of residual autocorrelation up to lag {lags}",
        )
        bg_stat, bg_p = _breusch_godfrey(r, self._X[self._frame["fitted_row"].to_numpy()].to_numpy(), groups, lags)
        rows["breusch_godfrey"] = (bg_stat, bg_p, None, f"Breusch-Godfrey LM test up to lag {lags}")
        rc = r[first] - r[first].mean()
        for k in (1, 2, 3):
            ac = float(np.sum(rc[k:] * rc[:-k]) / np.sum(rc**2)) if n > k else np.nan
            rows[f"acf_lag{k}"] = (ac, np.nan, None, f"residual autocorrelation at lag {k}")
        robust = self.errors in ("ar1", "ar1-reml", "newey-west")
        autocorr = min(bg_p, rows["ljung_box"][1]) < 0.05
        for key in ("ljung_box", "breusch_godfrey"):
            stat_, p_, _, note = rows[key]
            rows[key] = (stat_, p_, bool(p_ < 0.05), note)
        if self.family != "gaussian":
            disp = self.model_info["dispersion"]
            df_r = self.model_info["df_resid"]
            chi = disp * df_r
            p_disp = float(stats.chi2.sf(chi, df_r))
            rows["dispersion"] = (
                disp,
                p_disp,
                bool(self.family in ("poisson", "binomial") and p_disp < 0.05 and disp > 1.2),
                "Pearson chi-square / df; about 1 when the variance matches the model",
            )
        out = pd.DataFrame(rows, index=["statistic", "p_value", "flag", "note"]).T
        out["flag"] = out["flag"].astype(object).where(out["flag"].notna(), False).astype(bool)
        if warn:
            if autocorr and not robust:
                warnings.warn(
                    "residual autocorrelation detected (Breusch-Godfrey/Ljung-Box p < 0.05): the "
                    f"errors={self.errors!r} intervals are likely too narrow; consider errors='ar1' or "
                    "'newey-west'",
                    stacklevel=2,
                )
            elif autocorr:
                warnings.warn(
                    "residual autocorrelation remains after the errors= correction (p < 0.05); "
                    "treat intervals with caution",
                    stacklevel=2,
                )
            if "dispersion" in out.index and out.loc["dispersion", "flag"]:
                warnings.warn(
                    f"overdispersion: Pearson dispersion {out.loc['dispersion', 'statistic']:.2f} under "
                    f"family={self.family!r}; model SEs are too small, use 'quasi{self.family}'"
                    f"{' or negbin' if self.family == 'poisson' else ''}",
                    stacklevel=2,
                )
        return out

    # -- words ----------------------------------------------------------------------------------
    def _outcome_words(self) -> str:
        w = self.outcome.replace("_", " ").strip()
        return w[:1].upper() + w[1:]

    def narrative(self) -> str:
        """The plain-English paragraph of :meth:`summary` (findings first, then certainty).

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> from cocEval.its import fit_its
        >>> df = pd.DataFrame({"t": range(1, 31), "y": np.r_[np.full(15, 10.0), np.full(15, 8.0)]})
        >>> df["y"] += np.random.default_rng(0).normal(0, 0.3, 30)
        >>> "fell" in fit_its(df, "y", "t", 16, errors="ols").narrative()
        True
        """
        conf = f"{100 * (1 - self.alpha):.0f}% CI"
        name = self._outcome_words()
        unit = "month" if self._time.kind == "month" else "period"
        vs = " relative to the control series" if self.controlled else ""
        gaussian = self.family == "gaussian"
        s = []
        e0 = self.effect_at(0).iloc[0]
        p_lvl = self.coefficients.loc[self.effect_terms[0], "p_value"]
        if gaussian:
            first = (
                f"{name} {_direction(e0['absolute'])} by {abs(e0['absolute']):.3g} ({conf} "
                f"{e0['absolute_low']:+.3g} to {e0['absolute_high']:+.3g}; {pct(abs(e0['relative']))} of the "
                "expected level)"
            )
        else:
            first = (
                f"{name} {_direction(e0['relative'])} by {pct(abs(e0['relative']))} "
                f"({conf} {_signed_range(e0['relative_low'], e0['relative_high'])})"
            )
        s.append(
            f"{first} in the first {unit} of the intervention{vs}, compared with the pre-intervention "
            f"trend continued ({_p(p_lvl)})."
        )
        tc = next((t for t in self.effect_terms if t.endswith("trend_change") and "sustain" not in t), None)
        if tc is not None:
            c = self.coefficients.loc[tc]
            if gaussian:
                s.append(
                    f"The trend changed by {c['estimate']:+.3g} per {unit} ({conf} {c['ci_low']:+.3g} to "
                    f"{c['ci_high']:+.3g}, {_p(c['p_value'])})."
                )
            else:
                s.append(
                    f"The trend changed by {pct(np.expm1(c['estimate']), 1)} per {unit} ({conf} "
                    f"{pct(np.expm1(c['ci_low']), 1)} to {pct(np.expm1(c['ci_high']), 1)}, {_p(c['p_value'])})."
                )
        fr = self._frame
        last_t = int(fr.loc[fr["series"] == "treated", "t"].max())
        last_during = last_t if self._end is None else min(last_t, self._end - 1)
        h = last_during - self._start
        if h > 0:
            eh = self.effect_at(h).iloc[0]
            s.append(
                f"In {unit} {h + 1} of the intervention ({_fmt_period(eh['period'])}) it was "
                f"{pct(abs(eh['relative']))} {'below' if eh['relative'] < 0 else 'above'} the counterfactual "
                f"({conf} {_signed_range(eh['relative_low'], eh['relative_high'])})."
            )
        if self._end is not None:
            eh = self.effect_at(last_t - self._start).iloc[0]
            lasted = eh["relative_high"] < 0 or eh["relative_low"] > 0
            s.append(
                f"After the intervention ended ({_fmt_period(self.end)}), in {_fmt_period(eh['period'])}, it was "
                f"{pct(abs(eh['relative']))} {'below' if eh['relative'] < 0 else 'above'} the counterfactual "
                f"({conf} {_signed_range(eh['relative_low'], eh['relative_high'])}): "
                + ("the change was sustained." if lasted else "a lasting change cannot be confirmed.")
            )
        s.append(f"Model: {self._model_words()}.")
        if self.notes:
            s.append("Notes: " + " ".join(self.notes))
        return " ".join(s)

    def _model_words(self) -> str:
        fam = {
            "gaussian": "linear segmented regression",
            "poisson": "Poisson segmented regression",
            "quasipoisson": "quasi-Poisson segmented regression",
            "negbin": f"negative-binomial segmented regression (theta {self.model_info.get('theta', float('nan')):.3g})",
            "binomial": "logistic segmented regression",
            "quasibinomial": "quasi-binomial logistic segmented regression",
        }[self.family]
        err = {
            "ols": "independent errors",
            "model": "model-based standard errors",
            "newey-west": f"Newey-West standard errors (lag {self.model_info.get('maxlags')})",
            "ar1": f"AR(1) errors by ML (phi {self.model_info.get('phi', float('nan')):.2f})",
            "ar1-reml": f"AR(1) errors by REML (phi {self.model_info.get('phi', float('nan')):.2f})",
        }[self.errors]
        extra = []
        if self.exposure:
            extra.append(f"offset log({self.exposure})")
        if self.seasonality:
            extra.append(f"{self.seasonality} Fourier pair(s) for seasonality")
        if self.controlled:
            extra.append("differences from a control series")
        return f"{fam}, {err}" + (", " + ", ".join(extra) if extra else "") + f", {self.model_info['n']} periods"

    def summary(self) -> str:
        """Plain-English paragraph followed by the effects table.

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> from cocEval.its import fit_its
        >>> df = pd.DataFrame({"t": range(1, 31), "y": np.random.default_rng(3).normal(size=30)})
        >>> "level_change" in fit_its(df, "y", "t", 16, errors="ols").summary()
        True
        """
        return self.narrative() + "\n\n" + self.effects.to_string(float_format=lambda v: f"{v:.4g}")

    def _repr_html_(self) -> str:
        import html

        table = self.effects.to_html(float_format=lambda v: f"{v:.4g}")
        return f"<div><p>{html.escape(self.narrative())}</p>{table}</div>"

    def __repr__(self) -> str:
        return f"<ITSResult {self._model_words()}>\n{self.coefficients.to_string(float_format=lambda v: f'{v:.4g}')}"

    # -- chart ------------------------------------------------------------------------------------
    def plot(self, *, ax=None, per: float | None = None, title: str | None = None):
        """Observed points, fitted segments, dashed counterfactual with its band, start/end lines.

        Returns
        -------
        (Figure, Axes)

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> from cocEval.its import fit_its
        >>> df = pd.DataFrame({"t": range(1, 31), "y": np.random.default_rng(3).normal(size=30)})
        >>> fig, ax = fit_its(df, "y", "t", 16, errors="ols").plot()
        """
        from cocEval.style import NHS_BLUE, NHS_GREY, NHS_LIGHT_BLUE, NHS_MID_GREY, new_axes

        fig, ax = new_axes(ax)
        d = self.predict(per=per)
        tr = d[d["series"] == "treated"]
        if self.controlled:
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
            label=f"{100 * (1 - self.alpha):.0f}% CI of counterfactual",
        )
        ax.axvline(self.start, color=NHS_GREY, linestyle=":", linewidth=1)
        ax.annotate(
            "Start",
            (self.start, 1),
            xycoords=("data", "axes fraction"),
            ha="left",
            va="top",
            fontsize=9,
            color=NHS_GREY,
            xytext=(3, -2),
            textcoords="offset points",
        )
        if self.end is not None:
            ax.axvline(self.end, color=NHS_GREY, linestyle="-.", linewidth=1)
            ax.annotate(
                "End",
                (self.end, 1),
                xycoords=("data", "axes fraction"),
                ha="left",
                va="top",
                fontsize=9,
                color=NHS_GREY,
                xytext=(3, -2),
                textcoords="offset points",
            )
        ylab = self._outcome_words()
        if self.exposure:
            ylab += f" per {self._per(per):,.0f} {self.exposure.replace('_', ' ')}"
        elif self.trials:
            ylab += f" (proportion of {self.trials.replace('_', ' ')})"
        ax.set_ylabel(ylab)
        ax.set_xlabel(self._time.kind == "month" and "Month" or "Period")
        if title is None:
            e0 = self.effect_at(0).iloc[0]
            title = f"{self._outcome_words()} {_direction(e0['relative'])} {pct(abs(e0['relative']))} when the intervention started"
        ax.set_title(title)
        ax.legend(loc="best", fontsize=8, frameon=False)
        return fig, ax


def _breusch_godfrey(r: np.ndarray, X: np.ndarray, groups: np.ndarray, lags: int) -> tuple[float, float]:
    """Breusch-Godfrey LM test: n R^2 from regressing residuals on X and their lags (0-filled).

    Same statistic as statsmodels' ``acorr_breusch_godfrey``, written for any residual vector
    (GLM Pearson or AR(1)-normalised residuals too) and lagged within each series.
    """
    lagged = np.zeros((len(r), lags))
    for g in np.unique(groups):
        idx = np.flatnonzero(groups == g)
        rg = r[idx]
        for k in range(1, lags + 1):
            lagged[idx[k:], k - 1] = rg[:-k]
    Z = np.column_stack([X, lagged])
    fit = sm.OLS(r, Z).fit()
    rc = r - r.mean()
    r2 = 1 - np.sum(fit.resid**2) / np.sum(rc**2) if np.sum(rc**2) > 0 else 0.0
    stat = len(r) * r2
    return float(stat), float(stats.chi2.sf(stat, lags))


def _direction(rel: float) -> str:
    return "fell" if rel < 0 else "rose"


def _signed_range(lo: float, hi: float) -> str:
    """Relative-change interval in words: '9% to 26%' for a fall or a rise (magnitudes), and
    'a 12% fall to a 3% rise' when it spans zero."""
    if hi < 0:
        return f"{pct(-hi)} to {pct(-lo)}"
    if lo > 0:
        return f"{pct(lo)} to {pct(hi)}"
    return f"a {pct(-lo)} fall to a {pct(hi)} rise"


def _p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}" if p < 0.1 else f"p = {p:.2f}"


def _fmt_period(p) -> str:
    return p.strftime("%b %Y") if isinstance(p, pd.Timestamp) else f"{p}"
