"""Sensitivity of event-study conclusions to violations of parallel trends (HonestDiD).

Rambachan & Roth (2023, *Review of Economic Studies*) ask how large a departure from parallel
trends after the start would have to be before the conclusion changes. Two ways of bounding it:

- ``restriction="smoothness"`` (Delta^SD): the slope of the difference in trends may change by
  at most ``M`` between consecutive periods (``M = 0``: the pre-trend continues linearly). The
  interval is the optimal fixed-length confidence interval (FLCI).
- ``restriction="relative_magnitudes"`` (Delta^RM): a change in the difference in trends
  between consecutive post-periods is at most ``Mbar`` times the largest such change seen
  before the start. The interval inverts the conditional / least-favourable hybrid test of
  Andrews, Roth & Pakes ("C-LF"), as R ``HonestDiD`` does by default.

Scipy only (HiGHS linear programmes, SLSQP, bounded scalar minimisation). Where R uses random
draws (the least-favourable critical value: 1,000 draws after ``set.seed(0)``), the same draws
are reproduced with R's default generator (Mersenne-Twister, inversion), so the answers agree
with R's to solver precision. R reports relative-magnitudes endpoints on a 1,000-point grid;
here they are found exactly (bisection), or snapped to R's grid with ``grid_points=1000``.

Examples
--------
>>> import numpy as np
>>> from cocEval.did.honest import honest_did
>>> beta = np.array([0.0, 0.01, -0.005, 0.05, 0.06])
>>> sigma = np.diag([1e-4] * 5)
>>> out = honest_did(beta, sigma, 3, 2, restriction="smoothness", m=[0, 0.01])
>>> list(out.columns)
['m', 'lb', 'ub', 'method', 'restriction']
>>> out["method"].tolist()
['Original', 'FLCI', 'FLCI']
>>> bool((out["lb"] < out["ub"]).all())
True
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations
from math import comb

import numpy as np
import pandas as pd
from scipy import optimize, stats

from ..errors import InputError, NotEstimableError

__all__ = ["honest_did", "breakdown_value", "original_ci", "r_rnorm"]

RESTRICTIONS = {"smoothness": "DeltaSD", "relative_magnitudes": "DeltaRM"}


# ---------------------------------------------------------------------------------------------
# R's default normal generator (for draws R makes after set.seed)
# ---------------------------------------------------------------------------------------------
def r_rnorm(n: int, seed: int = 0) -> np.ndarray:
    """Standard normal draws identical to R's ``set.seed(seed); rnorm(n)``.

    R's defaults: Mersenne-Twister seeded through R's linear congruential scrambling, normals by
    inversion of two uniforms (``BIG = 2**27``). Used to reproduce R's simulated critical values.

    Examples
    --------
    >>> np.round(r_rnorm(3, seed=0), 7).tolist()  # R: set.seed(0); rnorm(3)
    [1.2629543, -0.3262334, 1.3297993]
    """
    bg = np.random.MT19937()
    bg.state = {"bit_generator": "MT19937", "state": {"key": _r_mt_key(int(seed)), "pos": 624}}
    raw = bg.random_raw(2 * int(n)).astype(np.float64) * 2.3283064365386963e-10
    raw = np.where(raw <= 0.0, 0.5 * 2.328306437080797e-10, raw)
    raw = np.where(1.0 - raw <= 0.0, 1.0 - 0.5 * 2.328306437080797e-10, raw)
    big = 134217728.0
    u = np.floor(big * raw[0::2]) + raw[1::2]
    return stats.norm.ppf(u / big)


@lru_cache(maxsize=8)
def _r_mt_key(seed: int) -> np.ndarray:
    """The Mersenne-Twister state R's ``set.seed(seed)`` sets (its scrambling of the seed)."""
    s = np.uint32(seed)
    with np.errstate(over="ignore"):
        for _ in range(50):
            s = np.uint32(np.uint32(69069) * s + np.uint32(1))
        key = np.empty(625, dtype=np.uint32)
        for j in range(625):
            s = np.uint32(np.uint32(69069) * s + np.uint32(1))
            key[j] = s
    key.flags.writeable = False
    return key[1:]


def _r_rmvnorm(n: int, sigma: np.ndarray, seed: int = 0) -> np.ndarray:
    """R ``set.seed(seed); mvtnorm::rmvnorm(n, sigma = sigma)`` (method "eigen")."""
    vals, vecs = np.linalg.eigh(sigma)
    root = vecs @ (vecs.T * np.sqrt(np.maximum(vals, 0.0))[:, None])
    z = r_rnorm(n * sigma.shape[0], seed).reshape(n, sigma.shape[0])
    return z @ root


# ---------------------------------------------------------------------------------------------
# checks and the original interval
# ---------------------------------------------------------------------------------------------
def _inputs(betahat, sigma, n_pre, n_post, l_vec):
    b = np.asarray(betahat, dtype=float).reshape(-1)
    S = np.asarray(sigma, dtype=float)
    n_pre, n_post = int(n_pre), int(n_post)
    if n_pre < 1 or n_post < 1:
        raise InputError("honest_did needs at least one period before and one after the start")
    if b.size != n_pre + n_post or S.shape != (b.size, b.size):
        raise InputError(
            f"betahat has {b.size} values and sigma is {S.shape[0]}x{S.shape[1]}; "
            f"both must have n_pre + n_post = {n_pre + n_post}"
        )
    if not (np.all(np.isfinite(b)) and np.all(np.isfinite(S))):
        raise NotEstimableError("the event-study estimates or their covariance contain missing values")
    S = (S + S.T) / 2
    if l_vec is None:
        l_vec = np.eye(n_post)[0]
    lv = np.asarray(l_vec, dtype=float).reshape(-1)
    if lv.size != n_post or not np.any(lv != 0):
        raise InputError(f"l_vec must have n_post = {n_post} values, not all zero")
    return b, S, n_pre, n_post, lv


def original_ci(betahat, sigma, n_pre, n_post, *, l_vec=None, alpha=0.05) -> tuple[float, float]:
    """Conventional interval for ``l_vec' beta_post`` (R ``constructOriginalCS``).

    Examples
    --------
    >>> original_ci([0.0, 0.1], [[1.0, 0.0], [0.0, 0.01]], 1, 1)
    (np.float64(-0.0959963984540054), np.float64(0.2959963984540054))
    """
    b, S, n_pre, n_post, lv = _inputs(betahat, sigma, n_pre, n_post, l_vec)
    est = lv @ b[n_pre:]
    se = np.sqrt(lv @ S[n_pre:, n_pre:] @ lv)
    z = stats.norm.ppf(1 - alpha / 2)
    return est - z * se, est + z * se


# ---------------------------------------------------------------------------------------------
# smoothness: optimal fixed-length confidence interval
# ---------------------------------------------------------------------------------------------
def _folded_normal_quantile(p: float, mu: float) -> float:
    """Quantile ``p`` of |N(mu, 1)| (exact; R simulates it with 10^6 draws)."""
    mu = abs(mu)
    lo, hi = max(0.0, mu + stats.norm.ppf(p) - 1.0), mu + stats.norm.ppf(p) + 1.0

    def cdf(c):
        return stats.norm.cdf(c - mu) - stats.norm.cdf(-c - mu) - p

    while cdf(lo) > 0:
        lo /= 2
    return optimize.brentq(cdf, lo, hi, xtol=1e-14)


@lru_cache(maxsize=1)
def _r_fold_draws() -> np.ndarray:
    return r_rnorm(1_000_000, 0)


def _r_folded_normal_quantile(p: float, mu: float) -> float:
    """R HonestDiD's ``.qfoldednormal``: the quantile of |Z + mu| over 10^6 draws (seed 0)."""
    return float(np.quantile(np.abs(_r_fold_draws() + mu), p))


@dataclass
class _SDProblem:
    sigma: np.ndarray
    n_pre: int
    l_vec: np.ndarray

    def __post_init__(self):
        K, lv, S = self.n_pre, self.l_vec, self.sigma
        T = lv.size
        t = np.arange(1, T + 1)
        self.c_sum = float(t @ lv)  # the weights on the pre-period cumulate to this
        # part of the worst-case bias that does not depend on the pre-period weights
        self.constant = sum(abs(float(np.arange(1, s + 1) @ lv[T - s :])) for s in range(1, T + 1)) - self.c_sum
        D = np.eye(K) - np.eye(K, k=-1)  # pre-period weights l_pre = D w
        self.Q = D.T @ S[:K, :K] @ D
        self.q = 2 * D.T @ S[:K, K:] @ lv
        self.q0 = float(lv @ S[K:, K:] @ lv)
        self.D = D
        self.L = np.tril(np.ones((K, K)))

    def var(self, w):
        return float(w @ self.Q @ w + self.q @ w + self.q0)

    def h_min(self):
        """Smallest standard deviation of an affine estimator with the right pre-period weights."""
        K = self.n_pre
        kkt = np.block([[2 * self.Q, np.ones((K, 1))], [np.ones((1, K)), np.zeros((1, 1))]])
        rhs = np.concatenate([-self.q, [self.c_sum]])
        sol = np.linalg.lstsq(kkt, rhs, rcond=None)[0]
        w = sol[:K]
        return np.sqrt(max(self.var(w), 0.0)), w

    def w_min_bias(self):
        w = np.zeros(self.n_pre)
        w[-1] = self.c_sum
        return w

    def bias(self, h, w0):
        """Smallest worst-case bias (per unit M) of estimators with sd <= h, and the weights."""
        K = self.n_pre

        def obj(x):
            return np.sum(x[:K])

        jac_obj = np.concatenate([np.ones(K), np.zeros(K)])
        cons = [
            {"type": "ineq", "fun": lambda x: x[:K] - self.L @ x[K:], "jac": lambda x: np.hstack([np.eye(K), -self.L])},
            {"type": "ineq", "fun": lambda x: x[:K] + self.L @ x[K:], "jac": lambda x: np.hstack([np.eye(K), self.L])},
            {
                "type": "eq",
                "fun": lambda x: np.array([np.sum(x[K:]) - self.c_sum]),
                "jac": lambda x: np.concatenate([np.zeros(K), np.ones(K)])[None, :],
            },
            {
                "type": "ineq",
                "fun": lambda x: np.array([h**2 - self.var(x[K:])]),
                "jac": lambda x: np.concatenate([np.zeros(K), -(2 * self.Q @ x[K:] + self.q)])[None, :],
            },
        ]
        x0 = np.concatenate([np.abs(self.L @ w0) + 1e-9, w0])
        res = optimize.minimize(
            obj,
            x0,
            jac=lambda x: jac_obj,
            constraints=cons,
            method="SLSQP",
            options={"ftol": 1e-14, "maxiter": 500},
        )
        w = res.x[K:]
        return self.constant + float(np.sum(np.abs(self.L @ w))), w


def _flci(b, S, n_pre, lv, M, alpha, r_draws=True):
    fq = _r_folded_normal_quantile if r_draws else _folded_normal_quantile
    prob = _SDProblem(S, n_pre, lv)
    h_lo, w_lo = prob.h_min()
    w_hi = prob.w_min_bias()
    h_hi = np.sqrt(prob.var(w_hi))
    if M == 0 or h_hi <= h_lo * (1 + 1e-10):
        h, w = h_lo, w_lo
        half = fq(1 - alpha, 0.0) * h if M == 0 else None
        if half is None:
            bias, _ = prob.bias(h_hi, w_hi)
            w, h = w_hi, h_hi
            half = fq(1 - alpha, M * bias / h) * h
    else:
        cache = {}

        last = {}

        def halflength(h):
            w0 = last.get("w", w_lo + (w_hi - w_lo) * (h - h_lo) / (h_hi - h_lo))
            bias, w = prob.bias(h, w0)
            cache[h] = last["w"] = w
            return fq(1 - alpha, M * bias / h) * h

        res = optimize.minimize_scalar(
            halflength, bounds=(h_lo, h_hi), method="bounded", options={"xatol": 1e-7 * h_hi}
        )
        h = res.x
        half = res.fun
        for edge in (h_lo * (1 + 1e-9), h_hi):
            val = halflength(edge)
            if val < half:
                h, half = edge, val
        w = cache[h]
    l_pre = prob.D @ w
    est = float(l_pre @ b[:n_pre] + lv @ b[n_pre:])
    return est - half, est + half


# ---------------------------------------------------------------------------------------------
# relative magnitudes: conditional / least-favourable hybrid test (Andrews, Roth & Pakes)
# ---------------------------------------------------------------------------------------------
def _a_rm(n_pre, n_post, mbar, s, positive):
    """Moment inequalities A delta <= 0 of Delta^RM when the largest pre-period change is the s-th."""
    n = n_pre + n_post
    at = np.zeros((n, n + 1))
    for r in range(n):
        at[r, r], at[r, r + 1] = -1.0, 1.0
    v = np.zeros(n + 1)
    v[n_pre + s - 1], v[n_pre + s] = -1.0, 1.0
    if not positive:
        v = -v
    ub = np.vstack([np.tile(v, (n_pre, 1)), np.tile(mbar * v, (n_post, 1))])
    A = np.vstack([at - ub, -at - ub])
    A = A[np.einsum("ij,ij->i", A, A) > 1e-10]
    return np.delete(A, n_pre, axis=1)


def _gamma(lv):
    """Invertible matrix whose first row is l' (R's reduced-row-echelon construction)."""
    rows = [lv]
    for i in range(lv.size):
        e = np.eye(lv.size)[i]
        if np.linalg.matrix_rank(np.vstack(rows + [e])) > len(rows):
            rows.append(e)
        if len(rows) == lv.size:
            break
    return np.vstack(rows)


def _dual_vertices(X, sd, max_supports=50_000):
    """Vertices of {lambda >= 0 : sd'lambda = 1, X'lambda = 0} (rows), or None when too many.

    The linear programme min eta s.t. y - X delta <= eta sd has the dual max lambda'y over this
    polytope, so its value for any y is the largest of ``vertices @ y``; an empty set means the
    programme is unbounded below.
    """
    m, k = X.shape
    if sum(comb(m, j) for j in range(1, k + 2)) > max_supports:
        return None
    Wt = np.vstack([sd[None, :], X.T])  # (k+1) x m
    rhs = np.zeros(k + 1)
    rhs[0] = 1.0
    out = []
    for j in range(1, k + 2):
        for S in combinations(range(m), j):
            cols = list(S)
            sol, *_ = np.linalg.lstsq(Wt[:, cols], rhs, rcond=None)
            if np.max(np.abs(Wt[:, cols] @ sol - rhs)) > 1e-9 or np.min(sol) < -1e-12:
                continue
            lam = np.zeros(m)
            lam[cols] = np.maximum(sol, 0.0)
            out.append(lam)
    return np.array(out).reshape(-1, m)


def _eta_lp(y, X, sd, V=None):
    """min eta s.t. y - X delta <= eta sd: returns (eta, lambda) with lambda the dual weights."""
    if V is not None:
        if V.shape[0] == 0:
            return -np.inf, None
        vals = V @ y
        i = int(np.argmax(vals))
        return float(vals[i]), V[i]
    k = X.shape[1]
    res = optimize.linprog(
        np.r_[1.0, np.zeros(k)],
        A_ub=-np.column_stack([sd, X]),
        b_ub=-y,
        bounds=[(None, None)] * (k + 1),
        method="highs",
    )
    if res.status != 0:
        return -np.inf, None
    return float(res.fun), -res.ineqlin.marginals


def _lf_cv(X, sig, kappa, V=None, sims=1000, seed=0):
    """Least-favourable critical value: quantile 1 - kappa of eta under mean-zero moments."""
    sd = np.sqrt(np.diag(sig))
    xi = _r_rmvnorm(sims, sig, seed)
    if V is not None:
        if V.shape[0] == 0:
            return np.inf
        eta = np.max(xi @ V.T, axis=1)
    else:
        eta = np.array([_eta_lp(x, X, sd)[0] for x in xi])
        eta = eta[np.isfinite(eta)]
    return float(np.quantile(eta, 1 - kappa))


def _max_program(s_T, gamma, sig, W, c):
    """max f'x s.t. W'x = e1, x >= 0 with f = s_T + Sigma gamma c / gamma'Sigma gamma."""
    f = s_T + (sig @ gamma) * c / float(gamma @ sig @ gamma)
    beq = np.zeros(W.shape[1])
    beq[0] = 1.0
    res = optimize.linprog(-f, A_eq=W.T, b_eq=beq, bounds=[(0, None)] * W.shape[0], method="highs")
    if res.status != 0:
        return False, None
    return abs(c - (-res.fun)) <= 1e-6, res.x


def _vlo_vup_dual(eta, y, gamma, sig, W, V=None):
    """Truncation points when the linear programme is degenerate (R ``.vlo_vup_dual_fn``).

    The set of c at which max_x (s_T + b c)'x over the dual polytope equals c is an interval
    around eta; with the polytope's vertices ``V`` its ends are exact, otherwise they are found
    as R does (a few exact steps, then bisection to 1e-6).
    """
    g2 = float(gamma @ sig @ gamma)
    bvec = (sig @ gamma) / g2
    s_T = y - bvec * float(gamma @ y)
    sd_b = np.sqrt(g2)
    lo0, hi0 = min(-100.0, eta - 20 * sd_b), max(100.0, eta + 20 * sd_b)
    if V is not None:
        alpha_v, beta_v = V @ s_T, V @ bvec
        if np.max(alpha_v + beta_v * eta) - eta > 1e-6:
            return eta, np.inf
        lower = beta_v < 1 - 1e-12
        upper = beta_v > 1 + 1e-12
        vlo = np.max(alpha_v[lower] / (1 - beta_v[lower])) if lower.any() else -np.inf
        vup = np.min(alpha_v[upper] / (1 - beta_v[upper])) if upper.any() else np.inf
        return (-np.inf if vlo <= lo0 else vlo), (np.inf if vup >= hi0 else vup)
    if not _max_program(s_T, gamma, sig, W, eta)[0]:
        return eta, np.inf

    def edge(far):
        ok_far, x = _max_program(s_T, gamma, sig, W, far)
        if ok_far:
            return np.copysign(np.inf, far - eta)
        mid = far
        for _ in range(10):
            if x is None:
                break
            den = 1 - float(x @ bvec)
            if abs(den) < 1e-14:
                break
            mid = float(x @ s_T) / den
            ok_mid, x = _max_program(s_T, gamma, sig, W, mid)
            if ok_mid:
                return mid
        ok, bad = eta, far
        while abs(bad - ok) > 1e-6:
            mid = (ok + bad) / 2
            if _max_program(s_T, gamma, sig, W, mid)[0]:
                ok = mid
            else:
                bad = mid
        return (ok + bad) / 2

    return edge(lo0), edge(hi0)


def _trunc_norm_quantile(p, lo, hi):
    if not np.isfinite(lo) and not np.isfinite(hi):
        return stats.norm.ppf(p)
    if 0 < p < 1 and lo < hi:
        # scipy's own quantile function without the argument checks of ``ppf`` (the same number:
        # ``ppf`` returns ``_ppf(p, lo, hi) * 1 + 0`` for valid arguments, which these are); the
        # checks cost more than the quantile, and the hybrid test asks for thousands
        return float(stats.truncnorm._ppf(np.asarray(p, dtype=float), np.asarray(lo), np.asarray(hi)))
    return float(stats.truncnorm.ppf(p, lo, hi))


def _lf_basis(lam, X, sig, sd):
    """The parts of the conditional test fixed by the binding moments (``lam > 0``), or None
    when the linear programme is degenerate there (then the dual route finds the truncation)."""
    k = X.shape[1]
    B = lam > 1e-6
    XB = X[B]
    full_rank = (XB.size > 0 and np.linalg.matrix_rank(XB) == min(XB.shape)) if k else True
    if not full_rank or B.sum() != k + 1:
        return None
    m = X.shape[0]
    Bc = ~B
    MBinv = np.linalg.inv(np.column_stack([sd[B], X[B]]))
    SB = np.eye(m)[B]
    SBc = np.eye(m)[Bc]
    GB = np.column_stack([sd[Bc], X[Bc]]) @ MBinv @ SB - SBc
    vB = (MBinv @ SB)[0]
    s2 = float(vB @ sig @ vB)
    return GB, vB, np.sqrt(s2), GB @ sig @ vB / s2


def _conditional_lf_test(y, X, sig, alpha, kappa, lf_cv, V=None, memo=None):
    """True when the hybrid test rejects (R ``.lp_conditional_test_fn`` with hybrid "LF").

    ``memo`` (a dict kept with one set of moments) keeps what depends only on the binding
    moments, so testing many values of the parameter repeats none of the linear algebra.
    """
    sd = np.sqrt(np.diag(sig)) if memo is None else memo.setdefault("sd", np.sqrt(np.diag(sig)))
    eta, lam = _eta_lp(y, X, sd, V)
    if lam is None or not np.isfinite(eta):
        return False
    if eta > lf_cv:
        return True
    mod_size = (alpha - kappa) / (1 - kappa)
    if memo is None:
        basis = _lf_basis(lam, X, sig, sd)
    else:
        key = lam.tobytes()
        if key not in memo:
            memo[key] = _lf_basis(lam, X, sig, sd)
        basis = memo[key]
    if basis is None:
        s2 = float(lam @ sig @ lam)
        if abs(s2) < np.finfo(float).eps:
            return eta > 0
        vlo, vup = _vlo_vup_dual(eta, y, lam, sig, np.column_stack([sd, X]), V)
        sb = np.sqrt(s2)
        zlo, zup, stat = vlo / sb, min(vup, lf_cv) / sb, eta / sb
    else:
        GB, vB, sb, rho = basis
        with np.errstate(divide="ignore", invalid="ignore"):
            mm = (-GB @ y) / rho + vB @ y
        vlo = np.max(mm[rho > 0]) if np.any(rho > 0) else -np.inf
        vup = np.min(mm[rho < 0]) if np.any(rho < 0) else np.inf
        zlo, zup, stat = vlo / sb, min(vup, lf_cv) / sb, eta / sb
    if not (zlo <= stat <= zup):
        return False
    cval = max(0.0, _trunc_norm_quantile(1 - mod_size, zlo, zup))
    return stat > cval


class _RMTests:
    """All (s, sign) conditional tests for one Mbar; ``accept(theta)`` is their union."""

    def __init__(self, b, S, n_pre, n_post, lv, mbar, alpha, kappa):
        self.parts = []
        Ginv = np.linalg.inv(_gamma(lv))
        for s in range(-(n_pre - 1), 1):
            for positive in (True, False):
                A = _a_rm(n_pre, n_post, mbar, s, positive)
                post = np.flatnonzero(np.any(A[:, n_pre:] != 0, axis=1))
                A = A[post]
                AG = A[:, n_pre:] @ Ginv
                sig = A @ S @ A.T
                X = AG[:, 1:]
                V = _dual_vertices(X, np.sqrt(np.diag(sig)))
                self.parts.append((A @ b, AG[:, 0], X, sig, _lf_cv(X, sig, kappa, V), V, {}))
        self.alpha, self.kappa = alpha, kappa

    def accept(self, theta):
        for Y, one, X, sig, cv, V, memo in self.parts:
            if not _conditional_lf_test(Y - one * theta, X, sig, self.alpha, self.kappa, cv, V, memo):
                return True
        return False


def _rm_grid(b, S, n_pre, lv, mbar):
    """R HonestDiD's default grid for Delta^RM (centre, half-width)."""
    post = b[n_pre:]
    sd = np.sqrt(lv @ S[n_pre:, n_pre:] @ lv)
    dpre = np.abs(np.diff(np.r_[b[:n_pre], 0.0]))
    half = mbar * float(np.arange(1, lv.size + 1) @ np.abs(lv)) * float(dpre.max()) + 20 * sd
    return float(lv @ post), half


def _accepted_ends(accept, grid) -> tuple[int, int] | None:
    """Indices of the first and the last grid point ``accept`` accepts (None when it accepts none).

    Scanned from each end inwards: the points between the two are never needed.
    """
    i = next((k for k, t in enumerate(grid) if accept(t)), None)
    if i is None:
        return None
    j = next(k for k in range(len(grid) - 1, i - 1, -1) if k == i or accept(grid[k]))
    return i, j


def _rm_ci(b, S, n_pre, n_post, lv, mbar, alpha, grid_points, coarse=81):
    tests = _RMTests(b, S, n_pre, n_post, lv, mbar, alpha, alpha / 10)
    centre, half = _rm_grid(b, S, n_pre, lv, mbar)
    grid = np.linspace(centre - half, centre + half, coarse)
    ends = _accepted_ends(tests.accept, grid)
    if ends is None:
        # the acceptance region may be narrower than the coarse grid: look around the estimate
        grid = np.linspace(centre - half, centre + half, 20 * coarse)
        ends = _accepted_ends(tests.accept, grid)
        if ends is None:
            return np.nan, np.nan
    i, j = ends

    def edge(inside, outside):
        for _ in range(60):
            mid = (inside + outside) / 2
            if tests.accept(mid):
                inside = mid
            else:
                outside = mid
            if abs(outside - inside) < 1e-9 * max(1.0, abs(inside)):
                break
        return inside

    lb = grid[0] if i == 0 else edge(grid[i], grid[i - 1])
    ub = grid[-1] if j == grid.size - 1 else edge(grid[j], grid[j + 1])
    if grid_points:
        rg = np.linspace(centre - half, centre + half, int(grid_points))
        inside = rg[(rg >= lb - 1e-12) & (rg <= ub + 1e-12)]
        if inside.size == 0:
            return np.nan, np.nan
        lb, ub = inside[0], inside[-1]
    return float(lb), float(ub)


# ---------------------------------------------------------------------------------------------
# public interface
# ---------------------------------------------------------------------------------------------
def _as_list(m) -> list[float]:
    if isinstance(m, Iterable) and not isinstance(m, str | bytes):
        vals = [float(v) for v in m]
    else:
        vals = [float(m)]
    if not vals or any(not np.isfinite(v) or v < 0 for v in vals):
        raise InputError("m must be one or more finite values >= 0")
    return vals


def honest_did(
    betahat: Sequence[float] | np.ndarray,
    sigma: np.ndarray,
    n_pre: int,
    n_post: int,
    *,
    restriction: str,
    m: float | Sequence[float],
    l_vec: Sequence[float] | np.ndarray | None = None,
    alpha: float = 0.05,
    grid_points: int | None = None,
    r_draws: bool = True,
) -> pd.DataFrame:
    """Robust confidence intervals for an event-study effect (Rambachan & Roth 2023).

    Parameters
    ----------
    betahat : array, length ``n_pre + n_post``
        Event-study coefficients in time order, the reference period (just before the start)
        left out: ``n_pre`` before the start, then ``n_post`` from the start on.
    sigma : array
        Their covariance matrix.
    n_pre, n_post : int
    restriction : {"smoothness", "relative_magnitudes"}
        Delta^SD (``m`` = M, the change in slope allowed between consecutive periods, in the
        outcome's units) or Delta^RM (``m`` = Mbar, post-period changes relative to the largest
        pre-period change).
    m : float or sequence of float
        The values of M or Mbar, one row each.
    l_vec : array, optional
        Weights on the post-period effects; the default is the first post period.
    alpha : float
        1 - confidence level.
    grid_points : int, optional
        Relative magnitudes only: report endpoints on R HonestDiD's grid of this many points
        (1000 reproduces R's printed intervals); by default the endpoints are exact.
    r_draws : bool
        Smoothness only: take the folded-normal quantile of the FLCI from R's 10^6 simulated
        draws (seed 0) as R does (default), or compute it exactly (``False``); the two differ
        by about 0.1% of the half-length.

    Returns
    -------
    DataFrame
        Columns ``m, lb, ub, method, restriction``: first the conventional interval
        (``method="Original"``, ``m`` missing), then one row per value of ``m`` (``method``
        ``"FLCI"`` or ``"C-LF"``, ``restriction`` ``"DeltaSD"`` or ``"DeltaRM"``).

    Raises
    ------
    InputError
        Wrong shapes, an unknown restriction, negative ``m``, ``l_vec`` all zero.
    NotEstimableError
        Missing values in the inputs.

    Examples
    --------
    >>> import numpy as np
    >>> beta = np.array([0.001, -0.002, 0.0, 0.03, 0.035])
    >>> sigma = np.diag([4e-5] * 5)
    >>> out = honest_did(beta, sigma, 3, 2, restriction="relative_magnitudes", m=[0.5, 2])
    >>> out[["method", "restriction"]].values.tolist()
    [['Original', 'DeltaRM'], ['C-LF', 'DeltaRM'], ['C-LF', 'DeltaRM']]
    >>> bool(out["ub"].iloc[2] - out["lb"].iloc[2] > out["ub"].iloc[1] - out["lb"].iloc[1])
    True
    """
    if restriction not in RESTRICTIONS:
        raise InputError(f"restriction must be one of {sorted(RESTRICTIONS)}, not {restriction!r}")
    if not 0 < alpha < 1:
        raise InputError("alpha must lie between 0 and 1")
    b, S, n_pre, n_post, lv = _inputs(betahat, sigma, n_pre, n_post, l_vec)
    ms = _as_list(m)
    lo, hi = original_ci(b, S, n_pre, n_post, l_vec=lv, alpha=alpha)
    rows = [{"m": np.nan, "lb": float(lo), "ub": float(hi), "method": "Original"}]
    for mv in ms:
        if restriction == "smoothness":
            lb, ub = _flci(b, S, n_pre, lv, mv, alpha, r_draws)
            method = "FLCI"
        else:
            lb, ub = _rm_ci(b, S, n_pre, n_post, lv, mv, alpha, grid_points)
            method = "C-LF"
        rows.append({"m": mv, "lb": lb, "ub": ub, "method": method})
    out = pd.DataFrame(rows)
    out["restriction"] = RESTRICTIONS[restriction]
    return out


def breakdown_value(
    betahat,
    sigma,
    n_pre: int,
    n_post: int,
    *,
    restriction: str,
    l_vec=None,
    alpha: float = 0.05,
    upper: float | None = None,
    tol: float | None = None,
) -> float:
    """Smallest M (or Mbar) at which the robust interval includes zero.

    Returns 0 when even the conventional interval includes zero, and ``inf`` when the interval
    still excludes zero at ``upper`` (default: 10 for Mbar; for M, 20 standard errors of the
    effect). Found by bisection to ``tol`` (default ``upper / 500``).

    Examples
    --------
    >>> import numpy as np
    >>> beta = np.array([0.0, 0.001, 0.04, 0.045])
    >>> sigma = np.diag([2e-5] * 4)
    >>> bd = breakdown_value(beta, sigma, 2, 2, restriction="smoothness", upper=0.1, tol=0.005)
    >>> bool(0 < bd < 0.1)
    True
    """
    b, S, n_pre, n_post, lv = _inputs(betahat, sigma, n_pre, n_post, l_vec)
    lo, hi = original_ci(b, S, n_pre, n_post, l_vec=lv, alpha=alpha)
    if lo <= 0 <= hi:
        return 0.0
    if upper is None:
        upper = 10.0 if restriction == "relative_magnitudes" else 20 * float(np.sqrt(lv @ S[n_pre:, n_pre:] @ lv))
    tol = tol if tol is not None else upper / 500

    def includes_zero(mv):
        r = honest_did(b, S, n_pre, n_post, restriction=restriction, m=mv, l_vec=lv, alpha=alpha, r_draws=False).iloc[1]
        return not np.isfinite(r["lb"]) or r["lb"] <= 0 <= r["ub"]

    if not includes_zero(upper):
        return float("inf")
    a, z = 0.0, upper
    while z - a > tol:
        mid = (a + z) / 2
        if includes_zero(mid):
            z = mid
        else:
            a = mid
    return float(z)


def honest_did_event_study(
    agg,
    *,
    restriction: str,
    m: float | Sequence[float],
    e: int = 0,
    l_vec: Sequence[float] | np.ndarray | None = None,
    alpha: float = 0.05,
    grid_points: int | None = None,
) -> pd.DataFrame:
    """:func:`honest_did` on a dynamic (event-study) aggregation of :func:`cocEval.did.att_gt`.

    As R ``HonestDiD::honest_did.AGGTEobj``: the covariance of the event-time estimates is that
    of their influence functions (clustered as the estimates were), event time -1 is the
    reference and is dropped, and the target is the effect at event time ``e`` (0 = the first
    period of coaching) unless ``l_vec`` weights the post-period effects otherwise. Needs a
    universal base period and consecutive event times (use ``min_e``/``max_e`` to keep the
    event study short: the relative-magnitudes test grows quickly with the post-periods).

    Raises
    ------
    InputError
        Not a dynamic aggregation, or not a universal base period.
    NotEstimableError
        Missing event-time estimates, gaps in event time, no pre- or post-periods.

    Examples
    --------
    >>> from cocEval.did import att_gt
    >>> from cocEval.synthetic import example_panel
    >>> res = att_gt(example_panel(), "y", "id", "t", "g", base_period="universal", bootstrap=False)
    >>> agg = res.aggregate("dynamic", min_e=-3, max_e=1)
    >>> out = honest_did_event_study(agg, restriction="relative_magnitudes", m=[0.5, 1])
    >>> out["method"].tolist(), bool((out["lb"] > 0).all())  # the effect of 1 survives either Mbar
    (['Original', 'C-LF', 'C-LF'], True)
    """
    from ._inference import cluster_sums

    if getattr(agg, "kind", None) != "dynamic":
        raise InputError("honest_did needs the dynamic (event-study) aggregation")
    src = agg._source
    if src.options.base_period != "universal":
        raise InputError("honest_did needs att_gt(..., base_period='universal'), as R HonestDiD does")
    et = agg.table.index.to_numpy()
    att = agg.table["att"].to_numpy(dtype=float)
    inf = agg.influence
    if inf is None or not np.all(np.isfinite(att)):
        raise NotEstimableError("some event-time estimates are missing, so the sensitivity analysis cannot run")
    if np.any(np.diff(et) != 1):
        raise NotEstimableError("event times are not consecutive")
    keep = et != -1
    S = cluster_sums(inf, src.panel.cluster)
    V = S.T @ S / src.n**2
    beta, V, et = att[keep], V[np.ix_(keep, keep)], et[keep]
    n_pre, n_post = int((et < -1).sum()), int((et >= 0).sum())
    if n_pre < 1 or n_post < 1:
        raise NotEstimableError("the event study needs at least one period before the reference and one after")
    if l_vec is None:
        if not 0 <= e < n_post:
            raise InputError(f"e must lie between 0 and {n_post - 1}")
        l_vec = np.eye(n_post)[e]
    return honest_did(
        beta, V, n_pre, n_post, restriction=restriction, m=m, l_vec=l_vec, alpha=alpha, grid_points=grid_points
    )
