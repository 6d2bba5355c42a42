"""Tests for cocEval.did: parity with R did / DRDID / bacondecomp / fixest, recovery, bad input.

Tolerances (stated per check): ATT(g,t) and aggregated ATTs 1e-6 absolute; analytic SEs 1e-4
relative; the Wald pre-test statistic 1e-4 relative (p-value 1e-5 absolute: R rounds it to 5
digits); bootstrap SEs and band critical values within 10% (they depend on the random stream).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cocEval.did import (
    AggregatedATT,
    att_gt,
    bacon_decomposition,
    did_2x2,
    event_study_twfe,
    twfe,
)

ATT_ABS = 1e-6
SE_REL = 1e-4
KINDS = ("simple", "group", "dynamic", "calendar")


# --------------------------------------------------------------------------------------------
# Reference data
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mpdta(shared_reference):
    return pd.read_csv(shared_reference / "mpdta" / "mpdta.csv")


def _fit_mpdta(mpdta, **kw):
    return att_gt(mpdta, "lemp", "countyreal", "year", "first.treat", **kw)


# --------------------------------------------------------------------------------------------
# R did 2.5.1 analytic parity: one class of checks, one subclass per reference scenario
# --------------------------------------------------------------------------------------------
@pytest.mark.reference
class CheckAttGtAnalytic:
    """``res1`` ours; ``ref_*`` R's. Subclasses set ``scenario`` and ``kwargs``."""

    scenario: str
    kwargs: dict

    @pytest.fixture(scope="class")
    @classmethod
    def res1(cls, mpdta):
        return _fit_mpdta(mpdta, bootstrap=False, **cls.kwargs)

    @pytest.fixture(scope="class")
    @classmethod
    def ref(cls, shared_reference):
        d = shared_reference / "mpdta"

        def pick(f):
            t = pd.read_csv(d / f)
            return t[t["scenario"] == cls.scenario]

        return {
            "attgt": pick("r_did251_analytic_attgt.csv"),
            "aggte": pick("r_did251_analytic_aggte.csv"),
            "pretest": pick("r_did251_analytic_pretest.csv"),
        }

    def test_cells_match(self, res1, ref):
        r = ref["attgt"].rename(columns={"group": "cohort", "t": "time"})
        m = res1.table.merge(r, on=["cohort", "time"], how="outer", suffixes=("", "_r"), indicator=True)
        assert (m["_merge"] == "both").all(), "cells differ from R's"
        np.testing.assert_allclose(m["att"], m["att_r"], rtol=0, atol=ATT_ABS)
        np.testing.assert_allclose(m["se"], m["se_r"], rtol=SE_REL)

    def test_pointwise_intervals(self, res1):
        t = res1.table
        np.testing.assert_allclose(t["ci_high"] - t["att"], 1.959963984540054 * t["se"], rtol=1e-12)

    @pytest.mark.parametrize("kind", KINDS)
    def test_aggregation(self, res1, ref, kind):
        r = ref["aggte"].query("type == @kind")
        agg = res1.aggregate(kind)
        assert isinstance(agg, AggregatedATT)
        np.testing.assert_allclose(agg.overall.att, r["overall_att"].iloc[0], rtol=0, atol=ATT_ABS)
        np.testing.assert_allclose(agg.overall.se, r["overall_se"].iloc[0], rtol=SE_REL)
        if kind != "simple":
            levels = r.set_index("egt")
            tab = agg.table
            assert list(tab.index) == list(levels.index)
            np.testing.assert_allclose(tab["att"], levels["att_egt"], rtol=0, atol=ATT_ABS)
            np.testing.assert_allclose(tab["se"], levels["se_egt"], rtol=SE_REL)

    def test_pretrend_wald(self, res1, ref):
        pt = res1.pretrend_test()
        assert pt["df"] == 5
        np.testing.assert_allclose(pt["statistic"], ref["pretest"]["W"].iloc[0], rtol=1e-4)
        np.testing.assert_allclose(pt["p_value"], ref["pretest"]["Wpval"].iloc[0], atol=1e-5)


class TestNeverTreatedDR(CheckAttGtAnalytic):
    scenario, kwargs = "mpdta_nev_dr", {"control_group": "nevertreated", "method": "dr"}


class TestNotYetTreatedDR(CheckAttGtAnalytic):
    scenario, kwargs = "mpdta_nyt_dr", {"control_group": "notyettreated", "method": "dr"}


class TestRegressionCovariate(CheckAttGtAnalytic):
    scenario, kwargs = "mpdta_nev_reg_cov", {"control_group": "nevertreated", "method": "reg", "covariates": ["lpop"]}


class TestIPW(CheckAttGtAnalytic):
    scenario, kwargs = "mpdta_nev_ipw", {"control_group": "nevertreated", "method": "ipw"}


# --------------------------------------------------------------------------------------------
# R did 2.3.0: doubly robust with a covariate (analytic) and the bootstrap (loose)
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def did230(shared_reference):
    d = shared_reference / "mpdta"
    return pd.read_csv(d / "r_did230_attgt_all_specs.csv"), pd.read_csv(d / "r_did230_aggte_all_specs.csv")


@pytest.mark.reference
@pytest.mark.parametrize("control_group", ["nevertreated", "notyettreated"])
def test_dr_with_covariate_matches_r(mpdta, did230, control_group):
    res = _fit_mpdta(mpdta, control_group=control_group, covariates=["lpop"], method="dr", bootstrap=False)
    r = did230[0].query("xformla == '~lpop' and control_group == @control_group and not bstrap")
    m = res.table.merge(r, left_on=["cohort", "time"], right_on=["group", "time"], suffixes=("", "_r"))
    assert len(m) == len(res.table) == 12
    np.testing.assert_allclose(m["att"], m["att_r"], rtol=0, atol=ATT_ABS)
    np.testing.assert_allclose(m["se"], m["se_r"], rtol=SE_REL)
    ra = did230[1].query("xformla == '~lpop' and control_group == @control_group and not bstrap and level == 'overall'")
    for kind in KINDS:
        o = ra.query("type == @kind").iloc[0]
        agg = res.aggregate(kind).overall
        np.testing.assert_allclose(agg.att, o["estimate"], rtol=0, atol=ATT_ABS)
        np.testing.assert_allclose(agg.se, o["se"], rtol=SE_REL)


@pytest.mark.reference
@pytest.mark.parametrize("control_group", ["nevertreated", "notyettreated"])
def test_bootstrap_close_to_r(mpdta, did230, control_group):
    """Bootstrap SEs and uniform critical values within 10% of R's (20,000 draws on our side
    so our own Monte Carlo error is small; R used 1,000)."""
    res = _fit_mpdta(mpdta, control_group=control_group, n_boot=20_000, seed=2024)
    r = did230[0].query("xformla == '~1' and control_group == @control_group and bstrap")
    np.testing.assert_allclose(res.table["se"], r["se"], rtol=0.10)
    np.testing.assert_allclose(res.crit_val, r["crit_val"].iloc[0], rtol=0.10)
    # the band is simultaneous: wider than pointwise
    assert res.crit_val > 1.96
    ra = did230[1].query("xformla == '~1' and control_group == @control_group and bstrap")
    for kind in ("dynamic", "group", "calendar"):
        agg = res.aggregate(kind)
        lv = ra.query("type == @kind and level != 'overall'")
        np.testing.assert_allclose(agg.table["se"], lv["se"], rtol=0.10)
        np.testing.assert_allclose(agg.crit_val, lv["crit_val"].iloc[0], rtol=0.10)
        np.testing.assert_allclose(
            agg.overall.se, ra.query("type == @kind and level == 'overall'")["se"].iloc[0], rtol=0.10
        )


def test_bootstrap_reproducible_with_seed(mpdta):
    a = _fit_mpdta(mpdta, n_boot=199, seed=7)
    b = _fit_mpdta(mpdta, n_boot=199, seed=7)
    c = _fit_mpdta(mpdta, n_boot=199, seed=8)
    pd.testing.assert_frame_equal(a.table, b.table)
    assert not np.allclose(a.table["se"], c.table["se"])
    assert a.aggregate("dynamic").table.equals(b.aggregate("dynamic").table)


# --------------------------------------------------------------------------------------------
# Options: clustering, universal base period, event-time windows
# --------------------------------------------------------------------------------------------
def test_cluster_at_unit_column_is_default_and_coarser_cluster_uses_cluster_sums(mpdta):
    base = _fit_mpdta(mpdta, bootstrap=False)
    same = _fit_mpdta(mpdta, bootstrap=False, cluster="countyreal")
    pd.testing.assert_frame_equal(base.table, same.table)
    d = mpdta.assign(region=mpdta["countyreal"] % 20)
    cl = att_gt(d, "lemp", "countyreal", "year", "first.treat", bootstrap=False, cluster="region")
    np.testing.assert_allclose(cl.table["att"], base.table["att"], atol=1e-12)
    assert not np.allclose(cl.table["se"], base.table["se"], rtol=1e-3)


def test_clustered_se_equals_an_independent_cluster_robust_regression(mpdta):
    """Two periods, one cohort against never treated: ATT(g,t) is the OLS slope of the first
    difference on the treated indicator, and its clustered SE is statsmodels' cluster-robust SE
    of that slope (no small-sample factor), computed without any cocEval code."""
    import statsmodels.api as sm

    d = mpdta[mpdta["first.treat"].isin([0, 2004]) & mpdta["year"].isin([2003, 2004])]
    d = d.assign(region=d["countyreal"] % 20)
    wide = d.pivot(index="countyreal", columns="year", values="lemp")
    unit = d.drop_duplicates("countyreal").set_index("countyreal").loc[wide.index]
    dy = (wide[2004] - wide[2003]).to_numpy()
    X = sm.add_constant((unit["first.treat"] == 2004).to_numpy(float))
    for cluster, cov in [
        ("region", dict(cov_type="cluster", cov_kwds={"groups": unit["region"].to_numpy(), "use_correction": False})),
        (None, dict(cov_type="HC0")),
    ]:
        ols = sm.OLS(dy, X).fit(**cov)
        res = att_gt(
            d,
            "lemp",
            "countyreal",
            "year",
            "first.treat",
            bootstrap=False,
            cluster=cluster,
            control_group="nevertreated",
        )
        np.testing.assert_allclose(res.table["att"].iloc[0], ols.params[1], rtol=1e-10)
        np.testing.assert_allclose(res.table["se"].iloc[0], ols.bse[1], rtol=1e-10)


def test_cluster_must_be_constant_within_unit(mpdta):
    d = mpdta.assign(bad=np.arange(len(mpdta)) % 3)
    with pytest.raises(ValueError, match="bad.*constant within each unit"):
        att_gt(d, "lemp", "countyreal", "year", "first.treat", bootstrap=False, cluster="bad")


def test_universal_base_period(mpdta):
    var = _fit_mpdta(mpdta, bootstrap=False, control_group="nevertreated")
    uni = _fit_mpdta(mpdta, bootstrap=False, control_group="nevertreated", base_period="universal")
    ref = uni.table[uni.table["time"] == uni.table["cohort"] - 1]
    assert len(ref) == 3 and (ref["att"] == 0).all() and ref["se"].isna().all()
    post_u = uni.table[uni.table["time"] >= uni.table["cohort"]].reset_index(drop=True)
    post_v = var.table[var.table["time"] >= var.table["cohort"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(post_u, post_v)
    # long differences: cohort 2007 in 2004 compares 2004 with 2006
    y = mpdta.pivot(index="countyreal", columns="year", values="lemp")
    g = mpdta.groupby("countyreal")["first.treat"].first()
    dy = y[2004] - y[2006]
    expected = dy[g == 2007].mean() - dy[g == 0].mean()
    got = uni.table.query("cohort == 2007 and time == 2004")["att"].iloc[0]
    assert abs(got - expected) < 1e-12


def test_event_time_window_and_balance(mpdta):
    res = _fit_mpdta(mpdta, bootstrap=False, control_group="nevertreated")
    agg = res.aggregate("dynamic", min_e=-1, max_e=1)
    assert list(agg.table.index) == [-1, 0, 1]
    np.testing.assert_allclose(agg.overall.att, agg.table.loc[[0, 1], "att"].mean(), atol=1e-15)
    bal = res.aggregate("dynamic", balance_e=1)
    # only cohorts observed for >= 2 periods after starting (2004, 2006) contribute
    assert bal.table.index.max() == 1
    sub = res.table[(res.table["cohort"] < 2007) & (res.table["time"] - res.table["cohort"] == 0)]
    n = mpdta.groupby("countyreal")["first.treat"].first().value_counts()
    w = n[sub["cohort"]].to_numpy() / n[sub["cohort"]].sum()
    np.testing.assert_allclose(bal.table.loc[0, "att"], (sub["att"].to_numpy() * w).sum(), atol=1e-12)
    with pytest.raises(ValueError, match="kind"):
        res.aggregate("weekly")


# --------------------------------------------------------------------------------------------
# Recovery on a simulated staggered panel with known effects
# --------------------------------------------------------------------------------------------
def _simulate(n_units=300, periods=10, cohorts=(4, 6, 8, 0), seed=0, months=False):
    rng = np.random.default_rng(seed)
    g = rng.choice(cohorts, size=n_units)
    unit_fe = rng.normal(0, 1, n_units)
    t = np.arange(1, periods + 1)
    time_fe = np.cumsum(rng.normal(0.1, 0.2, periods))
    e = t[None, :] - g[:, None]
    treated = (g[:, None] > 0) & (e >= 0)
    effect = np.where(treated, 1.0 + 0.5 * e, 0.0)  # grows by 0.5 per period
    y = unit_fe[:, None] + time_fe[None, :] + effect + rng.normal(0, 0.5, (n_units, periods))
    df = pd.DataFrame(
        {
            "unit": np.repeat(np.arange(n_units), periods),
            "t": np.tile(t, n_units),
            "g": np.repeat(g, periods),
            "y": y.ravel(),
            "d": treated.ravel().astype(int),
        }
    )
    if months:
        start = pd.Timestamp("2022-01-01")
        df["t"] = [start + pd.DateOffset(months=int(k) - 1) for k in df["t"]]
        df["g"] = [pd.NaT if k == 0 else start + pd.DateOffset(months=int(k) - 1) for k in df["g"]]
    return df, g, effect


@pytest.mark.parametrize("control_group", ["nevertreated", "notyettreated"])
def test_recovers_known_dynamic_effects(control_group):
    df, g, _ = _simulate(seed=11)
    res = att_gt(df, "y", "unit", "t", "g", control_group=control_group, n_boot=999, seed=3)
    dyn = res.aggregate("dynamic")
    e = dyn.table.index.to_numpy()
    truth = np.where(e < 0, 0.0, 1.0 + 0.5 * e)
    assert (dyn.table["ci_low"] <= truth).all() and (truth <= dyn.table["ci_high"]).all()
    np.testing.assert_allclose(dyn.table["att"], truth, atol=0.25)
    overall_truth = truth[dyn.table.index >= 0].mean()
    assert dyn.overall.ci_low <= overall_truth <= dyn.overall.ci_high
    assert abs(dyn.overall.att - overall_truth) < 0.15
    assert res.pretrend_test()["p_value"] > 0.01
    # TWFE with growing effects is biased towards the early (shorter) horizons
    tw = twfe(df, "y", "unit", "t", "d")
    simple = res.aggregate("simple")
    assert abs(tw.estimate - simple.overall.att) > 0.1


def test_event_study_pretrend_test_when_cell_pretest_is_singular():
    # monthly panel with more pre-period cells than units: the cell-level pre-test is singular
    df, _, _ = _simulate(n_units=40, periods=40, cohorts=(20, 26, 32, 0), seed=8)
    res = att_gt(df, "y", "unit", "t", "g", bootstrap=False)
    with pytest.warns(UserWarning, match="singular"):
        assert np.isnan(res.pretrend_test()["p_value"])
    dyn = res.aggregate("dynamic", min_e=-6, max_e=6)
    ok = dyn.pretrend_test()
    assert ok["df"] == 6 and ok["p_value"] > 0.01
    # one pre event time: the Wald statistic is (att / analytic se)^2
    one = res.aggregate("dynamic", min_e=-1, max_e=2).pretrend_test()
    row = res.aggregate("dynamic", min_e=-1, max_e=2).table.loc[-1]
    assert one["df"] == 1 and one["statistic"] == pytest.approx((row["att"] / row["se"]) ** 2, rel=1e-10)
    # a trend that starts 4 periods before coaching is flagged
    e = df["t"] - df["g"]
    bad = df.assign(y=df["y"] + np.where((df["g"] > 0) & (e >= -4) & (e < 0), 0.6 * (e + 5), 0.0))
    flagged = (
        att_gt(bad, "y", "unit", "t", "g", bootstrap=False).aggregate("dynamic", min_e=-6, max_e=6).pretrend_test()
    )
    assert flagged["p_value"] < 1e-3
    with pytest.raises(ValueError, match="dynamic"):
        res.aggregate("group").pretrend_test()


def test_month_dates_match_integer_periods_and_event_time_in_months():
    df_int, _, _ = _simulate(n_units=75, periods=24, cohorts=(6, 12, 18, 0), seed=5)
    df_m, _, _ = _simulate(n_units=75, periods=24, cohorts=(6, 12, 18, 0), seed=5, months=True)
    a = att_gt(df_int, "y", "unit", "t", "g", bootstrap=False)
    b = att_gt(df_m, "y", "unit", "t", "g", bootstrap=False)
    np.testing.assert_allclose(a.table["att"], b.table["att"], atol=1e-12)
    np.testing.assert_allclose(a.table["se"], b.table["se"], rtol=1e-12)
    assert isinstance(b.table["cohort"].iloc[0], pd.Timestamp)
    assert b.table["cohort"].iloc[0] == pd.Timestamp("2022-06-01")
    dyn = b.aggregate("dynamic")
    assert dyn.table.index.min() == 2 - 18  # first pre cell of the month-18 cohort, in months
    pd.testing.assert_index_equal(dyn.table.index, a.aggregate("dynamic").table.index)
    cal = b.aggregate("calendar")
    assert isinstance(cal.table.index[0], pd.Timestamp)


def test_programme_scale_runs():
    """Programme scale (75 providers x 60 months, 999 draws) runs; its speed is measured in
    benchmarks/did_speed.py, not asserted here."""
    df, _, _ = _simulate(n_units=75, periods=60, cohorts=(13, 19, 25, 31, 37, 0), seed=2, months=True)
    res = att_gt(df, "y", "unit", "t", "g", n_boot=999, seed=1)
    assert np.isfinite(res.aggregate("dynamic").overall.att)


# --------------------------------------------------------------------------------------------
# TWFE, event-study TWFE, 2x2 and Bacon decomposition against R
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ehec(shared_reference):
    e = pd.read_csv(shared_reference / "bacon" / "ehec_data.csv")
    e["post"] = (e["yexp2"].notna() & (e["year"] >= e["yexp2"])).astype(int)
    return e


@pytest.fixture(scope="module")
def bacon_ref(shared_reference):
    r = pd.read_csv(shared_reference / "bacon" / "bacon_reference.csv")
    r["untreated"] = r["untreated"].replace(99999, np.nan)
    return r


@pytest.mark.reference
@pytest.mark.parametrize("sample", ["all", "treated_only", "dins2"])
def test_twfe_matches_fixest(ehec, shared_reference, sample):
    ref = pd.read_csv(shared_reference / "bacon" / "twfe_reference.csv")
    d, y = ehec, "dins"
    if sample != "all":
        d = ehec[ehec["yexp2"].notna()]
    if sample == "dins2":
        d = d.assign(dins2=d["dins"] + 0.01 * np.maximum(d["year"] - d["yexp2"], 0))
        y = "dins2"
    row = ref.iloc[{"all": 0, "treated_only": 1, "dins2": 2}[sample]]
    res = twfe(d, y, "stfips", "year", "post")
    # fixest printed to 6 decimals: agree to half a unit in the last place
    assert abs(res.estimate - row["estimate"]) <= 5e-7
    assert abs(res.se - row["se"]) <= 5e-7
    assert res.ci_low < res.estimate < res.ci_high


@pytest.mark.reference
def test_twfe_castle_matches_lm(shared_reference):
    c = pd.read_csv(shared_reference / "bacon" / "castle.csv")
    ref = pd.read_csv(shared_reference / "bacon" / "twfe_reference.csv")
    assert abs(twfe(c, "l_homicide", "state", "year", "post").estimate - ref["estimate"].iloc[3]) < 1e-10


@pytest.mark.reference
@pytest.mark.parametrize("sample", ["outcome=dins; all", "outcome=dins; never-treated dropped", "outcome=dins2"])
def test_bacon_rows_match_bacondecomp(ehec, bacon_ref, sample):
    d, y = ehec, "dins"
    if sample != "outcome=dins; all":
        d = ehec[ehec["yexp2"].notna()]
    if sample == "outcome=dins2":
        d = d.assign(dins2=d["dins"] + 0.01 * np.maximum(d["year"] - d["yexp2"], 0))
        y = "dins2"
    bd = bacon_decomposition(d, y, "stfips", "year", "post")
    r = bacon_ref[bacon_ref["sample"].str.startswith(sample) & (bacon_ref["dataset"] == "ehec_data.csv")]
    rows = r[r["row"] == "2x2"].rename(columns={"untreated": "control"})
    m = bd.table.merge(rows, on=["type", "treated", "control"], how="outer", suffixes=("", "_r"), indicator=True)
    assert (m["_merge"] == "both").all()
    # reference printed to 9 (estimate) and 10 (weight) decimals
    np.testing.assert_allclose(m["estimate"], m["estimate_r"], atol=1e-7)
    np.testing.assert_allclose(m["weight"], m["weight_r"], atol=1e-9)
    s = bd.summary_by_type()
    summ = r[r["row"] == "summary"].set_index("type")
    np.testing.assert_allclose(s.loc[summ.index, "weight"], summ["weight"], atol=1e-5)
    np.testing.assert_allclose(s.loc[summ.index, "estimate"], summ["estimate"], atol=1e-5)
    assert abs(bd.table["weight"].sum() - 1) < 1e-12
    assert abs((bd.table["weight"] * bd.table["estimate"]).sum() - bd.twfe_estimate) < 1e-12
    assert abs(bd.twfe_estimate - twfe(d, y, "stfips", "year", "post").estimate) < 1e-12


@pytest.mark.reference
def test_bacon_castle(shared_reference, bacon_ref):
    c = pd.read_csv(shared_reference / "bacon" / "castle.csv")
    bd = bacon_decomposition(c, "l_homicide", "state", "year", "post")
    summ = bacon_ref[bacon_ref["sample"].eq("all 50 states") & bacon_ref["row"].eq("summary")].set_index("type")
    s = bd.summary_by_type()
    np.testing.assert_allclose(s.loc[summ.index, "weight"], summ["weight"], atol=5e-4)  # printed to 3 dp
    np.testing.assert_allclose(s.loc[summ.index, "estimate"], summ["estimate"], atol=5e-4)
    top = bd.table.loc[bd.table["weight"].idxmax()]
    assert top["type"] == "Treated vs Untreated" and top["treated"] == 2006 and np.isnan(top["control"])
    assert abs(top["estimate"] - 0.06823587) < 1e-8 and abs(top["weight"] - 0.5923947) < 1e-7
    fig, ax = bd.plot()
    assert "already-treated" in ax.get_title()
    assert "Later vs Earlier" in bd.summary() or "later vs earlier" in bd.summary()


def test_bacon_rejects_non_absorbing_and_always_treated():
    df, _, _ = _simulate(n_units=40, periods=6, seed=1)
    flip = df.copy()
    u = flip.loc[flip["g"] == 4, "unit"].iloc[0]  # treated from t = 4: switch it off at t = 6
    flip.loc[(flip["unit"] == u) & (flip["t"] == 6), "d"] = 0
    with pytest.raises(ValueError, match="absorbing"):
        bacon_decomposition(flip, "y", "unit", "t", "d")
    always = df.copy()
    always.loc[always["unit"] == 0, "d"] = 1
    with pytest.raises(ValueError, match="always treated"):
        bacon_decomposition(always, "y", "unit", "t", "d")


def test_event_study_twfe_bins_and_reference():
    df, g, _ = _simulate(n_units=80, periods=10, seed=4)
    es = event_study_twfe(df, "y", "unit", "t", "g", window=(-3, 3))
    assert list(es.table.index) == [-3, -2, -1, 0, 1, 2, 3]
    assert es.table.loc[-1, "estimate"] == 0 and np.isnan(es.table.loc[-1, "se"])
    # binned endpoint: the +3 coefficient pools e >= 3 (true effects 2.5, 3, 3.5, ...)
    assert es.table.loc[3, "estimate"] > es.table.loc[2, "estimate"]
    # identical to a dummy regression on the binned event time (statsmodels, unit + time FE)
    import statsmodels.formula.api as smf

    e = np.where(df["g"] > 0, df["t"] - df["g"], np.nan)
    eb = np.clip(e, -3, 3)
    X = df[["y", "unit", "t"]].copy()
    for k in (-3, -2, 0, 1, 2, 3):
        X[f"e{k + 3}"] = (eb == k).astype(float)
    fit = smf.ols("y ~ " + " + ".join(f"e{k + 3}" for k in (-3, -2, 0, 1, 2, 3)) + " + C(unit) + C(t)", X).fit()
    np.testing.assert_allclose(
        es.table.drop(index=-1)["estimate"], fit.params[[f"e{k + 3}" for k in (-3, -2, 0, 1, 2, 3)]], atol=1e-9
    )
    fig, ax = es.plot()
    assert "TWFE" in es.summary()


def test_did_2x2_equals_hand_means_and_att_gt_on_two_periods():
    df, _, _ = _simulate(n_units=120, periods=2, cohorts=(2, 0), seed=9)
    df["treated"] = (df["g"] > 0).astype(int)
    df["post"] = (df["t"] == 2).astype(int)
    res = did_2x2(df, "y", "treated", "post", cluster="unit")
    m = df.groupby(["treated", "post"])["y"].mean()
    hand = (m[1, 1] - m[1, 0]) - (m[0, 1] - m[0, 0])
    assert abs(res.estimate - hand) < 1e-12
    cs = att_gt(df, "y", "unit", "t", "g", bootstrap=False, control_group="nevertreated")
    assert abs(cs.table["att"].iloc[0] - hand) < 1e-12
    # cluster-robust SE differs from the influence-function SE only by the small-sample factor
    assert 0.9 < res.se / cs.table["se"].iloc[0] < 1.1
    assert res.ci_low < res.estimate < res.ci_high
    assert "difference-in-differences" in res.summary()
    res.plot()
    with pytest.raises(ValueError, match="0/1"):
        did_2x2(df.assign(treated=df["treated"] * 2), "y", "treated", "post")


# --------------------------------------------------------------------------------------------
# Results objects: summary, plots, html
# --------------------------------------------------------------------------------------------
def test_results_objects_render(mpdta):
    res = _fit_mpdta(mpdta, n_boot=199, seed=1)
    assert "parallel trends" in res.summary()
    assert "<table" in res._repr_html_()
    res.plot()
    for kind in KINDS:
        agg = res.aggregate(kind)
        assert agg.summary().startswith("Coaching is estimated")
        assert "<table" in agg._repr_html_()
        fig, ax = agg.plot()
        assert ax.get_title()
    dyn = res.aggregate("dynamic")
    fig, ax = dyn.plot()
    assert any(abs(line.get_xdata()[0] - (-1)) < 1e-12 for line in ax.lines if len(line.get_xdata()) == 2)
    assert set(dyn.get_plot_data().columns) >= {"event_time", "att", "ci_low", "ci_high"}
    assert dyn.table.index.name == "event_time"
    # bootstrapped level tables use the uniform band (wider than pointwise)
    assert dyn.crit_val > 1.96
    assert "simultaneous" in dyn.summary()


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------
@pytest.fixture
def small():
    return _simulate(n_units=60, periods=6, cohorts=(3, 5, 0), seed=21)[0]


def _run(df, **kw):
    return att_gt(df, "y", "unit", "t", "g", bootstrap=False, **kw)


def test_duplicate_rows(small):
    with pytest.raises(ValueError, match=r"duplicate rows.*\(unit, t\)"):
        _run(pd.concat([small, small.iloc[[0]]]))


def test_time_type(small):
    with pytest.raises(ValueError, match="'t' must be numeric.*month dates"):
        _run(small.assign(t="p" + small["t"].astype(str)))
    with pytest.raises(ValueError, match="whole-number"):
        _run(small.assign(t=small["t"] + 0.5, g=small["g"]))
    d = small.assign(t=pd.Timestamp("2024-01-15") + pd.to_timedelta(small["t"], "D"))
    with pytest.raises(ValueError, match="month-start"):
        _run(d.assign(g=pd.NaT))


def test_cohort_off_grid_and_outside_range(small):
    with pytest.raises(ValueError, match="between the observed periods"):
        _run(small.assign(t=small["t"] * 2, g=small["g"] * 2 + (small["g"] == 3)), control_group="nevertreated")
    late = small.assign(g=small["g"].replace(5, 9))
    with pytest.warns(UserWarning, match="after the last period.*never treated"):
        res = _run(late)
    assert set(res.table["cohort"]) == {3}
    early = small.assign(g=small["g"].replace(5, 1))
    with pytest.warns(UserWarning, match="already treated in the first period"):
        res = _run(early)
    assert res.n == (small.groupby("unit")["g"].first() != 5).sum()


def test_units_switching_cohort(small):
    d = small.copy()
    d.loc[(d["unit"] == 0) & (d["t"] == 2), "g"] = 99
    with pytest.raises(ValueError, match="'g' must be constant within each unit.*switch cohort.*0"):
        _run(d)


def test_no_never_treated(small):
    d = small[small["g"] > 0]
    with pytest.raises(ValueError, match="no never-treated units"):
        _run(d, control_group="nevertreated")
    # not-yet-treated: the last cohort is the comparison group and its periods are dropped (as R)
    res = _run(d, control_group="notyettreated")
    assert set(res.table["cohort"]) == {3} and res.table["time"].max() == 4


def test_one_unit_cohort_warns(small):
    d = small.copy()
    d.loc[d["unit"] == 0, "g"] = 4
    d.loc[(d["g"] == 4) & (d["unit"] != 0), "g"] = 0
    with pytest.warns(UserWarning, match=r"small cohorts.*4 \(1\)"):
        res = _run(d)
    assert res.table.query("cohort == 4")["att"].notna().all()


def test_unbalanced_and_missing_outcome(small):
    with pytest.raises(ValueError, match="unbalanced panel.*units 0"):
        _run(small.iloc[1:])
    with pytest.raises(ValueError, match="'y' has missing values"):
        _run(small.assign(y=small["y"].where(small.index != 3)))


def test_cell_without_overlap_is_nan_with_warning(small):
    # covariate that perfectly separates cohort 3 from every comparison unit
    d = small.assign(x=(small["g"] == 3).astype(float))
    with pytest.warns(UserWarning, match="set to NaN"):
        res = _run(d, covariates=["x"], method="dr")
    assert res.table.query("cohort == 3")["att"].isna().all()
    assert res.table.query("cohort == 5")["att"].notna().any()
    with pytest.warns(UserWarning, match="left out of the aggregation"):
        agg = res.aggregate("simple")
    assert np.isfinite(agg.overall.att)


def test_option_validation(small):
    with pytest.raises(ValueError, match="control_group"):
        _run(small, control_group="never")
    with pytest.raises(ValueError, match="method"):
        _run(small, method="ols")
    with pytest.raises(ValueError, match="columns not found"):
        _run(small.rename(columns={"y": "z"}))
    with pytest.raises(ValueError, match="time-invariant"):
        _run(small.assign(x=np.arange(len(small), dtype=float)), covariates=["x"])


def test_aggregate_does_not_import_attgt_at_run_time():
    """attgt -> aggregate only: aggregate reads GroupTimeATT for type hints alone (no cycle)."""
    import ast
    import dataclasses
    import importlib

    from cocEval.did._options import ATTOptions

    agg = importlib.import_module("cocEval.did.aggregate")  # the module (the package exports a function of that name)
    tree = ast.parse(Path(agg.__file__).read_text())
    runtime = [
        n for n in tree.body if isinstance(n, ast.ImportFrom) and n.module and n.module.lstrip(".").startswith("attgt")
    ]
    assert runtime == []
    opts = ATTOptions(outcome="y")
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.alpha = 0.1  # type: ignore[misc]
