"""Data completeness checks on a hand-built provider."""

from __future__ import annotations

import pandas as pd
from test_data import tiny_tables, write

from cocEval.data import load_programme
from cocEval.quality import provisional_months, ward_completeness, zero_stretches


def test_completeness_gaps_and_zero_stretches(tmp_path):
    t = tiny_tables()
    rp = t["restrictive_practice"]
    # P2 reports nothing restrictive in all three months (bed days still reported)
    zero_cols = ["restrictive_interventions", "physical_restraint", "prone_restraint", "seclusion", "people_restricted"]
    rp.loc[rp.provider_id == "P2", zero_cols] = 0
    # P1-W2 misses February
    t["restrictive_practice"] = rp[~((rp.ward_id == "P1-W2") & (rp.month == "2024-02"))]
    prog = load_programme(write(t, tmp_path / "q"))

    wc = ward_completeness(prog, "P1").set_index("ward_id")
    assert wc.loc["P1-W2", "missing_months"] == "2024-02"
    assert wc.loc["P1-W2", "rp_months"] == 2 and wc.loc["P1-W1", "missing_months"] == ""
    assert wc.loc["P1-W1", "months_expected"] == 3

    z = zero_stretches(prog, "P2", min_length=3)
    assert z.to_dict("records") == [{"first_month": "2024-01", "last_month": "2024-03", "months": 3, "bed_days": 1200}]
    assert zero_stretches(prog, "P1").empty
    assert provisional_months(prog, 1) == [pd.Timestamp("2024-03-01")]
    assert provisional_months(prog, 0) == []
