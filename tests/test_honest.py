"""HonestDiD sensitivity analysis against R ``HonestDiD`` (README example on ehec) and fixed inputs.

Tolerance: R prints three significant digits; ours must round to R's printed value, i.e. lie
within half a unit of the last printed digit (plus 2e-6 for R's conic solver, whose optimum
differs from ours in the sixth decimal). Relative-magnitudes intervals are compared on R's
1,000-point grid (``grid_points=1000``) at the same precision, and the exact endpoints within
one grid step.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cocEval.did.honest import breakdown_value, honest_did, original_ci, r_rnorm
from cocEval.did.twfe import _fe_ols
from cocEval.errors import InputError, NotEstimableError

ROOT = Path(__file__).resolve().parents[1]
# ../shared/reference beside the project root (a worktree elsewhere may point COCEVAL_SHARED at it)
SHARED = Path(os.environ.get("COCEVAL_SHARED", ROOT.parent / "shared")) / "reference"


@pytest.fixture(scope="module")
def shared() -> Path:
    if not SHARED.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"shared reference data missing at {SHARED} (CI is set)")
        pytest.skip(f"shared reference data not found at {SHARED}")
    return SHARED


def _printed_tol(ref: float) -> float:
    """Half a unit in the last of three significant digits, plus solver slack."""
    if ref == 0:
        return 5e-6
    exp = int(np.floor(np.log10(abs(ref)))) - 2
    return 0.5 * 10.0**exp + 2e-6


def _event_study(shared: Path, control: bool):
    """fixest ``feols(dins ~ i(year, D, ref = 2013) [+ control] | stfips + year, cluster = stfips)``."""
    e = pd.read_csv(shared / "bacon" / "ehec_data.csv")
    d = e[(e.year < 2016) & (e.yexp2.isna() | (e.yexp2 != 2015))].copy()
    d["D"] = (d.yexp2 == 2014).astype(float)
    d["control"] = r_rnorm(len(d), 0)  # R: set.seed(0); rnorm(NROW(df_nonstaggered))
    wide = d.pivot(index="stfips", columns="year")
    states = list(dict.fromkeys(d.stfips))
    wide = wide.loc[states]
    years = np.array(sorted(d.year.unique()))
    Y, D = wide["dins"].to_numpy(), wide["D"].to_numpy()
    X = np.stack([D * (years == y)[None, :] for y in years if y != 2013], axis=2)
    if control:
        X = np.concatenate([X, wide["control"].to_numpy()[:, :, None]], axis=2)
    beta, V, _ = _fe_ols(Y, X, np.arange(len(states)))
    return beta[:7], V[:7, :7]


@pytest.fixture(scope="module")
def reference(shared):
    return pd.read_csv(shared / "honestdid" / "honestdid_ehec_reference.csv")


def _compare(ours: pd.DataFrame, ref: pd.DataFrame) -> None:
    ours = ours[ours["method"] != "Original"].reset_index(drop=True)
    ref = ref.reset_index(drop=True)
    assert np.allclose(ours["m"], ref["M_or_Mbar"])
    assert (ours["method"] == ref["method"]).all() and (ours["restriction"] == ref["Delta"]).all()
    for col in ("lb", "ub"):
        tol = ref[col].map(_printed_tol)
        diff = (ours[col] - ref[col]).abs()
        assert (diff <= tol).all(), pd.DataFrame({"ours": ours[col], "R": ref[col], "diff": diff, "tol": tol})


def test_r_rnorm_matches_r():
    # R 4.x: set.seed(0); rnorm(5); set.seed(42); rnorm(2)
    assert np.allclose(r_rnorm(5, 0), [1.2629543, -0.3262334, 1.3297993, 1.2724293, 0.4146414], atol=5e-8)
    assert np.allclose(r_rnorm(2, 42), [1.3709584, -0.5646982], atol=5e-8)


@pytest.mark.slow
def test_smoothness_matches_r(shared, reference):
    beta, V = _event_study(shared, control=False)
    ref = reference[reference["block"] == "SD, l_vec=first post period"]
    ours = honest_did(beta, V, 5, 2, restriction="smoothness", m=ref["M_or_Mbar"].tolist())
    _compare(ours, ref)


@pytest.mark.slow
def test_smoothness_with_control_matches_r(shared, reference):
    beta, V = _event_study(shared, control=True)
    ref = reference[reference["block"].str.startswith("SD with fake control")]
    ours = honest_did(beta, V, 5, 2, restriction="smoothness", m=ref["M_or_Mbar"].tolist())
    _compare(ours, ref)


def test_relative_magnitudes_matches_r(shared, reference):
    beta, V = _event_study(shared, control=False)
    ref = reference[reference["block"] == "RM, l_vec=first post period"]
    mbar = ref["M_or_Mbar"].tolist()
    on_grid = honest_did(beta, V, 5, 2, restriction="relative_magnitudes", m=mbar, grid_points=1000)
    _compare(on_grid, ref)
    exact = honest_did(beta, V, 5, 2, restriction="relative_magnitudes", m=mbar)
    sd = np.sqrt(V[5, 5])
    dpre = np.abs(np.diff(np.r_[beta[:5], 0.0])).max()
    step = 2 * (np.array(mbar) * dpre + 20 * sd) / 999
    e = exact[exact["method"] == "C-LF"]
    assert (np.abs(e["lb"].to_numpy() - ref["lb"].to_numpy()) <= step + 5e-5).all()
    assert (np.abs(e["ub"].to_numpy() - ref["ub"].to_numpy()) <= step + 5e-5).all()
    # the grid never widens the exact interval
    g = on_grid[on_grid["method"] == "C-LF"]
    assert (g["lb"].to_numpy() >= e["lb"].to_numpy() - 1e-12).all()
    assert (g["ub"].to_numpy() <= e["ub"].to_numpy() + 1e-12).all()


def test_breakdown_value_ehec(shared):
    """README: significant up to Mbar = 2 (not at 2); M breakdown about 0.03 (0.02 < M < 0.03)."""
    beta, V = _event_study(shared, control=False)
    bd = breakdown_value(beta, V, 5, 2, restriction="relative_magnitudes", tol=0.02)
    assert 1.5 < bd <= 2.0
    bd_sd = breakdown_value(beta, V, 5, 2, restriction="smoothness", upper=0.1, tol=5e-4)
    assert 0.02 < bd_sd < 0.03


def _fixed(shared, name):
    b = pd.read_csv(shared / "honestdid" / f"honestdid_{name}data_EventStudy_betahat.csv")
    s = pd.read_csv(shared / "honestdid" / f"honestdid_{name}data_EventStudy_sigma.csv").to_numpy()
    return b["betahat"].to_numpy(), s, b["timeVec"].to_numpy()


@pytest.mark.slow
@pytest.mark.parametrize("name,ref_year", [("BC", 2007), ("LW", -1)])
def test_fixed_inputs_properties(shared, name, ref_year):
    """BC (4 pre, 4 post) and LW (9 pre, 23 post) shipped with HonestDiD, as fixed inputs.

    No printed R numbers here: the intervals must nest as M grows, contain the identified
    point at M = 0 for smoothness, and contain the conventional interval's centre.
    """
    beta, sigma, t = _fixed(shared, name)
    n_pre = int((t < (2008 if name == "BC" else 0)).sum())
    n_post = len(t) - n_pre
    sd = honest_did(beta, sigma, n_pre, n_post, restriction="smoothness", m=[0, 0.02, 0.05])
    w = (sd["ub"] - sd["lb"]).to_numpy()[1:]
    assert np.all(np.diff(w) > 0)
    if n_post <= 4:  # relative magnitudes on the smaller design only (keeps the suite fast)
        rm = honest_did(beta, sigma, n_pre, n_post, restriction="relative_magnitudes", m=[0.5, 1])
        lo, hi = original_ci(beta, sigma, n_pre, n_post)
        r = rm[rm["method"] == "C-LF"]
        assert (r["lb"] <= (lo + hi) / 2).all() and (r["ub"] >= (lo + hi) / 2).all()
        assert r["lb"].iloc[1] <= r["lb"].iloc[0] and r["ub"].iloc[1] >= r["ub"].iloc[0]


def test_flci_m0_is_min_variance_interval():
    """At M = 0 the FLCI is the minimum-variance unbiased-under-linear-trends estimate +/- z*sd."""
    rng = np.random.default_rng(3)
    A = rng.normal(size=(5, 5))
    sigma = A @ A.T / 100 + np.eye(5) / 100
    beta = rng.normal(size=5) / 10
    out = honest_did(beta, sigma, 3, 2, restriction="smoothness", m=0, r_draws=False).iloc[1]
    # brute force: minimise the variance of l_pre'b_pre + b_post1 over pre weights whose
    # cumulated sums add to 1 (the FLCI constraint), by least squares on a fine parameterisation
    from scipy.optimize import minimize

    D = np.eye(3) - np.eye(3, k=-1)

    def var(w2):
        w = np.r_[w2, 1 - w2.sum()]
        a = np.r_[D @ w, 1.0, 0.0]
        return a @ sigma @ a

    res = minimize(var, np.zeros(2), method="BFGS", options={"gtol": 1e-12})
    w = np.r_[res.x, 1 - res.x.sum()]
    a = np.r_[D @ w, 1.0, 0.0]
    half = 1.959963984540054 * np.sqrt(a @ sigma @ a)
    assert out["lb"] == pytest.approx(a @ beta - half, abs=1e-7)
    assert out["ub"] == pytest.approx(a @ beta + half, abs=1e-7)


def test_inputs_are_checked():
    b, s = np.zeros(4), np.eye(4)
    with pytest.raises(InputError):
        honest_did(b, s, 2, 2, restriction="linear", m=1)
    with pytest.raises(InputError):
        honest_did(b, s, 3, 2, restriction="smoothness", m=1)
    with pytest.raises(InputError):
        honest_did(b, s, 2, 2, restriction="smoothness", m=-1)
    with pytest.raises(NotEstimableError):
        honest_did(np.r_[np.nan, 0, 0, 0], s, 2, 2, restriction="smoothness", m=1)


def test_event_study_method_on_synthetic_programme():
    """AggregatedATT.honest_did: influence-function covariance, reference e = -1 dropped."""
    import warnings

    from cocEval.data import load_programme, provider_month_panel
    from cocEval.did import att_gt
    from tests.conftest import SYNTHETIC

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        panel = provider_month_panel(load_programme(SYNTHETIC), "restrictive_interventions")
        kw = dict(bootstrap=False)
        uni = att_gt(panel, "value", "provider_id", "month", "start_month", base_period="universal", **kw)
        agg = uni.aggregate("dynamic", min_e=-3, max_e=1)
        var = att_gt(panel, "value", "provider_id", "month", "start_month", **kw).aggregate(
            "dynamic", min_e=-3, max_e=1
        )
    out = agg.honest_did(restriction="relative_magnitudes", m=[1.0])
    orig = out.iloc[0]
    t = agg.table
    # the original interval is the event-time-0 estimate +/- 1.96 SE of the aggregation
    assert (orig["lb"] + orig["ub"]) / 2 == pytest.approx(t.loc[0, "att"])
    assert (orig["ub"] - orig["lb"]) / 2 == pytest.approx(1.959963984540054 * t.loc[0, "se"], rel=1e-8)
    assert out.iloc[1]["lb"] <= orig["lb"] and out.iloc[1]["ub"] >= orig["ub"]
    with pytest.raises(InputError):
        var.honest_did(restriction="smoothness", m=0)


def test_hybrid_test_memo_and_quantile_shortcut_change_nothing():
    """The per-binding-set memo and the direct truncated-normal quantile give scipy's answers."""
    from scipy import stats

    from cocEval.did.honest import _conditional_lf_test, _RMTests, _trunc_norm_quantile

    rng = np.random.default_rng(0)
    for lo, hi in [(-1.0, 2.0), (-np.inf, 0.3), (0.5, np.inf), (-3.2, -1.1), (1.5, 7.0)]:
        assert _trunc_norm_quantile(0.95, lo, hi) == float(stats.truncnorm.ppf(0.95, lo, hi))
    beta = np.array([0.002, -0.004, 0.001, 0.03, 0.05, 0.04])
    sigma = np.diag([2e-5] * 6) + 5e-6
    tests = _RMTests(beta, sigma, 3, 3, np.ones(3) / 3, 1.0, 0.05, 0.005)
    for theta in np.r_[np.linspace(-0.1, 0.2, 61), rng.uniform(-0.1, 0.2, 40)]:
        for Y, one, X, sig, cv, V, memo in tests.parts:
            y = Y - one * theta
            assert _conditional_lf_test(y, X, sig, 0.05, 0.005, cv, V, memo) == _conditional_lf_test(
                y, X, sig, 0.05, 0.005, cv, V
            )
    assert any(len(memo) > 1 for *_, memo in tests.parts)  # the memo was used
