"""Report logic without rendering: which months count, what the words say, comparisons."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cocEval.data import provider_year_panel
from cocEval.report.models import log_effect_at, staff_comparison, staff_comparisons
from cocEval.report.provider import ProviderReport


@pytest.fixture(scope="module")
def cohort1():
    return ProviderReport.build("SYN001")


@pytest.fixture(scope="module")
def cohort3():
    return ProviderReport.build("SYN008")


def test_headline_month_uses_fitted_coaching_months_only(cohort1, cohort3):
    assert cohort1.effect("restrictive_interventions").period.startswith("month 12 of coaching")
    # cohort 3 starts 2025-04; 2026-03 is provisional, so 11 fitted coaching months
    assert cohort3.effect("restrictive_interventions").period.startswith("month 11 of coaching")
    assert "in month 11 of coaching" in cohort3.effect("restrictive_interventions").sentence()


def test_sustainability_only_where_data_reach_past_coaching(cohort1, cohort3):
    assert cohort1.sustain_start == pd.Timestamp("2025-10-01")
    assert "sustain_level_change" in cohort1.its["restrictive_interventions"].coefficients.index
    assert cohort3.sustain_start is None and "cannot be judged yet" in cohort3.sustain_sentence()


def test_zero_reporting_stretch_left_out_of_models():
    rep = ProviderReport.build("SYN035")
    left_out = rep.excluded["restrictive_interventions"]
    assert pd.Timestamp("2022-09-01") in left_out and pd.Timestamp("2023-04-01") in left_out
    assert pd.Timestamp("2022-09-01") not in rep.excluded["positive_experience"]


def test_log_effect_equals_linear_contrast(cohort1):
    res = cohort1.its["restrictive_interventions"]
    est, se = log_effect_at(res, 5)
    c, V = res.coefficients["estimate"], res.cov
    w = pd.Series(0.0, index=c.index)
    w["level_change"], w["trend_change"] = 1.0, 5.0
    assert est == pytest.approx(float(w @ c), rel=1e-10)
    assert se == pytest.approx(float(np.sqrt(w @ V @ w)), rel=1e-8)


def test_staff_comparison_is_a_prediction_interval():
    p = pd.DataFrame(
        {
            "provider_id": np.repeat(list("ABCDE"), 2),
            "survey_year": [2023, 2024] * 5,
            "value": [5.0, 6.0, 5.0, 5.1, 5.0, 4.9, 5.0, 5.2, 5.0, 5.0],
            "first_year": [2024] * 2 + [0] * 8,
        }
    )
    r = staff_comparison(p, "A")
    comp = np.array([0.1, -0.1, 0.2, 0.0])
    assert r["difference"] == pytest.approx(1.0 - comp.mean())
    assert r["se"] == pytest.approx(comp.std(ddof=1) * np.sqrt(1 + 1 / 4))
    assert r["n_comparison"] == 4
    with pytest.raises(ValueError, match="comparison providers"):
        staff_comparison(p[p.provider_id.isin(list("ABC"))], "A")
    with pytest.raises(ValueError, match="no staff survey after"):
        staff_comparison(p, "B")
    # surveyed after the start but not the year before: said, not a KeyError
    with pytest.raises(ValueError, match="A: no survey in 2023 and 2024"):
        staff_comparison(p.drop(index=0), "A")


def test_staff_comparisons_of_everyone_equal_one_at_a_time(cohort1):
    """The batch's once-per-programme comparisons give each provider exactly its own."""
    panel = provider_year_panel(cohort1.prog, "engagement").dropna(subset=["value"])
    ids = [*cohort1.prog.participation["provider_id"], "NOT-THERE"]
    everyone = staff_comparisons(panel, ids)
    assert list(everyone) == ids
    n_ok = 0
    for pid in ids:
        try:
            one = staff_comparison(panel, pid)
        except ValueError as exc:
            assert everyone[pid] == str(exc)
        else:
            assert everyone[pid] == one  # the same floats, not approximately
            n_ok += 1
    assert n_ok >= 20 and isinstance(everyone["NOT-THERE"], str)
