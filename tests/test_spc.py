"""Making Data Count XmR charts: hand-built series for every rule, the precedence between rules,
assurance, fixed baselines, rebasing, outlier screening and trial limits.

Most series start with a 12-point baseline alternating 12, 10 (mean 11, every moving range 2)
and fix the limits on it, so the limits are known by hand:
UCL = 11 + 2.66 * 2 = 16.32, LCL = 5.68, "close" beyond 11 +/- (2/3) * 5.32 = 14.5467 / 7.4533.
Floating-point comparisons use a tolerance of 1e-12.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from cocEval.spc import SPCChart, at_a_glance, xmr

BASE = [12.0, 10.0] * 6
MEAN, AMR = 11.0, 2.0
UCL, LCL = MEAN + 2.66 * AMR, MEAN - 2.66 * AMR
TOL = 1e-12


def chart(tail, improvement="decrease", **kw) -> SPCChart:
    return xmr(BASE + list(tail), improvement=improvement, fix_after_n_points=12, **kw)


def types(c: SPCChart, start: int = 12) -> list[str]:
    return c.table["special_cause_type"].iloc[start:].tolist()


def ptypes(c: SPCChart, start: int = 12) -> list[str]:
    return c.table["point_type"].iloc[start:].tolist()


# ----------------------------------------------------------------------------- limits
def test_limits_by_hand():
    c = chart([11.0])
    t = c.table
    assert np.allclose(t["mean"], MEAN, atol=TOL)
    assert np.allclose(t["ucl"], UCL, atol=TOL)
    assert np.allclose(t["lcl"], LCL, atol=TOL)
    assert np.allclose(t["near_ucl"], MEAN + 2 / 3 * 2.66 * AMR, atol=TOL)
    assert np.allclose(t["near_lcl"], MEAN - 2 / 3 * 2.66 * AMR, atol=TOL)
    # the baseline alternates around the mean: no rule fires
    assert not t["special_cause_flag"].any()
    assert t["baseline"].sum() == 12 and not t["baseline"].iloc[12]


def test_limits_without_fix_use_every_point():
    y = [10, 12, 11, 13, 12, 11, 12, 13, 11, 12, 25, 12]
    t = xmr(y).table
    mr = np.abs(np.diff(y))
    assert t["mean"].iloc[0] == pytest.approx(np.mean(y), abs=TOL)
    assert t["ucl"].iloc[0] == pytest.approx(np.mean(y) + 2.66 * mr.mean(), abs=TOL)
    assert np.isnan(t["moving_range"].iloc[0])
    assert np.allclose(t["moving_range"].iloc[1:], mr)


# ----------------------------------------------------------------------------- rule 1
@pytest.mark.parametrize(
    "improvement, high, low",
    [
        ("decrease", "special_cause_concern", "special_cause_improvement"),
        ("increase", "special_cause_improvement", "special_cause_concern"),
        ("neutral", "special_cause_neutral_high", "special_cause_neutral_low"),
    ],
)
def test_rule1_outside_limits(improvement, high, low):
    c = chart([17.0, 11.0, 5.0], improvement=improvement)
    assert types(c) == ["Above UCL", "Common Cause", "Below LCL"]
    assert ptypes(c) == [high, "common_cause", low]
    assert c.variation == low


def test_rule1_point_on_the_limit_is_close_not_outside():
    ucl = chart([11.0]).table["ucl"].iloc[0]
    t = chart([ucl, 11.0]).table
    assert not t["outside_limits"].iloc[12]
    assert t["close_to_limits"].iloc[12]
    assert t["special_cause_type"].iloc[12] == "Common Cause"  # one close point is not 2 of 3


# ----------------------------------------------------------------------------- rule 2
def test_rule2_seven_point_trend_flags_all_seven():
    c = chart([8, 9, 10, 11, 12, 13, 14])
    assert types(c) == ["7 Point Trend (Increasing)"] * 7
    # coloured by the trend's direction, whichever side of the mean (NHSRplotthedots #171)
    assert ptypes(c) == ["special_cause_concern"] * 7
    assert not c.table["special_cause_flag"].iloc[11]


def test_rule2_six_rising_points_are_not_a_trend():
    c = chart([9, 10, 11, 12, 13, 14])
    assert not any("Trend" in s for s in types(c))


def test_rule2_a_tie_breaks_the_trend():
    c = chart([8, 9, 10, 10, 12, 13, 14])
    assert not any("Trend" in s for s in types(c))


def test_rule2_falling_trend_is_improvement_when_decrease_is_better():
    c = chart([14.4, 14, 13.5, 13, 12.5, 12, 11.5])
    assert types(c) == ["7 Point Trend (Decreasing)"] * 7
    assert ptypes(c) == ["special_cause_improvement"] * 7


def test_rule2_peak_shared_by_two_trends_takes_the_later_direction():
    # wide fixed limits so nothing else interferes: baseline alternates 0, 20 (mean 10, MR 20)
    y = [0.0, 20.0] * 6 + [1, 2, 3, 4, 5, 6, 7, 6, 5, 4, 3, 2, 1]
    c = xmr(y, improvement="increase", fix_after_n_points=12)
    kinds = types(c)
    assert kinds[:6] == ["7 Point Trend (Increasing)"] * 6
    assert kinds[6] == "7 Point Trend (Decreasing)"  # the peak (7) belongs to both runs
    assert kinds[7:] == ["7 Point Trend (Decreasing)"] * 6


# ----------------------------------------------------------------------------- rule 3
def test_rule3_two_of_three_close_flags_only_the_close_points():
    c = chart([15, 12, 15, 11.5])
    assert types(c) == ["2 in 3 Above CL", "Common Cause", "2 in 3 Above CL", "Common Cause"]
    assert ptypes(c)[0] == "special_cause_concern"


def test_rule3_needs_all_three_on_the_same_side():
    # NHSRplotthedots #143: the middle point is below the mean
    c = chart([15, 10, 15, 11.5])
    assert not c.table["special_cause_flag"].iloc[12:].any()


def test_rule3_outside_point_is_not_close():
    c = chart([17, 12, 15, 11.5])
    assert types(c) == ["Above UCL", "Common Cause", "Common Cause", "Common Cause"]


def test_rule3_below_the_lower_limit_side():
    c = chart([7, 10, 7, 11.5], improvement="increase")
    assert types(c)[:3] == ["2 in 3 Below CL", "Common Cause", "2 in 3 Below CL"]
    assert ptypes(c)[0] == "special_cause_concern"


# ----------------------------------------------------------------------------- rule 4
def test_rule4_seven_on_one_side_flags_all_seven():
    c = chart([12] * 7, improvement="increase")
    assert types(c) == ["7 Points Above CL"] * 7
    assert ptypes(c) == ["special_cause_improvement"] * 7


def test_rule4_six_on_one_side_is_not_a_shift():
    c = chart([12] * 6 + [10])
    assert not c.table["special_cause_flag"].iloc[12:].any()


def test_rule4_a_point_on_the_mean_breaks_the_run():
    c = chart([12, 12, 12, 11, 12, 12, 12])
    assert c.table["relative_to_mean"].iloc[15] == 0
    assert not c.table["special_cause_flag"].iloc[12:].any()


def test_rule4_long_run_flags_every_point():
    c = chart([10] * 9, improvement="increase")
    assert types(c) == ["7 Points Below CL"] * 9
    assert ptypes(c) == ["special_cause_concern"] * 9


# ----------------------------------------------------------------------------- precedence
def test_precedence_outside_over_trend():
    c = chart([8, 9, 10, 11, 12, 13, 17], improvement="increase")
    assert types(c) == ["7 Point Trend (Increasing)"] * 6 + ["Above UCL"]


def test_precedence_trend_over_shift_changes_the_colour():
    # 7 falling points all above the mean: the shift alone would be concern (decrease is better)
    c = chart([14.4, 14, 13.5, 13, 12.5, 12, 11.5], improvement="decrease")
    assert c.table["relative_to_mean"].iloc[12:].eq(1).all()
    assert ptypes(c) == ["special_cause_improvement"] * 7


def test_precedence_trend_over_two_in_three():
    c = chart([8, 9, 10, 11, 12, 14.6, 15])
    assert c.table["close_to_limits"].iloc[17:19].all()
    assert types(c) == ["7 Point Trend (Increasing)"] * 7


def test_precedence_two_in_three_over_shift():
    c = chart([12, 12, 15, 12, 15, 12, 12])
    assert types(c) == [
        "7 Points Above CL",
        "7 Points Above CL",
        "2 in 3 Above CL",
        "7 Points Above CL",
        "2 in 3 Above CL",
        "7 Points Above CL",
        "7 Points Above CL",
    ]


def test_precedence_outside_over_two_in_three():
    c = chart([15, 17, 15, 11.5])
    assert types(c) == ["2 in 3 Above CL", "Above UCL", "2 in 3 Above CL", "Common Cause"]


# ----------------------------------------------------------------------------- assurance
@pytest.mark.parametrize(
    "improvement, target, expected",
    [
        ("increase", 20.0, "consistent_fail"),
        ("increase", 3.0, "consistent_pass"),
        ("increase", 11.0, "inconsistent"),
        ("decrease", 20.0, "consistent_pass"),
        ("decrease", 3.0, "consistent_fail"),
        ("decrease", 11.0, "inconsistent"),
        ("decrease", UCL, "inconsistent"),  # on the limit is not beyond it
        ("neutral", 20.0, None),
        ("increase", None, None),
    ],
)
def test_assurance(improvement, target, expected):
    c = chart([11.0], improvement=improvement, target=target)
    assert c.assurance == expected


def test_assurance_uses_the_last_segment_limits():
    y = [12.0, 10.0] * 6 + [22.0, 20.0] * 6  # second segment: mean 21, limits 15.68-26.32
    c = xmr(y, improvement="increase", target=14.0, rebase=12)
    assert c.table["lcl"].iloc[-1] == pytest.approx(21 - 5.32, abs=TOL)
    assert c.assurance == "consistent_pass"  # 14 < 15.68; inside the first segment's limits
    assert xmr(y[:12], improvement="increase", target=14.0).assurance == "inconsistent"


# ----------------------------------------------------------------------------- fix / rebase
def test_fix_after_n_points_freezes_the_limits():
    y = BASE + [30.0, 2.0, 31.0, 1.0]
    fixed = xmr(y, fix_after_n_points=12).table
    free = xmr(y).table
    assert fixed["ucl"].iloc[-1] == pytest.approx(UCL, abs=TOL)
    assert free["ucl"].iloc[-1] > UCL + 1
    assert fixed["baseline"].tolist() == [True] * 12 + [False] * 4
    # later moving ranges are not part of the limits (and not recorded as such)
    assert fixed["moving_range"].iloc[12:].isna().all()


def test_fix_after_n_points_longer_than_series_uses_all_points():
    y = [10, 12, 11, 13, 12, 11, 12, 13, 11, 12, 14, 12]
    assert np.allclose(xmr(y, fix_after_n_points=24).table["ucl"], xmr(y).table["ucl"], atol=TOL)


@pytest.mark.parametrize("bad", [11, 0, 12.5, True])
def test_fix_after_n_points_rejects_bad_values(bad):
    with pytest.raises(ValueError, match="fix_after_n_points"):
        xmr(BASE, fix_after_n_points=bad)


def test_rebase_segments_match_separate_charts():
    months = pd.date_range("2022-01-01", periods=24, freq="MS")
    a = [10.0, 12, 11, 13, 12, 11, 12, 13, 11, 12, 14, 12]
    b = [20.0, 23, 21, 22, 24, 21, 20, 22, 23, 21, 22, 20]
    c = xmr(a + b, index=months, rebase=months[12], improvement="increase")
    t = c.table
    assert t["segment"].tolist() == [0] * 12 + [1] * 12
    for seg, part in ((0, a), (1, b)):
        alone = xmr(part, improvement="increase").table
        s = t[t["segment"] == seg]
        for col in ("mean", "ucl", "lcl"):
            assert np.allclose(s[col].to_numpy(), alone[col].to_numpy(), atol=TOL)
        assert s["point_type"].tolist() == alone["point_type"].tolist()
    # the jump across the rebase is not a moving range
    assert np.isnan(t["moving_range"].iloc[12])


def test_runs_do_not_cross_a_rebase():
    a = [10.0, 12] * 4 + [9, 10, 11, 12]
    b = [13.0, 14, 15] + [14, 16] * 4 + [14]
    plain = xmr(a + b)
    assert plain.table["special_cause_type"].iloc[8:15].str.contains("Trend|UCL").all()
    rebased = xmr(a + b, rebase=12)
    assert not rebased.table["special_cause_type"].iloc[8:15].str.contains("Trend").any()


def test_rebase_with_fix_applies_the_baseline_per_segment():
    y = BASE + [30.0] + [22.0, 20.0] * 6 + [40.0]
    c = xmr(y, fix_after_n_points=12, rebase=[13])
    t = c.table
    assert t["baseline"].tolist() == [True] * 12 + [False] + [True] * 12 + [False]
    assert t["mean"].iloc[-1] == pytest.approx(21.0, abs=TOL)
    assert t["special_cause_type"].iloc[-1] == "Above UCL"


def test_rebase_label_must_be_in_the_index():
    months = pd.date_range("2022-01-01", periods=24, freq="MS")
    with pytest.raises(ValueError, match="rebase labels not in the index"):
        xmr(np.arange(24.0), index=months, rebase=pd.Timestamp("2022-06-15"))


def test_rebase_at_first_point_is_a_single_segment():
    c = xmr(BASE, rebase=0)
    assert c.n_segments == 1


def test_single_point_segment_is_rejected():
    with pytest.raises(ValueError, match="single point"):
        xmr(BASE, rebase=11)


# ----------------------------------------------------------------------------- screening
def test_screen_outliers_drops_large_moving_ranges_once():
    y = [10.0, 12, 10, 12, 10, 30, 10, 12, 10, 12, 10, 12]
    mean = np.mean(y)  # 12.5
    plain = xmr(y).table
    screened = xmr(y, screen_outliers=True).table
    # moving ranges 2,2,2,2,20,20,2,2,2,2,2: mean 58/11; 20 >= 3.267 * 58/11 = 17.2 is dropped
    assert plain["ucl"].iloc[0] == pytest.approx(mean + 2.66 * 58 / 11, abs=TOL)
    assert screened["ucl"].iloc[0] == pytest.approx(mean + 2.66 * 2.0, abs=TOL)
    assert screened["mr_screened"].tolist() == [False] * 5 + [True, True] + [False] * 5
    assert screened["special_cause_type"].iloc[5] == "Above UCL"
    assert plain["special_cause_type"].iloc[5] == "Above UCL"


# ----------------------------------------------------------------------------- trial limits
def test_trial_limits_warning_under_12_points():
    with pytest.warns(UserWarning, match="trial limits"):
        c = xmr(BASE[:11])
    assert c.table["trial_limits"].all()
    assert "trial limits" in c.summary()


def test_no_warning_with_12_points():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        c = xmr(BASE)
    assert not c.table["trial_limits"].any() and c.warnings == []


def test_short_segment_after_rebase_warns_and_names_it():
    months = pd.date_range("2022-01-01", periods=18, freq="MS")
    with pytest.warns(UserWarning, match="2023-01-01 has 6 points"):
        c = xmr(BASE + [11.0] * 6, index=months, rebase=months[12])
    assert c.table["trial_limits"].tolist() == [False] * 12 + [True] * 6


# ----------------------------------------------------------------------------- inputs
def test_series_index_and_sorting():
    months = pd.date_range("2022-01-01", periods=13, freq="MS")
    s = pd.Series(BASE + [17.0], index=months)
    shuffled = s.iloc[::-1]
    c = xmr(shuffled, fix_after_n_points=12)
    assert c.table.index.equals(months)
    assert c.table["special_cause_type"].iloc[-1] == "Above UCL"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"values": BASE[:5] + [np.nan] + BASE[6:]}, r"non-finite values at \[5\]"),
        ({"values": BASE, "improvement": "up"}, "improvement must be one of"),
        ({"values": BASE, "index": [0] * 12}, "unique"),
        ({"values": BASE, "target": float("nan")}, "target must be a finite"),
        ({"values": [1.0]}, "at least 2 points"),
        ({"values": BASE, "index": range(5)}, "index has 5 labels"),
    ],
)
def test_bad_input_raises(kwargs, match):
    values = kwargs.pop("values")
    with pytest.raises(ValueError, match=match):
        xmr(values, **kwargs)


# ----------------------------------------------------------------------------- outputs
def test_summary_and_labels():
    c = chart([5.0], improvement="decrease", target=11.0)
    assert c.variation == "special_cause_improvement"
    assert c.summary().startswith(
        "The latest point shows special cause improvement; the target (11) is not consistently met"
    )
    assert c.icon_label() == "Improvement (low) | Inconsistent"
    assert c.headline() == "Special cause improvement at the latest point; target met inconsistently"
    html = c._repr_html_()
    assert "special cause improvement" in html and "<table" in html


def test_at_a_glance_table():
    charts = {"A": chart([17.0], target=3.0), "B": chart([11.0], improvement="neutral")}
    t = at_a_glance(charts)
    assert t["measure"].tolist() == ["A", "B"]
    assert t["label"].tolist() == ["Concern (high) | Fail", "Common cause | No target"]
    assert t["latest"].tolist() == [17.0, 11.0]


def test_plot_and_plot_data():
    months = pd.date_range("2022-01-01", periods=26, freq="MS")
    y = BASE + [30.0] + [22.0, 20.0] * 6 + [11.0]
    c = xmr(y, index=months, rebase=months[13], target=15.0, improvement="decrease")
    fig, ax = c.plot()
    assert ax.get_title() == c.headline()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "Special cause: concern" in labels and "Process limits" in labels and "Target (15)" in labels
    # limits are drawn per segment (two dashed upper and lower lines)
    dashed = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
    assert len(dashed) == 4
    assert len(ax.child_axes) == 1  # the icon inset
    d = c.get_plot_data()
    assert {"x", "value", "mean", "ucl", "lcl", "point_type", "target"} <= set(d.columns)
    assert len(d) == 26


def test_icons_rendering():
    for imp in ("increase", "neutral"):
        c = chart([17.0], improvement=imp, target=20.0)
        fig, ax = c.icons()
        texts = [t.get_text() for t in ax.texts]
        assert "H" in texts
        assert ("F" in texts) == (imp == "increase")  # target above the UCL: consistent fail
