"""Provider reports hand the programme report what it pools, so it does not fit the same models twice."""

from __future__ import annotations

import json

import pytest

from cocEval.config import load_inputs
from cocEval.report.programme import ProgrammeReport
from cocEval.report.provider import ProviderReport

OUTCOME = "restrictive_interventions"


@pytest.fixture(scope="module")
def quick():
    cfg, prog, _ = load_inputs()
    cfg = cfg.model_copy(update={"staff_indicators": {}, "did": cfg.did.model_copy(update={"n_boot": 100})})
    return cfg, prog


def test_handed_over_effects_equal_refitted_ones(quick, tmp_path):
    cfg, prog = quick
    pids = ["SYN001", "SYN002", "SYN003"]
    for pid in pids:
        ProviderReport.build(pid, None, cfg).write_summary(None, tmp_path / f"{pid}.json")
    handed = {}
    for pid in pids:
        handed.update(json.loads((tmp_path / f"{pid}.json").read_text()))
    with_handover = ProgrammeReport.build(config=cfg, outcomes=[OUTCOME], provider_effects=handed)
    refitted = ProgrammeReport.build(config=cfg, outcomes=[OUTCOME])
    a = with_handover.outcomes[OUTCOME].provider_effects
    b = refitted.outcomes[OUTCOME].provider_effects
    assert set(pids) <= set(a["provider_id"])
    assert a.equals(b)  # exact: JSON keeps the floats, the models are the same
    assert with_handover.outcomes[OUTCOME].pooled.estimate == refitted.outcomes[OUTCOME].pooled.estimate


def test_handed_over_effects_are_used_not_refitted(quick, tmp_path):
    cfg, _ = quick
    planted = {
        "SYN001": {OUTCOME: {"log_effect": 0.123456789, "se": 0.0421}},
        "SYN002": {OUTCOME: {"error": "planted"}},
    }
    path = tmp_path / "effects.json"
    path.write_text(json.dumps(planted))
    rep = ProgrammeReport.build(config=cfg, outcomes=[OUTCOME], provider_effects=path)
    e = rep.outcomes[OUTCOME].provider_effects.set_index("provider_id")
    assert e.loc["SYN001", "log_effect"] == 0.123456789 and e.loc["SYN001", "se"] == 0.0421
    assert "SYN002" not in e.index and ("SYN002", "planted") in rep.outcomes[OUTCOME].not_modelled
