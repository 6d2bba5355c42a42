"""Tests for cocEval.its: parity with R (lm, sandwich::NeweyWest, nlme::gls, glm, MASS::glm.nb),
the Lopez Bernal et al. (2017) Sicily example, the meaning of each effect, and bad input.

R fixtures: ``tests/reference/its_reference.R`` writes ``its_series.csv`` (simulated series) and
``its_reference.csv`` (R's estimates and SEs); tests only read the CSVs.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from cocEval.its import DEFAULT_ERRORS, MIN_PERIODS, fit_its

# --------------------------------------------------------------------------------------------
# R parity
# --------------------------------------------------------------------------------------------
#: relative tolerances (issue): estimates 1e-6 (1e-4 for ML fits), SEs 1e-4 (2e-2 for AR(1))
EST_RTOL, EST_RTOL_ML, SE_RTOL, SE_RTOL_AR1 = 1e-6, 1e-4, 1e-4, 2e-2


def _load(local_reference):
    series = pd.read_csv(local_reference / "its_series.csv", parse_dates=["date"])
    ref = pd.read_csv(local_reference / "its_reference.csv")
    return series, ref


def _kwargs(series: pd.DataFrame, name: str, model: str):
    """Translate an R model label from its_reference.R into fit_its arguments."""
    d = series[series["series"] == name].copy()
    first = d.iloc[0]
    kw: dict = {}
    m = model
    if m.startswith("controlled "):
        kw["control"] = series[series["control_of"] == name]
        m = m.removeprefix("controlled ")
    if m == "ols":
        kw["errors"] = "ols"
    elif m.startswith("newey-west"):
        kw.update(errors="newey-west", maxlags=int(m.split()[-1]))
    elif m == "ar1 ML":
        kw["errors"] = "ar1"
    elif m == "ar1 REML":
        kw["errors"] = "ar1-reml"
    else:
        fam = m.split()[0]
        kw["family"] = fam
        kw["trials" if "binomial" in fam else "exposure"] = "trials" if "binomial" in fam else "exposure"
        kw["errors"] = "model"
        if "newey-west" in m:
            kw.update(errors="newey-west", maxlags=int(m.split()[-1]))
    use_dates = "fourier" in m
    if use_dates:
        kw["seasonality"] = 2
    time = "date" if use_dates else "t"

    def point(v):
        return d.loc[d["t"] == v, "date"].iloc[0] if use_dates else int(v)

    if not pd.isna(first["end"]):
        kw["end"] = point(first["end"])
    if isinstance(first["exclude"], str):
        kw["exclude"] = [point(int(v)) for v in first["exclude"].split(";")]
    return d, time, point(first["start"]), kw


def _cases():
    from pathlib import Path

    ref = pd.read_csv(Path(__file__).parent / "reference" / "its_reference.csv")
    return sorted({(s, m) for s, m in zip(ref["series"], ref["model"])}, key=str)


@pytest.mark.reference
@pytest.mark.parametrize(("name", "model"), _cases())
def test_matches_r(local_reference, name, model):
    series, ref = _load(local_reference)
    d, time, start, kw = _kwargs(series, name, model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # short-series warnings are expected on these fixtures
        res = fit_its(d, "y", time, start, **kw)
    r = ref[(ref["series"] == name) & (ref["model"] == model)].set_index("term")
    ml = model.split()[-1] in ("ML", "REML") or "negbin" in model
    ar1 = "ar1" in model
    coef = r[r["se"].notna()]
    assert set(coef.index) == set(res.coefficients.index)
    ours = res.coefficients.loc[coef.index]
    np.testing.assert_allclose(ours["estimate"], coef["estimate"], rtol=EST_RTOL_ML if ml else EST_RTOL, atol=0)
    np.testing.assert_allclose(ours["se"], coef["se"], rtol=SE_RTOL_AR1 if ar1 else SE_RTOL, atol=0)
    for term, row in r[r["se"].isna()].iterrows():  # sigma, phi, theta, dispersion, loglik
        assert res.model_info[term] == pytest.approx(row["estimate"], rel=EST_RTOL_ML if ml else EST_RTOL)


# --------------------------------------------------------------------------------------------
# Lopez Bernal, Cummins & Gasparrini (2017): Sicily smoking ban, models 1-4
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sicily(shared_reference):
    d = pd.read_csv(shared_reference / "sicily" / "sicily.csv")
    d["date"] = pd.to_datetime({"year": d["year"], "month": d["month"], "day": 1})
    ref = pd.read_csv(shared_reference / "sicily" / "r_glm_reference.csv")
    ref["model_id"] = ref["model"].str.split().str[0]
    return d, ref.set_index(["model_id", "term"])


@pytest.mark.reference
def test_sicily_models_1_to_3(sicily):
    d, ref = sicily
    fits = {
        "model1": fit_its(d, "aces", "time", 37, family="poisson", exposure="stdpop", slope_change=False),
        "model2": fit_its(d, "aces", "time", 37, family="quasipoisson", exposure="stdpop", slope_change=False),
        "model3": fit_its(
            d, "aces", "date", "2005-01", family="quasipoisson", exposure="stdpop", seasonality=2, slope_change=False
        ),
    }
    names = {"smokban": "level_change", "time": "trend"}
    for (model, term), row in ref.loc[list(fits)].iterrows():
        c = fits[model].coefficients.loc[names[term]]
        # the reference CSV is printed to 6 significant figures
        assert c["estimate"] == pytest.approx(row["beta"], rel=5e-6)
        assert c["se"] == pytest.approx(row["se"], rel=5e-6)
        if term == "smokban":
            # the paper's RR intervals (Epi::ci.lin) use the normal quantile; ours use t(df) for
            # quasi families (as R's summary.glm p-values), so rebuild the normal ones for parity
            eff = fits[model].effects.loc["level_change"]
            assert eff["estimate"] == pytest.approx(row["RR"], rel=5e-6)
            z = 1.959963984540054
            assert np.exp([c["estimate"] - z * c["se"], c["estimate"] + z * c["se"]]) == pytest.approx(
                [row["lo95"], row["hi95"]], rel=5e-6
            )
            if model == "model1":  # Poisson: z intervals, identical to the paper's
                assert [eff["ci_low"], eff["ci_high"]] == pytest.approx([row["lo95"], row["hi95"]], rel=5e-6)
            else:
                assert eff["ci_low"] < row["lo95"] and eff["ci_high"] > row["hi95"]


@pytest.mark.reference
def test_sicily_model_4(sicily):
    """Model 4 puts the slope change on I(time - 36): R's `smokban` is the level change at time 36,
    one period before the ban; ours is at the first ban period (37). Compare through the contrast."""
    d, ref = sicily
    res = fit_its(d, "aces", "date", "2005-01", family="quasipoisson", exposure="stdpop", seasonality=2)
    r_level = ref.loc[("model4", "smokban")]
    r_slope = ref.loc[("model4", "smokban:I(time-36)")]
    c = res.coefficients
    assert c.loc["trend_change", "estimate"] == pytest.approx(r_slope["beta"], rel=5e-6)
    assert c.loc["trend_change", "se"] == pytest.approx(r_slope["se"], rel=5e-6)
    contrast = pd.Series(0.0, index=c.index)
    contrast[["level_change", "trend_change"]] = [1.0, -1.0]
    assert contrast @ res.params == pytest.approx(r_level["beta"], rel=5e-6)
    assert np.sqrt(contrast @ res.cov @ contrast) == pytest.approx(r_level["se"], rel=5e-6)
    assert res.effects.loc["level_change", "estimate"] == pytest.approx(
        np.exp(r_level["beta"] + r_slope["beta"]), rel=1e-5
    )


# --------------------------------------------------------------------------------------------
# meaning of the effects, time handling, outputs
# --------------------------------------------------------------------------------------------
def _gauss(n=48, start=25, seed=0, rho=0.0):
    rng = np.random.default_rng(seed)
    t = np.arange(1, n + 1)
    e = np.zeros(n)
    for i in range(n):
        e[i] = (rho * e[i - 1] if i else 0) + rng.normal(0, 1)
    y = 10 + 0.1 * t - 3 * (t >= start) - 0.2 * (t - start) * (t >= start) + e
    return pd.DataFrame({"t": t, "month": pd.date_range("2021-04-01", periods=n, freq="MS"), "y": y})


def _counts(n=60, start=37, seed=1, base=6.0, theta=10.0):
    """Provider-like monthly counts: negative binomial (Poisson when theta is None) with bed days."""
    rng = np.random.default_rng(seed)
    t = np.arange(1, n + 1)
    beds = rng.uniform(2500, 3500, n).round()
    mu = beds / 1000 * base * np.exp(0.003 * t - 0.25 * (t >= start))
    y = rng.poisson(mu if theta is None else mu * rng.gamma(theta, 1 / theta, n))
    return pd.DataFrame(
        {"month": pd.date_range("2021-04-01", periods=n, freq="MS"), "beds": beds, "restrictive_interventions": y}
    )


def test_time_kinds_and_row_order_agree():
    d = _gauss()
    by_int = fit_its(d, "y", "t", 25, errors="ols").coefficients
    by_date = fit_its(d, "y", "month", "2023-04", errors="ols").coefficients
    d2 = d.assign(month=d["month"].dt.to_period("M")).sample(frac=1, random_state=3)
    by_period = fit_its(d2, "y", "month", pd.Period("2023-04", "M"), errors="ols").coefficients
    d3 = d.assign(month=d["month"] + pd.Timedelta(days=14))  # mid-month dates map to the same month
    by_mid = fit_its(d3, "y", "month", pd.Timestamp("2023-04-01"), errors="ols").coefficients
    for other in (by_date, by_period, by_mid):
        pd.testing.assert_frame_equal(by_int, other)


def test_level_and_trend_change_meaning():
    d = _gauss(seed=4)
    res = fit_its(d, "y", "t", 25, errors="ar1")
    eff = res.effect_at([0, 6])
    b, V = res.params, res.cov
    assert eff.loc[0, "absolute"] == pytest.approx(b["level_change"], rel=1e-12)
    assert eff.loc[6, "absolute"] == pytest.approx(b["level_change"] + 6 * b["trend_change"], rel=1e-12)
    L = pd.Series(0.0, index=b.index)
    L[["level_change", "trend_change"]] = [1.0, 6.0]
    assert eff.loc[6, "absolute_se"] == pytest.approx(np.sqrt(L @ V @ L), rel=1e-10)
    # the tidy frame agrees: fitted - counterfactual at start = level_change
    p = res.predict().set_index("period")
    assert p.loc[25, "fitted"] - p.loc[25, "counterfactual"] == pytest.approx(b["level_change"], rel=1e-10)
    assert (p.loc[p.index < 25, "fitted"] == p.loc[p.index < 25, "counterfactual"]).all()


def test_count_effects_are_rate_ratios():
    d = _counts()
    res = fit_its(d, "restrictive_interventions", "month", "2024-04", family="poisson", exposure="beds")
    c = res.coefficients.loc["level_change"]
    e = res.effects.loc["level_change"]
    assert e["scale"] == "rate ratio"
    assert [e["estimate"], e["ci_low"], e["ci_high"]] == pytest.approx(
        np.exp([c["estimate"], c["ci_low"], c["ci_high"]])
    )
    at0 = res.effect_at(0).iloc[0]
    assert at0["relative"] == pytest.approx(np.expm1(c["estimate"]), rel=1e-10)
    assert at0["relative_low"] == pytest.approx(np.expm1(c["ci_low"]), rel=1e-10)
    # predicted rates are per 1,000 bed days and the counterfactual ratio is the rate ratio
    p = res.predict().set_index("period")
    row = p.loc[pd.Timestamp("2024-04-01")]
    assert row["fitted"] / row["counterfactual"] == pytest.approx(np.exp(c["estimate"]), rel=1e-10)
    obs = d.set_index("month").loc["2024-04-01"]
    assert row["observed"] == pytest.approx(1000 * obs["restrictive_interventions"] / obs["beds"])


def test_end_adds_sustain_terms_and_end_after_data_is_ignored():
    d = _counts()
    res = fit_its(d, "restrictive_interventions", "month", "2023-04", family="negbin", exposure="beds", end="2025-04")
    assert {"sustain_level_change", "sustain_trend_change"} <= set(res.coefficients.index)
    assert set(res.predict()["phase"]) == {"before", "during", "after"}
    with pytest.warns(UserWarning, match="end is ignored"):
        late = fit_its(
            d, "restrictive_interventions", "month", "2023-04", family="negbin", exposure="beds", end="2026-09"
        )
    assert "sustain_level_change" not in late.coefficients.index
    assert any("end is ignored" in n for n in late.notes)


def test_exclude_drops_periods_from_the_fit():
    d = _gauss(seed=5)
    res = fit_its(d, "y", "t", 25, errors="ols", exclude=[25, 26])
    d2 = d.copy()
    d2.loc[d2["t"].isin([25, 26]), "y"] += 100.0
    res2 = fit_its(d2, "y", "t", 25, errors="ols", exclude=[25, 26])
    pd.testing.assert_frame_equal(res.coefficients, res2.coefficients)
    assert res.model_info["n"] == len(d) - 2
    p = res.predict()
    assert p.loc[p["period"].isin([25, 26]), "excluded"].all() and p["excluded"].sum() == 2


def test_controlled_its_difference_terms():
    d = _gauss(seed=6)
    ctrl = _gauss(seed=7).assign(y=lambda x: 5 + 0.1 * x["t"] + np.random.default_rng(8).normal(0, 1, len(x)))
    res = fit_its(d, "y", "t", 25, errors="ols", control=ctrl)
    assert res.effect_terms[:2] == ["diff_level_change", "diff_trend_change"]
    # treated-only fit gives the same treated-series terms under OLS point estimation
    alone = fit_its(d, "y", "t", 25, errors="ols")
    for term in ("trend", "level_change", "trend_change"):
        assert res.params[term] == pytest.approx(alone.params[term], rel=1e-9)
    at0 = res.effect_at(0).iloc[0]
    assert at0["absolute"] == pytest.approx(res.params["diff_level_change"], rel=1e-10)
    assert set(res.predict()["series"]) == {"treated", "control"}


def test_binomial_proportions():
    rng = np.random.default_rng(9)
    n = 36
    d = pd.DataFrame({"t": np.arange(1, n + 1), "responses": rng.integers(20, 60, n)})
    d["positive"] = rng.binomial(d["responses"], np.where(d["t"] >= 19, 0.8, 0.65))
    d.loc[3, ["responses", "positive"]] = 0
    with pytest.warns(UserWarning, match="zero 'responses'"):
        res = fit_its(d, "positive", "t", 19, family="quasibinomial", trials="responses")
    assert res.effects.loc["level_change", "scale"] == "odds ratio"
    assert res.effect_at(0).iloc[0]["absolute"] > 0
    assert res.model_info["n"] == n - 1


def test_outputs_summary_plot_diagnostics():
    d = _counts()
    res = fit_its(d, "restrictive_interventions", "month", "2024-04", family="negbin", exposure="beds", seasonality=2)
    text = res.summary()
    assert text.startswith("Restrictive interventions fell by") or text.startswith("Restrictive interventions rose by")
    assert "95% CI" in text and "level_change" in text
    assert "<p>" in res._repr_html_()
    fig, ax = res.plot()
    assert ax.get_title() and len(ax.lines) >= 4
    assert any(line.get_linestyle() == "--" for line in ax.lines)
    diag = res.diagnostics(warn=False)
    assert {"durbin_watson", "ljung_box", "breusch_godfrey", "dispersion"} <= set(diag.index)
    assert res.get_plot_data().columns.tolist()[:3] == ["series", "period", "phase"]


def test_breusch_godfrey_matches_statsmodels():
    import statsmodels.api as sm
    from statsmodels.stats.diagnostic import acorr_breusch_godfrey

    d = _gauss(seed=10, rho=0.6)
    res = fit_its(d, "y", "t", 25, errors="ols")
    X = res._X.to_numpy()
    ols = sm.OLS(d["y"].to_numpy(), X).fit()
    lm, lm_p = acorr_breusch_godfrey(ols, nlags=4, result_object=True)[:2]
    diag = res.diagnostics(lags=4, warn=False)
    assert diag.loc["breusch_godfrey", "statistic"] == pytest.approx(lm, rel=1e-8)
    assert diag.loc["breusch_godfrey", "p_value"] == pytest.approx(lm_p, rel=1e-8)
    with pytest.warns(UserWarning, match="autocorrelation"):
        res.diagnostics(lags=4)


def test_negbin_without_overdispersion_warns():
    d = _counts(seed=11, theta=None)
    with pytest.warns(UserWarning, match="no overdispersion"):
        nb = fit_its(d, "restrictive_interventions", "month", "2024-04", family="negbin", exposure="beds")
    po = fit_its(d, "restrictive_interventions", "month", "2024-04", family="poisson", exposure="beds")
    np.testing.assert_allclose(nb.params, po.params, rtol=1e-3, atol=1e-5)


# --------------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------------
def test_too_few_periods():
    d = _gauss(n=30)
    with pytest.raises(ValueError, match=f"at least {MIN_PERIODS}"):
        fit_its(d, "y", "t", 29, errors="ols")
    with pytest.raises(ValueError, match=f"at least {MIN_PERIODS}"):
        fit_its(d, "y", "t", 3, errors="ols")
    with pytest.warns(UserWarning, match="fewer than 8"):
        fit_its(d, "y", "t", 25, errors="ols")


@pytest.mark.parametrize("start", [1, 0, 31, 100])
def test_start_outside_data(start):
    with pytest.raises(ValueError, match="outside"):
        fit_its(_gauss(n=30), "y", "t", start, errors="ols")


def test_duplicate_and_unsortable_time():
    d = _gauss()
    dup = pd.concat([d, d.iloc[[5]]])
    with pytest.raises(ValueError, match="duplicate periods"):
        fit_its(dup, "y", "t", 25)
    mixed = d.assign(t=d["t"].astype(object))
    mixed.loc[3, "t"] = "spring"
    with pytest.raises(ValueError, match="cannot be sorted"):
        fit_its(mixed, "y", "t", 25)
    same_month = d.assign(month=d["month"].where(d.index != 4, d["month"].iloc[3] + pd.Timedelta(days=3)))
    with pytest.raises(ValueError, match="duplicate periods"):
        fit_its(same_month, "y", "month", "2023-04")


def test_missing_outcome_and_bad_counts():
    d = _counts()
    miss = d.astype({"restrictive_interventions": float})
    miss.loc[10, "restrictive_interventions"] = np.nan
    with pytest.raises(ValueError, match="missing values"):
        fit_its(miss, "restrictive_interventions", "month", "2024-04", family="poisson", exposure="beds")
    frac = d.astype({"restrictive_interventions": float})
    frac.loc[2, "restrictive_interventions"] = 2.5
    with pytest.raises(ValueError, match="non-negative whole counts"):
        fit_its(frac, "restrictive_interventions", "month", "2024-04", family="quasipoisson", exposure="beds")
    neg = d.copy()
    neg.loc[2, "restrictive_interventions"] = -1
    with pytest.raises(ValueError, match="non-negative whole counts"):
        fit_its(neg, "restrictive_interventions", "month", "2024-04", family="negbin")
    for bad in (0.0, -5.0):
        e = d.astype({"beds": float})
        e.loc[7, "beds"] = bad
        with pytest.raises(ValueError, match="must be positive"):
            fit_its(e, "restrictive_interventions", "month", "2024-04", family="poisson", exposure="beds")


def test_awkward_counts():
    d = _counts()
    with pytest.raises(ValueError, match="zero in every fitted period"):
        fit_its(
            d.assign(restrictive_interventions=0),
            "restrictive_interventions",
            "month",
            "2024-04",
            family="poisson",
            exposure="beds",
        )
    post_zero = d.assign(
        restrictive_interventions=np.where(d["month"] >= "2024-04-01", 0, d["restrictive_interventions"])
    )
    with pytest.raises(ValueError, match="infinite"):
        fit_its(post_zero, "restrictive_interventions", "month", "2024-04", family="negbin", exposure="beds")
    sparse = d.assign(restrictive_interventions=0)
    sparse.loc[[3, 40, 50], "restrictive_interventions"] = 1
    with pytest.warns(UserWarning, match="only 3 events"):
        res = fit_its(sparse, "restrictive_interventions", "month", "2024-04", family="poisson", exposure="beds")
    assert np.isfinite(res.coefficients["se"]).all()


def test_seasonality_needs_dates_and_other_argument_errors():
    d = _gauss()
    with pytest.raises(ValueError, match="needs month dates"):
        fit_its(d, "y", "t", 25, seasonality=2)
    with pytest.raises(ValueError, match="seasonality"):
        fit_its(d, "y", "month", "2023-04", seasonality=6)
    with pytest.raises(ValueError, match="not available"):
        fit_its(d, "y", "t", 25, errors="model")
    with pytest.raises(ValueError, match="lacks column"):
        fit_its(d, "nope", "t", 25)
    with pytest.raises(ValueError, match="is an integer but the time column holds month dates"):
        fit_its(d, "y", "month", 25)
    with pytest.raises(ValueError, match="needs trials"):
        fit_its(d, "y", "t", 25, family="binomial")
    with pytest.raises(ValueError, match="must come after start"):
        fit_its(d, "y", "t", 25, end=20)


def test_min_before_and_after_raise_not_estimable():
    from cocEval.errors import NotEstimableError

    d = _gauss(n=30)
    with pytest.raises(NotEstimableError, match="at least 12 are needed before and 6 from the start on"):
        fit_its(d, "y", "t", 12, errors="ols", min_before=12, min_after=6)
    fit_its(d, "y", "t", 13, errors="ols", min_before=12, min_after=6)
    with pytest.raises(ValueError, match="min_after"):
        fit_its(d, "y", "t", 13, errors="ols", min_after=2)


# --------------------------------------------------------------------------------------------
# small-sample options behind the defaults (coverage measured in benchmarks/its_coverage.py)
# --------------------------------------------------------------------------------------------
def test_ar1_reml_adj_keeps_reml_estimates_and_widens_intervals():
    from scipy import stats

    from cocEval.its.engines import AR1Profile

    d = _gauss(n=60, start=37, seed=4, rho=0.6)
    reml = fit_its(d, "y", "t", 37, errors="ar1-reml")
    adj = fit_its(d, "y", "t", 37)
    assert adj.errors == DEFAULT_ERRORS["gaussian"] == "ar1-reml-adj"
    np.testing.assert_allclose(adj.params, reml.params, rtol=1e-10)
    phi, m = reml.model_info["phi"], 60
    assert adj.model_info["phi_adjusted"] == pytest.approx(phi + (1 + 3 * phi) / m)
    # the covariance is REML's evaluated at the adjusted phi (an independent profile fit)
    X = reml._X.to_numpy()
    prof = AR1Profile(d["y"].to_numpy(), X, d["t"].to_numpy(float), np.zeros(60, int), True)
    np.testing.assert_allclose(adj.cov.to_numpy(), prof.cov_at(adj.model_info["phi_adjusted"]), rtol=1e-8)
    assert 2 < adj.model_info["df_resid"] < reml.model_info["df_resid"] == 60 - 4
    width = lambda r: r.coefficients["ci_high"] - r.coefficients["ci_low"]  # noqa: E731
    assert (width(adj) > width(reml)).all()
    crit = stats.t.ppf(0.975, adj.model_info["df_resid"])
    np.testing.assert_allclose(adj.coefficients["ci_high"], adj.params + crit * np.sqrt(np.diag(adj.cov)))
    assert "small-sample adjustment" in adj.summary()


def test_negbin_pearson_scales_glm_nb_errors_by_the_pearson_dispersion():
    from scipy import stats

    d = _counts()
    kw = dict(family="negbin", exposure="beds")
    model = fit_its(d, "restrictive_interventions", "month", "2024-04", errors="model", **kw)
    pearson = fit_its(d, "restrictive_interventions", "month", "2024-04", **kw)
    assert pearson.errors == DEFAULT_ERRORS["negbin"] == "pearson"
    np.testing.assert_allclose(pearson.params, model.params, rtol=1e-10)
    # independent Pearson statistic from the fitted means and theta
    y = d["restrictive_interventions"].to_numpy(float)
    mu = pearson.predict(per=1)["fitted"].to_numpy() * d["beds"].to_numpy()
    theta = pearson.model_info["theta"]
    disp = np.sum((y - mu) ** 2 / (mu + mu**2 / theta)) / (len(y) - len(pearson.params))
    np.testing.assert_allclose(pearson.cov.to_numpy(), model.cov.to_numpy() * disp, rtol=1e-6)
    df = len(y) - len(pearson.params)
    se = np.sqrt(np.diag(pearson.cov))
    np.testing.assert_allclose(pearson.coefficients["ci_low"], pearson.params - stats.t.ppf(0.975, df) * se)
