"""Analyses of disclosure-controlled counts: interrupted time series that respect the bounds.

Published counts (MHSDS) are intervals: ``*`` is 0-4 and values are rounded to the nearest 5
(true count within +/-2). The *naive* fit treats rounded values as exact and suppressed cells as
missing, which drops the low months and biases the series upwards. :func:`fit_its_bounds` adds
a *bounds-aware* fit by multiple imputation within the bounds:

1. an imputation model, a Poisson segmented regression (intercept, trend, level change, trend
   change; log exposure offset), is fitted by maximum likelihood to the *interval-censored*
   counts (each count contributes P(lower <= Y <= upper));
2. for each of ``m`` imputations its coefficients are drawn from their approximate posterior
   N(beta_hat, V_hat), and every count that is not exact is drawn from the Poisson distribution
   with that mean, truncated to the count's bounds;
3. :func:`cocEval.its.fit_its` (with the caller's family and error options) is fitted to each
   completed series and the results are pooled with Rubin's rules (Barnard-Rubin degrees of
   freedom).

``benchmarks/suppression_bias.py`` measures bias and interval coverage of both fits.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, sparse, stats

from cocEval.errors import CocEvalError, InputError, NotEstimableError

COUNT_FAMILIES = ("poisson", "quasipoisson", "negbin")


def _periods(time: pd.Series) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(time):
        return (time.dt.year * 12 + time.dt.month).to_numpy(dtype=float)
    if isinstance(time.dtype, pd.PeriodDtype):
        return np.array([p.year * 12 + p.month for p in time], dtype=float)
    return pd.to_numeric(time).to_numpy(dtype=float)


def _start_period(start, time: pd.Series) -> float:
    if pd.api.types.is_datetime64_any_dtype(time) or isinstance(time.dtype, pd.PeriodDtype):
        ts = pd.Timestamp(str(start))
        return float(ts.year * 12 + ts.month)
    return float(start)


def _design(t: np.ndarray, t0: float, slope_change: bool) -> np.ndarray:
    post = (t >= t0).astype(float)
    cols = [np.ones_like(t), t - t.min(), post]
    if slope_change:
        cols.append(post * (t - t0))
    return np.column_stack(cols)


def censored_poisson_mle(
    X: np.ndarray, lower: np.ndarray, upper: np.ndarray, offset: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Maximum likelihood for a Poisson log-linear model of interval-censored counts.

    Each observation contributes ``log P(lower <= Y <= upper)`` with ``Y ~ Poisson(exp(X b +
    offset))``; exact counts have ``lower == upper``.

    Returns
    -------
    (beta, cov)
        Estimates and their covariance (inverse of the observed information).

    Examples
    --------
    >>> rng = np.random.default_rng(3)
    >>> X = np.column_stack([np.ones(400), rng.normal(size=400)])
    >>> y = rng.poisson(np.exp(1.2 + 0.5 * X[:, 1]))
    >>> lo = np.where(y < 5, 0, y); up = np.where(y < 5, 4, y)
    >>> beta, cov = censored_poisson_mle(X, lo, up, np.zeros(400))
    >>> bool(abs(beta[1] - 0.5) < 0.15)
    True
    """
    lower = np.asarray(lower, float)
    upper = np.asarray(upper, float)
    exact = lower == upper

    def row_parts(eta):
        mu = np.exp(np.clip(eta, -30, 30))
        p = stats.poisson.cdf(upper, mu) - stats.poisson.cdf(lower - 1, mu)
        # d log P / d eta = mu (pmf(lower - 1) - pmf(upper)) / P; for exact counts y - mu
        dmu = (stats.poisson.pmf(lower - 1, mu) - stats.poisson.pmf(upper, mu)) / np.clip(p, 1e-300, None)
        return p, np.where(exact, lower - mu, mu * dmu)

    def nll(b):
        p, score = row_parts(X @ b + offset)
        return -np.sum(np.log(np.clip(p, 1e-300, None))), -np.asarray(X.T @ score).ravel()

    mid = np.maximum((lower + upper) / 2, 0.5)
    dense = X.toarray() if sparse.issparse(X) else X
    b0 = np.linalg.lstsq(dense, np.log(mid) - offset, rcond=None)[0]
    res = optimize.minimize(nll, b0, jac=True, method="L-BFGS-B", options={"maxiter": 2000})
    beta = res.x
    # observed information X' W X: the likelihood depends on beta through each row's eta only, so
    # W is the (numerical) second derivative of each row's log-probability in its eta
    eta = X @ beta + offset
    h = 1e-5
    w = -(row_parts(eta + h)[1] - row_parts(eta - h)[1]) / (2 * h)
    H = np.asarray(dense.T @ (dense * w[:, None]))
    H = (H + H.T) / 2
    try:
        cov = np.linalg.inv(H)
    except np.linalg.LinAlgError as exc:
        raise NotEstimableError("the censored imputation model could not be fitted (singular information)") from exc
    if not np.all(np.isfinite(cov)) or np.any(np.diag(cov) <= 0):
        raise NotEstimableError("the censored imputation model could not be fitted (information not positive)")
    return beta, cov


def draw_truncated_poisson(mu: np.ndarray, lower: np.ndarray, upper: np.ndarray, rng) -> np.ndarray:
    """Draw ``Y ~ Poisson(mu)`` conditioned on ``lower <= Y <= upper`` (elementwise).

    Examples
    --------
    >>> y = draw_truncated_poisson(np.full(1000, 3.0), np.zeros(1000), np.full(1000, 4), np.random.default_rng(0))
    >>> int(y.min()) >= 0 and int(y.max()) <= 4
    True
    """
    lower = np.asarray(lower, int)
    upper = np.asarray(upper, int)
    width = int((upper - lower).max()) + 1 if len(lower) else 1
    k = lower[:, None] + np.arange(width)[None, :]
    logp = stats.poisson.logpmf(k, np.asarray(mu)[:, None])
    logp = np.where(k <= upper[:, None], logp, -np.inf)
    logp -= logp.max(axis=1, keepdims=True)
    p = np.exp(logp)
    p /= p.sum(axis=1, keepdims=True)
    u = rng.random(len(mu))[:, None]
    idx = (p.cumsum(axis=1) < u).sum(axis=1)
    return k[np.arange(len(mu)), np.minimum(idx, width - 1)]


def rubin(estimates: np.ndarray, variances: np.ndarray) -> pd.DataFrame:
    """Pool ``m`` estimates (m x k) and their variances (m x k) with Rubin's rules.

    Returns estimate, se, df (Barnard-Rubin, large-sample form) and the fraction of missing
    information per column.

    Examples
    --------
    >>> out = rubin(np.array([[1.0], [1.2], [0.8]]), np.array([[0.04], [0.04], [0.04]]))
    >>> round(float(out["estimate"][0]), 3), round(float(out["se"][0]), 3)
    (1.0, 0.306)
    """
    m = estimates.shape[0]
    qbar = estimates.mean(axis=0)
    w = variances.mean(axis=0)
    b = estimates.var(axis=0, ddof=1) if m > 1 else np.zeros_like(qbar)
    t = w + (1 + 1 / m) * b
    r = (1 + 1 / m) * b / np.where(w > 0, w, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        df = np.where(b > 0, (m - 1) * (1 + 1 / np.where(r > 0, r, np.nan)) ** 2, np.inf)
    fmi = np.where(t > 0, (1 + 1 / m) * b / t, 0.0)
    return pd.DataFrame({"estimate": qbar, "se": np.sqrt(t), "df": df, "fmi": fmi})


@dataclass
class BoundsITSResult:
    """Naive and bounds-aware ITS fits of one interval-censored count series.

    ``coefficients`` (linear-predictor scale) and ``effects`` (rate ratios for count families)
    are the pooled bounds-aware results; ``naive`` is the :class:`~cocEval.its.ITSResult` with
    rounded values as exact and suppressed cells dropped (None when it could not be fitted, with
    the reason in ``naive_reason``).
    """

    coefficients: pd.DataFrame
    effects: pd.DataFrame
    naive: object | None
    naive_reason: str
    m: int
    n_rows: int
    n_censored: int
    n_suppressed: int
    method: str = (
        "multiple imputation within the published bounds (Poisson imputation model fitted to the "
        "interval-censored counts; Rubin's rules)"
    )
    notes: list[str] = field(default_factory=list)
    #: the bounds-aware fit as an :class:`~cocEval.its.ITSResult` (Rubin-pooled coefficients and
    #: covariance; its observed values are the published ones, empty where suppressed), so that
    #: effects, predictions and charts work as for any ITS fit
    pooled: object | None = None

    def comparison(self) -> pd.DataFrame:
        """Naive and bounds-aware effects side by side (one row per intervention term).

        Examples
        --------
        >>> rng = np.random.default_rng(1)
        >>> df = pd.DataFrame({"month": pd.date_range("2021-01-01", periods=30, freq="MS"), "beds": 900.0})
        >>> y = rng.poisson(np.where(df["month"] >= "2022-07-01", 9.0, 12.0))
        >>> df["n"] = np.where(y < 5, np.nan, np.round(y / 5) * 5)
        >>> df["n_lower"] = np.where(y < 5, 0, np.maximum(df["n"] - 2, 5))
        >>> df["n_upper"] = np.where(y < 5, 4, df["n"] + 2)
        >>> res = fit_its_bounds(df, "n", "month", "2022-07", exposure="beds", m=5, slope_change=False)
        >>> cmp = res.comparison()
        >>> cmp.columns.tolist()
        ['bounds_estimate', 'bounds_ci_low', 'bounds_ci_high', 'naive_estimate', 'naive_ci_low', 'naive_ci_high']
        >>> bool((cmp.loc["level_change", ["bounds_estimate", "naive_estimate"]] < 1).all())  # both see the fall
        True
        """
        rows = []
        for term, r in self.effects.iterrows():
            row = {
                "term": term,
                "bounds_estimate": r["estimate"],
                "bounds_ci_low": r["ci_low"],
                "bounds_ci_high": r["ci_high"],
            }
            if self.naive is not None and term in self.naive.effects.index:
                n = self.naive.effects.loc[term]
                row.update(naive_estimate=n["estimate"], naive_ci_low=n["ci_low"], naive_ci_high=n["ci_high"])
            rows.append(row)
        return pd.DataFrame(rows).set_index("term")


def fit_its_bounds(
    data: pd.DataFrame,
    outcome: str,
    time: str,
    start,
    *,
    lower: str | None = None,
    upper: str | None = None,
    exposure: str | None = None,
    family: str = "poisson",
    m: int = 20,
    seed: int = 0,
    slope_change: bool = True,
    alpha: float = 0.05,
    **its_options,
) -> BoundsITSResult:
    """Interrupted time series of a disclosure-controlled count: naive and bounds-aware fits.

    Parameters
    ----------
    data : DataFrame
        One row per period with ``outcome`` (empty where suppressed), its bounds and ``time``.
        Rows with no value and no bounds (not reported) are left out of both fits.
    outcome, time, start, exposure, family, slope_change, alpha, its_options
        As :func:`cocEval.its.fit_its` (count families only).
    lower, upper : str, optional
        Bound columns; default ``<outcome>_lower`` and ``<outcome>_upper``.
    m : int
        Number of imputations (20 by default).
    seed : int
        Seed of the imputations (results are reproducible).

    Returns
    -------
    BoundsITSResult

    Raises
    ------
    InputError
        Missing columns or a family that is not a count family.
    NotEstimableError
        When neither the imputation model nor the analysis model can be fitted.

    Examples
    --------
    >>> rng = np.random.default_rng(5)
    >>> df = pd.DataFrame({"month": pd.date_range("2021-01-01", periods=36, freq="MS"), "beds": 900.0})
    >>> y = rng.poisson(np.where(df["month"] >= "2022-07-01", 4.0, 6.0))
    >>> df["n"] = np.where(y < 5, np.nan, np.round(y / 5) * 5)
    >>> df["n_lower"] = np.where(y < 5, 0, np.maximum(df["n"] - 2, 5))
    >>> df["n_upper"] = np.where(y < 5, 4, df["n"] + 2)
    >>> import warnings
    >>> with warnings.catch_warnings():  # the naive fit warns: only 5 unsuppressed months after the start
    ...     warnings.simplefilter("ignore")
    ...     res = fit_its_bounds(df, "n", "month", "2022-07", exposure="beds", m=5, slope_change=False)
    >>> list(res.effects.index), res.n_suppressed == int((y < 5).sum())
    (['level_change', 'trend'], True)
    """
    from cocEval.its import fit_its

    if family not in COUNT_FAMILIES:
        raise InputError(f"family must be one of {COUNT_FAMILIES} for bounded counts, got {family!r}")
    lower = lower or f"{outcome}_lower"
    upper = upper or f"{outcome}_upper"
    need = [outcome, time, lower, upper] + ([exposure] if exposure else [])
    missing = [c for c in need if c not in data.columns]
    if missing:
        raise InputError(f"fit_its_bounds: column(s) {missing} not in data")
    d = data.copy()
    reported = pd.to_numeric(d[lower], errors="coerce").notna() & pd.to_numeric(d[upper], errors="coerce").notna()
    if exposure:
        reported &= pd.to_numeric(d[exposure], errors="coerce") > 0
    d = d[reported].sort_values(time).reset_index(drop=True)
    lo = pd.to_numeric(d[lower], errors="coerce").to_numpy(float)
    up = pd.to_numeric(d[upper], errors="coerce").to_numpy(float)
    val = pd.to_numeric(d[outcome], errors="coerce").to_numpy(float)
    censored = lo < up
    suppressed = np.isnan(val)
    opts = dict(family=family, exposure=exposure, slope_change=slope_change, alpha=alpha, **its_options)

    naive, naive_reason = None, ""
    try:
        naive = fit_its(d[~suppressed], outcome, time, start, **opts)
    except (NotEstimableError, ValueError) as exc:  # fit_its still raises bare ValueError for too few periods
        naive_reason = str(exc)

    t = _periods(d[time])
    X = _design(t, _start_period(start, d[time]), slope_change)
    offset = np.log(pd.to_numeric(d[exposure]).to_numpy(float)) if exposure else np.zeros(len(d))
    beta, cov = censored_poisson_mle(X, lo, up, offset)
    rng = np.random.default_rng(seed)
    ests, vars_, fits = [], [], []
    notes: list[str] = []
    for i in range(m):
        b = rng.multivariate_normal(beta, cov)
        mu = np.exp(np.clip(X @ b + offset, -30, 30))
        y = np.where(censored, draw_truncated_poisson(mu, lo, up, rng), lo)
        with warnings.catch_warnings(record=True) as caught:  # the same warnings m times: keep one of each
            warnings.simplefilter("always")
            try:
                res = fit_its(d.assign(**{outcome: y}), outcome, time, start, **opts)
            except (NotEstimableError, ValueError) as exc:  # fit_its raises bare ValueError for some data
                raise NotEstimableError(f"bounds-aware fit, imputation {i + 1} of {m}: {exc}") from exc
        notes.extend(str(w.message) for w in caught if str(w.message) not in notes)
        ests.append(res.coefficients["estimate"].to_numpy())
        vars_.append(res.coefficients["se"].to_numpy() ** 2)
        fits.append(res)
    terms = res.coefficients.index
    pooled = rubin(np.array(ests), np.array(vars_))
    pooled.index = terms
    crit = stats.t.ppf(1 - alpha / 2, np.where(np.isfinite(pooled["df"]), pooled["df"], 1e12))
    pooled["ci_low"] = pooled["estimate"] - crit * pooled["se"]
    pooled["ci_high"] = pooled["estimate"] + crit * pooled["se"]
    pooled["p_value"] = 2 * stats.t.sf(
        np.abs(pooled["estimate"] / pooled["se"]), np.where(np.isfinite(pooled["df"]), pooled["df"], 1e12)
    )
    eff_terms = [x for x in ("level_change", "trend_change", "trend") if x in terms]
    eff = pooled.loc[eff_terms, ["estimate", "ci_low", "ci_high", "p_value", "fmi"]].copy()
    eff[["estimate", "ci_low", "ci_high"]] = np.exp(eff[["estimate", "ci_low", "ci_high"]])
    eff.insert(0, "scale", "rate ratio")
    return BoundsITSResult(
        coefficients=pooled,
        effects=eff,
        naive=naive,
        naive_reason=naive_reason,
        m=m,
        n_rows=len(d),
        n_censored=int(censored.sum()),
        n_suppressed=int(suppressed.sum()),
        notes=notes,
        pooled=pooled_its(fits, val),
    )


def pooled_its(fits: list, published: np.ndarray):
    """One :class:`~cocEval.its.ITSResult` from the fits to ``m`` completed series (Rubin's rules).

    Coefficients are the mean over imputations; their covariance is the within-imputation mean
    plus ``(1 + 1/m)`` times the between-imputation covariance; the t reference distribution
    has the smallest Barnard-Rubin degrees of freedom of the intervention terms (complete-data
    df from the fit). The observed values are ``published`` (NaN where a count was suppressed),
    never an imputed draw, so a chart of the result shows only what was published.

    Examples
    --------
    >>> from cocEval.its import fit_its
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"t": range(1, 17), "beds": 100.0})
    >>> fits = [fit_its(df.assign(y=rng.poisson(np.r_[np.full(8, 9.0 + k), np.full(8, 5.0)])), "y", "t", 9,
    ...                 family="poisson", exposure="beds") for k in range(3)]
    >>> res = pooled_its(fits, np.r_[np.full(8, np.nan), np.full(8, 5.0)])
    >>> bool(res.cov.loc["level_change", "level_change"] > fits[0].cov.loc["level_change", "level_change"])
    True
    >>> int(res.predict()["observed"].isna().sum())
    8
    """
    from cocEval.its.engines import Fit
    from cocEval.its.results import ITSResult

    last = fits[-1]
    m = len(fits)
    params = np.array([r.params.to_numpy() for r in fits])
    within = np.mean([r.cov.to_numpy() for r in fits], axis=0)
    between = np.cov(params, rowvar=False, ddof=1) if m > 1 else np.zeros_like(within)
    total = within + (1 + 1 / m) * between
    df_com = float(last._fit.df_resid) if last._fit.use_t else np.inf
    idx = [list(last.params.index).index(t) for t in last.effect_terms]
    b = np.diag(between)[idx]
    with np.errstate(divide="ignore", invalid="ignore"):
        lam = np.where(np.diag(total)[idx] > 0, (1 + 1 / m) * b / np.diag(total)[idx], 0.0)
        df_m = np.where(lam > 0, (m - 1) / lam**2, np.inf)
        df_obs = np.where(np.isfinite(df_com), (df_com + 1) / (df_com + 3) * df_com * (1 - lam), np.inf)
        df = 1 / (1 / df_m + 1 / df_obs)
    df = float(np.nanmin(df)) if len(df) and np.isfinite(np.nanmin(df)) else 1e6
    frame = last._frame.copy()
    treated = (frame["series"] == "treated").to_numpy() if "series" in frame else np.ones(len(frame), bool)
    if int(treated.sum()) == len(published):
        frame.loc[treated, "y"] = np.asarray(published, float)
    fit = Fit(params.mean(axis=0), total, df, True, last._fit.resid, dict(last._fit.info, imputations=m))
    return ITSResult(
        fit=fit,
        X=last._X,
        frame=frame,
        effect_terms=last.effect_terms,
        family=last.family,
        errors=last.errors,
        outcome=last.outcome,
        time=last._time,
        start=last._start,
        end=last._end,
        alpha=last.alpha,
        exposure=last.exposure,
        trials=last.trials,
        notes=list(last.notes),
        controlled=last.controlled,
        seasonality=last.seasonality,
    )


@dataclass
class BoundsDiDResult:
    """Naive and bounds-aware staggered DiD (Callaway & Sant'Anna) of a disclosure-controlled rate.

    ``table`` has one row per fit (``naive``, ``bounds``): ``att``, ``se``, ``ci_low``,
    ``ci_high``, ``units`` (units in the balanced panel), ``df`` (Barnard-Rubin degrees of freedom, bounds-aware
    fit only) and ``fmi`` (fraction of missing
    information, bounds-aware fit only). The ATT is on the rate scale (``per`` units of the
    denominator).
    """

    table: pd.DataFrame
    aggregation: str
    m: int
    n_censored: int
    n_suppressed: int
    units_dropped_not_reported: int
    notes: list[str] = field(default_factory=list)
    method: str = (
        "multiple imputation within the published bounds (Poisson imputation model with unit and period "
        "effects and a post-start term, fitted to the interval-censored counts; Rubin's rules)"
    )


def att_gt_bounds(
    data: pd.DataFrame,
    numerator: str,
    unit: str,
    time: str,
    cohort: str,
    *,
    denominator: str,
    per: float = 1000.0,
    lower: str | None = None,
    upper: str | None = None,
    aggregation: str = "simple",
    m: int = 20,
    seed: int = 0,
    alpha: float = 0.05,
    aggregate_options: dict | None = None,
    **att_options,
) -> BoundsDiDResult:
    """Staggered DiD of a rate whose counts are intervals: naive and bounds-aware fits.

    The outcome is ``numerator / denominator * per``. The **naive** fit drops every unit with a
    suppressed month (as :func:`cocEval.data.provider_month_panel` does to balance the panel) and
    treats rounded counts as exact. The **bounds-aware** fit keeps those units and imputes each
    count that is not exact ``m`` times within its bounds, from a Poisson model with unit and
    period effects and a post-start term fitted to the interval-censored counts, runs
    :func:`cocEval.did.att_gt` (analytic SEs) and the chosen aggregation on each completed panel,
    and pools with Rubin's rules. Units with a month not reported at all (no value, no bounds)
    are dropped from both fits.

    Parameters
    ----------
    data : DataFrame
        Long panel, one row per unit and period.
    numerator, denominator : str
        Count column (empty where suppressed; bounds in ``lower``/``upper``, default
        ``<numerator>_lower``/``_upper``) and its exposure (e.g. occupied bed days).
    unit, time, cohort, alpha, att_options
        As :func:`cocEval.did.att_gt` (``bootstrap`` is off: analytic influence-function SEs).
    aggregation : {"simple", "dynamic", "group", "calendar"}
        Which overall ATT to report.
    aggregate_options : dict, optional
        Passed to the aggregation (e.g. ``{"min_e": -12, "max_e": 18}`` for "dynamic").
    m, seed : int
        Imputations and their seed.

    Returns
    -------
    BoundsDiDResult

    Examples
    --------
    >>> rng = np.random.default_rng(2)
    >>> units, t = np.repeat(np.arange(30), 12), np.tile(np.arange(1, 13), 30)
    >>> g = np.repeat(rng.choice([0, 7], 30), 12)
    >>> y = rng.poisson(6.0 * np.where((g > 0) & (t >= g), 0.7, 1.0))
    >>> df = pd.DataFrame({"id": units, "t": t, "g": g, "beds": 1000.0,
    ...                    "n": np.where(y < 5, np.nan, 5 * np.floor(y / 5 + 0.5))})
    >>> df["n_lower"] = np.where(y < 5, 0, np.maximum(df["n"] - 2, 5))
    >>> df["n_upper"] = np.where(y < 5, 4, df["n"] + 2)
    >>> res = att_gt_bounds(df, "n", "id", "t", "g", denominator="beds", m=3)
    >>> list(res.table.index), int(res.table.loc["bounds", "units"]), int(res.table.loc["naive", "units"])
    (['naive', 'bounds'], 30, 0)
    >>> res.notes[0]
    'naive fit: every unit has a suppressed month, so the naive balanced panel is empty'
    >>> bool(res.table.loc["bounds", "ci_low"] < res.table.loc["bounds", "att"] < res.table.loc["bounds", "ci_high"])
    True
    """
    lower = lower or f"{numerator}_lower"
    upper = upper or f"{numerator}_upper"
    need = [numerator, unit, time, cohort, denominator, lower, upper]
    missing = [c for c in need if c not in data.columns]
    if missing:
        raise InputError(f"att_gt_bounds: column(s) {missing} not in data")
    d = data.copy()
    lo = pd.to_numeric(d[lower], errors="coerce")
    up = pd.to_numeric(d[upper], errors="coerce")
    den = pd.to_numeric(d[denominator], errors="coerce")
    ok = lo.notna() & up.notna() & (den > 0)
    bad_units = d.loc[~ok, unit].unique()
    d = d[~d[unit].isin(bad_units)].sort_values([unit, time]).reset_index(drop=True)
    if d.empty:
        raise NotEstimableError("no unit has every period reported")
    lo = pd.to_numeric(d[lower]).to_numpy(float)
    up = pd.to_numeric(d[upper]).to_numpy(float)
    val = pd.to_numeric(d[numerator], errors="coerce").to_numpy(float)
    den = pd.to_numeric(d[denominator]).to_numpy(float)
    censored = lo < up
    suppressed = np.isnan(val)
    notes: list[str] = []
    overall = _did_overall(
        unit, time, cohort, aggregation, dict(bootstrap=False, alpha=alpha, **att_options), aggregate_options, notes
    )
    sup_units = d.loc[suppressed, unit].unique()
    naive = d[~d[unit].isin(sup_units)].assign(_value=lambda x: pd.to_numeric(x[numerator]) / x[denominator] * per)
    rows = {"naive": _naive_did_row(naive, unit, overall, notes)}

    X = _did_imputation_design(d, unit, time, cohort)
    beta, cov = censored_poisson_mle(X, lo, up, np.log(den))
    rng = np.random.default_rng(seed)
    ests, vars_ = [], []
    for _ in range(m):
        b = rng.multivariate_normal(beta, cov, method="cholesky")
        mu = np.exp(np.clip(X @ b + np.log(den), -30, 30))
        y = np.where(censored, draw_truncated_poisson(mu, lo, up, rng), lo)
        est = overall(d.assign(_value=y / den * per))
        ests.append([est.att])
        vars_.append([est.se**2])
    pooled = rubin(np.array(ests), np.array(vars_)).iloc[0]
    dfree = pooled["df"] if np.isfinite(pooled["df"]) else 1e12
    crit = stats.t.ppf(1 - alpha / 2, dfree)
    rows["bounds"] = {
        "att": pooled["estimate"],
        "se": pooled["se"],
        "ci_low": pooled["estimate"] - crit * pooled["se"],
        "ci_high": pooled["estimate"] + crit * pooled["se"],
        "units": int(d[unit].nunique()),
        "fmi": pooled["fmi"],
        "df": dfree,
    }
    return BoundsDiDResult(
        table=pd.DataFrame.from_dict(rows, orient="index"),
        aggregation=aggregation,
        m=m,
        n_censored=int(censored.sum()),
        n_suppressed=int(suppressed.sum()),
        units_dropped_not_reported=len(bad_units),
        notes=notes,
    )


def _did_overall(unit: str, time: str, cohort: str, aggregation: str, opts: dict, agg_opts: dict | None, notes: list):
    """A function of a panel (outcome ``_value``) returning its aggregated ATT; warnings go to ``notes``."""
    from cocEval.did import att_gt

    def overall(frame: pd.DataFrame):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            agg = att_gt(frame, "_value", unit, time, cohort, **opts).aggregate(aggregation, **(agg_opts or {}))
        notes.extend(str(w.message) for w in caught if str(w.message) not in notes)
        return agg.overall

    return overall


def _naive_did_row(naive: pd.DataFrame, unit: str, overall, notes: list) -> dict:
    """The naive fit's row: units with a suppressed period dropped, rounded counts as exact."""
    try:
        if naive.empty:
            raise NotEstimableError("every unit has a suppressed month, so the naive balanced panel is empty")
        est = overall(naive)
        if not np.isfinite(est.se):
            raise NotEstimableError(f"the naive balanced panel ({naive[unit].nunique()} units) gives no standard error")
        row = {"att": est.att, "se": est.se, "ci_low": est.ci_low, "ci_high": est.ci_high}
    except (CocEvalError, ValueError) as exc:  # att_gt still raises bare ValueError for e.g. no treated unit
        row = {"att": np.nan, "se": np.nan, "ci_low": np.nan, "ci_high": np.nan}
        notes.append(f"naive fit: {exc}")
    return dict(row, units=int(naive[unit].nunique()), fmi=np.nan, df=np.nan)


def _did_imputation_design(d: pd.DataFrame, unit: str, time: str, cohort: str):
    """Sparse design of the imputation model: unit effects, period effects, a post-start term."""
    u = pd.Categorical(d[unit]).codes
    tt = pd.Categorical(d[time]).codes
    if pd.api.types.is_datetime64_any_dtype(d[cohort]):
        post = (d[cohort].notna() & (d[time] >= d[cohort])).to_numpy(float)
    else:
        g = pd.to_numeric(d[cohort], errors="coerce").fillna(0)
        post = ((g > 0) & (pd.to_numeric(d[time]) >= g)).to_numpy(float)
    n = len(d)
    units = sparse.csr_matrix((np.ones(n), (np.arange(n), u)), shape=(n, u.max() + 1))
    periods = sparse.csr_matrix((np.ones(n), (np.arange(n), tt)), shape=(n, tt.max() + 1))[:, 1:]
    return sparse.hstack([units, periods] + ([sparse.csr_matrix(post[:, None])] if post.any() else [])).tocsr()
