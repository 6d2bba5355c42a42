"""Data contract for published data: provider-level tables, optional tables, count bounds (issue 13)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cocEval.data import DataValidationError, load_programme, provider_month_panel, provider_months

PART = pd.DataFrame(
    {
        "provider_id": ["A", "B"],
        "provider_name": ["Trust A", "Trust B"],
        "cohort": [None, None],
        "start_month": [None, None],
        "coaching_end_month": [None, None],
        "wards_enrolled": [None, None],
        "region": [None, None],
    }
)


def _rp() -> pd.DataFrame:
    # A: rounded counts (Jan, Feb), B: suppressed people in Jan, no restrictive-intervention row in Feb
    return pd.DataFrame(
        {
            "provider_id": ["A", "A", "B", "B"],
            "month": ["2024-01", "2024-02", "2024-01", "2024-02"],
            "occupied_bed_days": [3105, 2990, 450, 465],
            "occupied_bed_days_lower": [3103, 2988, 448, 463],
            "occupied_bed_days_upper": [3107, 2992, 452, 467],
            "people_restricted": [15, 10, None, None],
            "people_restricted_lower": [13, 8, 0, None],
            "people_restricted_upper": [17, 12, 4, None],
        }
    )


def _write(folder: Path, **tables) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, df in tables.items():
        df.to_csv(folder / f"{name}.csv", index=False)
    return folder


def test_provider_level_with_bounds_loads_without_other_tables(tmp_path):
    prog = load_programme(_write(tmp_path / "d", participation=PART, restrictive_practice=_rp()))
    assert prog.tables == ("participation", "restrictive_practice")
    assert "ward_id" not in prog.restrictive_practice.columns
    assert prog.patient_experience.empty and prog.staff_survey.empty
    pm = provider_months(prog).set_index(["provider_id", "month"])
    # suppressed and not reported stay unknown (NaN), never 0; their rates too
    b = pm.loc[("B", pd.Timestamp("2024-01-01"))]
    assert np.isnan(b["people_restricted"]) and np.isnan(b["people_restricted_rate"])
    assert b["people_restricted_upper"] == 4 and b["people_restricted_lower"] == 0
    assert np.isnan(pm.loc[("B", pd.Timestamp("2024-02-01")), "people_restricted_upper"])
    a = pm.loc[("A", pd.Timestamp("2024-01-01"))]
    assert a["people_restricted_rate"] == pytest.approx(15 / 3105 * 1000)
    assert "provider-level" in prog.describe() and "patient_experience" in prog.describe()


def test_naive_panel_drops_suppressed_provider(tmp_path):
    prog = load_programme(_write(tmp_path / "d", participation=PART, restrictive_practice=_rp()))
    with pytest.warns(UserWarning, match="dropped 1 provider"):
        panel = provider_month_panel(prog, "people_restricted")
    assert set(panel["provider_id"]) == {"A"}


def _bad(tmp_path, mutate) -> DataValidationError:
    rp = _rp()
    mutate(rp)
    with pytest.raises(DataValidationError) as info:
        load_programme(_write(tmp_path / "bad", participation=PART, restrictive_practice=rp))
    return info.value


@pytest.mark.parametrize(
    "mutate, rule",
    [
        (
            lambda d: d.loc.__setitem__((0, "people_restricted_lower"), 20),
            "people_restricted_lower <= people_restricted_upper",
        ),
        (
            lambda d: d.loc.__setitem__((1, "people_restricted"), 13),
            "people_restricted within people_restricted_lower..people_restricted_upper",
        ),
        (lambda d: d.loc.__setitem__((2, "people_restricted_upper"), None), "both given or both empty"),
        (lambda d: d.loc.__setitem__((3, "people_restricted"), 5), "people_restricted given only with its bounds"),
        (lambda d: d.loc.__setitem__((0, "people_restricted_lower"), -1), "non-negative integer"),
        (lambda d: d.__delitem__("people_restricted_upper"), "required column present"),
        (lambda d: d.__delitem__("occupied_bed_days"), "required column present"),
        (lambda d: d.loc.__setitem__((1, "month"), "2024-01"), "unique key"),
    ],
)
def test_bounds_are_validated(tmp_path, mutate, rule):
    err = _bad(tmp_path, mutate)
    assert rule in str(err) and "restrictive_practice.csv" in str(err)


def test_interval_row_rules(tmp_path):
    # rounded total 140 vs rounded types summing 135: consistent as intervals, accepted
    rp = _rp().iloc[:1].copy()
    for c, v in {
        "restrictive_interventions": 140,
        "physical_restraint": 80,
        "seclusion": 25,
        "segregation": 0,
        "chemical_restraint": 30,
        "mechanical_restraint": 0,
    }.items():
        rp[c] = v
        rp[f"{c}_lower"] = max(v - 2, 5) if v else 0
        rp[f"{c}_upper"] = v + 2 if v else 0
    load_programme(_write(tmp_path / "ok", participation=PART, restrictive_practice=rp))
    # a total outside what the types allow is refused
    rp[["restrictive_interventions", "restrictive_interventions_lower", "restrictive_interventions_upper"]] = [
        160,
        158,
        162,
    ]
    with pytest.raises(DataValidationError, match="restrictive_interventions equals the sum of the per-type counts"):
        load_programme(_write(tmp_path / "bad", participation=PART, restrictive_practice=rp))
    # more people than interventions, even allowing for rounding, is refused
    rp[["restrictive_interventions", "restrictive_interventions_lower", "restrictive_interventions_upper"]] = [
        140,
        138,
        142,
    ]
    rp[["people_restricted", "people_restricted_lower", "people_restricted_upper"]] = [150, 148, 152]
    with pytest.raises(DataValidationError, match="people_restricted between 1 and restrictive_interventions"):
        load_programme(_write(tmp_path / "bad2", participation=PART, restrictive_practice=rp))


def test_synthetic_ward_level_unchanged(synthetic_dir):
    prog = load_programme(synthetic_dir)
    assert prog.tables == ("participation", "restrictive_practice", "patient_experience", "staff_survey")
    assert prog.restrictive_practice["restrictive_interventions"].dtype == "int64"
    assert "ward_id" in prog.restrictive_practice.columns


def test_staff_survey_percentages_without_counts(tmp_path):
    from cocEval.data import provider_year_panel

    ss = pd.DataFrame(
        {
            "provider_id": ["A", "B"],
            "survey_year": [2030, 2030],
            "respondents": [900, 400],
            "engagement": [None, None],
            "morale": [None, None],
            "violence_from_patients": [None, 40],
            "harassment_from_patients": [None, None],
            "discrimination_from_patients": [None, None],
            "recommend_workplace": [None, None],
            "violence_from_patients_pct": [12.5, None],
            "violence_from_patients_base": [880, None],
        }
    )
    prog = load_programme(_write(tmp_path / "d", participation=PART, staff_survey=ss))
    assert prog.tables == ("participation", "staff_survey") and len(prog.months) == 0
    panel = provider_year_panel(prog, "violence_from_patients").set_index("provider_id")
    assert panel.loc["A", "value"] == pytest.approx(0.125) and panel.loc["A", "respondents"] == 880
    assert panel.loc["B", "value"] == pytest.approx(0.1) and panel.loc["B", "respondents"] == 400
