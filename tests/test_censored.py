"""Bounds-aware ITS (multiple imputation within published bounds)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from cocEval.censored import att_gt_bounds, censored_poisson_mle, draw_truncated_poisson, fit_its_bounds, rubin
from cocEval.errors import InputError
from cocEval.its import fit_its


def _series(mu_pre=6.0, mu_post=4.0, n=48, seed=1):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"month": pd.date_range("2020-01-01", periods=n, freq="MS"), "beds": 1000.0})
    y = rng.poisson(np.where(np.arange(n) >= n // 2, mu_post, mu_pre))
    rounded = 5 * np.floor(y / 5 + 0.5)
    df["y"] = y
    df["n"] = np.where(y < 5, np.nan, rounded)
    df["n_lower"] = np.where(y < 5, 0, np.maximum(rounded - 2, 5))
    df["n_upper"] = np.where(y < 5, 4, rounded + 2)
    return df, str(df["month"].iloc[n // 2].strftime("%Y-%m"))


def test_truncated_draws_follow_the_conditional_distribution():
    rng = np.random.default_rng(0)
    mu = np.full(20000, 3.0)
    y = draw_truncated_poisson(mu, np.zeros(20000), np.full(20000, 4), rng)
    assert y.min() >= 0 and y.max() <= 4
    k = np.arange(5)
    p = stats.poisson.pmf(k, 3.0) / stats.poisson.cdf(4, 3.0)
    observed = np.bincount(y, minlength=5)
    assert stats.chisquare(observed, p * len(y)).pvalue > 0.001
    # exact counts (lower == upper) come back unchanged
    assert (
        draw_truncated_poisson(np.full(3, 2.0), np.array([7, 0, 12]), np.array([7, 0, 12]), rng) == [7, 0, 12]
    ).all()


def test_censored_mle_recovers_slope_where_dropping_does_not():
    rng = np.random.default_rng(11)
    x = rng.normal(size=3000)
    X = np.column_stack([np.ones_like(x), x])
    y = rng.poisson(np.exp(1.0 + 0.6 * x))
    lo, up = np.where(y < 5, 0, y), np.where(y < 5, 4, y)
    beta, cov = censored_poisson_mle(X, lo, up, np.zeros_like(x))
    assert abs(beta[1] - 0.6) < 3 * np.sqrt(cov[1, 1])
    keep = y >= 5  # the naive approach: suppressed cells dropped
    naive, _ = censored_poisson_mle(X[keep], y[keep], y[keep], np.zeros(keep.sum()))
    assert abs(naive[1] - 0.6) > 5 * np.sqrt(cov[1, 1])


def test_exact_bounds_reduce_to_the_naive_fit():
    df, start = _series()
    df["n"], df["n_lower"], df["n_upper"] = df["y"], df["y"], df["y"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fit_its_bounds(df, "n", "month", start, exposure="beds", m=4)
        naive = fit_its(df, "y", "month", start, family="poisson", exposure="beds")
    assert res.n_censored == 0
    np.testing.assert_allclose(res.coefficients["estimate"], naive.coefficients["estimate"], rtol=1e-8)
    np.testing.assert_allclose(res.coefficients["se"], naive.coefficients["se"], rtol=1e-8)


def test_bounds_fit_reports_both_and_skips_absent_rows():
    df, start = _series()
    df.loc[3, ["n", "n_lower", "n_upper"]] = np.nan  # not reported
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fit_its_bounds(df, "n", "month", start, exposure="beds", m=5, slope_change=False, seed=3)
    assert res.n_rows == len(df) - 1
    assert res.n_suppressed == int((df["y"] < 5).sum() - (df.loc[3, "y"] < 5))
    comp = res.comparison()
    assert {"bounds_estimate", "naive_estimate"} <= set(comp.columns)
    lc = res.effects.loc["level_change"]
    assert lc["ci_low"] < lc["estimate"] < lc["ci_high"] and 0 <= lc["fmi"] <= 1
    # reproducible with a seed
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again = fit_its_bounds(df, "n", "month", start, exposure="beds", m=5, slope_change=False, seed=3)
    pd.testing.assert_frame_equal(res.coefficients, again.coefficients)


def test_rubin_between_variance():
    out = rubin(np.array([[0.0, 1.0], [0.0, 3.0]]), np.array([[1.0, 1.0], [1.0, 1.0]]))
    assert out["se"][0] == pytest.approx(1.0) and out["fmi"][0] == 0
    assert out["se"][1] == pytest.approx(np.sqrt(1 + 1.5 * 2.0))


def test_bad_options():
    df, start = _series()
    with pytest.raises(InputError, match="family"):
        fit_its_bounds(df, "n", "month", start, family="gaussian")
    with pytest.raises(InputError, match="not in data"):
        fit_its_bounds(df.drop(columns="n_upper"), "n", "month", start)


def _panel(mu=6.0, rr=0.7, n_units=30, n_t=12, seed=2):
    rng = np.random.default_rng(seed)
    units, t = np.repeat(np.arange(n_units), n_t), np.tile(np.arange(1, n_t + 1), n_units)
    g = np.repeat(rng.choice([0, 7], n_units), n_t)
    y = rng.poisson(mu * np.where((g > 0) & (t >= g), rr, 1.0))
    df = pd.DataFrame({"id": units, "t": t, "g": g, "beds": 1000.0, "y": y})
    rounded = 5 * np.floor(y / 5 + 0.5)
    df["n"] = np.where(y < 5, np.nan, rounded)
    df["n_lower"] = np.where(y < 5, 0, np.maximum(rounded - 2, 5))
    df["n_upper"] = np.where(y < 5, 4, rounded + 2)
    return df


def test_did_exact_bounds_reduce_to_naive():
    df = _panel(mu=40.0)
    df["n"], df["n_lower"], df["n_upper"] = df["y"], df["y"], df["y"]
    res = att_gt_bounds(df, "n", "id", "t", "g", denominator="beds", m=3)
    assert res.n_censored == 0 and res.units_dropped_not_reported == 0
    np.testing.assert_allclose(res.table.loc["bounds", "att"], res.table.loc["naive", "att"], rtol=1e-9)
    np.testing.assert_allclose(res.table.loc["bounds", "se"], res.table.loc["naive", "se"], rtol=1e-9)


def test_did_bounds_keeps_suppressed_units_and_recovers_effect():
    df = _panel(mu=8.0, n_units=40, seed=4)
    df.loc[df["id"] == 0, ["n", "n_lower", "n_upper"]] = np.nan  # one unit never reported
    res = att_gt_bounds(df, "n", "id", "t", "g", denominator="beds", m=10, seed=1)
    assert res.units_dropped_not_reported == 1
    assert res.table.loc["bounds", "units"] == 39 > res.table.loc["naive", "units"]
    truth = 8.0 * (0.7 - 1.0)  # per 1,000 bed days with 1,000 bed days a month
    b = res.table.loc["bounds"]
    assert b["ci_low"] < truth < b["ci_high"]
