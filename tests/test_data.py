"""Data layer: schema acceptance, the documented errors on bad input, aggregation by hand."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from cocEval.data import (
    ColumnMapping,
    DataValidationError,
    load_programme,
    provider_month_panel,
    provider_months,
    provider_year_panel,
)

ROOT = Path(__file__).resolve().parents[1]


def tiny_tables() -> dict[str, pd.DataFrame]:
    """Two providers (one joins 2024-02, one never), one or two wards, 2024-01..2024-03."""
    participation = pd.DataFrame(
        {
            "provider_id": ["P1", "P2"],
            "provider_name": ["Alpha", "Beta"],
            "cohort": ["Cohort 1", None],
            "start_month": ["2024-02", None],
            "coaching_end_month": ["2025-07", None],
            "wards_enrolled": [2, 0],
            "region": ["London", "North West"],
        }
    )
    months = ["2024-01", "2024-02", "2024-03"]
    rows = []
    for ward, obd, totals in [("P1-W1", 500, [4, 2, 0]), ("P1-W2", 250, [6, 3, 1]), ("P2-W1", 400, [8, 8, 8])]:
        for m, t in zip(months, totals):
            phys = t // 2
            rows.append(
                {
                    "provider_id": ward[:2],
                    "ward_id": ward,
                    "month": m,
                    "occupied_bed_days": obd,
                    "restrictive_interventions": t,
                    "physical_restraint": phys,
                    "prone_restraint": phys // 2,
                    "seclusion": t - phys,
                    "segregation": 0,
                    "chemical_restraint": 0,
                    "mechanical_restraint": 0,
                    "people_restricted": min(t, 2),
                }
            )
    rp = pd.DataFrame(rows)
    pe = rp[["provider_id", "ward_id", "month"]].copy()
    pe["responses"] = [10, 10, 10, 5, 5, 0, 20, 20, 20]
    pe["positive_responses"] = [8, 9, 10, 4, 5, 0, 10, 12, 14]
    ss = pd.DataFrame(
        {
            "provider_id": ["P1", "P1", "P2", "P2"],
            "survey_year": [2023, 2024, 2023, 2024],
            "respondents": [100, 120, 80, 80],
            "engagement": [6.5, 6.8, 6.9, 7.0],
            "morale": [5.9, 6.1, 6.0, 6.0],
            "violence_from_patients": [20, 18, 10, 10],
            "harassment_from_patients": [25, 20, 12, 11],
            "discrimination_from_patients": [8, 6, 3, 3],
            "recommend_workplace": [50, 66, 40, 41],
        }
    )
    return {"participation": participation, "restrictive_practice": rp, "patient_experience": pe, "staff_survey": ss}


def write(tables: dict[str, pd.DataFrame], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, df in tables.items():
        df.to_csv(folder / f"{name}.csv", index=False)
    return folder


@pytest.fixture
def tiny(tmp_path) -> Path:
    return write(tiny_tables(), tmp_path / "tiny")


def test_tiny_data_loads_with_types(tiny):
    prog = load_programme(tiny)
    assert prog.restrictive_practice["month"].dtype.kind == "M"
    assert prog.participation.loc[0, "start_month"] == pd.Timestamp("2024-02-01")
    assert pd.isna(prog.participation.loc[1, "start_month"])
    assert prog.restrictive_practice["seclusion"].dtype == "int64"
    assert len(prog.data_hash) == 64 and prog.truth is None
    assert "2 providers" in prog.describe()


def test_provider_months_hand_computed(tiny):
    pm = provider_months(load_programme(tiny)).set_index(["provider_id", "month"])
    feb = pm.loc[("P1", pd.Timestamp("2024-02-01"))]
    # wards W1 (2 interventions, 500 bed days) and W2 (3, 250): 5 / 750 * 1000
    assert feb["restrictive_interventions"] == 5
    assert feb["occupied_bed_days"] == 750
    assert feb["restrictive_interventions_rate"] == pytest.approx(5 / 750 * 1000, rel=1e-12)
    assert feb["wards_reporting"] == 2
    pe = provider_months(load_programme(tiny), "patient_experience").set_index(["provider_id", "month"])
    assert pe.loc[("P1", pd.Timestamp("2024-03-01")), "positive_share"] == pytest.approx(10 / 10)
    assert pe.loc[("P1", pd.Timestamp("2024-01-01")), "positive_share"] == pytest.approx(12 / 15)


def test_provider_month_panel_is_balanced_with_timing(tiny):
    panel = provider_month_panel(load_programme(tiny), "restrictive_interventions")
    assert panel.groupby("provider_id").size().tolist() == [3, 3]
    p1 = panel[panel.provider_id == "P1"]
    assert p1["first_period"].unique().tolist() == [2]
    assert p1["post"].tolist() == [0, 1, 1]
    assert p1["value"].iloc[0] == pytest.approx(10 / 750 * 1000)
    assert (panel.loc[panel.provider_id == "P2", "first_period"] == 0).all()
    assert (panel.loc[panel.provider_id == "P2", "post"] == 0).all()


def test_panel_drops_incomplete_provider_with_warning(tiny):
    t = tiny_tables()
    t["patient_experience"].loc[t["patient_experience"].ward_id == "P2-W1", "responses"] = [20, 0, 20]
    t["patient_experience"].loc[t["patient_experience"].ward_id == "P2-W1", "positive_responses"] = [10, 0, 14]
    folder = write(t, tiny.parent / "gap")
    with pytest.warns(UserWarning, match="P2"):
        panel = provider_month_panel(load_programme(folder), "positive_responses")
    assert panel.provider_id.unique().tolist() == ["P1"]
    kept = provider_month_panel(load_programme(folder), "positive_responses", balance="keep")
    assert kept["value"].isna().sum() == 1


def test_provider_year_panel_fieldwork_rule(tiny):
    py = provider_year_panel(load_programme(tiny), "violence_from_patients")
    p1 = py[py.provider_id == "P1"]
    assert p1["value"].tolist() == pytest.approx([20 / 100, 18 / 120])
    # coaching from 2024-02 is before September 2024: the 2024 survey is after the start
    assert p1["post"].tolist() == [0, 1] and p1["first_year"].iloc[0] == 2024


# ----------------------------------------------------------------------------------------
# Bad input: each mutation must be rejected, naming file, column and rule.
# ----------------------------------------------------------------------------------------


def _set(table, column, row, value):
    def mutate(t):
        t[table][column] = t[table][column].astype(object)
        t[table].loc[row, column] = value

    return mutate


def _drop_col(table, column):
    def mutate(t):
        t[table] = t[table].drop(columns=column)

    return mutate


def _dup_row(table, row):
    def mutate(t):
        t[table] = pd.concat([t[table], t[table].iloc[[row]]], ignore_index=True)

    return mutate


BAD_INPUTS = {
    "missing column": (
        _drop_col("restrictive_practice", "seclusion"),
        "restrictive_practice.csv",
        "seclusion",
        "required column present",
    ),
    "unparseable month": (
        _set("restrictive_practice", "month", 1, "2024/02"),
        "restrictive_practice.csv",
        "month",
        "month as YYYY-MM",
    ),
    "month 13": (
        _set("patient_experience", "month", 0, "2024-13"),
        "patient_experience.csv",
        "month",
        "month as YYYY-MM",
    ),
    "negative count": (
        _set("restrictive_practice", "segregation", 2, -1),
        "restrictive_practice.csv",
        "segregation",
        "non-negative integer",
    ),
    "fractional count": (
        _set("patient_experience", "responses", 3, 2.5),
        "patient_experience.csv",
        "responses",
        "non-negative integer",
    ),
    "text in count": (_set("staff_survey", "respondents", 0, "many"), "staff_survey.csv", "respondents", "is a number"),
    "types do not add up": (
        _set("restrictive_practice", "restrictive_interventions", 0, 5),
        "restrictive_practice.csv",
        "restrictive_interventions",
        "restrictive_interventions equals the sum",
    ),
    "prone above physical": (
        _set("restrictive_practice", "prone_restraint", 0, 3),
        "restrictive_practice.csv",
        "prone_restraint",
        "prone_restraint <= physical_restraint",
    ),
    "zero bed days with counts": (
        _set("restrictive_practice", "occupied_bed_days", 0, 0),
        "restrictive_practice.csv",
        "occupied_bed_days",
        "occupied_bed_days positive",
    ),
    "positives above responses": (
        _set("patient_experience", "positive_responses", 0, 11),
        "patient_experience.csv",
        "positive_responses",
        "responses >= positive_responses",
    ),
    "score above 10": (
        _set("staff_survey", "engagement", 1, 11.2),
        "staff_survey.csv",
        "engagement",
        "score within 0-10",
    ),
    "duplicate ward-month": (
        _dup_row("restrictive_practice", 4),
        "restrictive_practice.csv",
        "provider_id+ward_id+month",
        "unique key",
    ),
    "duplicate provider-year": (
        _dup_row("staff_survey", 0),
        "staff_survey.csv",
        "provider_id+survey_year",
        "unique key",
    ),
    "unknown provider": (
        _set("staff_survey", "provider_id", 3, "P9"),
        "staff_survey.csv",
        "provider_id",
        "provider appears in participation.csv",
    ),
    "start outside data": (
        _set("participation", "start_month", 0, "2019-01"),
        "participation.csv",
        "start_month",
        "start month inside the data range",
    ),
    "missing id": (
        _set("restrictive_practice", "ward_id", 0, None),
        "restrictive_practice.csv",
        "ward_id",
        "no missing values",
    ),
    "cohort without start": (
        _set("participation", "start_month", 0, None),
        "participation.csv",
        "start_month",
        "cohort and start_month both given",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_rejected_with_named_file_column_rule(tmp_path, case):
    mutate, file, column, rule = BAD_INPUTS[case]
    t = tiny_tables()
    mutate(t)
    folder = write(t, tmp_path / "bad")
    with pytest.raises(DataValidationError) as info:
        load_programme(folder)
    err = info.value
    assert isinstance(err, ValueError)
    hit = err.failures[(err.failures.file == file) & err.failures.rule.str.contains(re.escape(rule))]
    assert len(hit), f"expected {file} / {rule!r} in:\n{err}"
    if column:
        assert any(column in c.split(", ") or column == c for c in hit.column), hit
    msg = str(err)
    assert file in msg and rule in msg
    assert "row " in msg or case == "missing column"


def test_all_failures_collected_in_one_error(tmp_path):
    t = tiny_tables()
    _set("restrictive_practice", "segregation", 2, -1)(t)
    _set("staff_survey", "engagement", 1, 11.2)(t)
    _set("patient_experience", "month", 0, "2024-13")(t)
    with pytest.raises(DataValidationError) as info:
        load_programme(write(t, tmp_path / "bad"))
    assert set(info.value.failures.file) >= {"restrictive_practice.csv", "staff_survey.csv", "patient_experience.csv"}


def test_missing_file_named(tiny):
    # data tables are optional (issue 13); participation and at least one data table are not
    (tiny / "staff_survey.csv").unlink()
    prog = load_programme(tiny)
    assert "staff_survey" not in prog.tables and prog.staff_survey.empty
    (tiny / "participation.csv").rename(tiny / "participation.bak")
    with pytest.raises(DataValidationError, match=r"participation\.csv.*file exists"):
        load_programme(tiny)
    (tiny / "participation.bak").rename(tiny / "participation.csv")
    (tiny / "restrictive_practice.csv").unlink()
    (tiny / "patient_experience.csv").unlink()
    with pytest.raises(DataValidationError, match=r"file exists"):
        load_programme(tiny)


def test_offending_row_is_reported(tmp_path):
    t = tiny_tables()
    _set("restrictive_practice", "segregation", 7, -3)(t)
    with pytest.raises(DataValidationError) as info:
        load_programme(write(t, tmp_path / "bad"))
    row = info.value.failures.query("column == 'segregation'")
    assert row["row"].tolist() == [8]  # 1-based data row (file line 9)
    assert "P2-W1" in row["value"].iloc[0] and "-3" in row["value"].iloc[0]


def test_column_mapping_renames_real_extract(tmp_path):
    t = tiny_tables()
    t["staff_survey"] = t["staff_survey"].rename(columns={"provider_id": "OrgCode", "engagement": "EngagementScore"})
    folder = write(t, tmp_path / "real")
    (folder / "staff_survey.csv").rename(folder / "nhs_staff_survey_extract.csv")
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(
        "files:\n  staff_survey: nhs_staff_survey_extract.csv\n"
        "columns:\n  staff_survey:\n    OrgCode: provider_id\n    EngagementScore: engagement\n"
    )
    prog = load_programme(folder, mapping=mapping)
    assert prog.staff_survey["engagement"].iloc[0] == pytest.approx(6.5)
    with pytest.raises(ValueError, match="unknown table"):
        bad = tmp_path / "bad.yaml"
        bad.write_text("columns:\n  staff_surveys: {}\n")
        ColumnMapping.from_yaml(bad)


def test_example_mapping_in_params_parses():
    m = ColumnMapping.from_yaml(ROOT / "params" / "column_mapping.example.yaml")
    targets = {v for cols in m.columns.values() for v in cols.values()}
    assert {"provider_id", "month", "occupied_bed_days"} <= targets


def test_parquet_accepted(tmp_path):
    pytest.importorskip("pyarrow")
    t = tiny_tables()
    folder = tmp_path / "pq"
    folder.mkdir()
    for name, df in t.items():
        df.to_parquet(folder / f"{name}.parquet")
    assert len(load_programme(folder).participation) == 2


def test_validate_cli_reports_errors_and_exit_status(tmp_path, tiny, capsys):
    from cocEval.cli import main

    assert main(["validate", "--data", str(tiny)]) == 0
    assert "2 providers" in capsys.readouterr().out
    t = tiny_tables()
    _set("restrictive_practice", "segregation", 2, -1)(t)
    assert main(["validate", "--data", str(write(t, tmp_path / "bad"))]) == 2
    err = capsys.readouterr().err
    assert "restrictive_practice.csv" in err and "non-negative integer" in err
