"""The provider report as data: sections, blocks and effect summaries, without a kernel.

One regression test per defect of issue 10's provider half. Reports are built once per module
on the committed synthetic data (SYN001: cohort 1, coaching ended; SYN008: cohort 3, only 11
modelled coaching months; SYN035: a stretch of zero reporting) and on a copy in which SYN002 has
tiny counts.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cocEval import wording as w
from cocEval.data import RESTRICTIVE_COUNTS
from cocEval.effects import EffectSummary
from cocEval.funnel import funnel_rates
from cocEval.report.blocks import Bullets, Callout, Figure, Heading, Paragraph, Section, Table, to_text
from cocEval.report.models import StaffComparison
from cocEval.report.provider import ProviderReport
from cocEval.spc import xmr

ROOT = Path(__file__).resolve().parents[1]
SYNTHETIC = ROOT / "data" / "synthetic"
PATHS = re.compile(r"/work|/tmp|/home|/root|data/synthetic|params/|\.yaml|\.csv|[A-Za-z]:\\")
INTERVAL = re.compile(r"\(95% CI ([^)]+)\)")
COACHING_MONTH = re.compile(r"month (\d+) (?:of coaching|from the start of coaching) \((\w+ \d{4})\)")


@pytest.fixture(scope="module")
def rep() -> ProviderReport:
    return ProviderReport.build("SYN001")


@pytest.fixture(scope="module")
def sections(rep) -> list[Section]:
    return rep.sections()


@pytest.fixture(scope="module")
def cohort3() -> ProviderReport:
    return ProviderReport.build("SYN008")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> ProviderReport:
    """SYN002 with a handful of single restrictive-practice events over five years."""
    folder = tmp_path_factory.mktemp("tiny") / "data"
    shutil.copytree(SYNTHETIC, folder)
    rp = pd.read_csv(folder / "restrictive_practice.csv", dtype={"month": str})
    counts = list(RESTRICTIVE_COUNTS)
    mine = rp.provider_id == "SYN002"
    rp.loc[mine, counts] = 0
    rp.loc[rp[mine].index[::37], ["restrictive_interventions", "seclusion", "people_restricted"]] = 1
    rp.to_csv(folder / "restrictive_practice.csv", index=False)
    return ProviderReport.build("SYN002", str(folder))


def _blocks(sections, kind):
    return [b for s in sections for b in s.all_blocks() if isinstance(b, kind)]


def _all_text(sections) -> str:
    return "\n".join(to_text(s) for s in sections)


def _prose(sections) -> list[str]:
    out = []
    for b in (b for s in sections for b in s.all_blocks()):
        if isinstance(b, Paragraph | Callout):
            out.append(b.text)
        elif isinstance(b, Bullets):
            out.extend(b.items)
    return out


def _cells(sections) -> list[str]:
    return [str(v) for t in _blocks(sections, Table) for v in t.shown.to_numpy().ravel()]


# ------------------------------------------------------------------------------------------
# sections are data
# ------------------------------------------------------------------------------------------
def test_every_section_is_a_section_of_blocks(sections):
    assert [s.title for s in sections][1:] == [
        "At a glance",
        "Data completeness and quality",
        "Restrictive practice",
        "Patient experience",
        "Staff experience",
        "Position among peers",
        "Methods and assumptions",
        "Provenance",
    ]
    for s in sections:
        assert isinstance(s, Section)
        assert all(isinstance(b, Heading | Paragraph | Bullets | Callout | Table | Figure) for b in s.blocks)
        assert "<" not in str(s).split("\n", 1)[0]  # print(section) is text, not markup


def test_findings_come_first_and_are_traceable_to_a_table(sections):
    glance = sections[1]
    first = glance.blocks[0]
    assert isinstance(first, Paragraph) and first.kind == "finding"
    cells = _cells(sections)
    findings = [b.text for b in glance.blocks if isinstance(b, Paragraph) and b.kind == "finding"]
    assert len(findings) >= 2
    for text in findings:
        for interval in INTERVAL.findall(text):
            # the same interval, with the same unit, is in a table cell below
            assert any(f"(95% CI {interval})" in c for c in cells), interval


# ------------------------------------------------------------------------------------------
# one regression test per defect
# ------------------------------------------------------------------------------------------
def test_no_numeric_table_headers(sections):
    """Before: the ITS diagnostics table was keyed on its first data column (headers were numbers)."""
    for t in _blocks(sections, Table):
        for c in t.shown.columns:
            assert re.search(r"[A-Za-z]", c), (t.caption, c)
            assert not re.fullmatch(r"[\d.\-+e ]+", c)
    diag = [t for t in _blocks(sections, Table) if "Autocorrelation test (Ljung-Box)" in t.shown.columns]
    assert len(diag) == 1 and list(diag[0].shown["Measure"])[0] == "Restrictive interventions"


@pytest.mark.parametrize("which", ["rep", "tiny"])
def test_no_nan_or_inf_in_any_table_cell(which, request):
    """Before: effect tables showed `inf` for a near-empty series."""
    r = request.getfixturevalue(which)
    secs = r.sections() if which == "tiny" else request.getfixturevalue("sections")
    for c in _cells(secs):
        assert not re.search(r"\b(nan|NaN|inf|Inf)\b", c), c
    for text in _prose(secs):
        assert not re.search(r"\b(nan|inf)\b", text), text


def test_tiny_counts_say_why_not_estimated(tiny):
    e = tiny.effect("restrictive_interventions")
    assert not e.estimable and e.reason
    assert "not estimated" in tiny.headlines()["Restrictive interventions"]
    glance = tiny.at_a_glance()
    row = glance.of_type(Table)[0].shown.iloc[0]
    assert row["12 months before coaching"] == "*" and row["Since coaching started"] == "*"


def test_provisional_month_never_quoted_as_a_finding(rep, cohort3):
    """Before: the ITS text quoted an effect for the provisional month the model had left out."""
    for r in (rep, cohort3):
        (prov,) = r.provisional
        label = w.fmt_month(prov)
        for e in r.effect_summaries():
            assert label not in e.period
        for text in r.findings():
            for _, month in COACHING_MONTH.findall(text):
                assert month != label
        assert f"({label})" not in " ".join(_prose([r.at_a_glance()]))


def test_months_of_coaching_are_counted_from_one(rep, cohort3, sections):
    """Before: 'month 12' meant month 11 in one place and month 12 in another."""
    assert rep.effect("restrictive_interventions").period == "month 12 of coaching (March 2025)"
    e = cohort3.effect("restrictive_interventions")
    assert e.period == "month 11 of coaching (February 2026)"  # start April 2025, March 2026 provisional
    assert any("Only 11 months of coaching are modelled" in c for c in e.caveats)
    for r, text in ((rep, _all_text(sections)), (cohort3, "\n".join(cohort3.findings()))):
        hits = COACHING_MONTH.findall(text)
        assert hits
        for n, month in hits:
            assert w.fmt_month(r.start + pd.DateOffset(months=int(n) - 1)) == month, (n, month)


def test_improvement_only_when_the_interval_excludes_no_change(rep, sections):
    """Before: '11% lower than expected (95% CI -32% to +17%), an improvement'."""
    effects = rep.effect_summaries()
    assert any(e.verdict == "unclear" for e in effects)  # the check below is not vacuous
    for e in effects:
        text = e.sentence()
        if e.estimable and e.ci_low <= e.null <= e.ci_high:
            assert "improvement" not in text and "deterioration" not in text, text
    for t in _blocks(sections, Table):
        if (
            "What the interval says" in t.shown.columns
            and "Change against expected without coaching (95% CI)" in t.shown
        ):
            for cell, verdict in zip(
                t.shown["Change against expected without coaching (95% CI)"], t.shown["What the interval says"]
            ):
                m = re.search(r"95% CI ([-+]?[\d.]+)%? to ([-+]?[\d.]+)", cell)
                if m and float(m[1]) < 0 < float(m[2]):
                    assert verdict.startswith("Cannot tell"), (cell, verdict)


def test_staff_improvement_needs_an_interval_clear_of_zero():
    s = StaffComparison(
        "violence",
        "Violence",
        2023,
        2024,
        0.2,
        0.18,
        0.0,
        -0.02,
        0.02,
        -0.06,
        0.02,
        40,
        "percentage points",
        "decrease",
    )
    e = s.effect_summary()
    assert e.verdict == "unclear" and "improvement" not in e.sentence() and "better" not in e.sentence()
    assert e.scale == "percentage points" and "-2.0 percentage points" in e.estimate_text()


def test_no_negative_limits_quoted_for_rates(rep, sections):
    """Before: 'limits -2.186 to 7.391' for rates that cannot be negative."""
    clipped = [k for k, c in rep.spc.items() if c.limits()["lcl"] < 0]
    assert clipped, "the synthetic data should have a rate whose lower limit is below zero"
    text = _all_text(sections)
    assert not re.search(r"limits?[^.]{0,40}?\(?-\d", text)
    for k in clipped:
        if k in {"restrictive_interventions", "positive_experience"}:
            assert "shown as 0 because a rate cannot be negative" in rep.spc_text(k)
        fig, ax, data = rep.spc_figure(k)
        assert (data["lcl"].dropna() >= 0).all()
        assert ax.get_ylim()[0] >= 0


def test_numbers_have_at_most_two_decimals(sections):
    """Before: three or four decimals in SPC sentences beside one-decimal tables."""
    for text in _prose(sections) + _cells(sections):
        for m in re.finditer(r"(?<![\w.])(\d+\.\d{3,})", text):
            before = text[max(0, m.start() - 4) : m.start()]
            assert "p = " in before or "p < " in before, (m.group(0), text[:120])


def test_figures_have_alt_text_gated_data_and_labelled_axes(rep, sections):
    """Before: images had no alt text and axis labels said 'value'."""
    figs = _blocks(sections, Figure)
    assert len(figs) >= 4
    for f in figs:
        assert f._gated and len(f.alt) > 40 and f.data is not None and "suppressed" in f.data.columns
        assert re.search(r"\d", f.alt)  # generated from the data: names values
    for key in ("restrictive_interventions", "positive_experience"):
        for make in (rep.spc_figure, rep.its_figure):
            fig, ax, _ = make(key)
            label = ax.get_ylabel()
            assert label and label.lower() != "value"
            assert ("per 1,000 occupied bed days" in label) or label.endswith("(%)")
            assert ax.get_xlabel() == "Month"


def test_suppressed_months_are_gaps_and_a_mostly_suppressed_chart_says_why(rep, sections):
    d = rep.its_frame("seclusion")
    assert d["suppressed"].any() and d.loc[d["suppressed"], "observed"].isna().all()
    callouts = [c.text for c in _blocks(sections, Callout)]
    assert any("Seclusion" in c and "suppressed to protect privacy" in c for c in callouts)


def test_no_machine_paths_in_any_text(sections):
    """Before: the methods table showed the data folder."""
    text = _all_text(sections)
    for f in _blocks(sections, Figure):
        text += f.alt + f.caption
    assert not PATHS.search(text), PATHS.search(text)
    items = _blocks([sections[-1]], Table)[0].shown["Item"].tolist()
    assert "Data folder" not in items and {"Code commit", "Dependencies", "Random seeds"} <= set(items)


def test_one_unit_per_outcome(rep, sections):
    """Before: one outcome appeared as a %, a proportion and percentage points."""
    glance = _blocks([sections[1]], Table)[0].shown.set_index("Measure")
    for _key, o in rep.cfg.outcomes.items():
        row = " ".join(glance.loc[o.name].astype(str))
        if o.is_share:
            assert "per 1,000" not in row and "percentage points" in row and "%" in row
            assert not re.search(r"\b0\.\d{2,}\b", row)  # no proportions
        else:
            assert "percentage points" not in row and " pp" not in row
            assert glance.loc[o.name, "Unit"] == "per 1,000 occupied bed days"
    for e in rep.effect_summaries():
        o = next((o for o in rep.cfg.outcomes.values() if o.name == e.outcome), None)
        if o is not None and e.estimable:
            assert e.scale == ("percentage points" if o.is_share else "percentage change")
    for k in ("restrictive_interventions", "positive_experience"):
        assert rep.spc_effect(k).scale == (
            "percentage points" if rep.cfg.outcomes[k].is_share else "per 1,000 occupied bed days"
        )


def test_no_jargon_without_words_and_a_glossary(sections):
    """Before: 'Common cause | No target', phi and tau-squared without explanation."""
    text = _all_text(sections)
    assert "| No target" not in text and "Common cause |" not in text
    assert not re.search(r"\b(phi|tau|tau-squared)\b", text)
    methods = sections[-2]
    glossary = [b for b in methods.blocks if isinstance(b, Bullets)][-1]
    terms = [i.split(":")[0] for i in glossary.items]
    for term in ("SPC", "Common cause", "Special cause", "Percentage points", "95% CI", "Suppressed (*)"):
        assert term in terms


def test_every_exclusion_is_stated_where_the_estimate_is_quoted(rep):
    r35 = ProviderReport.build("SYN035")
    e = r35.effect("restrictive_interventions")
    cav = " ".join(e.caveats)
    assert "8 months (September 2022 to April 2023; no restrictive practice recorded" in cav
    assert "1 month (March 2026; provisional" in cav
    assert "March 2026; provisional" in rep.effect("positive_experience").sentence()
    assert "Left out of the chart: 1 month (March 2026; provisional" in rep.spc_text("restrictive_interventions")
    assert "the provisional month March 2026 is left out" in rep.peers().blocks[0].text
    # the patient experience model does not leave out the restrictive practice gap
    assert "recording gap" not in " ".join(r35.effect("positive_experience").caveats)


def test_headlines_and_repr_are_short(rep):
    assert set(rep.headlines()) == {"Restrictive interventions", "Positive patient experience"}
    assert rep.headlines()["Restrictive interventions"] == rep.effect("restrictive_interventions").estimate_text(
        short=True
    )
    for obj in (rep, rep.spc["restrictive_interventions"], rep.staff[0]):
        text = repr(obj)
        assert len(text.splitlines()) <= 5 and len(text) < 600, text
    assert "Restrictive interventions: -" in repr(rep) or "Restrictive interventions: +" in repr(rep)


# ------------------------------------------------------------------------------------------
# effect_summary on SPC, funnel and the staff survey comparison
# ------------------------------------------------------------------------------------------
def test_spc_effect_summary_matches_the_chart():
    rng = np.random.default_rng(1)
    y = np.r_[rng.normal(10, 1, 12), rng.normal(7, 1, 12)]
    c = xmr(y, improvement="decrease", fix_after_n_points=12)
    e = c.effect_summary(outcome="Rate")
    assert e.estimate == pytest.approx(y[12:].mean() - y[:12].mean())
    sigma = (c.table["ucl"].iloc[0] - c.table["mean"].iloc[0]) / 3
    assert e.ci_high - e.ci_low == pytest.approx(2 * 1.959964 * sigma * np.sqrt(2 / 12), rel=1e-5)
    assert e.verdict == "improvement" and isinstance(e, EffectSummary)
    flat = xmr(rng.normal(10, 1, 12))
    assert not flat.effect_summary().estimable


def test_funnel_effect_summary_agrees_with_the_position():
    rng = np.random.default_rng(3)
    den = rng.integers(2000, 20000, 40)
    num = rng.poisson(den * 0.01)
    num[0] = int(den[0] * 0.02)
    labels = [f"P{i}" for i in range(40)]
    res = funnel_rates(num, den, labels=labels)
    pos = res.table.set_index("label")["position"]
    for lab in labels:
        e = res.effect_summary(lab, improvement="decrease")
        outside95 = pos[lab] != "within"
        assert (e.verdict != "unclear") == outside95, (lab, pos[lab], e.ci_low, e.ci_high)
    assert res.effect_summary("P0", improvement="decrease").verdict == "deterioration"


def test_printing_a_section_is_readable_text(sections):
    text = str(sections[1])
    assert text.startswith("At a glance\n===========")
    assert "IPython" not in text and "<p" not in text and "object at 0x" not in text
