"""Both reports, rendered through the batch, on the real published data in ``../shared/real``.

Imports MHSDS (with the staff survey file as the name -> code crosswalk) and the NHS Staff Survey
into one folder, gives a few providers a *hypothetical* cohort and start month (a demonstration:
the programme started after these data), renders one provider report and the programme report
with ``params/public_data.yaml``, audits them, and reads what they say: the absent tables and
outcomes are named, the bounds-aware fit is named with its reason, a count suppressed at source
stays suppressed, and no warning, traceback or machine path reaches the HTML.

Skipped when ``../shared/real`` is absent; fails instead when the environment variable ``CI`` is
set.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pandas as pd
import pytest

from cocEval.audit import audit_dir
from cocEval.batch import BatchOptions, run_reports
from cocEval.importers import import_mhsds, import_staff_survey

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "params" / "public_data.yaml"

#: Hypothetical cohorts (a demonstration, not the programme's): large mental health trusts
#: that published people restricted in every month, plus one with a month suppressed at source
#: (R1L) and one with a month not reported (RW4). Ids are ODS codes from the crosswalk.
DEMO = {
    "RWK": ("Demonstration A", 4),
    "RHA": ("Demonstration A", 4),
    "R1L": ("Demonstration A", 4),
    "RW4": ("Demonstration B", 5),
    "RX4": ("Demonstration B", 5),
}


@pytest.fixture(scope="module")
def rendered(real, tmp_path_factory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("real-reports")
    data, out = tmp / "data", tmp / "reports"
    (survey,) = sorted((real / "staff_survey").glob("*.csv"))
    import_mhsds([real / "mhsds" / "prod-alert-2"], data, crosswalk=survey)
    import_staff_survey([survey], data)
    part = pd.read_csv(data / "participation.csv", dtype=str, keep_default_na=False)
    months = sorted(pd.read_csv(data / "restrictive_practice.csv", usecols=["month"])["month"].unique())
    for pid, (cohort, k) in DEMO.items():  # start month: the k-th month of the data (not hard-coded)
        assert pid in set(part["provider_id"]), f"{pid} not matched by the crosswalk"
        part.loc[part["provider_id"] == pid, ["cohort", "start_month"]] = [cohort, months[k - 1]]
    part.to_csv(data / "participation.csv", index=False)
    status = run_reports(
        BatchOptions(output=out, config=CONFIG, data=data, providers=("RWK", "R1L"), jobs=1, force=True)
    )
    assert status == 0, (out / "index.html").read_text(encoding="utf-8") if (out / "index.html").exists() else ""
    return data, out


def _text(path: Path) -> str:
    """The visible text of a rendered report (tags stripped, entities decoded, spaces collapsed)."""
    raw = path.read_text(encoding="utf-8")
    raw = re.sub(r"(?s)<(style|script)\b.*?</\1>", " ", raw)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", raw)).split())


def test_both_reports_pass_the_disclosure_audit(rendered):
    _, out = rendered
    found = audit_dir(out, "mhsds")
    assert {p.name for p in found} >= {"RWK.html", "R1L.html", "programme.html"}
    assert not any(found.values()), {p.name: f for p, f in found.items() if f}


@pytest.mark.parametrize("name", ["providers/RWK.html", "providers/R1L.html", "programme.html"])
def test_reports_name_the_absent_tables_and_no_machine_text(rendered, name):
    data, out = rendered
    text = _text(out / name)
    assert "Not in the data" in text
    assert "there is no patient experience table" in text
    assert "the restrictive practice table has no restrictive interventions column" in text
    assert "the staff survey table has no engagement results" in text
    if name == "programme.html":  # the pre-specified window is longer than these six months
        assert "to month 19 (these data reach only month 3)" in text
    for bad in ("Traceback", "Warning:", "UserWarning", "RuntimeWarning", str(data), str(ROOT), "/tmp/"):
        assert bad not in text, f"{name}: {bad!r} in the rendered text"


def test_provider_report_names_the_bounds_aware_fit_and_why(rendered):
    text = _text(rendered[1] / "providers" / "RWK.html")
    assert (
        "Fit used for People restricted: the bounds-aware fit, because the published counts are disclosure-controlled"
        in text
    )
    assert "rounded to the nearest 5" in text and "The naive fit gives" in text
    assert "Bounds-aware fit: published counts are intervals" in text  # methods
    assert "one row per provider-month, no wards" in text  # data quality speaks of provider-months
    assert "ward-months" not in text
    # staff section from the published percentages, no derived counts
    assert "published percentages (weighted by occupation group) and their question bases" in text


def test_provider_report_keeps_a_count_suppressed_at_source_suppressed(rendered):
    data, out = rendered
    rp = pd.read_csv(data / "restrictive_practice.csv")
    mine = rp[(rp["provider_id"] == "R1L") & rp["people_restricted_lower"].notna()]
    suppressed = mine[mine["people_restricted"].isna()]
    assert len(suppressed) >= 1, "R1L has no month suppressed at source in this extract"
    text = _text(out / "providers" / "R1L.html")
    assert "suppressed as fewer than 5" in text
    # the at-a-glance period holding the suppressed month shows the marker, not a rate
    raw = (out / "providers" / "R1L.html").read_text(encoding="utf-8")
    assert re.search(r"<td[^>]*>\s*\*\s*</td>", raw), "no suppressed cell shown in R1L's report"


def test_programme_report_uses_and_names_the_bounds_aware_did(rendered):
    text = _text(rendered[1] / "programme.html")
    assert "Fit used for People restricted: the bounds-aware fit" in text
    assert re.search(r"keeps \d+ providers, where the naive fit \(rounded counts as exact\) keeps only the \d+", text)
    assert "Bounds-aware fit (published, disclosure-controlled counts)" in text  # methods
    assert "5 providers in 2 cohorts" in text


# ---------------------------------------------------------------------------------------------
# published staff survey results on the synthetic programme (no ../shared needed)
# ---------------------------------------------------------------------------------------------
def test_staff_section_uses_published_percentages_and_the_base_for_the_11_rule(tmp_path):
    """Counts absent, percentages and bases given (as the staff-survey importer writes them): the
    comparison uses the percentages, and a provider whose question base is under 11 is suppressed
    although its ``respondents`` is large."""
    import shutil

    from cocEval.report.provider import ProviderReport

    data = tmp_path / "data"
    shutil.copytree(ROOT / "data" / "synthetic", data, ignore=shutil.ignore_patterns("truth.*"))
    ss = pd.read_csv(data / "staff_survey.csv")
    ss["violence_from_patients_pct"] = 100 * ss["violence_from_patients"] / ss["respondents"]
    ss["violence_from_patients_base"] = ss["respondents"]
    ss["violence_from_patients"] = pd.NA  # no pretend-exact counts
    tiny = ss["provider_id"] == "SYN002"
    ss.loc[tiny, "violence_from_patients_base"] = 9
    ss.to_csv(data / "staff_survey.csv", index=False)

    ok = ProviderReport.build("SYN001", data)
    violence = next(s for s in ok.staff if s.indicator == "violence")
    raw = pd.read_csv(ROOT / "data" / "synthetic" / "staff_survey.csv").set_index(["provider_id", "survey_year"])
    expected = (
        raw.at[("SYN001", violence.after_year), "violence_from_patients"]
        / raw.at[("SYN001", violence.after_year), "respondents"]
    )
    assert violence.after == pytest.approx(expected)
    text = " ".join(str(ok.staff_experience()).split())
    assert "published percentages" in text and "% of staff answering the question" in text

    few = ProviderReport.build("SYN002", data)
    assert "violence" not in {s.indicator for s in few.staff}
    assert "fewer than 11 respondents" in few.staff_errors["violence"]
