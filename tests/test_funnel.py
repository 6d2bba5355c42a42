"""cocEval.funnel: exact Poisson/binomial funnel limits and overdispersion adjustment.

Exact limits are checked against (a) a brute-force implementation of Spiegelhalter's (2005)
interpolated quantile written here from the pmf with ``math`` only, (b) a hand example from
Poisson tables, and (c) the normal approximation for large denominators. Overdispersion is
checked against a by-hand winsorisation on a constructed set of providers and on simulated
Poisson / gamma-Poisson providers. Tolerances are stated per assertion.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from cocEval.funnel import FunnelResult, funnel_proportions, funnel_rates


# --- independent reference for the exact limits -------------------------------------------
def _brute_limit(pmf, p, support_max):
    """Smallest y with F(y) >= p, then (y - a) with a = (F(y) - p) / f(y) (Spiegelhalter 2005)."""
    cdf = 0.0
    for y in range(support_max + 1):
        f = pmf(y)
        cdf += f
        if cdf >= p:
            return y - (cdf - p) / f
    raise AssertionError("quantile not reached")


def _poisson_pmf(mu):
    return lambda y: math.exp(-mu + y * math.log(mu) - math.lgamma(y + 1))


def _binom_pmf(n, theta):
    return lambda y: math.comb(n, y) * theta**y * (1 - theta) ** (n - y)


@pytest.fixture
def providers():
    num = [12, 40, 25, 90, 33, 5]
    den = [1000, 2000, 1500, 2500, 1800, 400]
    return num, den, ["A", "B", "C", "D", "E", "F"]


@pytest.mark.parametrize("n", [50.0, 400.0, 1234.5, 5000.0])
@pytest.mark.parametrize("level", [0.95, 0.998])
def test_poisson_limits_match_bruteforce(n, level):
    theta = 0.02  # 20 per 1,000
    res = funnel_rates([20, 30], [1000, 1500], labels=["a", "b"], target=20)
    lim = res.limits_at([n]).iloc[0]
    tag = f"{100 * level:g}"
    for side, p in (("lower", (1 - level) / 2), ("upper", 1 - (1 - level) / 2)):
        expected = max(_brute_limit(_poisson_pmf(theta * n), p, 10_000), 0.0) / n * 1000
        assert lim[f"{side}_{tag}"] == pytest.approx(expected, rel=1e-9, abs=1e-12), side


@pytest.mark.parametrize("n", [20, 100, 333])
def test_binomial_limits_match_bruteforce(n):
    theta = 0.7
    res = funnel_proportions([70, 140], [100, 200], labels=["a", "b"], target=theta)
    lim = res.limits_at([n]).iloc[0]
    for col, p in (("lower_95", 0.025), ("upper_95", 0.975), ("lower_99.8", 0.001), ("upper_99.8", 0.999)):
        expected = min(max(_brute_limit(_binom_pmf(n, theta), p, n), 0.0) / n, 1.0)
        assert lim[col] == pytest.approx(expected, rel=1e-9), col


def test_poisson_hand_example_from_tables():
    """Mean 10 (10 per 1,000 over 1,000 bed days), upper 95% limit.

    Poisson tables: P(Y <= 16) = 0.9730, P(Y <= 17) = 0.9857, so y_p = 17 and
    a = (0.9857 - 0.975) / (0.9857 - 0.9730) = 0.84: limit 16.16 events, 16.16 per 1,000.
    """
    res = funnel_rates([10, 20], [1000, 2000], labels=["a", "b"], target=10)
    lim = res.limits_at([1000.0]).iloc[0]
    assert lim["upper_95"] == pytest.approx(16.16, abs=0.01)
    # lower 95%: P(Y <= 3) = 0.0103, P(Y <= 4) = 0.0293 -> y_p = 4, a = (0.0293 - 0.025)/0.0189 = 0.23
    assert lim["lower_95"] == pytest.approx(3.77, abs=0.01)


def test_limits_approach_normal_approximation_for_large_denominators():
    theta = 0.025
    n = 2_000_000.0
    res = funnel_rates([50, 60], [2000, 2400], labels=["a", "b"], target=theta * 1000)
    lim = res.limits_at([n]).iloc[0]
    for col, z in (("upper_99.8", stats.norm.ppf(0.999)), ("lower_99.8", stats.norm.ppf(0.001))):
        normal = (theta + z * math.sqrt(theta / n)) * 1000
        assert lim[col] == pytest.approx(normal, rel=2e-4)


def test_funnel_shape_and_plot_data(providers):
    res = funnel_rates(*providers[:2], labels=providers[2])
    data = res.get_plot_data()
    assert set(data.columns) == {"denominator", "series", "value"}
    assert set(data["series"]) == {"target", "lower_95", "upper_95", "lower_99.8", "upper_99.8"}
    wide = data.pivot(index="denominator", columns="series", values="value")
    # limits nest and narrow as the denominator grows (allowing discreteness wiggle of 2%)
    assert (wide["upper_99.8"] >= wide["upper_95"]).all() and (wide["lower_99.8"] <= wide["lower_95"]).all()
    assert (wide["upper_95"] >= wide["target"]).all() and (wide["lower_95"] <= wide["target"]).all()
    assert wide["upper_99.8"].iloc[-1] < wide["upper_99.8"].iloc[0]
    assert np.all(np.diff(wide["upper_99.8"].to_numpy()) < 0.02 * wide["target"].iloc[0])


def test_table_values_positions_and_default_target(providers):
    num, den, labels = providers
    res = funnel_rates(num, den, labels=labels)
    t = res.table.set_index("label")
    theta = sum(num) / sum(den)
    assert res.target == pytest.approx(theta * 1000)
    assert t.loc["D", "expected"] == pytest.approx(theta * 2500)
    assert t.loc["D", "rate"] == pytest.approx(36.0)
    assert t.loc["D", "ratio"] == pytest.approx(90 / (theta * 2500))
    assert t.loc["D", "z"] == pytest.approx(2 * (math.sqrt(90) - math.sqrt(theta * 2500)))
    # positions agree with the limits stored in the same rows
    for lab, row in t.iterrows():
        if row["rate"] > row["upper_99.8"]:
            want = "above 99.8%"
        elif row["rate"] > row["upper_95"]:
            want = "above 95%"
        elif row["rate"] < row["lower_99.8"]:
            want = "below 99.8%"
        elif row["rate"] < row["lower_95"]:
            want = "below 95%"
        else:
            want = "within"
        assert row["position"] == want, lab
    assert t.loc["D", "position"] == "above 99.8%"  # 36 vs about 24 per 1,000 over 2,500 days
    assert t.loc["A", "position"].startswith("below")
    assert t.loc["B", "position"] == "within"


def test_explicit_target_and_per():
    res = funnel_rates([5, 9], [1000, 2000], labels=["a", "b"], per=100, target=0.5)
    assert res.target == 0.5
    assert res.table["expected"].tolist() == pytest.approx([5.0, 10.0])
    assert res.table["rate"].tolist() == pytest.approx([0.5, 0.45])


def _constructed_od_case():
    """Ten providers, E = 100 each; observed counts chosen to spread the z-scores widely."""
    observed = np.array([60, 75, 85, 95, 100, 100, 108, 120, 140, 170])
    denominator = np.full(10, 4000.0)  # 25 per 1,000 -> E = 100 when target = 25
    return observed, denominator, [f"P{i}" for i in range(10)]


def test_overdispersion_phi_and_tau2_by_hand():
    obs, den, labels = _constructed_od_case()
    res = funnel_rates(obs, den, labels=labels, target=25, overdispersion="additive")
    e = 100.0
    z = np.sort(2 * (np.sqrt(obs) - np.sqrt(e)))
    # R type-7 / numpy-linear 10th and 90th percentiles of 10 values: positions 0.9 and 8.1
    lo = z[0] + 0.9 * (z[1] - z[0])
    hi = z[8] + 0.1 * (z[9] - z[8])
    zw = np.clip(z, lo, hi)
    phi = np.mean(zw**2)
    w = np.full(10, 4 * e)  # 1 / s^2 with s = 1 / (2 sqrt(E))
    tau2 = (10 * phi - 9) / (w.sum() - np.sum(w**2) / w.sum())
    assert res.phi == pytest.approx(phi, rel=1e-12)
    assert res.tau2 == pytest.approx(tau2, rel=1e-12)
    assert res.overdispersion_pvalue == pytest.approx(stats.chi2.sf(10 * phi, 9))
    assert res.adjusted
    # additive limit at E = 100 on the sqrt(O/E) scale: 25 * (1 + z sqrt(1/400 + tau2))^2
    lim = res.limits_at([4000.0]).iloc[0]
    assert lim["upper_99.8"] == pytest.approx(25 * (1 + stats.norm.ppf(0.999) * math.sqrt(1 / 400 + tau2)) ** 2)
    z_adj = res.table["z_adjusted"].to_numpy()
    np.testing.assert_allclose(z_adj, (np.sqrt(obs / e) - 1) / math.sqrt(1 / 400 + tau2))

    mult = funnel_rates(obs, den, labels=labels, target=25, overdispersion="multiplicative")
    assert mult.phi == pytest.approx(phi)
    lim = mult.limits_at([4000.0]).iloc[0]
    assert lim["lower_95"] == pytest.approx(25 * (1 - 1.959963984540054 * math.sqrt(phi / 400)) ** 2)
    np.testing.assert_allclose(mult.table["z_adjusted"], mult.table["z"] / math.sqrt(phi))


def test_overdispersion_detected_only_when_present():
    rng = np.random.default_rng(20240101)
    k = 150
    bed_days = rng.uniform(2_000, 20_000, k)
    labels = [f"P{i}" for i in range(k)]
    poisson = rng.poisson(0.02 * bed_days)
    plain = funnel_rates(poisson, bed_days, labels=labels)
    res = funnel_rates(poisson, bed_days, labels=labels, overdispersion="additive")
    assert res.phi < 1.0 and res.tau2 == 0.0 and not res.adjusted
    pd.testing.assert_frame_equal(res.table, plain.table)  # exact limits kept
    mres = funnel_rates(poisson, bed_days, labels=labels, overdispersion="multiplicative")
    assert not mres.adjusted

    # gamma-Poisson: provider rates vary with a coefficient of variation of 30%
    rates = 0.02 * rng.gamma(1 / 0.3**2, 0.3**2, k)
    over = rng.poisson(rates * bed_days)
    raw = funnel_rates(over, bed_days, labels=labels)
    adj = funnel_rates(over, bed_days, labels=labels, overdispersion="additive")
    assert adj.phi > 3 and adj.adjusted and adj.overdispersion_pvalue < 1e-6
    # tau2 on the sqrt(rate ratio) scale is about (CV / 2)^2 = 0.0225, less the winsorisation shrinkage
    assert 0.008 < adj.tau2 < 0.03
    n_out_raw = (raw.table["position"] != "within").sum()
    n_out_adj = (adj.table["position"] != "within").sum()
    assert n_out_adj < n_out_raw
    assert n_out_adj <= 0.15 * k


def test_proportions_exact_and_overdispersed():
    num = [80, 45, 150, 20, 95, 60, 30, 170, 88, 41]
    den = [100, 60, 200, 40, 110, 70, 50, 190, 120, 55]
    labels = list("ABCDEFGHIJ")
    res = funnel_proportions(num, den, labels=labels)
    theta = sum(num) / sum(den)
    t = res.table.set_index("label")
    assert res.target == pytest.approx(theta)
    assert t.loc["D", "proportion"] == 0.5
    assert t.loc["D", "z"] == pytest.approx(
        2 * math.sqrt(40) * (math.asin(math.sqrt(0.5)) - math.asin(math.sqrt(theta)))
    )
    assert t.loc["D", "position"].startswith("below")
    assert (res.table[["lower_99.8", "upper_99.8"]].to_numpy() >= 0).all()
    assert (res.table["upper_99.8"] <= 1).all()
    adj = funnel_proportions(num, den, labels=labels, overdispersion="additive")
    assert adj.adjusted and adj.tau2 > 0  # the constructed proportions are overdispersed
    lim = adj.limits_at([100]).iloc[0]
    ang = math.asin(math.sqrt(theta)) + stats.norm.ppf(0.975) * math.sqrt(1 / 400 + adj.tau2)
    assert lim["upper_95"] == pytest.approx(math.sin(ang) ** 2)


def test_summary_and_repr(providers):
    num, den, labels = providers
    res = funnel_rates(num, den, labels=labels, numerator_name="restrictive interventions")
    text = res.summary(highlight="D")
    assert text.startswith("D: 90 restrictive interventions out of 2,500 occupied bed days (36.0 per 1,000")
    assert "above the 99.8% upper control limit" in text
    assert "Of 6 providers" in res.summary() and "exact Poisson" in res.summary()
    adj = funnel_rates(num, den, labels=labels, overdispersion="multiplicative")
    assert "phi = " in adj.summary()
    assert isinstance(res, FunnelResult) and "FunnelResult" in repr(res)
    assert "<table" in res._repr_html_()


def test_plot_highlights_one_provider_and_names_no_other(providers):
    num, den, labels = providers
    res = funnel_rates(num, den, labels=labels)
    fig, ax = res.plot(highlight="C")
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["C"]
    offsets = [c.get_offsets() for c in ax.collections]
    assert sorted(len(o) for o in offsets) == [1, 5]
    highlighted = next(o for o in offsets if len(o) == 1)[0]
    assert tuple(highlighted) == pytest.approx((1500, 25 / 1.5))
    assert ax.get_title().startswith("C is within")
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "95% limits" in legend and "99.8% limits" in legend and "Other providers" in legend
    fig2, ax2 = res.plot()
    assert len(ax2.texts) == 0 and "of 6 providers" in ax2.get_title()
    with pytest.raises(ValueError, match="highlight.*'Z'"):
        res.plot(highlight="Z")
    fig3, ax3 = funnel_proportions([8, 9], [10, 20], labels=["a", "b"]).plot(highlight="a")
    assert type(ax3.yaxis.get_major_formatter()).__name__ == "PercentFormatter"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(numerators=[1, np.nan], denominators=[10, 10]), r"numerators must be finite.*'b'"),
        (dict(numerators=[1, -1], denominators=[10, 10]), r"numerators must be >= 0.*'b': -1"),
        (dict(numerators=[1, 2.5], denominators=[10, 10]), "whole counts"),
        (dict(numerators=[1, 2], denominators=[10, 0]), r"denominators must be > 0.*'b'"),
        (dict(numerators=[1, 2], denominators=[10, 10, 10]), "differ in length"),
        (dict(numerators=[0, 0], denominators=[10, 10]), "no events"),
        (dict(numerators=[1, 2], denominators=[10, 10], overdispersion="phi"), "overdispersion"),
        (dict(numerators=[1, 2], denominators=[10, 10], limits=(0.95, 99.8)), "limits"),
        (dict(numerators=[1, 2], denominators=[10, 10], labels=["a", "a"]), "unique.*'a'"),
        (dict(numerators=[1, 2], denominators=[10, 10], labels=None), "labels"),
        (dict(numerators=[1], denominators=[10], labels=["a"]), "at least two"),
    ],
)
def test_rates_bad_input(kwargs, match):
    kwargs.setdefault("labels", ["a", "b"])
    with pytest.raises(ValueError, match=match):
        funnel_rates(**kwargs)


def test_proportions_bad_input():
    with pytest.raises(ValueError, match=r"exceed denominators.*'b': 12"):
        funnel_proportions([5, 12], [10, 10], labels=["a", "b"])
    with pytest.raises(ValueError, match="whole counts for proportions"):
        funnel_proportions([5, 6], [10, 10.5], labels=["a", "b"])
    with pytest.raises(ValueError, match="target"):
        funnel_proportions([5, 6], [10, 10], labels=["a", "b"], target=1.2)


def test_accepts_pandas_columns_and_a_single_limit_level():
    df = pd.DataFrame(
        {"provider": ["RX1", "RX2", "RX3", "RX4"], "ri": [30, 12, 60, 41], "obd": [1500.0, 900.0, 2000.0, 1700.0]}
    )
    res = funnel_rates(df["ri"], df["obd"], labels=df["provider"], limits=(0.95,))
    assert list(res.table["label"]) == ["RX1", "RX2", "RX3", "RX4"]
    assert {"lower_95", "upper_95"} <= set(res.table.columns) and "upper_99.8" not in res.table.columns
    assert set(res.table["position"]) <= {"within", "above 95%", "below 95%"}
    fig, ax = res.plot(highlight="RX3")
    assert [t.get_text() for t in ax.texts] == ["RX3"]
    na = df.assign(ri=pd.array([30, None, 60, 41], dtype="Int64"))
    with pytest.raises(ValueError, match=r"numerators must be finite.*'RX2'"):
        funnel_rates(na["ri"], na["obd"], labels=na["provider"])
