"""Disclosure control: edge values (0, 4, 5, 7, 8, 12.5, NaN), rates, presets, the checker."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from cocEval.disclosure import (
    PRESETS,
    DisclosureRule,
    apply_disclosure,
    disclose_count,
    disclosure_issues,
    get_rule,
    round_half_up,
)

EDGE = [0, 4, 5, 7, 8, 12.5, np.nan]


def _same(a, b) -> bool:
    return all((pd.isna(x) and pd.isna(y)) or x == y for x, y in zip(a, b, strict=True))


def test_mhsds_edge_values():
    t = pd.DataFrame({"n": EDGE})
    shown = apply_disclosure(t, counts="n")["n"].tolist()
    assert _same(shown, ["*", "*", 5, 5, 10, 15, np.nan])


def test_hes_edge_values():
    t = pd.DataFrame({"n": EDGE})
    shown = apply_disclosure(t, counts="n", rule="hes")["n"].tolist()
    # 1-7 suppressed, zero shown, others rounded to the nearest 5
    assert _same(shown, [0, "*", "*", "*", 10, 15, np.nan])


@pytest.mark.parametrize("x, expected", [(12.5, 15), (7.5, 10), (17.5, 20), (2.5, 5), (12.4999, 10), (22.5, 25)])
def test_exact_halves_round_up(x, expected):
    assert round_half_up(x, 5) == expected
    # Python's round() rounds 12.5/5 = 2.5 to even (10): we deliberately do not
    if x == 12.5:
        assert round(x / 5) * 5 == 10


def test_rounded_values_are_whole_numbers_and_idempotent():
    t = pd.DataFrame({"n": [5, 6, 13, 102, 0, 3]})
    once = apply_disclosure(t, counts=["n"])
    twice = apply_disclosure(once, counts=["n"])
    assert once["n"].tolist() == [5, 5, 15, 100, "*", "*"]
    assert all(isinstance(v, int) for v in once["n"] if v != "*")
    assert twice.equals(once)


def test_rates_suppressed_on_numerator_or_denominator():
    t = pd.DataFrame(
        {
            "provider": list("ABCDEF"),
            "incidents": [4, 5, 20, 20, 0, np.nan],
            "bed_days": [1000, 1000, 99, 100, 1000, 1000],
        }
    )
    t["rate"] = 1000 * t["incidents"] / t["bed_days"]
    out = apply_disclosure(t, rates={"rate": ("incidents", "bed_days")})
    assert _same(out["rate"].tolist(), ["*", 5.0, "*", 200.0, "*", np.nan])
    # the numerator is a count too; the denominator and other columns pass through
    assert _same(out["incidents"].tolist(), ["*", 5, 20, 20, "*", np.nan])
    assert out["bed_days"].equals(t["bed_days"]) and out["provider"].equals(t["provider"])
    # the input is not modified
    assert t["incidents"].iloc[0] == 4


def test_rate_with_numerator_only_and_hes_has_no_denominator_rule():
    t = pd.DataFrame({"k": [3, 9], "n": [10, 50], "p": [0.3, 0.18]})
    # a shown rate is computed from the rounded numerator: 9 -> 10, so 0.18 -> 0.2 (= 10 / 50)
    out = apply_disclosure(t, rates={"p": "k"})["p"].tolist()
    assert out[0] == "*" and out[1] == pytest.approx(10 / 50)
    # HES: no denominator rule, numerator 9 is shown (rounded to 10), rate from the rounded count
    t2 = pd.DataFrame({"k": [9], "bed_days": [20], "rate": [450.0]})
    out = apply_disclosure(t2, rates={"rate": ("k", "bed_days")}, rule="hes")
    assert out["rate"].tolist() == [pytest.approx(1000 * 10 / 20)] and out["k"].tolist() == [10]
    assert apply_disclosure(t2, rates={"rate": ("k", "bed_days")})["rate"].tolist() == ["*"]


def test_rate_with_missing_denominator_is_suppressed():
    t = pd.DataFrame({"k": [30], "bed_days": [np.nan], "rate": [12.0]})
    assert apply_disclosure(t, rates={"rate": ("k", "bed_days")})["rate"].tolist() == ["*"]


def test_checker_lists_every_disclosing_cell():
    t = pd.DataFrame(
        {"incidents": [3, 15, 12, 0, np.nan], "bed_days": [900, 80, 2500, 500, 100]},
        index=["w1", "w2", "w3", "w4", "w5"],
    )
    t["rate"] = 1000 * t["incidents"] / t["bed_days"]
    issues = disclosure_issues(t, rates={"rate": ("incidents", "bed_days")})
    got = set(map(tuple, issues[["row", "column"]].values.tolist()))
    assert got == {
        ("w1", "rate"),
        ("w2", "rate"),
        ("w4", "rate"),
        ("w1", "incidents"),
        ("w3", "incidents"),
        ("w4", "incidents"),
    }
    reasons = dict(zip(map(tuple, issues[["row", "column"]].values.tolist()), issues["reason"]))
    assert "denominator 'bed_days' = 80 is under 100" in reasons[("w2", "rate")]
    assert "under 5" in reasons[("w1", "incidents")]
    assert "not rounded to a multiple of 5" in reasons[("w3", "incidents")]


def test_checker_is_empty_after_apply():
    rng = np.random.default_rng(1)
    t = pd.DataFrame({"k": rng.integers(0, 40, 200).astype(float), "d": rng.integers(20, 400, 200)})
    t.loc[::17, "k"] = np.nan
    t["rate"] = t["k"] / t["d"]
    roles = dict(counts=["d"], rates={"rate": ("k", "d")})
    assert len(disclosure_issues(t, **roles)) > 0
    shown = apply_disclosure(t, **roles)
    assert disclosure_issues(shown, **roles).empty


def test_checker_hes_zero_is_not_an_issue():
    t = pd.DataFrame({"n": [0, 7, 10]})
    assert disclosure_issues(t, counts="n", rule="hes")["row"].tolist() == [1]
    assert disclosure_issues(t, counts="n")["row"].tolist() == [0, 1]


def test_custom_rule_and_presets():
    r = DisclosureRule(name="tens", suppress_below=10, rounding_base=10, marker="[c]")
    assert [disclose_count(v, r) for v in (9, 10, 15, 24)] == ["[c]", 10, 20, 20]
    assert get_rule("MHSDS") is PRESETS["mhsds"]
    assert get_rule(r) is r
    assert get_rule("mhsds", suppress_below=10).suppress_below == 10
    with pytest.raises(ValueError, match="unknown disclosure rule"):
        get_rule("ons")
    with pytest.raises(ValidationError):
        DisclosureRule(rounding_base=0)
    with pytest.raises(ValidationError):
        get_rule("mhsds", suppress_below=-1)


@pytest.mark.parametrize(
    "frame, kwargs, match",
    [
        (pd.DataFrame({"n": [1, "x"]}), {"counts": "n"}, r"count column 'n' has values .*\['x'\]"),
        (pd.DataFrame({"n": [1, -2]}), {"counts": "n"}, "non-negative"),
        (pd.DataFrame({"n": [1, np.inf]}), {"counts": "n"}, "finite"),
        (pd.DataFrame({"n": [1]}), {"counts": "m"}, r"columns not in the table: \['m'\]"),
        (pd.DataFrame({"n": [1]}), {}, "say which columns"),
        (pd.DataFrame({"n": [1], "r": [1.0]}), {"counts": ["r"], "rates": {"r": "n"}}, "both as counts and as rates"),
        (pd.DataFrame({"n": [1], "r": [1.0]}), {"rates": {"r": 3}}, "numerator column"),
    ],
)
def test_bad_input_names_the_problem(frame, kwargs, match):
    with pytest.raises(ValueError, match=match):
        apply_disclosure(frame, **kwargs)
    with pytest.raises(ValueError, match=match):
        disclosure_issues(frame, **kwargs)
