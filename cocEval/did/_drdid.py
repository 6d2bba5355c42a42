"""Two-period panel DiD estimators with covariates (port of the R ``DRDID`` panel estimators).

``drdid_panel`` (doubly robust, Sant'Anna & Zhao 2020, "traditional" version used by R ``did``
for ``est_method = "dr"``), ``reg_did_panel`` (outcome regression, Heckman et al. 1997) and
``std_ipw_did_panel`` (standardised inverse probability weighting, Abadie 2005). Each returns
``(att, influence_function)`` for the units passed in. These follow DRDID's formulas term by
term so that the influence functions (and hence the SEs) match R exactly; the propensity score
is a statsmodels logit and the outcome regression a least-squares fit. Written here because no
Python library exposes these influence functions with R's conventions.
"""

from __future__ import annotations

import warnings

import numpy as np
from statsmodels.discrete.discrete_model import Logit


class CellFailure(Exception):
    """A group-time cell cannot be estimated (reported as NaN with a warning)."""


def _ols_control(dy, D, X):
    X0 = X[D == 0]
    XtX = X0.T @ X0
    if X0.shape[0] == 0 or np.linalg.cond(XtX) * np.finfo(float).eps > 1:
        raise CellFailure("not enough comparison units to fit the outcome regression")
    beta = np.linalg.solve(XtX, X0.T @ dy[D == 0])
    out = X @ beta
    n = len(D)
    w = 1.0 - D
    asy_lin_rep_ols = (w * (dy - out))[:, None] * X @ np.linalg.inv((w[:, None] * X).T @ X / n)
    return out, asy_lin_rep_ols


def _logit(D, X):
    n = len(D)
    if D.sum() == 0 or D.sum() == n:
        raise CellFailure("no overlap: every unit is in one arm")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = Logit(D, X).fit(disp=0, method="newton", maxiter=100)
    except Exception as exc:  # perfect separation and friends
        raise CellFailure(f"propensity-score logit failed ({exc})") from exc
    ps_raw = fit.predict(X)
    if ps_raw.max() >= 0.999:
        raise CellFailure("overlap condition violated (a propensity score >= 0.999)")
    W = ps_raw * (1 - ps_raw)
    hess = np.linalg.inv((W[:, None] * X).T @ X / n)
    ps = np.minimum(ps_raw, 1 - 1e-6)
    trim = np.where(D == 1, True, ps < 0.995)
    asy_lin_rep_ps = ((D - ps)[:, None] * X) @ hess
    return ps, trim, asy_lin_rep_ps


def drdid_panel(dy: np.ndarray, D: np.ndarray, X: np.ndarray):
    """Doubly robust DiD (DRDID::drdid_panel); ``X`` includes the intercept."""
    ps, trim, alr_ps = _logit(D, X)
    out, alr_ols = _ols_control(dy, D, X)
    w_t = trim * D
    w_c = trim * ps * (1 - D) / (1 - ps)
    r = dy - out
    att_t, att_c = w_t * r, w_c * r
    eta_t, eta_c = att_t.mean() / w_t.mean(), att_c.mean() / w_c.mean()
    inf_t = (att_t - w_t * eta_t - alr_ols @ (w_t[:, None] * X).mean(0)) / w_t.mean()
    M2 = ((w_c * (r - eta_c))[:, None] * X).mean(0)
    M3 = (w_c[:, None] * X).mean(0)
    inf_c = (att_c - w_c * eta_c + alr_ps @ M2 - alr_ols @ M3) / w_c.mean()
    return eta_t - eta_c, inf_t - inf_c


def reg_did_panel(dy: np.ndarray, D: np.ndarray, X: np.ndarray):
    """Outcome-regression DiD (DRDID::reg_did_panel)."""
    out, alr_ols = _ols_control(dy, D, X)
    w = D.astype(float)
    eta_t = (w * dy).mean() / w.mean()
    eta_c = (w * out).mean() / w.mean()
    inf_t = (w * dy - w * eta_t) / w.mean()
    inf_c = (w * out - w * eta_c + alr_ols @ (w[:, None] * X).mean(0)) / w.mean()
    return eta_t - eta_c, inf_t - inf_c


def std_ipw_did_panel(dy: np.ndarray, D: np.ndarray, X: np.ndarray):
    """Standardised IPW DiD (DRDID::std_ipw_did_panel)."""
    ps, trim, alr_ps = _logit(D, X)
    w_t = trim * D
    w_c = trim * ps * (1 - D) / (1 - ps)
    eta_t = (w_t * dy).mean() / w_t.mean()
    eta_c = (w_c * dy).mean() / w_c.mean()
    inf_t = (w_t * dy - w_t * eta_t) / w_t.mean()
    M2 = ((w_c * (dy - eta_c))[:, None] * X).mean(0)
    inf_c = (w_c * dy - w_c * eta_c + alr_ps @ M2) / w_c.mean()
    return eta_t - eta_c, inf_t - inf_c


ESTIMATORS = {"dr": drdid_panel, "reg": reg_did_panel, "ipw": std_ipw_did_panel}
