"""Residual diagnostics of an ITS fit: autocorrelation tests and, for GLMs, overdispersion."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.regression.linear_model import OLS
from statsmodels.stats.diagnostic import acorr_ljungbox
from statsmodels.stats.stattools import durbin_watson

if TYPE_CHECKING:
    from cocEval.its.results import ITSResult

__all__ = ["diagnostics"]


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
    fit = OLS(r, Z).fit()
    rc = r - r.mean()
    r2 = 1 - np.sum(fit.resid**2) / np.sum(rc**2) if np.sum(rc**2) > 0 else 0.0
    stat = len(r) * r2
    return float(stat), float(stats.chi2.sf(stat, lags))


def diagnostics(res: ITSResult, *, lags: int | None = None, warn: bool = True) -> pd.DataFrame:
    """Implementation of :meth:`ITSResult.diagnostics` (see there)."""
    fr = res._frame[res._frame["fitted_row"]].reset_index(drop=True)
    r = np.asarray(res._fit.resid, dtype=float)
    groups = fr["group"].to_numpy()
    first = groups == 0
    n = int(first.sum())
    lags = lags or max(1, min(12, n // 5))
    rows: dict[str, tuple[Any, float, bool | None, str]] = {}
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
    bg_stat, bg_p = _breusch_godfrey(r, res._X[res._frame["fitted_row"].to_numpy()].to_numpy(), groups, lags)
    rows["breusch_godfrey"] = (bg_stat, bg_p, None, f"Breusch-Godfrey LM test up to lag {lags}")
    rc = r[first] - r[first].mean()
    for k in (1, 2, 3):
        ac = float(np.sum(rc[k:] * rc[:-k]) / np.sum(rc**2)) if n > k else np.nan
        rows[f"acf_lag{k}"] = (ac, np.nan, None, f"residual autocorrelation at lag {k}")
    robust = res.errors in ("ar1", "ar1-reml", "newey-west")
    autocorr = min(bg_p, rows["ljung_box"][1]) < 0.05
    for key in ("ljung_box", "breusch_godfrey"):
        stat_, p_, _, note = rows[key]
        rows[key] = (stat_, p_, bool(p_ < 0.05), note)
    if res.family != "gaussian":
        disp = res.model_info["dispersion"]
        df_r = res.model_info["df_resid"]
        chi = disp * df_r
        p_disp = float(stats.chi2.sf(chi, df_r))
        rows["dispersion"] = (
            disp,
            p_disp,
            bool(res.family in ("poisson", "binomial") and p_disp < 0.05 and disp > 1.2),
            "Pearson chi-square / df; about 1 when the variance matches the model",
        )
    out = pd.DataFrame(rows, index=["statistic", "p_value", "flag", "note"]).T
    out["flag"] = out["flag"].astype(object).where(out["flag"].notna(), False).astype(bool)
    if warn:
        if autocorr and not robust:
            warnings.warn(
                "residual autocorrelation detected (Breusch-Godfrey/Ljung-Box p < 0.05): the "
                f"errors={res.errors!r} intervals are likely too narrow; consider errors='ar1' or "
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
                f"family={res.family!r}; model SEs are too small, use 'quasi{res.family}'"
                f"{' or negbin' if res.family == 'poisson' else ''}",
                stacklevel=2,
            )
    return out
