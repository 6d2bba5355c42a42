"""Disclosure rules, secondary suppression, the gate's internals and the audit.

Property-based tests (hypothesis) for random tables: rounding is stable; a shown rate gives back
only the rounded count; after secondary suppression no shown value reveals a suppressed cell by
subtraction, even reading the rounded values as intervals.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from attacker import Shown, _interval, _pins
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cocEval.audit import assert_publishable, audit_html, audit_report
from cocEval.cli import main
from cocEval.disclosure import (
    NOT_FOR_CIRCULATION,
    PRESETS,
    apply_disclosure,
    banner_text,
    get_rule,
    index_note,
    round_half_up,
    secondary_suppression,
)
from cocEval.errors import DisclosureError, InputError
from cocEval.report.blocks import Section, to_html
from cocEval.report.gate import Gate, mark_suppressed

counts = st.integers(min_value=0, max_value=400)


# -- presets -------------------------------------------------------------------------------------
def test_every_preset_states_its_source():
    assert set(PRESETS) == {"mhsds", "staff-survey", "hes", "none"}
    assert all(r.source for r in PRESETS.values())


def test_unknown_rule_is_an_input_error():
    with pytest.raises(InputError):
        get_rule("gdpr")


def test_mhsds_suppresses_zero_to_four():
    t = pd.DataFrame({"n": [0, 1, 4, 5, 7, 8]})
    assert apply_disclosure(t, counts="n")["n"].tolist() == ["*", "*", "*", 5, 5, 10]


def test_staff_survey_hides_groups_under_eleven_whatever_the_numerator():
    t = pd.DataFrame({"k": [3, 3, 0], "n": [10, 11, 40]})
    t["share"] = 100 * t["k"] / t["n"]
    out = apply_disclosure(t, counts=["n"], rates={"share": ("k", "n")}, rule="staff-survey")
    assert out["share"].tolist()[0] == "*" and out["share"].tolist()[1:] == pytest.approx([300 / 11, 0.0])
    assert out["n"].tolist() == ["*", 11, 40]  # respondents shown as they are from 11
    assert out["k"].tolist() == [3, 3, 0]  # the numerator alone does not suppress (survey practice)


def test_scores_of_small_groups_are_hidden():
    t = pd.DataFrame({"respondents": [9, 11, np.nan], "engagement": [6.1, 6.8, 7.0]})
    out = apply_disclosure(t, scores={"engagement": "respondents"}, rule="staff-survey")
    assert out["engagement"].tolist() == ["*", 6.8, "*"]
    d = Gate().frame(t, scores={"engagement": "respondents"}, rule="staff-survey")
    assert d["suppressed"].tolist() == [True, False, True] and "respondents" not in d.columns


def test_none_rule_passes_everything_and_asks_for_the_banner():
    t = pd.DataFrame({"n": [0, 3, 12], "d": [50, 900, 1000]})
    t["r"] = 1000 * t["n"] / t["d"]
    out = apply_disclosure(t, counts="n", rates={"r": ("n", "d")}, rule="none")
    assert out["n"].tolist() == [0, 3, 12] and out["r"].tolist() == pytest.approx(t["r"].tolist())
    assert banner_text("none") == NOT_FOR_CIRCULATION and banner_text("hes") is None
    assert NOT_FOR_CIRCULATION in index_note("none") and NOT_FOR_CIRCULATION not in index_note("mhsds")
    g = Gate("none")
    assert g.banner().kind == "banner" and Gate("mhsds").banner() is None
    # overrides cannot switch control back on for part of an uncontrolled report, nor off
    assert g.survey.name == "none" and Gate("mhsds").survey.name == "staff-survey"


# -- rates from the rounded count ----------------------------------------------------------------
@settings(deadline=None)  # the machine is shared: time is not what is tested
@given(n=st.integers(5, 5000), beds=st.integers(100, 60000), per=st.sampled_from([100, 1000, 10000]))
def test_a_shown_rate_gives_back_only_the_rounded_count(n, beds, per):
    t = pd.DataFrame({"n": [n], "beds": [beds]})
    t["rate"] = per * t["n"] / t["beds"]
    out = apply_disclosure(t, rates={"rate": ("n", "beds")})
    shown = out["rate"].iloc[0]
    back = shown * beds / per
    assert back == pytest.approx(round_half_up(n, 5), rel=1e-12)
    if n % 5:
        assert abs(back - n) > 0.5  # the exact count cannot be read back


# -- rounding ------------------------------------------------------------------------------------
@settings(deadline=None)
@given(st.lists(st.one_of(counts, st.floats(0, 400, allow_nan=False)), min_size=1, max_size=30))
def test_rounding_is_stable(values):
    t = pd.DataFrame({"n": values})
    once = apply_disclosure(t, counts="n")
    assert apply_disclosure(once, counts="n").equals(once)
    shown = [v for v in once["n"] if v != "*"]
    assert all(v % 5 == 0 and v >= 5 for v in shown)


# -- secondary suppression -----------------------------------------------------------------------
def test_secondary_follows_the_fft_steps():
    # one small cell: the next-smallest goes too
    s = secondary_suppression({"a": 3, "b": 40, "c": 9, "t": 52}, [("t", ["a", "b", "c"])])
    assert s.to_dict() == {"a": True, "b": False, "c": True, "t": False}
    # a suppressed parent: its two smallest children
    s = secondary_suppression({"a": 2, "b": 1, "c": 1, "t": 4, "x": 30}, [("t", ["a", "b", "c"])])
    assert s[["a", "b", "c", "t"]].all()
    s = secondary_suppression({"a": 0, "b": 0, "c": 4, "t": 4}, [("t", ["a", "b", "c"])], "hes")
    assert s.to_dict() == {"a": False, "b": False, "c": True, "t": True}  # zeros shown, parent = child
    # two small cells beside a rounded total are not enough: one that is not small goes too
    s = secondary_suppression({"a": 1, "b": 1, "c": 5, "d": 5, "e": 5, "f": 5, "t": 22}, [("t", list("abcdef"))])
    assert s[["a", "b"]].all() and s[list("cdef")].sum() == 1


def test_secondary_repeats_until_stable_across_rows_and_columns():
    # months (rows) x types (columns) with row and column totals
    t = pd.DataFrame({"a": [3, 20, 30], "b": [25, 40, 22], "all": [28, 60, 52]}, index=["Jan", "Feb", "Year"])
    t.loc["Year", ["a", "b"]] = t.loc[["Jan", "Feb"], ["a", "b"]].sum().to_numpy()
    t.loc["Year", "all"] = t.loc["Year", ["a", "b"]].sum()
    out = apply_disclosure(t, counts=["a", "b"], totals={"all": ["a", "b"]}, groups={"Year": ["Jan", "Feb"]})
    hidden = {(r, c) for r in out.index for c in out.columns if out.loc[r, c] == "*"}
    assert ("Jan", "a") in hidden and ("Jan", "b") in hidden and ("Feb", "a") in hidden
    assert out.loc["Year", "all"] == 90  # 88 rounded, never summed from shown cells


@st.composite
def two_way(draw):
    n_rows = draw(st.integers(2, 5))
    n_cols = draw(st.integers(2, 4))
    cells = draw(
        st.lists(st.lists(st.integers(0, 60), min_size=n_cols, max_size=n_cols), min_size=n_rows, max_size=n_rows)
    )
    return pd.DataFrame(cells, columns=[f"c{j}" for j in range(n_cols)])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(two_way(), st.sampled_from(["mhsds", "hes"]))
def test_no_shown_value_reveals_a_suppressed_cell(table, rule):
    """Random tables with row totals and a total row: subtracting shown values from shown
    totals (reading rounded values as intervals) never pins a suppressed cell to 1-4."""
    parts = list(table.columns)
    t = table.copy()
    t["total"] = t[parts].sum(axis=1)
    t.loc["all"] = t.sum()
    rows = [i for i in t.index if i != "all"]
    r = get_rule(rule)
    out = apply_disclosure(t, counts=parts, totals={"total": parts}, groups={"all": rows}, rule=r)

    def cells(values):
        return [None if v == r.marker else _interval(float(v), r, True) for v in values]

    found = []
    for i in out.index:  # each row: the total column is the sum of the parts
        found += _pins(cells(out.loc[i, [*parts, "total"]]), r, f"row {i}", total=len(parts))
    for c in [*parts, "total"]:  # each column: the last row is the sum of the others
        found += _pins(cells(out[c]), r, f"column {c}", total=len(out) - 1)
    assert found == []
    # the FFT invariant: a group never has exactly one suppressed cell beside a shown total,
    # unless every other part is a shown zero (then the total says no more than the cell would)
    for i in out.index:
        row = out.loc[i, parts]
        if (row == r.marker).sum() == 1 and out.loc[i, "total"] != r.marker:
            assert (row[row != r.marker] == 0).all()


def test_pins_finds_an_exact_difference():
    assert _pins([Shown(33, 33), None, Shown(20, 20), Shown(10, 10)], get_rule("mhsds"), "x")


# -- the gate ------------------------------------------------------------------------------------
def test_frame_shows_only_disclosed_values():
    g = Gate()
    df = pd.DataFrame(
        {
            "month": pd.date_range("2024-01-01", periods=4, freq="MS"),
            "n": [3, 12, 48, 0],
            "beds": [900, 1000, 2500, 1000],
            "secret": [1, 2, 3, 4],
            "fit": [2.0, 3.0, 4.0, 5.0],
        }
    )
    df["rate"] = 1000 * df["n"] / df["beds"]
    d = g.frame(df, counts="n", rates={"rate": ("n", "beds")}, values=["fit", "beds"])
    assert "secret" not in d.columns  # undeclared numbers never reach a chart
    assert d["n"].tolist()[1:3] == [10, 50] and np.isnan(d["n"].iloc[0]) and np.isnan(d["n"].iloc[3])
    assert d["rate"].iloc[1] == pytest.approx(1000 * 10 / 1000)  # from the rounded count
    assert d["suppressed"].tolist() == [True, False, False, True]
    assert d["fit"].tolist() == df["fit"].tolist()
    assert g.mostly_suppressed(d, 0.4) and not g.mostly_suppressed(d, 0.5)
    assert "not shown" in g.not_shown("The chart").text


def test_mark_suppressed_draws_markers_not_values():
    d = Gate().frame(pd.DataFrame({"x": [1, 2, 3, 4], "n": [2, 30, 1, 40]}), counts="n", values=["x"])
    fig, ax = plt.subplots()
    ax.plot(d["x"], d["n"], label="Count")
    assert mark_suppressed(ax, d, "x", "n") == 2
    marker_line = ax.get_lines()[-1]
    assert list(marker_line.get_xdata()) == [1, 3]
    assert list(marker_line.get_ydata()) == [0.03, 0.03]  # axes coordinates: at the foot, not the value
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["Count", "Not shown (small number)"]
    with pytest.raises(DisclosureError):
        mark_suppressed(ax, pd.DataFrame({"x": [1]}), "x")


def test_table_with_totals_through_the_gate():
    g = Gate()
    t = pd.DataFrame({"Type": ["Physical", "Seclusion", "Chemical", "All"], "Count": [40, 3, 9, 52]})
    tab = g.table(t, counts="Count", groups={3: [0, 1, 2]})
    assert tab.shown["Count"].tolist() == ["40", "*", "*", "50"]
    assert 'data-disclosure="count"' in to_html(Section("", [tab]))


# -- the audit -----------------------------------------------------------------------------------
def _gated_html(rule="mhsds"):
    g = Gate(rule)
    t = pd.DataFrame({"Month": ["May", "June", "July"], "Count": [3, 12, 40], "Beds": [900, 1000, 2400]})
    t["Rate"] = 1000 * t["Count"] / t["Beds"]
    return to_html(Section("x").add(g.banner(), g.table(t, counts="Count", rates={"Rate": ("Count", "Beds")})))


def test_audit_passes_what_the_gate_renders():
    assert audit_html(_gated_html(), "mhsds") == []
    assert audit_html(_gated_html("none"), "none") == []


def test_audit_finds_each_kind_of_failure(tmp_path):
    bad = (
        '<table data-disclosure-rule="mhsds"><thead><tr><th>Month</th><th>Count</th><th>Beds</th><th>Rate</th></tr>'
        '</thead><tbody><tr><td>May</td><td data-disclosure="count">12</td><td data-disclosure="denominator">1,000</td>'
        '<td data-disclosure="rate" data-per="1000">12.0</td></tr>'
        '<tr><td>June</td><td data-disclosure="count">*</td><td data-disclosure="denominator">80</td>'
        '<td data-disclosure="rate" data-per="1000">62.5</td></tr></tbody></table>'
        "<table><tr><td>7</td></tr></table>"
    )
    found = audit_html(bad, "mhsds")
    whys = " | ".join(f.why for f in found)
    assert "not rounded to a multiple of 5" in whys  # 12
    assert "not computed from a rounded count" in whys  # 12.0 per 1,000 x 1,000 = 12
    assert "denominator under 100" in whys
    assert "did not pass the disclosure gate" in whys
    assert {f.where.split(",")[0] for f in found} == {"table 1 ", "table 2"} or len(found) == 4
    # prose: a small count beside a counted word
    assert [f.number for f in audit_html("<p>In May there were 3 restrictive interventions in 12 wards.</p>")] == ["3"]
    assert audit_html("<p>Coaching began 3 months ago; 40 restrictive interventions.</p>") == []
    # the uncontrolled rule: only the banner matters, and it must be there
    assert audit_html("<p>3 restraints</p>", "none")[0].why.endswith(f"{NOT_FOR_CIRCULATION!r}")
    # a part rendered without control in a controlled report
    assert audit_html(_gated_html("none"), "mhsds")
    # files, the publishing check and the CLI
    (tmp_path / "providers").mkdir()
    (tmp_path / "providers" / "A.html").write_text(bad)
    (tmp_path / "B.html").write_text(_gated_html())
    assert audit_report(tmp_path / "B.html") == [] and audit_report(str(tmp_path / "providers" / "A.html"))
    with pytest.raises(DisclosureError, match="fail the mhsds disclosure rule"):
        assert_publishable(bad)
    assert main(["audit", str(tmp_path)]) == 1
    (tmp_path / "providers" / "A.html").unlink()
    assert main(["audit", str(tmp_path)]) == 0


def test_without_secondary_suppression_rounding_alone_can_be_undone():
    """HES: 8 and 8 show as 10 and 10 (each at least 8), the total 17 as 15 (at most 17): the
    suppressed third part is then exactly 1. Secondary suppression stops it."""
    r = get_rule("hes")
    t = pd.DataFrame({"a": [8], "b": [8], "c": [1], "total": [17]})

    def pins(out):
        cells = [None if v == "*" else _interval(float(v), r, True) for v in out.iloc[0]]
        return _pins(cells, r, "row", total=3)

    assert pins(apply_disclosure(t, counts=["a", "b", "c", "total"], rule=r))
    assert pins(apply_disclosure(t, counts=["a", "b", "c"], totals={"total": ["a", "b", "c"]}, rule=r)) == []


def test_complementary_rows_without_a_total_row():
    """Providers summing to a cohort whose total is published elsewhere: a list of row groups."""
    t = pd.DataFrame({"provider": list("ABCD"), "n": [2, 60, 31, 45]})
    out = apply_disclosure(t, counts="n", groups=[[0, 1, 2, 3]])
    assert out["n"].tolist() == ["*", 60, "*", 45]


def test_audit_prose_flags_small_counts_of_people_and_events_not_of_wards_or_months():
    """A provider with three wards is not a disclosure (the batch refused SYN003 for '3 wards reported
    restrictive practice' before this rule); three restraints is."""
    from cocEval.audit import audit_report

    page = "<p>{}</p>"
    for fine in ("3 wards reported restrictive practice for 180 ward-months.", "Left out: 2 months of restraint data."):
        assert audit_report(page.format(fine), "mhsds") == [], fine
    for bad, number in (("There were 3 restrictive interventions.", "3"), ("Only 2 respondents answered.", "2")):
        assert [f.number for f in audit_report(page.format(bad), "mhsds")] == [number], bad
