"""Estimation engines of the interrupted time series: OLS, AR(1) by (RE)ML, GLMs, Newey-West.

Each engine returns a :class:`Fit` (coefficients, covariance, residual df, whether intervals use
the t distribution, residuals for diagnostics and fitted extras). The R equivalent of each is in
the :mod:`cocEval.its` docstring; ``tests/test_its.py`` checks every one against R.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import optimize, special
from statsmodels.genmod import families as sm_families
from statsmodels.genmod.generalized_linear_model import GLM
from statsmodels.regression.linear_model import OLS
from statsmodels.stats import sandwich_covariance as sw

from cocEval.errors import InputError
from cocEval.its.families import get_family

__all__ = ["Fit", "AR1Profile", "fit_ols", "fit_glm", "hac", "nb_loglik"]


@dataclass
class Fit:
    params: np.ndarray
    cov: np.ndarray
    df_resid: float
    use_t: bool
    resid: np.ndarray  # residuals for diagnostics (normalised for AR(1), Pearson for GLMs)
    info: dict = field(default_factory=dict)


def hac(scores: np.ndarray, bread: np.ndarray, maxlags: int, groups: np.ndarray) -> np.ndarray:
    """Newey-West covariance as ``sandwich::NeweyWest(prewhite=FALSE, adjust=TRUE)``.

    Bartlett-kernel meat from statsmodels' ``S_hac_simple`` (summed within each series when a
    control series is stacked), bread = unscaled (X'WX)^-1 and the n/(n-k) adjustment. Written
    as a tuple call rather than ``cov_type="HAC"`` because statsmodels' GLM HAC uses the observed
    Hessian as bread, which differs from R's (expected-information) bread for the negative
    binomial's non-canonical log link.
    """
    meat = sum(sw.S_hac_simple(scores[groups == g], nlags=maxlags) for g in np.unique(groups))
    n, k = scores.shape
    cov: np.ndarray = bread @ meat @ bread.T * n / (n - k)
    return cov


def fit_ols(y: np.ndarray, X: np.ndarray, errors: str, maxlags: int | None, groups: np.ndarray) -> Fit:
    res = OLS(y, X).fit()
    cov = np.asarray(res.cov_params())
    if errors == "newey-west":
        assert maxlags is not None, "fit_its sets the Newey-West lag"
        cov = hac(X * res.resid[:, None], np.asarray(res.normalized_cov_params), maxlags, groups)
    return Fit(res.params, cov, res.df_resid, True, res.resid, {"sigma": float(np.sqrt(res.scale))})


class AR1Profile:
    """Profiled (RE)ML for regression with AR(1) errors, as ``nlme::gls(correlation = corAR1(form = ~ t | g))``.

    Written here because statsmodels' GLSAR is iterated feasible GLS (Cochrane-Orcutt style), not
    maximum likelihood, and does not reproduce nlme. Errors within a series are correlated as
    phi^|t_i - t_j| (so excluded periods leave honest gaps); series (treated/control) are
    independent with a common phi and sigma. The AR(1) process is Markov, so the inverse
    Cholesky factor of the correlation matrix is the (gap-aware) Prais-Winsten transform: the
    first point of a series as it is, each later one as (e_t - phi^k e_{t-k}) / sqrt(1 - phi^2k)
    for a gap of k periods, and log det V = sum log(1 - phi^2k). That is exact and O(n).
    """

    def __init__(self, y: np.ndarray, X: np.ndarray, t: np.ndarray, groups: np.ndarray, reml: bool) -> None:
        self.y, self.X, self.reml, self.groups = y, X, reml, groups
        self.n, self.p = X.shape
        order = np.lexsort((t, groups))
        prev = np.full(self.n, -1)
        same = groups[order][1:] == groups[order][:-1]
        prev[order[1:][same]] = order[:-1][same]
        self.prev = prev
        self.has_prev = prev >= 0
        self.gap = np.where(self.has_prev, t - t[np.maximum(prev, 0)], 0).astype(float)
        if (self.gap[self.has_prev] <= 0).any():
            raise InputError("AR1Profile needs distinct times within each series")

    def _whiten(self, phi: float) -> tuple[float, np.ndarray, np.ndarray]:
        """log det V and the whitened X and y (the inverse Cholesky factor applied)."""
        k = self.gap[self.has_prev]
        rho_k = np.power(phi, k)
        scale = np.sqrt(1 - rho_k**2)
        logdet = float(np.sum(np.log(1 - rho_k**2)))

        def apply(a: np.ndarray) -> np.ndarray:
            out = np.array(a, dtype=float, copy=True)
            prev = a[self.prev[self.has_prev]]
            cur = a[self.has_prev]
            shape = (-1,) + (1,) * (a.ndim - 1)
            out[self.has_prev] = (cur - rho_k.reshape(shape) * prev) / scale.reshape(shape)
            return out

        return logdet, apply(self.X), apply(self.y)

    def loglik(self, phi: float) -> tuple[float, dict]:
        logdet_v, Xs, ys = self._whiten(phi)
        q, r = np.linalg.qr(Xs)
        beta = np.linalg.solve(r, q.T @ ys)
        resid_w = ys - Xs @ beta
        rss = float(resid_w @ resid_w)
        n, p = self.n, self.p
        if self.reml:
            m = n - p
            ll = -0.5 * m * (np.log(2 * np.pi * rss / m) + 1) - 0.5 * logdet_v - np.sum(np.log(np.abs(np.diag(r))))
            sigma2 = rss / m
        else:
            ll = -0.5 * n * (np.log(2 * np.pi * rss / n) + 1) - 0.5 * logdet_v
            sigma2 = rss / n
        return ll, {"beta": beta, "r": r, "resid_w": resid_w, "sigma2": sigma2}

    def cov_at(self, phi: float) -> np.ndarray:
        """Coefficient covariance at a given phi (residual variance on n - p df, as nlme)."""
        _, st = self.loglik(phi)
        rinv = np.linalg.inv(st["r"])
        rss = float(st["resid_w"] @ st["resid_w"])
        cov: np.ndarray = rss / (self.n - self.p) * rinv @ rinv.T
        return cov

    def small_sample(self, phi: float, n_series: int) -> tuple[float, np.ndarray, float]:
        """The small-sample adjustment of ``errors="ar1-reml-adj"``: (adjusted phi, covariance, df).

        Two things make REML AR(1) intervals too narrow in series of a few dozen points: phi is
        estimated with a downward bias (about -(1 + 3 phi) / m for m points per series, Kendall
        1954; Marriott & Pope 1954), and the coefficient variance is computed as if phi were
        known. So the covariance is evaluated at the bias-corrected phi + (1 + 3 phi) / m, and
        intervals use t quantiles on Satterthwaite degrees of freedom that count the
        uncertainty of phi (asymptotic variance (1 - phi^2) / m) as well as of sigma^2:
        ``var(log V_j) = (d log V_j / d phi)^2 (1 - phi^2) / m + 2 / (n - p)``,
        ``df = 2 / var(log V_j)``, taking the smallest df over the coefficients. The point
        estimates stay the REML ones. Chosen by ``benchmarks/its_coverage.py``.
        """
        m = self.n / n_series
        adj = float(np.clip(phi + (1 + 3 * phi) / m, -0.98, 0.98))
        cov = self.cov_at(adj)
        h = 1e-4
        lo, hi = np.clip(adj - h, -0.99, 0.99), np.clip(adj + h, -0.99, 0.99)
        dlog = (np.log(np.diag(self.cov_at(hi))) - np.log(np.diag(self.cov_at(lo)))) / (hi - lo)
        var_log = dlog**2 * (1 - adj**2) / m + 2 / (self.n - self.p)
        return adj, cov, float(np.min(2 / var_log))

    def fit(self, adjust: bool = False) -> Fit:
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
        df = float(self.n - self.p)
        if adjust:
            info["phi_adjusted"], cov, df = self.small_sample(phi, len(np.unique(self.groups)))
        return Fit(st["beta"], cov, df, True, st["resid_w"] / np.sqrt(st["sigma2"]), info)


def nb_loglik(y: np.ndarray, mu: np.ndarray, theta: float) -> float:
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


def fit_glm(
    y: np.ndarray,
    X: np.ndarray,
    offset: np.ndarray | None,
    trials: np.ndarray | None,
    family: str,
    errors: str,
    maxlags: int | None,
    groups: np.ndarray,
) -> Fit:
    """GLM fits with statsmodels' IRLS (model-based SEs from the expected information, as R)."""
    fam_ = get_family(family)
    quasi = fam_.quasi
    info: dict[str, Any] = {}
    if fam_.is_binomial:
        endog = np.column_stack([y, trials - y])
        fam = sm_families.Binomial()
    else:
        endog = y
        fam = sm_families.Poisson()

    def glm(f: Any) -> Any:
        return GLM(endog, X, family=f, offset=offset).fit(scale=1.0, tol=1e-12, maxiter=200)

    res = glm(fam)
    if family == "negbin":
        # Joint maximum likelihood for (beta, theta), the fixed point MASS::glm.nb reaches by
        # alternating; found here by maximising the profile likelihood over log(theta) (a GLM
        # fit at each theta, warm-started), which converges in far fewer GLM fits. The final GLM
        # at the ML theta gives glm.nb's coefficient SEs (expected information, theta fixed);
        # statsmodels' discrete NegativeBinomial reports the joint-Hessian SEs instead.
        start_params = [np.asarray(res.params)]

        def nb_fit(log_theta: float) -> Any:
            r = GLM(endog, X, family=sm_families.NegativeBinomial(alpha=np.exp(-log_theta)), offset=offset).fit(
                scale=1.0, tol=1e-12, maxiter=200, start_params=start_params[0]
            )
            start_params[0] = np.asarray(r.params)
            return r

        prof = optimize.minimize_scalar(
            lambda lt: -nb_loglik(y, nb_fit(lt).fittedvalues, np.exp(lt)),
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
    # errors="pearson" (negbin): the same scaling on top of the fitted theta, with t intervals.
    # theta is over-estimated in short series, so glm.nb's SEs are too small; the Pearson
    # statistic on n - p df measures the variance the model misses (benchmarks/its_coverage.py).
    scaled = quasi or errors == "pearson"
    cov = np.asarray(res.cov_params()) * (info["dispersion"] if scaled else 1.0)
    if errors == "newey-west":
        # R's estfun.glm (working residual x working weight x X, dispersion cancelling) is the
        # unit-scale score; bread (X'WX)^-1
        scores = res.model.score_obs(res.params, scale=1.0)
        assert maxlags is not None, "fit_its sets the Newey-West lag"
        cov = hac(scores, np.asarray(res.normalized_cov_params), maxlags, groups)
    info["deviance"] = float(res.deviance)
    return Fit(np.asarray(res.params), cov, res.df_resid, scaled, pearson, info)
