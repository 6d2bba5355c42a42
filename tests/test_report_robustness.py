"""The "How robust is this?" section, built on the committed synthetic data for one outcome."""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest

from cocEval.data import load_programme, provider_month_panel
from cocEval.report.blocks import Figure, Section, Table, to_html, to_text
from cocEval.report.gate import Gate
from cocEval.report.robustness import OutcomeRobustness, assess_outcome, robustness_section
from tests.conftest import SYNTHETIC


@pytest.fixture(scope="module")
def assessed():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prog = load_programme(SYNTHETIC)
        panel = provider_month_panel(prog, "restrictive_interventions")
    t0 = time.perf_counter()
    r = assess_outcome(
        panel,
        outcome="Restrictive interventions",
        unit="per 1,000 occupied bed days",
        mbar=(0.5, 1.0),
        window=(-3, 1),
        placebo_shifts=(6,),
        n_perm=9,
        n_sims=10,
        leave_out_providers=False,
    )
    return r, time.perf_counter() - t0, prog


def test_section_builds_quickly_for_one_outcome(assessed):
    r, secs, prog = assessed
    t0 = time.perf_counter()
    sec = robustness_section([r], gate=Gate("mhsds"))
    secs += time.perf_counter() - t0
    assert isinstance(sec, Section) and sec.title == "How robust is this?"
    assert secs < 30  # a few seconds on an idle machine; generous for the shared one
    assert not r.notes, r.notes
    tables, figures = sec.of_type(Table), sec.of_type(Figure)
    assert len(tables) == 2 and len(figures) == 1
    text = to_text(sec)
    for phrase in (
        "Holm",
        "Pretending coaching began",
        "reshuffles",
        "leaving out one cohort",
        "would likely go unseen",
    ):
        assert phrase in text, phrase
    html = to_html(sec)
    assert "nan" not in text.lower() and "<img" in html
    # no provider is named anywhere
    for pid in prog.participation["provider_id"]:
        assert str(pid) not in text


def test_breakdown_words_follow_the_intervals():
    base = dict(
        outcome="X", unit="points", improvement="decrease", estimate=-1.0, ci_low=-1.5, ci_high=-0.5, p_value=0.001
    )
    import pandas as pd

    def honest(rows):
        return pd.DataFrame(rows, columns=["m", "lb", "ub", "method", "restriction"])

    r = OutcomeRobustness(
        **base,
        honest=honest(
            [
                (np.nan, -1.5, -0.5, "Original", "DeltaRM"),
                (0.5, -1.7, -0.2, "C-LF", "DeltaRM"),
                (1.0, -2.0, 0.1, "C-LF", "DeltaRM"),
            ]
        ),
    )
    assert r.breakdown == (0.5, 1.0)
    sec = robustness_section([r], gate=Gate("mhsds"))
    assert "up to 0.5 times" in to_text(sec) and "not at 1.0 times" in to_text(sec)
    r0 = OutcomeRobustness(**{**base, "ci_high": 0.2}, honest=honest([(np.nan, -1.5, 0.2, "Original", "DeltaRM")]))
    assert r0.breakdown == (0.0, 0.0)
