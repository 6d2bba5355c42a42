"""Importers on the real published files in ``../shared/real`` (skipped when absent, failing under CI).

Each check re-reads the raw bytes independently of the importer and asserts that every count,
every suppressed cell and every provider-month survives the import exactly (or is listed in the
import log as dropped, with its reason).
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from cocEval.errors import ImportDataError
from cocEval.importers import import_mhsds, import_staff_survey

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def survey_file(real) -> Path:
    (f,) = sorted((real / "staff_survey").glob("*.csv"))
    return f


@pytest.fixture(scope="module")
def imported(real, survey_file, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("real") / "data"
    log = import_mhsds([real / "mhsds" / "prod-alert-2"], out, crosswalk=survey_file)
    return out, log


# independent reading of the raw bytes ---------------------------------------------------------

RAW_COLUMN = {
    "MHS76": "people_restricted",
    "BED DAYS IN RP": "occupied_bed_days",
    "PEOPLE SUBJECT TO DETENTION AT THE END OF THE REPORTING PERIOD": "people_detained",
    "PEOPLE SUBJECT TO THE MENTAL HEALTH ACT AT THE END OF THE REPORTING PERIOD": "people_subject_to_mha",
}


def _raw_month(text: str) -> str:
    if "/" in text:
        d, m, y = text.split("/")
    else:
        y, m, d = text.split("-")
    assert d == "01"
    return f"{y}-{m}"


def _raw_rows(folder: Path) -> list[dict]:
    rows = []
    for path in sorted(folder.glob("*.csv")):
        raw = path.read_bytes()
        assert raw.isascii()
        for i, fields in enumerate(csv.reader(io.StringIO(raw.decode("ascii"))), start=1):
            date, name, measure, value = fields
            rows.append(
                {
                    "file": path.name,
                    "line": i,
                    "name": name,
                    "month": _raw_month(date),
                    "column": RAW_COLUMN[measure.upper()],
                    "value": value,
                }
            )
    return rows


def test_every_cell_and_provider_month_survives(real, imported):
    out, log = imported
    raw = _raw_rows(real / "mhsds" / "prod-alert-2")
    rp = pd.read_csv(out / "restrictive_practice.csv", dtype={"provider_id": "string", "month": "string"})
    nm = log["name_matching"]
    ids = {d["name"]: d["provider_id"] for d in nm["matched"] + nm["unmatched"]}
    dropped = {
        (f["file"], ex["line"]): reason
        for f in log["files"]
        for reason, exs in f["dropped_examples"].items()
        for ex in exs
    }
    assert sum(sum(f["rows_dropped"].values()) for f in log["files"]) == len(dropped)
    by_key = rp.set_index(["provider_id", "month"])
    assert by_key.index.is_unique
    kept = Counter()
    expected_pm = set()
    for r in raw:
        if (r["file"], r["line"]) in dropped:
            assert r["name"] == "UNKNOWN", dropped[(r["file"], r["line"])]
            continue
        pid = ids[r["name"]]
        row = by_key.loc[(pid, r["month"])]
        c = r["column"]
        if r["value"] == "*":
            assert pd.isna(row[c]) and (row[f"{c}_lower"], row[f"{c}_upper"]) == (0, 4), r
        else:
            v = int(r["value"])
            assert row[c] == v and row[f"{c}_lower"] == max(v - 2, 5) and row[f"{c}_upper"] == v + 2, r
        kept[c] += 1
        expected_pm.add((pid, r["month"]))
    # nothing invented: as many cells per column as raw rows kept, and the same provider-months
    for c, n in kept.items():
        assert rp[f"{c}_upper"].notna().sum() == n, c
    assert set(by_key.index) == expected_pm
    assert log["provider_months"] == len(expected_pm)
    # suppressed cells per measure as in the raw bytes
    raw_star = Counter(r["column"] for r in raw if r["value"] == "*" and (r["file"], r["line"]) not in dropped)
    assert {c: log["columns"][c]["suppressed_cells"] for c in raw_star} == dict(raw_star)
    # sums of shown values, including what was dropped
    shown = Counter()
    for r in raw:
        if r["value"] != "*":
            shown[r["column"]] += int(r["value"])
    dropped_sum = sum(int(r["value"]) for r in raw if (r["file"], r["line"]) in dropped and r["value"] != "*")
    assert int(rp["people_restricted"].sum()) + dropped_sum == shown["people_restricted"]
    assert int(rp["occupied_bed_days"].sum()) == shown["occupied_bed_days"]


def test_absent_months_stay_absent(real, imported):
    out, _ = imported
    rp = pd.read_csv(out / "restrictive_practice.csv")
    # provider-months with bed days but no restrictive-intervention row: value and bounds empty, never 0
    no_rstr = rp["occupied_bed_days_upper"].notna() & rp["people_restricted_upper"].isna()
    assert no_rstr.sum() > 0
    assert rp.loc[no_rstr, ["people_restricted", "people_restricted_lower"]].isna().all().all()
    assert (rp["people_restricted"] == 0).sum() == 0


def test_crosswalk_east_london(imported):
    out, log = imported
    rp = pd.read_csv(out / "restrictive_practice.csv", dtype="string")
    east = rp[rp["provider_name"] == "EAST LONDON NHS FOUNDATION TRUST"]
    assert len(east) > 0 and set(east["provider_id"]) == {"RWK"}
    matched = {d["name"]: d["provider_id"] for d in log["name_matching"]["matched"]}
    assert matched["EAST LONDON NHS FOUNDATION TRUST"] == "RWK"
    unmatched = {d["name"] for d in log["name_matching"]["unmatched"]}
    assert "ISLE OF WIGHT NHS TRUST" in unmatched  # the survey has only its mental health sector (R1F3)
    assert (
        log["name_matching"]["matched_names"] + log["name_matching"]["unmatched_names"] == log["name_matching"]["names"]
    )


def test_measure_switch_detected(imported):
    _, log = imported
    (sw,) = log["measure_switches"]
    assert [c["to"] for c in sw["changes"]] == [["MHS08"]]
    assert set(sw["measures"]) == {"MHS08", "MHS09"}


def test_superseded_mixed_geography_refused(real, tmp_path):
    mixed = [p for p in (real / "mhsds" / "superseded").glob("*.csv") if b"England," in p.read_bytes()]
    assert mixed
    for p in mixed:
        with pytest.raises(ImportDataError, match="rule 'provider rows only'"):
            import_mhsds([p], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_superseded_with_header_matches_final(real, tmp_path):
    for p in (real / "mhsds" / "superseded").glob("*.csv"):
        if b"England," in p.read_bytes():
            continue
        old = import_mhsds([p], tmp_path / "old")
        assert old["files"][0]["header"] is True
        month = old["months"][0]
        # the final file of the same month and measure, found by content
        finals = [
            f
            for f in (real / "mhsds" / "prod-alert-2").glob("*.csv")
            if _raw_rows_file(f)[0][2] == _raw_rows_file(p)[1][2] and _raw_month(_raw_rows_file(f)[0][0]) == month
        ]
        (final,) = finals
        import_mhsds([final], tmp_path / "new")
        a = pd.read_csv(tmp_path / "old" / "restrictive_practice.csv").sort_values(["provider_id", "month"])
        b = pd.read_csv(tmp_path / "new" / "restrictive_practice.csv").sort_values(["provider_id", "month"])
        pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))


def _raw_rows_file(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text())))


def test_staff_survey_every_published_cell(survey_file, tmp_path):
    log = import_staff_survey([survey_file], tmp_path / "out")
    ss = pd.read_csv(tmp_path / "out" / "staff_survey.csv", dtype={"provider_id": "string"}).set_index(
        ["provider_id", "survey_year"]
    )
    raw = list(csv.DictReader(io.StringIO(survey_file.read_bytes().decode("ascii"))))
    assert len(ss) == len(raw) == log["rows_written"]
    pairs = {
        "violence_from_patients": "Physical_public",
        "harassment_from_patients": "Emotional_public",
        "discrimination_from_patients": "Discrimination_public",
    }
    for r in raw:
        row = ss.loc[(r["ODS code"], int(r["Year"]))]
        assert row["provider_name"] == r["Organisation name"] and row["weighting"] == r["Weighting"]
        for ind, stem in pairs.items():
            if r[f"{stem}_rate"] == "":
                assert pd.isna(row[f"{ind}_pct"])
            else:
                assert row[f"{ind}_pct"] == float(r[f"{stem}_rate"]), (r["ODS code"], ind)
            assert row[f"{ind}_base"] == int(r[f"{stem}_base"])
            assert pd.isna(row[ind])  # no pretended exact counts
    # the 2021 Region/ICS swap is recognised from the content
    assert log["files"][0]["region_columns_swapped_in_years"] == [2021]
    assert set(ss["region"].dropna()) <= {
        "London",
        "South East",
        "South West",
        "Midlands",
        "East of England",
        "North East and Yorkshire",
        "North West",
    }


def test_both_importers_into_one_folder(real, survey_file, imported, tmp_path):
    out = tmp_path / "both"
    import_mhsds([real / "mhsds" / "prod-alert-2"], out, crosswalk=survey_file)
    log = import_staff_survey([survey_file], out)
    rep = json.loads((out / "import_report.json").read_text())
    assert set(rep) == {"mhsds", "staff_survey"}
    ss = pd.read_csv(out / "staff_survey.csv", dtype={"provider_id": "string"})
    part = pd.read_csv(out / "participation.csv", dtype={"provider_id": "string"})
    assert set(ss["provider_id"]) <= set(part["provider_id"])
    assert "RWK" in set(ss["provider_id"]) and log["rows_dropped"]
