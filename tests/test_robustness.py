"""Robustness checks for the programme DiD on the committed synthetic data (fast settings)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from cocEval.data import load_programme, provider_month_panel
from cocEval.did.robustness import (
    DiDSpec,
    comparison_choices,
    leave_one_out,
    leave_one_out_pooled,
    mde,
    multiplicity,
    placebo_in_time,
    placebo_outcome,
    randomisation_inference,
)
from cocEval.errors import InputError, NotEstimableError
from tests.conftest import SYNTHETIC


@pytest.fixture(scope="module")
def panel():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return provider_month_panel(load_programme(SYNTHETIC), "restrictive_interventions")


def test_multiplicity_matches_definitions():
    p = {"a": 0.01, "b": 0.02, "c": 0.04, "d": 0.5}
    out = multiplicity(p)
    # Holm: sorted p * (m - rank), cumulative max; BH: p * m / rank, cumulative min from the top
    assert out["p_holm"].tolist() == pytest.approx([0.04, 0.06, 0.08, 0.5])
    assert out["q_bh"].tolist() == pytest.approx([0.04, 0.04, 0.05333333, 0.5])
    assert out["survives_holm"].tolist() == [True, False, False, False]
    assert out["survives_bh"].tolist() == [True, True, False, False]
    with pytest.raises(InputError):
        multiplicity({"a": 1.5})


def test_placebo_in_time_is_near_zero_when_trends_are_parallel(panel):
    # the synthetic programme has parallel trends by construction: placebo CIs should cover 0
    out = placebo_in_time(panel, DiDSpec(), shifts=(6, 12))
    assert len(out) == 2 and out["estimate"].notna().all()
    assert ((out["ci_low"] < 0) & (out["ci_high"] > 0)).all()


def test_placebo_in_time_detects_a_fake_pre_trend(panel):
    # add a jump 6 months before each real start to treated providers: the placebo must see it
    s = panel["start_month"]
    jump = s.notna() & (panel["month"] >= s - pd.DateOffset(months=6))
    bumped = panel.assign(value=panel["value"] + 20.0 * jump)
    out = placebo_in_time(bumped, DiDSpec(), shifts=(6,))
    assert out["estimate"].iloc[0] > 10 and out["p_value"].iloc[0] < 0.01


def test_placebo_outcome_hook(panel):
    rng = np.random.default_rng(1)
    noise = panel.assign(value=rng.normal(size=len(panel)))
    out = placebo_outcome(noise, DiDSpec(), label="pure noise")
    assert out["check"].iloc[0] == "pure noise" and abs(out["estimate"].iloc[0]) < 4 * out["se"].iloc[0]


def test_randomisation_inference_is_bounded_and_valid(panel):
    out = randomisation_inference(panel, DiDSpec(), n_perm=9, seed=1)
    r = out.iloc[0]
    assert r["n_perm"] == 9 and 0.1 <= r["p_value"] <= 1.0  # p >= 1/(1+9)


def test_leave_one_out_cohort(panel):
    out = leave_one_out(panel, DiDSpec(), by="cohort")
    assert len(out) == panel["start_month"].nunique()
    assert out["change"].abs().is_monotonic_decreasing
    with pytest.raises(InputError):
        leave_one_out(panel, DiDSpec(), by="ward")


def test_leave_one_out_pooled_finds_the_outlier():
    eff = pd.DataFrame({"provider_id": list("abcde"), "log_effect": [-0.2, -0.25, -0.15, -0.22, 0.8], "se": [0.1] * 5})
    out = leave_one_out_pooled(eff)
    assert out["left_out"].iloc[0] == "e" and out["change"].iloc[0] < 0
    with pytest.raises(NotEstimableError):
        leave_one_out_pooled(eff.head(2))


def test_comparison_choices_grid(panel):
    out = comparison_choices(panel, DiDSpec(), anticipation=(0, 1))
    assert len(out) == 2 * 2 * 2 and out["is_main"].sum() == 1
    main = out[out["is_main"]].iloc[0]
    assert main["control_group"] == "notyettreated" and main["anticipation"] == 0


def test_mde_tracks_the_noise(panel):
    small = mde(panel, DiDSpec(), n_sims=20, seed=2)
    noisy = mde(panel.assign(value=panel["value"] * 3), DiDSpec(), n_sims=20, seed=2)
    assert small["mde"] > 0 and noisy["mde"] == pytest.approx(3 * small["mde"], rel=1e-6)
    assert small["mde"] == pytest.approx(small["analytic_mde"], rel=0.35)


def test_placebo_in_time_its_per_provider(panel):
    from cocEval.did.robustness import placebo_in_time_its

    treated = panel[panel["start_month"].notna()]
    ids = list(treated["provider_id"].unique()[:4])
    series = {p: treated[treated["provider_id"] == p] for p in ids}
    starts = {p: series[p]["start_month"].iloc[0] for p in ids}
    out = placebo_in_time_its(
        series, starts, outcome="numerator", shift=12, family="quasipoisson", exposure="denominator"
    )
    assert list(out.columns) == ["provider_id", "level_change", "ci_low", "ci_high", "p_value"]
    assert 1 <= len(out) <= 4 and out["level_change"].notna().all()
    assert (out["ci_low"] <= out["level_change"]).all() and (out["level_change"] <= out["ci_high"]).all()


# --- the array fast path re-fits exactly what att_gt on the varied frame would ----------------
def _slow(frame, spec, max_e=None):
    """(effect, SE) by the public route: att_gt on the frame, then the aggregation."""
    from cocEval.did import att_gt

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = att_gt(frame, spec.outcome, spec.unit, spec.time, spec.cohort, **spec.fit_kwargs())
        if spec.summary == "dynamic" or max_e is not None:
            agg = res.aggregate("dynamic", min_e=0, max_e=max_e if max_e is not None else spec.max_e)
        else:
            agg = res.aggregate("simple", max_e=spec.max_e)
    return agg.overall.att, agg.overall.se


@pytest.mark.parametrize(
    "spec",
    [
        DiDSpec(),
        DiDSpec(summary="dynamic", max_e=18),
        DiDSpec(control_group="nevertreated", base_period="universal", anticipation=1),
    ],
)
def test_refits_on_arrays_equal_att_gt_on_the_frame(panel, spec):
    from cocEval.did.robustness import _estimate_prepared, _prepare, _variant

    p = _prepare(panel, spec)
    units = np.asarray(p.units)
    # the full panel, a provider left out, a cohort left out (units whose start is the first cohort)
    first = panel["start_month"].dropna().min()
    gone = [units[0], *panel.loc[panel["start_month"] == first, "provider_id"].unique()[:3]]
    for drop in ([], [units[5]], gone):
        keep = ~np.isin(units, drop)
        fast = _estimate_prepared(_variant(p, keep=keep), spec)
        assert fast == _slow(panel[~panel["provider_id"].isin(drop)], spec)  # exactly, not approximately
    # start dates reshuffled among the coached providers
    rng = np.random.default_rng(3)
    treated = np.isfinite(p.G)
    G = p.G.copy()
    G[treated] = rng.permutation(p.G[treated])
    starts = pd.Series(p.coder.decode(G), index=units).where(treated)
    shuffled = panel.assign(
        start_month=pd.to_datetime(panel["provider_id"].map(starts)).astype(panel["start_month"].dtype)
    )
    assert _estimate_prepared(_variant(p, G=G), spec) == _slow(shuffled, spec)
    # other outcomes on the same design
    Y = np.random.default_rng(4).normal(size=p.Y.shape)
    wide = pd.DataFrame(Y, index=units, columns=pd.DatetimeIndex(p.coder.decode(p.periods)))
    other = panel.assign(
        value=wide.stack().reindex(pd.MultiIndex.from_frame(panel[["provider_id", "month"]])).to_numpy()
    )
    assert _estimate_prepared(_variant(p, Y=Y), spec) == _slow(other, spec)


def test_randomisation_inference_draws_are_the_reshuffled_frames(panel):
    """The permutation distribution is the one the frame-by-frame reshuffle gave (same seed)."""
    spec = DiDSpec()
    n_perm, seed = 7, 11
    out = randomisation_inference(panel, spec, n_perm=n_perm, seed=seed).iloc[0]
    obs = _slow(panel, spec)[0]
    starts = panel.groupby("provider_id")["start_month"].first().dropna()
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_perm):
        perm = pd.Series(rng.permutation(starts.to_numpy()), index=starts.index)
        new = panel["provider_id"].map(perm)
        shuffled = panel.assign(start_month=new.where(panel["provider_id"].isin(starts.index), panel["start_month"]))
        draws.append(_slow(shuffled, spec)[0])
    draws = np.array(draws)
    assert out["estimate"] == obs
    assert out["p_value"] == (1 + np.sum(np.abs(draws) >= abs(obs) - 1e-12)) / (1 + n_perm)
    assert out["perm_q025"] == np.quantile(draws, 0.025) and out["perm_q975"] == np.quantile(draws, 0.975)
