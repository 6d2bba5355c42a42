"""The programme report as data (issue 10): a verdict first, numbers that trace to the evidence,
one named pre-trend test, no "improvement" for an interval including no change, exclusions
stated where an estimate is quoted, gated tables and figures, no machine paths.

The report is built once per module on the committed synthetic data, for two outcomes and two
staff indicators with fewer bootstrap draws, to keep the suite quick.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cocEval import wording as w
from cocEval.config import ConfigError, load_config
from cocEval.effects import EffectSummary
from cocEval.report.blocks import Bullets, Figure, Heading, Paragraph, Section, Table, to_html
from cocEval.report.programme import PRETREND_TEST, ProgrammeReport, pretrend_sentence, verdict_sentence

ROOT = Path(__file__).resolve().parents[1]
OUTCOMES = ["restrictive_interventions", "positive_experience"]
CI = re.compile(r"95% CI ([+-]?\d[\d,]*\.?\d*)%? to ([+-]?\d[\d,]*\.?\d*)")


@pytest.fixture(scope="module")
def rep() -> ProgrammeReport:
    cfg = load_config(ROOT / "params" / "programme.yaml", data_dir=str(ROOT / "data" / "synthetic"))
    cfg = cfg.model_copy(
        update={
            "did": cfg.did.model_copy(update={"n_boot": 199}),
            "staff_indicators": {k: cfg.staff_indicators[k] for k in ("engagement", "violence")},
        }
    )
    return ProgrammeReport.build(None, cfg, outcomes=OUTCOMES)


@pytest.fixture(scope="module")
def sections(rep) -> list[Section]:
    """The report's body: every section after the page title (which carries the banner under "none")."""
    secs = rep.sections()
    assert secs[0].level == 1 and secs[0].title == "Culture of Care programme evaluation"
    return secs[1:]


def _section(sections, start: str) -> Section:
    return next(s for s in sections if s.title.startswith(start))


def _texts(section: Section) -> list[str]:
    """Every paragraph and bullet item of a section, one string each."""
    out = []
    for b in section.blocks:
        if isinstance(b, Paragraph):
            out.append(b.text)
        elif isinstance(b, Bullets):
            out.extend(b.items)
    return out


def _flat(section: Section) -> str:
    """The prose of a section on one line (the text renderer wraps lines)."""
    return " ".join(_texts(section))


def _sentences(text: str) -> list[str]:
    return re.split(r"(?<=[.:])\s+(?=[A-Z])", text)


def _row(table: Table, outcome: str) -> dict:
    rows = table.shown[table.shown["Outcome"] == outcome]
    assert len(rows) == 1, (outcome, table.shown)
    return rows.iloc[0].to_dict()


# --------------------------------------------------------------------------------------------
def test_sections_are_data(sections):
    assert all(isinstance(s, Section) for s in sections)
    for s in sections:
        assert s.text() and to_html(s)  # both renderers accept every block (tables/figures gated)


def test_verdict_comes_first_and_names_the_primary_analysis(rep, sections):
    v = sections[0]
    assert v.title == "Verdict"
    text = _flat(v)
    assert "Primary analysis, pre-specified" in text
    assert "staggered difference-in-differences" in text
    assert f"{rep.cfg.primary_analysis.aggregation} aggregation" in text
    assert "providers not yet coached as controls" in text
    for key in rep.headline_keys():
        assert rep.cfg.outcomes[key].name in text


def test_primary_analysis_is_configured_and_validated(tmp_path):
    cfg = load_config(ROOT / "params" / "programme.yaml")
    assert cfg.primary_analysis.method == "staggered_did"
    assert cfg.primary_analysis.aggregation == "dynamic"
    with pytest.raises(ConfigError, match="primary_analysis"):
        load_config(ROOT / "params" / "programme.yaml", primary_analysis={"aggregation": "best_looking"})
    with pytest.raises(ConfigError, match="differs from did.control_group"):
        load_config(ROOT / "params" / "programme.yaml", primary_analysis={"control_group": "nevertreated"})


def test_headline_numbers_equal_the_evidence_table_and_the_estimator(rep, sections):
    verdict, evidence = sections[0], _section(sections, "Staggered difference-in-differences")
    vt, et = verdict.of_type(Table)[0], evidence.of_type(Table)[0]
    findings = [p.text for p in verdict.of_type(Paragraph) if p.kind == "finding"]
    for key in rep.headline_keys():
        name = rep.cfg.outcomes[key].name
        vrow, erow = _row(vt, name), _row(et, name)
        assert (vrow["Effect (95% CI)"], vrow["Unit"]) == (erow["Effect (95% CI)"], erow["Unit"])
        est, ci = re.fullmatch(r"(\S+) \((.+)\)", vrow["Effect (95% CI)"]).groups()
        finding = next(f for f in findings if f.startswith(name + ":"))
        assert f"{est} {vrow['Unit']}" in finding and f"95% CI {ci})" in finding
        # the number is the estimator's, on the stated scale
        ev = rep.outcomes[key]
        s = w.SCALES[ev.scale]
        assert float(est) == pytest.approx(ev.primary.overall.att * s.factor, abs=0.6 * 10**-s.digits)


def test_absolute_and_relative_are_reconciled(rep, sections):
    text = _flat(sections[0])
    for key in rep.headline_keys():
        ev = rep.outcomes[key]
        rel = abs(ev.primary.overall.att / ev.baseline)
        assert f"about {rel:.0%} of the coached providers' pre-coaching" in text


def test_one_pretrend_statement_from_the_named_test(rep, sections):
    all_text = "\n".join(s.text() for s in sections)
    assert "bands that include zero" not in all_text and "pre-test" not in all_text
    for s in sections:
        for t in _texts(s):
            if "consistent with parallel trends" in t:
                assert PRETREND_TEST in t or ("pre-trend test over" in t and PRETREND_TEST in _flat(s)), t
                p = re.search(r"p = (0\.\d+)", t)
                assert p and float(p.group(1)) >= 0.05, t
    did = _section(sections, "Staggered difference-in-differences")
    for key, ev in rep.outcomes.items():
        p = ev.pretrend["p_value"]
        # the statement under this outcome's heading
        at = next(
            i for i, b in enumerate(did.blocks) if isinstance(b, Heading) and b.text == rep.cfg.outcomes[key].label
        )
        stmt = [b.text for b in did.blocks[at + 1 : at + 4] if isinstance(b, Paragraph) and PRETREND_TEST in b.text]
        assert stmt and f"event times {ev.pretrend['first']} to -1" in stmt[0], key
        assert (("consistent with parallel trends" in stmt[0]) == (p >= 0.05)) and w.fmt_p(p) in stmt[0]
        assert "limited power" in stmt[0] or p < 0.05


def test_pretrend_sentence_never_claims_parallel_trends_when_rejected_or_missing():
    base = {"df": 12, "first": -12, "last": -1}
    assert "consistent with parallel trends" in pretrend_sentence(dict(base, p_value=0.2))
    for p in (0.049, 1e-50, float("nan")):
        text = pretrend_sentence(dict(base, p_value=p))
        assert "consistent with parallel trends" not in text and "event times -12 to -1" in text


def test_no_improvement_for_an_interval_including_no_change(rep, sections):
    for s in sections:
        for t in _texts(s):
            for sentence in _sentences(t):
                if "improvement" in sentence and (m := CI.search(sentence)):
                    lo, hi = (float(x.replace(",", "")) for x in m.groups())
                    assert hi < 0 or lo > 0, sentence
        for table in s.of_type(Table):
            if "Verdict" not in table.shown:
                continue
            col = next(c for c in table.shown if "95% CI" in c)
            for _, r in table.shown.iterrows():
                if r["Verdict"] == "improvement":
                    lo, hi = (float(x) for x in re.search(r"\((\S+?)%? to (\S+?)%?\)", r[col]).groups())
                    assert hi < 0 or lo > 0, r.to_dict()
    unclear = EffectSummary(
        outcome="Seclusion",
        comparison="",
        scale="per 1,000 occupied bed days",
        estimate=-0.9,
        ci_low=-2.1,
        ci_high=0.4,
        period="",
        method="",
        improvement="decrease",
    )
    assert "improvement" not in verdict_sentence(unclear, baseline=8.2, baseline_words="pre-coaching average")


def test_exclusions_are_stated_where_the_estimate_is_quoted(rep, sections):
    verdict = _flat(sections[0])
    pooled = _flat(_section(sections, "Provider effects pooled"))
    some = False
    for key, ev in rep.outcomes.items():
        for cohort, n, months in ev.pool_excluded:
            some = True
            words = f"{cohort} ({n} providers), whose data reach only {months} coaching months"
            assert words in pooled
            if key in rep.headline_keys():
                assert words in verdict
        for pid in ev.dropped_gaps:
            some = True
            assert pid in verdict and "recording gap" in verdict
        for pid in ev.dropped_missing:
            assert pid in verdict and "missing months" in verdict
    assert some  # the synthetic data have a cohort short of month 12 and a zero-reporting stretch


def test_tables_have_word_headers_and_no_nan_or_inf(sections):
    for s in sections:
        for t in s.of_type(Table):
            for c in t.shown.columns:
                assert re.search(r"[A-Za-z]", c) and not re.fullmatch(r"[\d.+-]+", c.strip()), c
            cells = " | ".join(map(str, t.shown.to_numpy().ravel()))
            assert not re.search(r"\b(nan|NaN|inf|None)\b", cells), (t.caption, cells)


def test_every_figure_has_alt_text_from_its_data(sections):
    figs = [f for s in sections for f in s.of_type(Figure)]
    assert len(figs) >= 5
    for f in figs:
        assert len(f.alt) > 40 and re.search(r"\d", f.alt), f.alt
        assert f.data is not None and f._gated


def test_forest_plot_has_enough_x_ticks_and_a_unit(rep):
    import matplotlib.pyplot as plt

    for key in rep.headline_keys():
        fig, ax = rep.forest_figure(key)
        lo, hi = sorted(ax.get_xlim())
        ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
        label = ax.get_xlabel()
        plt.close(fig)
        assert len(ticks) >= 3, ticks
        assert "%" in label and "value" not in label.lower()


def test_heterogeneity_sentence_does_not_contradict_itself(rep, sections):
    pooled = _flat(_section(sections, "Provider effects pooled"))
    for ev in rep.outcomes.values():
        if ev.pooled is not None and ev.pooled.tau2 == 0:
            assert "differ no more than chance would explain" in pooled
    for t in pooled.split(". "):
        if "I² = 0%" in t:
            assert "real differences" not in t, t
    methods = _section(sections, "Methods").text()
    for term in ("I²", "tau²", "Prediction interval", "Parallel trends", "TWFE"):
        assert f"{term}: " in methods


def test_one_unit_per_outcome(rep, sections):
    did = _section(sections, "Staggered difference-in-differences")
    units = {r["Outcome"]: r["Unit"] for _, r in did.of_type(Table)[0].shown.iterrows()}
    assert units[rep.cfg.outcomes["restrictive_interventions"].name] == "per 1,000 occupied bed days"
    assert units[rep.cfg.outcomes["positive_experience"].name] == "percentage points"
    text = "\n".join(s.text() for s in sections)
    assert "proportion" not in text and "Band low" not in text


def test_no_machine_paths_and_provenance_has_commit_and_seed(rep, sections):
    html = to_html(sections)
    for bad in (str(ROOT), "/work/", "/home/", "/tmp/", "data/synthetic", ".yaml"):
        assert bad not in html, bad
    prov = _section(sections, "Provenance").of_type(Table)[0].shown.set_index("Item")["Value"]
    assert prov["Code commit"]
    assert str(rep.cfg.did.seed) in prov["Random seeds"]


def test_headings_structure(sections):
    assert all(isinstance(b, Heading) for s in sections for b in s.all_blocks()[:1] if s.title)
    assert [s.title for s in sections if s.title][:3] == [
        "Verdict",
        "Participation",
        "Staggered difference-in-differences (primary analysis)",
    ]
