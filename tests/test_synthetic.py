"""Tests for cocEval.synthetic: determinism, structure, quirks and the known truth."""

from __future__ import annotations

import doctest
import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cocEval.synthetic as syn
from cocEval.synthetic import TYPES, SyntheticConfig, exposure, generate, true_effects, write_synthetic

SYNTHETIC = Path(__file__).resolve().parents[1] / "data" / "synthetic"

FILES = (
    "participation.csv",
    "restrictive_practice.csv",
    "patient_experience.csv",
    "staff_survey.csv",
    "truth.csv",
    "truth.json",
)


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def tables():
    return generate()


@pytest.fixture(scope="module")
def truth_json(tables):
    return tables["truth"].attrs["truth_json"]


# ---------------------------------------------------------------------------------------------
# Determinism
# ---------------------------------------------------------------------------------------------


def test_defaults_reproduce_committed_data_byte_for_byte(tmp_path):
    if not (SYNTHETIC / "participation.csv").is_file():
        pytest.fail(f"committed synthetic data missing from {SYNTHETIC}")
    paths = write_synthetic(tmp_path)
    assert [p.name for p in paths] == list(FILES)
    for name in FILES:
        assert _sha(tmp_path / name) == _sha(SYNTHETIC / name), (
            f"{name} differs from the committed data/synthetic/{name}; regenerate with "
            f"`python -m cocEval synthesise --out data/synthetic` if the generator changed on purpose"
        )


def test_same_seed_identical_bytes_different_seed_differs(tmp_path):
    a, b, c = (write_synthetic(tmp_path / d, SyntheticConfig(seed=s)) for d, s in (("a", 11), ("b", 11), ("c", 12)))
    assert [_sha(p) for p in a] == [_sha(p) for p in b]
    differing = [p.name for p, q in zip(a, c) if _sha(p) != _sha(q)]
    # participation may differ only through names/cohorts/regions, but the outcome tables must differ
    assert {"restrictive_practice.csv", "patient_experience.csv", "staff_survey.csv", "truth.csv"} <= set(differing)


def test_files_use_unix_line_ends_and_fixed_formats(tmp_path):
    write_synthetic(tmp_path, SyntheticConfig(seed=4))
    for name in FILES:
        assert b"\r" not in (tmp_path / name).read_bytes(), name
    ss = (tmp_path / "staff_survey.csv").read_text().splitlines()
    header = ss[0].split(",")
    eng = [row.split(",")[header.index("engagement")] for row in ss[1:]]
    assert all(re.fullmatch(r"\d\.\d\d", v) for v in eng)
    truth = (tmp_path / "truth.csv").read_text().splitlines()[1].split(",")
    assert re.fullmatch(r"\d+\.\d{6}", truth[-1])  # effect written to 6 decimals

    def no_nan(token):
        raise AssertionError(f"truth.json holds {token}, which is not valid JSON")

    json.loads((tmp_path / "truth.json").read_text(), parse_constant=no_nan)


def test_generation_with_another_seed_differs():
    """Another seed gives other data of the same shape (generation speed is not asserted here)."""
    a, b = generate(SyntheticConfig(seed=99)), generate()
    assert set(a) == set(b)
    assert not a["restrictive_practice"].equals(b["restrictive_practice"])


# ---------------------------------------------------------------------------------------------
# Structure
# ---------------------------------------------------------------------------------------------


def test_participation_structure(tables):
    p = tables["participation"]
    assert list(p.columns) == [
        "provider_id",
        "provider_name",
        "cohort",
        "start_month",
        "coaching_end_month",
        "wards_enrolled",
        "region",
    ]
    part, comp = p[p["cohort"].notna()], p[p["cohort"].isna()]
    assert 55 <= len(part) <= 65 and 10 <= len(comp) <= 15
    assert part["provider_id"].str.fullmatch(r"SYN0\d\d").all()
    assert comp["provider_id"].str.fullmatch(r"SYN1\d\d").all()
    assert p["provider_name"].str.fullmatch(r"Synthetic Provider \d{2,3} \([A-Z][a-z]+\)").all()
    assert p["provider_name"].is_unique and p["provider_id"].is_unique
    starts = part.groupby("cohort")["start_month"].unique().map(list).to_dict()
    assert starts == {"Cohort 1": ["2024-04"], "Cohort 2": ["2024-10"], "Cohort 3": ["2025-04"]}
    ends = part.groupby("cohort")["coaching_end_month"].unique().map(list).to_dict()
    assert ends == {"Cohort 1": ["2025-09"], "Cohort 2": ["2026-03"], "Cohort 3": ["2026-09"]}
    assert part["cohort"].value_counts().between(15, 25).all()
    assert comp[["start_month", "coaching_end_month"]].isna().all().all()
    assert (comp["wards_enrolled"] == 0).all()
    assert set(p["region"]) <= set(syn.REGIONS)
    rp = tables["restrictive_practice"]
    wards = rp.groupby("provider_id")["ward_id"].nunique()
    assert (part.set_index("provider_id")["wards_enrolled"] == wards.reindex(part["provider_id"])).all()
    assert wards.between(2, 6).all() and rp.loc[rp["provider_id"].isin(part["provider_id"]), "ward_id"].nunique() >= 200


def test_ward_month_tables(tables):
    rp, pe = tables["restrictive_practice"], tables["patient_experience"]
    months = sorted(rp["month"].unique())
    assert months[0] == "2021-04" and months[-1] == "2026-03" and len(months) == 60
    assert rp["ward_id"].str.fullmatch(r"SYN\d{3}-W\d{2}").all()
    assert (rp["ward_id"].str[:6] == rp["provider_id"]).all()
    assert not rp.duplicated(["provider_id", "ward_id", "month"]).any()
    assert rp[["provider_id", "ward_id", "month"]].equals(pe[["provider_id", "ward_id", "month"]])
    counts = rp.drop(columns=["provider_id", "ward_id", "month", "ward_type"])
    assert all(pd.api.types.is_integer_dtype(counts[c]) for c in counts) and (counts >= 0).all().all()
    assert (rp["restrictive_interventions"] == rp[list(TYPES)].sum(axis=1)).all()
    assert (rp["prone_restraint"] <= rp["physical_restraint"]).all()
    any_ = rp["restrictive_interventions"] > 0
    assert (rp["people_restricted"] <= rp["restrictive_interventions"]).all()
    assert (rp.loc[any_, "people_restricted"] > 0).all() and (rp.loc[~any_, "people_restricted"] == 0).all()
    assert (rp["occupied_bed_days"] > 0).all() and rp["occupied_bed_days"].max() <= 31 * 25
    # realistic baseline rates: 5-60 per 1,000 OBD across providers (pre-programme), low-count
    # wards and zero months present, over-dispersion
    pre = rp[rp["month"] < "2024-04"]
    by_p = pre.groupby("provider_id")[["restrictive_interventions", "occupied_bed_days"]].sum()
    rate = by_p["restrictive_interventions"] / by_p["occupied_bed_days"] * 1000
    assert rate.quantile(0.05) > 3 and rate.quantile(0.95) < 70 and rate.max() / rate.min() > 4
    assert 0.02 < (rp["restrictive_interventions"] == 0).mean() < 0.3
    ld = pre.groupby("ward_type")[["restrictive_interventions", "occupied_bed_days"]].sum()
    ld_rate = ld["restrictive_interventions"] / ld["occupied_bed_days"]
    assert ld_rate["Learning disability and autism"] > ld_rate["Adult acute"] > ld_rate["Older adult"]
    assert (pe["positive_responses"] <= pe["responses"]).all()
    assert 10 <= pe["responses"].median() <= 30 and (pe["responses"] == 0).any()


def test_seasonality_winter_peak(tables):
    t = tables["truth"]
    ri = t[(t["outcome"] == "restrictive_interventions") & (t["post"] == 0)].copy()
    ri["moy"] = ri["period"].str[5:].astype(int)
    ri["rate"] = ri["expected_untreated"] / ri["denominator"]
    by = ri.groupby("moy")["rate"].mean()
    assert by[1] > by[7]


def test_staff_survey(tables):
    ss = tables["staff_survey"]
    assert sorted(ss["survey_year"].unique()) == list(range(2019, 2026))
    assert not ss.duplicated(["provider_id", "survey_year"]).any()
    assert ss["engagement"].between(0, 10).all()
    assert ss["morale"].dropna().between(0, 10).all()
    assert (
        ss.loc[ss["survey_year"] < 2021, "morale"].isna().all()
        and ss.loc[ss["survey_year"] >= 2021, "morale"].notna().all()
    )
    for c in syn.STAFF_COUNTS:
        assert (ss[c] <= ss["respondents"]).all() and (ss[c] >= 0).all()
    assert set(ss["provider_id"]) == set(tables["participation"]["provider_id"])


def test_validates_with_the_data_layer(tmp_path):
    from cocEval.data import load_programme

    write_synthetic(tmp_path, SyntheticConfig(seed=8))
    prog = load_programme(tmp_path)
    assert len(prog.participation) == 72 and prog.truth is not None


def test_bad_config_rejected():
    with pytest.raises(ValueError, match="same length"):
        SyntheticConfig(cohort_starts=("2024-04",))
    with pytest.raises(ValueError, match="outside the data range"):
        SyntheticConfig(cohort_starts=("2020-01", "2024-10", "2025-04"))
    with pytest.raises(ValueError):
        SyntheticConfig(unknown_knob=1)


def test_cli_synthesise(tmp_path, capsys):
    from cocEval.cli import main

    assert main(["synthesise", "--out", str(tmp_path / "x"), "--seed", "5"]) == 0
    assert sorted(p.name for p in (tmp_path / "x").iterdir()) == sorted(FILES)
    assert "participation.csv" in capsys.readouterr().out


def test_docstring_examples():
    result = doctest.testmod(syn, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 5 and result.failed == 0


# ---------------------------------------------------------------------------------------------
# Quirks
# ---------------------------------------------------------------------------------------------


def test_zero_reporting_stretch(tables, truth_json):
    z = truth_json["quirks"]["zero_reporting"]
    rp = tables["restrictive_practice"]
    stretch = rp[(rp["provider_id"] == z["provider_id"]) & rp["month"].between(z["first_month"], z["last_month"])]
    assert z["months"] == 8 and stretch["month"].nunique() == 8
    assert (stretch[list(syn.RP_OUTCOMES) + ["people_restricted"]] == 0).all().all()
    assert (stretch["occupied_bed_days"] > 0).all()
    other = rp[(rp["provider_id"] == z["provider_id"]) & ~rp["month"].between(z["first_month"], z["last_month"])]
    assert other["restrictive_interventions"].sum() > 0


def test_provisional_last_month_undercounts(tables, truth_json):
    q = truth_json["quirks"]["provisional_month"]
    assert q["month"] == "2026-03" and q["undercount"] == pytest.approx(0.30)
    rp, t = tables["restrictive_practice"], tables["truth"]
    ri = t[t["outcome"] == "restrictive_interventions"].groupby("period")["expected_treated"].sum()
    obs = rp.groupby("month")["restrictive_interventions"].sum()
    ratio = obs / ri.reindex(obs.index)
    assert ratio["2026-03"] == pytest.approx(0.70, abs=0.06)
    assert ratio["2025-10":"2026-02"].between(0.9, 1.1).all()
    assert (rp.loc[rp["month"] == "2026-03", "occupied_bed_days"] > 0).all()


def test_missing_ward_months_absent_and_listed(tables, truth_json):
    missing = pd.DataFrame(truth_json["quirks"]["missing_ward_months"])
    rp, pe = tables["restrictive_practice"], tables["patient_experience"]
    n_full = rp["ward_id"].nunique() * 60
    assert len(missing) == n_full - len(rp) and 0.002 < len(missing) / n_full < 0.01
    keys = ["provider_id", "ward_id", "month"]
    for df in (rp, pe):
        assert df.merge(missing, on=keys).empty
    assert truth_json["quirks"]["zero_response_ward_months"] == int((pe["responses"] == 0).sum()) > 0


# ---------------------------------------------------------------------------------------------
# Truth
# ---------------------------------------------------------------------------------------------


def test_exposure_shape():
    cfg = SyntheticConfig()
    x = exposure(np.array([-5, -1, 0, 4, 8, 17, 18, 23, 1000, np.nan]), cfg)
    assert x[:2].tolist() == [0.0, 0.0]
    assert x[2] == pytest.approx(1 / 9) and x[3] == pytest.approx(5 / 9)
    assert x[4] == x[5] == 1.0
    assert x[6] == pytest.approx(1 - 0.5 * (1 - 0.5 ** (1 / 6)))
    assert x[7] == pytest.approx(0.75)  # six months after the end: half of the lost half
    assert x[8] == pytest.approx(0.5) and x[9] == 0.0


def test_truth_layout_and_no_effect_before_start(tables):
    t, p = tables["truth"], tables["participation"]
    assert list(t.columns) == list(syn.TRUTH_COLUMNS)
    assert set(t["outcome"]) == {*syn.RP_OUTCOMES, "positive_responses", *syn.STAFF_SCORES, *syn.STAFF_COUNTS}
    assert not t.duplicated(["provider_id", "period", "outcome"]).any()
    comp = t["provider_id"].isin(p.loc[p["cohort"].isna(), "provider_id"])
    pre = t["post"] == 0
    unaffected = t[comp | pre]
    assert (unaffected["expected_treated"] == unaffected["expected_untreated"]).all()
    assert (unaffected["effect"].dropna() == 1.0).all() and (unaffected["exposure"] == 0).all()
    assert comp.any() and (t.loc[comp, "post"] == 0).all()
    # post flags follow the start month (months) and the Y-09 rule (survey years)
    starts = p.set_index("provider_id")["start_month"]
    m = t[t["period"].str.len() == 7]
    assert (m["post"] == (m["period"] >= m["provider_id"].map(starts)).astype(int)).all()
    y = t[t["period"].str.len() == 4]
    rule = (y["period"] + "-09") >= y["provider_id"].map(starts)
    assert (y["post"] == rule.astype(int)).all()


def test_truth_effect_sizes(tables, truth_json):
    t = tables["truth"]
    full = t[(t["exposure"] == 1) & (t["denominator"] > 0)]
    for c, rr in zip(("Cohort 1", "Cohort 2", "Cohort 3"), (0.75, 0.80, 0.85)):
        assert truth_json["cohorts"][c]["geometric_mean_full_rate_ratio"] == pytest.approx(rr)
        ri = full[(full["cohort"] == c) & (full["outcome"] == "restrictive_interventions")]
        assert np.exp(np.log(ri["effect"]).mean()) == pytest.approx(rr, abs=0.03)
        pe = full[(full["cohort"] == c) & (full["outcome"] == "positive_responses")]
        pp = ((pe["expected_treated"] - pe["expected_untreated"]) / pe["denominator"]).mean()
        assert 0.03 <= pp <= 0.065, (c, pp)
        eng = full[(full["cohort"] == c) & (full["outcome"] == "engagement")]
        if len(eng):
            assert 0.08 <= (eng["expected_treated"] - eng["expected_untreated"]).mean() <= 0.22
    # provider heterogeneity around the cohort mean (SD ~0.08 on the log scale)
    prov = pd.DataFrame(truth_json["providers"]).T
    part = prov[prov["cohort"].notna()]
    sd = part.groupby("cohort")["full_log_rate_ratio"].std()
    assert sd.between(0.04, 0.13).all()
    # during coaching each provider's outcomes move in the direction of its own full effect
    # (most providers improve; a provider whose drawn effect is null or harmful moves the other way)
    beta = t["provider_id"].map(part["full_log_rate_ratio"].astype(float))
    post = t[(t["post"] == 1) & (t["exposure"] > 0) & t["effect"].notna()].assign(beta=beta)
    assert (post["beta"] < 0).mean() > 0.9
    improve = {
        **{o: -1 for o in syn.RP_OUTCOMES},
        "positive_responses": 1,
        "engagement": 1,
        "morale": 1,
        "violence_from_patients": -1,
        "harassment_from_patients": -1,
        "discrimination_from_patients": -1,
        "recommend_workplace": 1,
    }
    for o, sign in improve.items():
        e = post[post["outcome"] == o]
        assert len(e) and (np.sign(np.log(e["effect"])) == -sign * np.sign(e["beta"])).all(), o


def test_truth_expectations_match_the_data(tables, truth_json):
    """Observed totals agree with the noise-free expectations outside the quirks."""
    rp, pe, ss, t = (tables[k] for k in ("restrictive_practice", "patient_experience", "staff_survey", "truth"))
    z = truth_json["quirks"]["zero_reporting"]
    months = t[t["period"].str.len() == 7]
    clean = ~((months["provider_id"] == z["provider_id"]) & months["period"].between(z["first_month"], z["last_month"]))
    clean &= months["period"] != truth_json["quirks"]["provisional_month"]["month"]
    months = months[clean]
    rp_obs = rp.groupby(["provider_id", "month"]).sum(numeric_only=True)
    for o in ("restrictive_interventions", "physical_restraint", "prone_restraint", "seclusion"):
        e = months[months["outcome"] == o].set_index(["provider_id", "period"])["expected_treated"]
        assert rp_obs[o].reindex(e.index).sum() / e.sum() == pytest.approx(1.0, abs=0.05), o
    den = months[months["outcome"] == "restrictive_interventions"].set_index(["provider_id", "period"])["denominator"]
    assert (rp_obs["occupied_bed_days"].reindex(den.index) == den).all()
    e = months[months["outcome"] == "positive_responses"].set_index(["provider_id", "period"])["expected_treated"]
    pe_obs = pe.groupby(["provider_id", "month"])["positive_responses"].sum()
    assert pe_obs.reindex(e.index).sum() / e.sum() == pytest.approx(1.0, abs=0.01)
    years = t[t["period"].str.len() == 4].assign(survey_year=lambda d: d["period"].astype(int))
    s = ss.merge(years[years["outcome"] == "violence_from_patients"], on=["provider_id", "survey_year"])
    assert s["violence_from_patients"].sum() / s["expected_treated"].sum() == pytest.approx(1.0, abs=0.02)
    s = ss.merge(years[years["outcome"] == "engagement"], on=["provider_id", "survey_year"])
    assert (s["engagement"] - s["expected_treated"]).abs().max() < 0.3


def test_true_effects_by_hand():
    truth = pd.DataFrame(
        {
            "provider_id": ["A", "A", "B", "B"],
            "cohort": ["Cohort 1"] * 2 + ["Cohort 2"] * 2,
            "period": ["2024-04", "2024-05"] * 2,
            "outcome": "restrictive_interventions",
            "post": [0, 1, 1, 1],
            "exposure": [0.0, 0.5, 1.0, 1.0],
            "denominator": [500, 500, 400, 0],
            "expected_untreated": [10.0, 10.0, 8.0, 0.0],
            "expected_treated": [10.0, 8.0, 6.0, 0.0],
        }
    )
    te = true_effects(truth).set_index("group")
    # post rows with a denominator: (A, 2024-05) and (B, 2024-04)
    assert te.loc["All", "n"] == 2
    assert te.loc["All", "ratio"] == pytest.approx(14 / 18)
    assert te.loc["All", "difference"] == pytest.approx(np.mean([-2 / 500 * 1000, -2 / 400 * 1000]))
    assert te.loc["Cohort 1", "difference"] == pytest.approx(-4.0)
    assert te.loc["All", "mean_exposure"] == pytest.approx(0.75)
    with pytest.raises(ValueError, match="lacks columns"):
        true_effects(truth.drop(columns="exposure"))
