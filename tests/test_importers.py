"""Importers on small fixtures: the official MHSDS layouts, the reduced layout, bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cocEval.cli import main
from cocEval.errors import ImportDataError
from cocEval.importers import (
    derived_id,
    import_mhsds,
    import_staff_survey,
    normalise_name,
    parse_count,
    read_crosswalk,
    read_mhsds_file,
)

PERF = "monthly_performance_sample.csv"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "mhsds_official"


def _read(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "restrictive_practice.csv", dtype={"provider_id": "string", "month": "string"})


def _row(df: pd.DataFrame, pid: str, month: str) -> pd.Series:
    hit = df[(df["provider_id"] == pid) & (df["month"] == month)]
    assert len(hit) == 1, (pid, month, hit)
    return hit.iloc[0]


# ---------------------------------------------------------------------------------------------
# official layout (fixtures)
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def official(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("official") / "data"
    log = import_mhsds([FIXTURES], out)
    return out, log


def test_official_layout_recognised_from_content_not_name(official, tmp_path):
    _, log = official
    assert {f["layout"].split()[0] for f in log["files"]} == {"official"}
    # the same bytes under a misleading name are read the same way
    renamed = tmp_path / "rstr_beds_sect_reduced.csv"
    shutil.copy(FIXTURES / "restrictive_interventions_sample.csv", renamed)
    _, flog = read_mhsds_file(renamed)
    assert flog["layout"].startswith("official")


def test_official_provider_rows_only_keyed_by_code(official):
    out, log = official
    df = _read(out)
    assert set(df["provider_id"]) == {"ZZA", "ZZB", "ZZC"}
    dropped = {f["file"]: f["rows_dropped"] for f in log["files"]}
    perf, rstr = dropped["monthly_performance_sample.csv"], dropped["restrictive_interventions_sample.csv"]
    assert perf["breakdown 'England' is not provider level"] == 2
    assert rstr["breakdown 'England' is not provider level"] == 1
    assert sum(perf.values()) + next(f["rows_kept"] for f in log["files"] if f["file"] == PERF) == 11
    assert any("CCG" in k for k in perf) and any("MHS01" in k for k in perf)
    assert any("MHS96" in k for k in rstr) and any("UNKNOWN" in k for k in rstr)


def test_official_values_and_bounds(official):
    out, _ = official
    df = _read(out)
    a = _row(df, "ZZA", "2023-07")
    # rounded to 5: +/- 2
    assert (a["occupied_bed_days"], a["occupied_bed_days_lower"], a["occupied_bed_days_upper"]) == (4210, 4208, 4212)
    assert (a["people_restricted"], a["people_restricted_lower"], a["people_restricted_upper"]) == (35, 33, 37)
    # per type from the type breakdown: prone is also physical
    assert (a["physical_restraint"], a["physical_restraint_lower"], a["physical_restraint_upper"]) == (80, 76, 84)
    assert (a["prone_restraint"], a["seclusion"], a["chemical_restraint"]) == (20, 25, 30)
    # suppressed: empty value, bounds 0-4
    assert pd.isna(a["segregation"]) and (a["segregation_lower"], a["segregation_upper"]) == (0, 4)
    # not a multiple of 5: exact
    aug = _row(df, "ZZA", "2023-08")
    assert aug["restrictive_interventions"] == aug["restrictive_interventions_lower"] == 117
    b = _row(df, "ZZB", "2023-07")
    assert pd.isna(b["occupied_bed_days"]) and b["occupied_bed_days_upper"] == 4
    assert b["provider_name"] == "BIRCH, HOLLY & YEW HEALTHCARE LTD"


def test_absent_is_not_zero(official):
    out, _ = official
    c = _row(_read(out), "ZZC", "2023-07")  # bed days but no restrictive intervention rows
    for col in ("people_restricted", "people_restricted_lower", "people_restricted_upper"):
        assert pd.isna(c[col])
    assert not ((_read(out)["provider_id"] == "ZZB") & (_read(out)["month"] == "2023-08")).any()


def test_participation_template_and_report(official):
    out, log = official
    part = pd.read_csv(out / "participation.csv", dtype="string")
    assert sorted(part["provider_id"]) == ["ZZA", "ZZB", "ZZC"]
    assert part[["cohort", "start_month"]].isna().all().all()
    rep = json.loads((out / "import_report.json").read_text())["mhsds"]
    assert rep["providers"] == 3 and rep["provider_months"] == 5
    assert rep["suppressed_cells_by_measure"] == {"MHS08": 1, "MHS24": 1, "MHS76": 1, "MHS77": 1}


# ---------------------------------------------------------------------------------------------
# reduced layout, crosswalk, names
# ---------------------------------------------------------------------------------------------


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_reduced_layout_crosswalk_and_unmatched_ids(tmp_path):
    a = _write(tmp_path / "a.csv", "01/03/2024,ALDER & ASH NHS TRUST,MHS76,15\n01/03/2024,ROWAN LTD,MHS76,*\n")
    b = _write(tmp_path / "b.csv", "2024-04-01,ALDER AND ASH NHS TRUST,MHS76,10\n2024-04-01,ROWAN LIMITED,MHS76,5\n")
    cw = _write(tmp_path / "cw.csv", "name,code\nAlder and Ash NHS Trust,ZQ1\n")
    log = import_mhsds([a, b], tmp_path / "out", crosswalk=cw)
    df = _read(tmp_path / "out")
    assert set(df["provider_id"]) == {"ZQ1", derived_id("ROWAN LIMITED")}
    assert _row(df, "ZQ1", "2024-04")["people_restricted"] == 10
    merges = {m["provider_id"]: m["names"] for m in log["name_matching"]["merges"]}
    assert merges["ZQ1"] == ["ALDER & ASH NHS TRUST", "ALDER AND ASH NHS TRUST"]
    assert {u["name"] for u in log["name_matching"]["unmatched"]} == {"ROWAN LTD", "ROWAN LIMITED"}
    assert log["name_matching"]["matched_names"] == 2


def test_normalisation_rules():
    assert normalise_name("Birch, Holly & Yew Healthcare Ltd.") == "BIRCH HOLLY AND YEW HEALTHCARE LIMITED"
    assert normalise_name("ST ANDREW'S") == normalise_name("St Andrews")
    assert derived_id("X LTD") == derived_id("x limited")
    assert derived_id("X LTD") != derived_id("Y LTD")


def test_crosswalk_from_survey_layout(tmp_path):
    p = _write(
        tmp_path / "s.csv",
        "ODS code,Year,Organisation name,Benchmarking group\nZQ9,2023,Fir Lane NHS Foundation Trust,MH\n"
        "ZQ8,2023,Same Name Trust,MH\nZQ7,2024,Same Name Trust,MH\n",
    )
    cw = read_crosswalk(p)
    assert cw.lookup("FIR LANE NHS FOUNDATION TRUST") == "ZQ9"
    assert cw.lookup("SAME NAME TRUST") is None and "SAME NAME TRUST" in cw.ambiguous


def test_measure_switch_is_logged_and_kept_apart(tmp_path):
    _write(tmp_path / "x1.csv", "01/12/2021,T,People subject to detention at the end of the reporting period,20\n")
    _write(
        tmp_path / "x2.csv",
        "01/01/2022,T,People subject to the Mental Health Act at the end of the reporting period,30\n",
    )
    log = import_mhsds([tmp_path], tmp_path / "out")
    (sw,) = log["measure_switches"]
    assert sw["changes"] == [{"month": "2022-01", "from": ["MHS09"], "to": ["MHS08"]}]
    df = _read(tmp_path / "out")
    assert df["people_detained"].notna().sum() == 1 and df["people_subject_to_mha"].notna().sum() == 1


def test_duplicate_identical_rows_kept_once_conflicts_refused(tmp_path):
    text = "01/03/2024,T,MHS76,15\n"
    (tmp_path / "in").mkdir()
    _write(tmp_path / "in" / "a.csv", text)
    _write(tmp_path / "in" / "b.csv", text)
    log = import_mhsds([tmp_path / "in"], tmp_path / "out")
    assert log["provider_months"] == 1 and len(log["duplicate_rows_skipped"]) == 1
    _write(tmp_path / "in" / "c.csv", "01/03/2024,T,MHS76,20\n")
    with pytest.raises(ImportDataError, match="one value per provider, month and measure"):
        import_mhsds([tmp_path / "in"], tmp_path / "out2")


def test_existing_participation_is_kept(tmp_path):
    f = _write(tmp_path / "a.csv", "01/03/2024,T ONE,MHS76,15\n01/03/2024,T TWO,MHS76,5\n")
    out = tmp_path / "out"
    import_mhsds([f], out)
    part = pd.read_csv(out / "participation.csv", dtype="string")
    part.loc[0, ["cohort", "start_month"]] = ["Cohort 1", "2024-03"]
    part.to_csv(out / "participation.csv", index=False)
    import_mhsds([f], out)
    again = pd.read_csv(out / "participation.csv", dtype="string")
    assert again.loc[0, "cohort"] == "Cohort 1" and len(again) == 2


# ---------------------------------------------------------------------------------------------
# bad input: one clear error naming file, line and rule; nothing written
# ---------------------------------------------------------------------------------------------

BAD = {
    "unknown layout": ("a,b,c\n1,2,3\n", "rule 'known layout'"),
    "geography mix": (
        "REPORTING_PERIOD_START,PRIMARY_LEVEL_DESCRIPTION,MEASURE_NAME,MEASURE_VALUE\n"
        "01/10/2021,England,Bed days in RP,747923\n01/10/2021,NHS SOMEWHERE CCG,Bed days in RP,3520\n"
        "01/10/2021,A TRUST,Bed days in RP,50\n",
        "line 2: rule 'provider rows only'",
    ),
    "unknown measure": ("01/10/2021,A TRUST,People in contact with services,50\n", "line 1: rule 'measure is one"),
    "unparseable date": ("01/10/2021,A TRUST,MHS76,50\n31/13/2021,B TRUST,MHS76,50\n", "line 2: rule 'date as"),
    "not first of month": ("10/01/2021,A TRUST,MHS76,50\n", "first day of a month"),
    "bad value": ("01/10/2021,A TRUST,MHS76,50\n01/10/2021,B TRUST,MHS76,n/a\n", "line 2: rule 'value is a whole"),
    "negative value": ("01/10/2021,A TRUST,MHS76,-5\n", "value is a whole number"),
    "wrong field count": ("01/10/2021,A TRUST,MHS76,50\n01/10/2021,B TRUST,MHS76\n", "line 2: rule '4 fields"),
    "official unknown measure name": (
        "REPORTING_PERIOD_START,BREAKDOWN,PRIMARY_LEVEL,PRIMARY_LEVEL_DESCRIPTION,MEASURE_ID,MEASURE_VALUE\n"
        "01/10/2021,Provider,ZZA,A TRUST,Some new thing,5\n",
        "line 2: rule 'measure is one",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_one_clear_error_nothing_written(tmp_path, case):
    text, message = BAD[case]
    bad = _write(tmp_path / "input.csv", text)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("untouched")
    with pytest.raises(ImportDataError) as err:
        import_mhsds([bad], out)
    assert "input.csv" in str(err.value) and message in str(err.value)
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["input.csv", "out"]  # no temporary folder left


def test_failure_in_one_of_several_files_writes_nothing(tmp_path):
    _write(tmp_path / "in1.csv", "01/10/2021,A TRUST,MHS76,50\n")
    _write(tmp_path / "in2.csv", "01/10/2021,A TRUST,MHS24,oops\n")
    out = tmp_path / "out"
    with pytest.raises(ImportDataError, match="in2.csv, line 1"):
        import_mhsds([tmp_path / "in1.csv", tmp_path / "in2.csv"], out)
    assert not out.exists()


def test_cli_import_exit_status(tmp_path, capsys):
    good = _write(tmp_path / "g.csv", "01/10/2021,A TRUST,MHS76,50\n")
    assert main(["import", "mhsds", "--out", str(tmp_path / "o"), str(good)]) == 0
    assert (tmp_path / "o" / "restrictive_practice.csv").is_file()
    bad = _write(tmp_path / "b.csv", "01/10/2021,A TRUST,MHS76,x\n")
    assert main(["import", "mhsds", "--out", str(tmp_path / "o2"), str(bad)]) == 2
    assert "b.csv, line 1" in capsys.readouterr().err and not (tmp_path / "o2").exists()


# ---------------------------------------------------------------------------------------------
# staff survey
# ---------------------------------------------------------------------------------------------

SURVEY_HEADER = (
    "ODS code,Year,Organisation name,Benchmarking group,Region,ICS/STP,Weighting,Respondents,"
    "Physical_public_base,Physical_public_rate,Emotional_public_base,Emotional_public_rate,"
    "Discrimination_public_base,Discrimination_public_rate,ICS\n"
)


def test_staff_survey_percentages_bases_and_region_swap(tmp_path):
    p = _write(
        tmp_path / "nss.csv",
        SURVEY_HEADER
        + "ZQ1,2030,Fir Lane NHS FT,MH,Somewhere ICS,London,Occupation Group,900,880,12.5,870,20.25,860,7,\n"
        + "ZQ1,2031,Fir Lane NHS FT,MH,London,Somewhere ICS,Occupation Group,950,930,13,920,21,910,8.5,\n"
        + "ZQ2,2031,Other Trust,Acute,South West,Elsewhere ICS,Unweighted,500,480,,470,30,460,9,\n",
    )
    log = import_staff_survey([p], tmp_path / "out")
    ss = pd.read_csv(tmp_path / "out" / "staff_survey.csv", dtype={"provider_id": "string"})
    assert len(ss) == 3 and set(ss["region"]) == {"London", "South West"}
    r = ss[(ss["provider_id"] == "ZQ1") & (ss["survey_year"] == 2030)].iloc[0]
    assert (r["violence_from_patients_pct"], r["violence_from_patients_base"]) == (12.5, 880)
    assert r["discrimination_from_patients_pct"] == 7.0 and r["weighting"] == "Occupation Group"
    assert ss["violence_from_patients"].isna().all()  # no pretended counts
    assert log["files"][0]["region_columns_swapped_in_years"] == [2030]
    assert pd.isna(ss.loc[ss["provider_id"] == "ZQ2", "violence_from_patients_pct"]).all()


@pytest.mark.parametrize(
    "row, message",
    [
        ("ZQ1,20x1,A,MH,London,,Occupation Group,9,9,1,9,1,9,1,\n", "survey year"),
        ("ZQ1,2031,A,MH,London,,Occupation Group,9,9,101,9,1,9,1,\n", "percentage 0-100"),
        ("ZQ1,2031,A,MH,London,,Occupation Group,9,9.5,1,9,1,9,1,\n", "whole number"),
        ("ZQ1,2031,A,MH,London,,,9,9,1,9,1,9,1,\n", "weighting stated"),
    ],
)
def test_staff_survey_bad_input(tmp_path, row, message):
    p = _write(tmp_path / "nss.csv", SURVEY_HEADER + row)
    with pytest.raises(ImportDataError, match=f"nss.csv, line 2: rule .*{message}"):
        import_staff_survey([p], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_staff_survey_unknown_layout(tmp_path):
    p = _write(tmp_path / "x.csv", "code,year,score\nA,2021,5\n")
    with pytest.raises(ImportDataError, match="known layout"):
        import_staff_survey([p], tmp_path / "out")


# ---------------------------------------------------------------------------------------------
# property: the bounds of a published count always contain the true count
# ---------------------------------------------------------------------------------------------


def _publish(y: int) -> str:
    """MHSDS disclosure control as the publisher's code applies it: under 5 -> *, else nearest 5."""
    return "*" if y < 5 else str(5 * int(y / 5 + 0.5))


@given(st.integers(min_value=0, max_value=10**7))
def test_bounds_contain_the_true_count(y):
    cell = parse_count(_publish(y), file="f", line=1)
    assert cell.lower <= y <= cell.upper
    assert cell.upper - cell.lower <= 4


def test_reduced_names_take_codes_from_official_files(tmp_path):
    red = _write(
        tmp_path / "reduced.csv", "01/06/2023,Alder Vale NHS Foundation Trust,MHS76,20\n01/06/2023,ELM TRUST,MHS76,5\n"
    )
    log = import_mhsds([red, FIXTURES], tmp_path / "out")
    df = _read(tmp_path / "out")
    assert _row(df, "ZZA", "2023-06")["people_restricted"] == 20
    assert _row(df, derived_id("ELM TRUST"), "2023-06")["people_restricted_upper"] == 7
    assert "official-layout files" in log["name_matching"]["crosswalk"]
