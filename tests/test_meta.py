"""cocEval.meta: random-effects pooling against metafor::rma() / predict().

Fixtures come from ``tests/reference/meta_reference.R`` (metafor 3.8-1, metadat 1.2.0):
dat.bcg (log risk ratios, escalc "RR"), dat.hackshaw1998 (log odds ratios), dat.normand1999
(mean differences), a homogeneous hand-built set (tau2 estimated at 0), and k = 2 / k = 1
subsets of dat.bcg; each with method DL and REML and test "z" and "knha".

Tolerances: estimates, SEs, interval ends, I2, Q and p-values 1e-6 relative; tau2 1e-5
relative (absolute 1e-10 when metafor's tau2 is 0). Our Fisher scoring follows metafor's own
steps, so agreement is in fact to about 1e-13.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from cocEval.meta import MetaResult, random_effects

REF_RTOL = 1e-6
TAU2_RTOL = 1e-5


@pytest.fixture(scope="module")
def meta_inputs(local_reference):
    return pd.read_csv(local_reference / "meta_inputs.csv")


@pytest.fixture(scope="module")
def meta_results(local_reference):
    return pd.read_csv(local_reference / "meta_results.csv")


def _cases():
    from pathlib import Path

    ref = pd.read_csv(Path(__file__).parent / "reference" / "meta_results.csv")
    return [(r.dataset, r.method, r.test) for r in ref.itertuples()]


def _fit(inputs, dataset, method, test):
    d = inputs[inputs["dataset"] == dataset]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # k = 1 warns by design (tested separately)
        return random_effects(
            d["yi"],
            np.sqrt(d["vi"]),
            method=method,
            hartung_knapp=(test == "knha"),
            labels=d["study"],
            prediction="metafor",  # metafor's predict(); the default is the bootstrap interval
        )


@pytest.mark.reference
@pytest.mark.parametrize(("dataset", "method", "test"), _cases())
def test_parity_with_metafor(meta_inputs, meta_results, dataset, method, test):
    ref = meta_results[
        (meta_results["dataset"] == dataset) & (meta_results["method"] == method) & (meta_results["test"] == test)
    ].iloc[0]
    res = _fit(meta_inputs, dataset, method, test)
    assert res.k == ref["k"]
    for ours, theirs in [
        ("estimate", "estimate"),
        ("se", "se"),
        ("ci_low", "ci_low"),
        ("ci_high", "ci_high"),
        ("pi_low", "pi_low"),
        ("pi_high", "pi_high"),
        ("i2", "i2"),
        ("q", "q"),
        ("q_pvalue", "q_pvalue"),
        ("pvalue", "pval"),
    ]:
        np.testing.assert_allclose(getattr(res, ours), ref[theirs], rtol=REF_RTOL, atol=1e-12, err_msg=ours)
    np.testing.assert_allclose(res.tau2, ref["tau2"], rtol=TAU2_RTOL, atol=1e-10, err_msg="tau2")
    # metafor's weights() are percentages of the random-effects weights
    np.testing.assert_allclose(res.table["weight"].iloc[0], ref["weight_first"], rtol=REF_RTOL)


def test_reml_and_dl_differ_on_heterogeneous_data(meta_inputs):
    """Guards against a method switch being ignored: the two tau2 estimates differ on dat.bcg."""
    dl = _fit(meta_inputs, "bcg", "DL", "z")
    reml = _fit(meta_inputs, "bcg", "REML", "z")
    assert dl.tau2 > 0 and reml.tau2 > 0
    assert abs(dl.tau2 - reml.tau2) > 1e-3


def test_dl_matches_statsmodels_combine_effects(meta_inputs):
    """An independent implementation of DerSimonian-Laird agrees (statsmodels)."""
    from statsmodels.stats.meta_analysis import combine_effects

    d = meta_inputs[meta_inputs["dataset"] == "hackshaw1998"]
    sm = combine_effects(d["yi"].to_numpy(), d["vi"].to_numpy(), method_re="dl")
    res = random_effects(d["yi"], np.sqrt(d["vi"]), method="DL")
    np.testing.assert_allclose(res.estimate, sm.mean_effect_re, rtol=1e-10)
    np.testing.assert_allclose(res.se, sm.sd_eff_w_re, rtol=1e-10)
    np.testing.assert_allclose(res.tau2, sm.tau2, rtol=1e-10)
    np.testing.assert_allclose(res.q, sm.q, rtol=1e-10)


def test_hand_example_two_equal_studies():
    """Two studies with equal SE: mean of the two; DL tau2 = max(0, (Q - 1) / (sum w - sum w^2 / sum w))."""
    res = random_effects([0.0, 1.0], [0.2, 0.2], method="DL")
    w = 1 / 0.04
    q = w * (0.5**2) * 2
    tau2 = (q - 1) / (2 * w - 2 * w**2 / (2 * w))
    assert res.estimate == pytest.approx(0.5)
    assert res.q == pytest.approx(q)
    assert res.tau2 == pytest.approx(tau2)
    assert res.se == pytest.approx(np.sqrt((0.04 + tau2) / 2))
    assert res.i2 == pytest.approx(100 * (q - 1) / q)


def test_tau2_zero_gives_fixed_effect_answer():
    y = np.array([0.10, 0.12, 0.09, 0.11, 0.10])
    se = np.sqrt([0.010, 0.020, 0.015, 0.030, 0.012])
    res = random_effects(y, se, prediction="metafor")
    w = 1 / se**2
    assert res.tau2 == 0.0 and res.i2 == 0.0
    assert res.estimate == pytest.approx(np.sum(w * y) / np.sum(w))
    assert (res.pi_low, res.pi_high) == pytest.approx((res.ci_low, res.ci_high))


def test_single_study_warns_and_returns_itself():
    with pytest.warns(UserWarning, match="one study"):
        res = random_effects([0.3], [0.1], hartung_knapp=True)
    assert res.estimate == pytest.approx(0.3)
    assert res.ci_low == pytest.approx(0.3 - 1.959963984540054 * 0.1)
    assert res.hartung_knapp is False
    assert "one study" in res.summary()


@pytest.mark.parametrize(
    ("estimates", "ses", "match"),
    [
        ([0.1, 0.2], [0.1, 0.0], r"std_errors.*> 0.*\[0.0\].*\[1\]"),
        ([0.1, 0.2], [0.1, -0.1], "std_errors"),
        ([0.1, np.nan], [0.1, 0.1], r"estimates.*non-finite.*\[1\]"),
        ([0.1, 0.2], [0.1, np.inf], "std_errors.*non-finite"),
        ([0.1, 0.2, 0.3], [0.1, 0.1], "differ in length"),
        ([], [], "at least one"),
    ],
)
def test_bad_input_raises(estimates, ses, match):
    with pytest.raises(ValueError, match=match):
        random_effects(estimates, ses)


def test_bad_options_raise():
    with pytest.raises(ValueError, match="method"):
        random_effects([0.1, 0.2], [0.1, 0.1], method="PM")
    with pytest.raises(ValueError, match="alpha"):
        random_effects([0.1, 0.2], [0.1, 0.1], alpha=1.5)
    with pytest.raises(ValueError, match="labels"):
        random_effects([0.1, 0.2], [0.1, 0.1], labels=["a"])


def test_alpha_changes_interval_width():
    r95 = random_effects([0.1, 0.5, 0.3], [0.1, 0.1, 0.2])
    r90 = random_effects([0.1, 0.5, 0.3], [0.1, 0.1, 0.2], alpha=0.10)
    assert (r90.ci_high - r90.ci_low) < (r95.ci_high - r95.ci_low)
    assert r90.level == 90 and "90% CI" in r90.summary()


def test_table_plot_data_and_summary(meta_inputs):
    res = _fit(meta_inputs, "bcg", "REML", "z")
    assert isinstance(res, MetaResult)
    assert list(res.table.columns) == ["label", "estimate", "se", "ci_low", "ci_high", "weight"]
    assert res.table["weight"].sum() == pytest.approx(100)
    assert res.table["label"].iloc[0] == "Aronson 1948"
    pdata = res.get_plot_data(transform=np.exp)
    assert list(pdata["kind"].value_counts().sort_index()) == [1, 1, 13]
    pooled = pdata[pdata["kind"] == "pooled"].iloc[0]
    assert pooled["estimate"] == pytest.approx(np.exp(res.estimate))
    pred = pdata[pdata["kind"] == "prediction"].iloc[0]
    assert pred["low"] == pytest.approx(np.exp(res.pi_low))
    text = res.summary(transform=np.exp)
    assert f"{np.exp(res.estimate):.3g}" in text and "I-squared is 92%" in text and "REML" in text
    assert "<p>" in res._repr_html_()


def test_forest_plot_draws_rows_diamond_and_prediction(meta_inputs):
    res = _fit(meta_inputs, "bcg", "REML", "knha")
    fig, ax = res.forest_plot(transform=np.exp)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[0] == "Aronson 1948" and "Random-effects (REML)" in labels and "Prediction interval" in labels
    assert ax.get_xscale() == "log"
    assert len(ax.patches) == 1  # the pooled diamond
    x = ax.patches[0].get_xy()[:, 0]
    assert x.min() == pytest.approx(np.exp(res.ci_low)) and x.max() == pytest.approx(np.exp(res.ci_high))
    assert "I-squared 92%" in ax.get_title()
    fig2, ax2 = res.plot()
    assert ax2.get_xscale() == "linear"


def test_reml_falls_back_to_half_steps_where_metafor_stops(meta_inputs, meta_results):
    """metafor's default REML oscillates on this set and errors; we warn and use stepadj = 0.5."""
    ref = meta_results[(meta_results["dataset"] == "reml_oscillates") & (meta_results["method"] == "REML")]
    assert set(ref["control"]) == {"stepadj=0.5"}  # the fixture really is a non-converging case
    d = meta_inputs[meta_inputs["dataset"] == "reml_oscillates"]
    with pytest.warns(UserWarning, match="half steps"):
        res = random_effects(d["yi"], np.sqrt(d["vi"]), method="REML")
    np.testing.assert_allclose(res.tau2, ref["tau2"].iloc[0], rtol=TAU2_RTOL)


# --- prediction intervals -------------------------------------------------------------------
def _ten_studies(seed=4):
    rng = np.random.default_rng(seed)
    v = rng.uniform(0.01, 0.1, 10)
    y = rng.normal(0.0, np.sqrt(v + 0.04))
    return y, np.sqrt(v)


def test_hts_prediction_interval_formula():
    """Higgins, Thompson & Spiegelhalter (2009): mu_DL +/- t_{k-2} sqrt(tau2_DL + se_DL^2)."""
    from scipy import stats

    y, se = _ten_studies()
    res = random_effects(y, se, method="REML", prediction="hts")
    dl = random_effects(y, se, method="DL", prediction="metafor")
    half = stats.t.ppf(0.975, 8) * np.sqrt(dl.tau2 + dl.se**2)
    assert (res.pi_low, res.pi_high) == pytest.approx((dl.estimate - half, dl.estimate + half))
    assert res.prediction == "hts"


def test_bootstrap_prediction_interval_is_reproducible_and_wider():
    y, se = _ten_studies()
    a = random_effects(y, se, method="REML", hartung_knapp=True)
    b = random_effects(y, se, method="REML", hartung_knapp=True)
    c = random_effects(y, se, method="REML", hartung_knapp=True, seed=7)
    m = random_effects(y, se, method="REML", hartung_knapp=True, prediction="metafor")
    assert a.prediction == "boot" and (a.pi_low, a.pi_high) == (b.pi_low, b.pi_high)
    assert (a.pi_low, a.pi_high) == pytest.approx((c.pi_low, c.pi_high), abs=0.05)  # Monte Carlo error only
    assert a.pi_low < a.estimate < a.pi_high
    assert a.pi_high - a.pi_low > m.pi_high - m.pi_low
    with pytest.raises(ValueError):
        random_effects(y, se, prediction="magic")


def test_tau2_confidence_distribution_is_calibrated():
    """H(tau2) = P(Q > Q_obs; tau2): at the true tau2, H is uniform over repeated data, so the
    share of draws below the true tau2 (one per data set) is uniform too: its mean is 1/2."""
    from cocEval.meta import tau2_confidence_draws

    rng = np.random.default_rng(11)
    shares = []
    for _ in range(60):
        v = rng.uniform(0.01, 0.1, 8)
        y = rng.normal(0.0, np.sqrt(v + 0.05))
        d = tau2_confidence_draws(y, np.sqrt(v), 400, rng)
        shares.append(np.mean(d <= 0.05))
    assert abs(np.mean(shares) - 0.5) < 0.1
