"""The attacker test: a reader of a report tries to recover a tiny provider's exact counts 1-4.

The tiny-count provider comes from :mod:`tinycount` (a copy of the synthetic data with one
provider's monthly counts set to 0-4; the shipped data are untouched). The attacker
(:mod:`attacker`) reads tables and chart data, rounds back, multiplies rates by the exact
denominators and subtracts parts from totals; it must fail for every month and outcome.

Three levels: report-like sections built through the gate (tables with totals, a year with its
months, rates beside bed days, charts, Staff Survey shares, prose); the provider report's own
sections as data; and one end-to-end render through the batch (``reports`` marker). Control
tests show the attacker succeeds when there is no disclosure control, so its failure means
something.
"""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pytest
import yaml
from attacker import attack, attack_frame, attack_html
from tinycount import write_tiny_count_data

from cocEval.audit import audit_report
from cocEval.data import RESTRICTIVE_TYPES
from cocEval.report.blocks import Figure, Paragraph, Section, Table, to_html
from cocEval.report.gate import Gate, alt_text

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_tiny_count_data(tmp_path_factory.mktemp("tiny") / "synthetic")


def _monthly(tiny) -> pd.DataFrame:
    rp = pd.read_csv(tiny.path / "restrictive_practice.csv")
    m = rp[rp["provider_id"] == tiny.provider_id].copy()
    m["month"] = pd.to_datetime(m["month"])
    cols = [
        "restrictive_interventions",
        *RESTRICTIVE_TYPES,
        "prone_restraint",
        "people_restricted",
        "occupied_bed_days",
    ]
    t = m.groupby("month")[cols].sum().reset_index()
    t["rate"] = 1000 * t["restrictive_interventions"] / t["occupied_bed_days"]
    pe = pd.read_csv(tiny.path / "patient_experience.csv")
    p = pe[pe["provider_id"] == tiny.provider_id].assign(month=lambda d: pd.to_datetime(d["month"]))
    p = p.groupby("month")[["responses", "positive_responses"]].sum().reset_index()
    p["share"] = 100 * p["positive_responses"] / p["responses"].where(p["responses"] > 0)
    return t.merge(p, on="month", how="left")


def gate_sections(tiny, gate: Gate) -> tuple[list[Section], list[pd.DataFrame]]:
    """What a provider report shows, built only through the gate."""
    t = _monthly(tiny)
    label = t.assign(Month=t["month"].dt.strftime("%B %Y"))
    sections, frames = [], []

    s = Section("Restrictive practice by month")
    s.add(gate.banner())
    tab = gate.table(
        label[["Month", *RESTRICTIVE_TYPES, "restrictive_interventions", "occupied_bed_days", "rate"]],
        counts=list(RESTRICTIVE_TYPES),
        totals={"restrictive_interventions": list(RESTRICTIVE_TYPES)},
        rates={"rate": ("restrictive_interventions", "occupied_bed_days")},
        caption="Restrictive interventions by type, occupied bed days and rate per 1,000 bed days",
    )
    s.add(tab)
    frames.append(tab.frame.assign(month=t["month"]))

    # a year and its months: the year total is shown beside the months
    year = label[label["month"].dt.year == label["month"].dt.year.max() - 1].set_index("Month")
    year_tab = year[["restrictive_interventions", "people_restricted"]].copy()
    year_tab.loc["Whole year"] = year_tab.sum()
    shown = gate.table(
        year_tab.rename_axis("Month").reset_index(),
        counts=["restrictive_interventions", "people_restricted"],
        groups={len(year_tab) - 1: list(range(len(year_tab) - 1))},
        caption="A year and its months",
    )
    s.add(shown)

    for outcome, rates in (
        ("restrictive_interventions", {"rate": ("restrictive_interventions", "occupied_bed_days")}),
        ("seclusion", None),
        ("positive_responses", {"share": ("positive_responses", "responses")}),
    ):
        data = gate.frame(t, counts=[outcome], rates=rates, values=["occupied_bed_days"])
        y = next(iter(rates)) if rates else outcome
        if gate.mostly_suppressed(data):
            s.add(gate.not_shown(f"The chart of {outcome.replace('_', ' ')}"))
        fig, ax = plt.subplots()
        ax.plot(data["month"], data[y])
        gate.mark_suppressed(ax, data, "month", y)
        f = gate.figure(fig, data=data, alt=alt_text(outcome, data, "month", y))
        s.add(f)
        frames.append(f.data)

    # prose: counts quoted through the gate
    last = t.iloc[-1]
    s.add(
        Paragraph(
            f"In {last['month']:%B %Y} there were {gate.count(last['restrictive_interventions'])} restrictive "
            f"interventions and {gate.count(last['seclusion'])} seclusions."
        )
    )
    sections.append(s)

    # Staff Survey shares, under the survey's own rule
    ss = tiny.staff.copy()
    ss["share"] = 100 * ss["violence_from_patients"] / ss["respondents"]
    st = gate.table(
        ss[["survey_year", "respondents", "violence_from_patients", "share", "engagement"]].rename(
            columns={"survey_year": "Year"}
        ),
        counts=["respondents"],
        rates={"share": ("violence_from_patients", "respondents")},
        scores={"engagement": "respondents"},
        drop=["violence_from_patients"],
        formats={"Year": str},
        caption="Staff who experienced violence from patients",
        rule="staff-survey",
    )
    sections.append(Section("Staff survey").add(gate.banner(), st))
    return sections, frames


def test_fixture_is_tiny_and_leaves_shipped_data_alone(tiny):
    assert tiny.counts["count"].between(0, 4).all()
    assert set(tiny.small()["count"]) == {1, 2, 3, 4}
    assert (tiny.staff["respondents"] < 11).all()
    shipped = pd.read_csv(ROOT / "data" / "synthetic" / "restrictive_practice.csv")
    mine = shipped[shipped["provider_id"] == tiny.provider_id]
    assert mine.groupby("month")["restrictive_interventions"].sum().max() > 4


def test_attacker_fails_on_gated_sections(tiny):
    gate = Gate("mhsds")
    sections, frames = gate_sections(tiny, gate)
    html = to_html(sections)
    found = attack([html], frames, tiny, "mhsds")
    assert found == [], "\n".join(found[:20])
    assert audit_report(html, "mhsds") == []
    assert "6." not in to_html(sections[1])  # no engagement score from fewer than 11 respondents


def test_attacker_succeeds_without_disclosure_control(tiny):
    """Control: the same sections without disclosure control give the counts away."""
    gate = Gate("none")
    sections, frames = gate_sections(tiny, gate)
    html = to_html(sections)
    found = attack([html], frames, tiny, "none")
    kinds = {f.split(":")[0] for f in found}
    assert "reading" in kinds and any(k.startswith("rate x") for k in kinds), kinds
    assert "Not for circulation" in html


def test_attacker_catches_an_exact_rate_beside_rounded_counts(tiny):
    """Control: rounding the count but computing the rate from the exact count leaks."""
    t = _monthly(tiny)
    t = t[t["restrictive_interventions"].between(1, 4)].head(3)
    naive = pd.DataFrame({"month": t["month"], "rate": t["rate"]})  # exact rate, count hidden
    assert any(f.startswith("rate x occupied_bed_days") for f in attack_frame(naive, tiny, "mhsds", "naive"))


def test_attacker_catches_a_total_beside_all_but_one_part(tiny):
    """Control: an exact total beside exact parts and one suppressed part is subtraction."""
    html = (
        '<table data-disclosure-rule="mhsds"><tr><th>a</th><th>b</th><th>c</th><th>all</th></tr>'
        "<tr><td>*</td><td>20</td><td>10</td><td>33</td></tr></table>"
    )
    assert any(f.startswith("subtraction") for f in attack_html(html, tiny, "mhsds"))


def test_attacker_catches_small_counts_in_prose(tiny):
    assert attack_html("<p>In May 2024 there were 3 restrictive interventions.</p>", tiny, "mhsds")


@pytest.fixture(scope="module")
def reduced_config(tmp_path_factory, tiny) -> Path:
    raw = yaml.safe_load((ROOT / "params" / "programme.yaml").read_text())
    raw["outcomes"] = {k: raw["outcomes"][k] for k in ("restrictive_interventions", "positive_experience")}
    raw["staff_indicators"] = {k: raw["staff_indicators"][k] for k in ("engagement", "violence")}
    raw["did"]["n_boot"] = 199
    raw["data_dir"] = str(tiny.path)
    path = tmp_path_factory.mktemp("config") / "programme.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.slow
def test_attacker_fails_on_the_provider_report_sections(tiny, reduced_config):
    """The provider report as data (issue 10 builds it from sections): every block attacked."""
    from cocEval.report.provider import ProviderReport

    rep = ProviderReport.build(tiny.provider_id, tiny.path, reduced_config)
    sections = rep.sections()
    html = to_html(sections)
    blocks = [b for s in (sections if isinstance(sections, list | tuple) else [sections]) for b in s]
    frames = [b.data for b in blocks if isinstance(b, Figure) and b.data is not None]
    frames += [b.frame for b in blocks if isinstance(b, Table) and b.frame is not None]
    found = attack([html], frames, tiny, "mhsds")
    assert found == [], "\n".join(found[:20])
    assert audit_report(html, "mhsds") == []


@pytest.mark.reports
@pytest.mark.slow
def test_attacker_fails_on_a_rendered_report(tiny, reduced_config, tmp_path):
    """End to end: the tiny provider's report rendered by the batch, attacked and audited."""
    from cocEval.cli import main

    out = tmp_path / "reports"
    argv = ["reports", "--config", str(reduced_config), "--data", str(tiny.path), "--providers", tiny.provider_id]
    main([*argv, "--output", str(out), "--no-programme", "--jobs", "1"])
    html = (out / "providers" / f"{tiny.provider_id}.html").read_text()
    assert "data-disclosure-rule" in html, "the provider report must be built through the gate"
    found = attack([html], [], tiny, "mhsds")
    assert found == [], "\n".join(found[:20])
    assert audit_report(html, "mhsds") == []


@pytest.fixture(scope="module")
def uncontrolled_config(tmp_path_factory, reduced_config) -> Path:
    raw = yaml.safe_load(reduced_config.read_text())
    raw["disclosure"] = {"preset": "none"}
    path = tmp_path_factory.mktemp("config_none") / "programme.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.slow
@pytest.mark.parametrize("which", ["provider", "programme"])
def test_uncontrolled_reports_carry_the_banner(tiny, uncontrolled_config, which):
    """Under the "none" rule every page says it is not for circulation (the audit insists)."""
    if which == "provider":
        from cocEval.report.provider import ProviderReport

        rep = ProviderReport.build(tiny.provider_id, tiny.path, uncontrolled_config)
    else:
        from cocEval.report.programme import ProgrammeReport

        rep = ProgrammeReport.build(tiny.path, uncontrolled_config)
    html = to_html(rep.sections())
    assert audit_report(html, "none") == [], "call section.add(gate.banner()) at the top of the report"


def test_staff_results_from_fewer_than_11_respondents_are_not_shown(tiny, reduced_config):
    """The tiny provider's staff survey has under 11 respondents a year: no share, score or change of
    its own may appear (before this rule the report showed '11.1% (2024)', i.e. 1 of 9)."""
    from cocEval.report.provider import ProviderReport

    rep = ProviderReport.build(tiny.provider_id, tiny.path, reduced_config)
    assert rep.staff == [] and set(rep.staff_errors) == {"engagement", "violence"}
    text = rep.staff_experience().text() + " ".join(rep.findings())
    assert "fewer than 11 respondents" in text
    assert not re.search(r"\d+\.\d%|\d+\.\d+ points", rep.staff_experience().text())
