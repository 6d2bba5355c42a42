"""Standard errors from influence functions: analytic (clustered) and the multiplier bootstrap.

Conventions follow R ``did`` (``mboot``): an estimate's influence function ``IF`` (units x k,
scaled so that ``estimate - truth ~ mean(IF)``) gives the analytic SE ``sqrt(sum_c S_c^2) / n``
with ``S_c`` the sum of ``IF`` over the units of cluster ``c`` (one cluster per unit by default:
``sqrt(mean(IF^2) / n)``). The multiplier bootstrap perturbs the cluster sums with i.i.d.
Rademacher weights (+1 or -1 with probability 1/2 each), as R ``did`` does through
``BMisc::multiplier_bootstrap`` (its source says "Rademacher weights"; not Mammen),
estimates each SE robustly as IQR / (z_.75 - z_.25) and the simultaneous band's critical value
as the (1 - alpha) quantile of max_k |draw_k| / se_k (quantile type 1, as R).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

_TINY = np.sqrt(np.finfo(float).eps) * 10
_BLOCK = 256  # bootstrap draws per block: bounds memory at n_clusters x 256 doubles


def cluster_sums(inf: np.ndarray, cluster: np.ndarray | None) -> np.ndarray:
    """Sum the rows of ``inf`` (units x k) within clusters (identity when ``cluster`` is None)."""
    if cluster is None:
        return inf
    out = np.zeros((int(cluster.max()) + 1, inf.shape[1]))
    np.add.at(out, cluster, inf)
    return out


def analytic_se(inf: np.ndarray, cluster: np.ndarray | None = None) -> np.ndarray:
    """Analytic SE per column: ``sqrt(sum_c S_c^2) / n`` (NaN where degenerate)."""
    n = inf.shape[0]
    S = cluster_sums(inf, cluster)
    se = np.sqrt(np.einsum("ij,ij->j", S, S)) / n
    se[se <= _TINY] = np.nan
    return se


def rademacher_weights(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """Rademacher multiplier weights: +1 or -1 with equal probability."""
    return rng.integers(0, 2, size=size, dtype=np.int8).astype(float) * 2.0 - 1.0


def multiplier_bootstrap(
    inf: np.ndarray,
    cluster: np.ndarray | None,
    n_boot: int,
    seed,
    alpha: float,
) -> tuple[np.ndarray, float]:
    """Bootstrap SEs and the uniform-band critical value for the columns of ``inf``.

    Draws are generated in blocks of draws so memory stays at n_clusters x block; the same
    ``seed`` always reproduces the same draws (aggregations reuse the seed of ``att_gt``).
    Returns ``(se, crit_val)``; ``se`` is NaN for degenerate columns (zero or NaN IF).
    """
    n, k = inf.shape
    S = cluster_sums(np.nan_to_num(inf), cluster)
    rng = np.random.default_rng(seed)
    draws = np.empty((n_boot, k))
    for start in range(0, n_boot, _BLOCK):
        b = min(_BLOCK, n_boot - start)
        V = rademacher_weights(rng, (S.shape[0], b))
        draws[start : start + b] = (V.T @ S) / n
    ok = (np.einsum("ij,ij->j", draws, draws) > _TINY**2) & ~np.isnan(inf).any(axis=0)
    q = np.quantile(draws[:, ok], [0.25, 0.75], axis=0, method="inverted_cdf")
    se = np.full(k, np.nan)
    se[ok] = (q[1] - q[0]) / (stats.norm.ppf(0.75) - stats.norm.ppf(0.25))
    se[se <= _TINY / np.sqrt(n)] = np.nan
    good = ~np.isnan(se)
    if not good.any():
        return se, np.nan
    tmax = np.max(np.abs(draws[:, good]) / se[good], axis=1)
    crit = float(np.quantile(tmax[np.isfinite(tmax)], 1 - alpha, method="inverted_cdf"))
    return se, crit


def wald_zero(est: np.ndarray, inf: np.ndarray, cluster: np.ndarray | None, n: int) -> dict:
    """Wald test that the estimates ``est`` are jointly zero, with the analytic (clustered)
    covariance of their influence functions ``inf`` (units x k), as R ``did``'s pre-test.

    Returns ``statistic``, ``df`` and ``p_value`` (NaN, with a warning, when the covariance is
    singular, e.g. more estimates than clusters).
    """
    import warnings

    S = cluster_sums(inf, cluster)
    V = S.T @ S / n**2
    q = len(est)
    if q == 0:
        return {"statistic": np.nan, "df": 0, "p_value": np.nan}
    if 1.0 / np.linalg.cond(V) <= np.finfo(float).eps:
        warnings.warn(f"Wald test not computed: singular covariance of the {q} estimates", UserWarning, stacklevel=3)
        return {"statistic": np.nan, "df": q, "p_value": np.nan}
    W = float(est @ np.linalg.solve(V, est))
    return {"statistic": W, "df": q, "p_value": float(stats.chi2.sf(W, q))}
