"""How cocEval words numbers: one module owns units, formats, direction and certainty.

Every sentence a report shows about an effect is built from these pieces, so an outcome has
one unit throughout a report and the same number reads the same way everywhere.

- :data:`SCALES`: the scales an effect can be stated on, each with its null value and format;
- :func:`fmt_effect`, :func:`fmt_interval`: an effect and its interval on a scale;
- :func:`fmt_number`, :func:`fmt_pct`, :func:`fmt_p`, :func:`fmt_month`, :func:`fmt_period`: plain numbers, shares,
  p-values and months;
- :func:`direction_word`, :func:`certainty`: the verbs for direction ("fell", "rose") and how
  sure we are ("we cannot tell");
- :data:`GLOSSARY`: plain-English definitions of the terms a report must use.

An estimate is called an improvement only when its interval excludes no change in the improving
direction (:func:`verdict`).
"""

from __future__ import annotations

import datetime
import math
import numbers
from dataclasses import dataclass
from typing import Literal, SupportsFloat, TypeAlias

import pandas as pd

__all__ = [
    "GLOSSARY",
    "SCALES",
    "Scale",
    "certainty",
    "direction_word",
    "fmt_effect",
    "fmt_interval",
    "fmt_month",
    "fmt_number",
    "fmt_p",
    "fmt_pct",
    "fmt_period",
    "rate_scale",
    "verdict",
    "relative_to_baseline",
    "heterogeneity_words",
]

#: What the month formatters accept: anything ``pandas.Timestamp`` reads as a date.
MonthLike: TypeAlias = pd.Timestamp | datetime.date | str

Improvement = Literal["decrease", "increase"]


@dataclass(frozen=True)
class Scale:
    """A scale on which an effect is stated.

    ``null`` is the value meaning "no change"; ``factor`` multiplies stored values for display
    (shares and percentage changes are stored as fractions); ``unit`` follows the number
    (``"%"``, ``" percentage points"``); ``digits`` the decimals shown.
    """

    name: str
    null: float
    factor: float
    unit: str
    digits: int
    short_unit: str = ""


#: Scales by name. Effects are stored as fractions for percentage change and percentage points.
SCALES: dict[str, Scale] = {
    "percentage change": Scale("percentage change", 0.0, 100.0, "%", 0, "%"),
    "percentage points": Scale("percentage points", 0.0, 100.0, " percentage points", 1, " pp"),
    "score points": Scale("score points", 0.0, 1.0, " points", 2, " points"),
    "rate ratio": Scale("rate ratio", 1.0, 1.0, "", 2, ""),
    "odds ratio": Scale("odds ratio", 1.0, 1.0, "", 2, ""),
    "rate difference": Scale("rate difference", 0.0, 1.0, "", 2, ""),
    "difference": Scale("difference", 0.0, 1.0, "", 3, ""),
    # --- programme report (rates per 1,000 occupied bed days; see rate_scale) ---
    "per 1,000 occupied bed days": Scale(
        "per 1,000 occupied bed days", 0.0, 1.0, " per 1,000 occupied bed days", 2, " per 1,000 occupied bed days"
    ),
}


def rate_scale(per: float = 1000, denominator: str = "occupied bed days") -> str:
    """The name of the scale of a rate per ``per`` units of ``denominator`` (registered in :data:`SCALES`).

    Differences of such rates are stated in the rate's own unit, to two decimals, e.g. "-1.23 per
    1,000 occupied bed days".

    Examples
    --------
    >>> name = rate_scale(1000)
    >>> name, fmt_effect(-1.234, name)
    ('per 1,000 occupied bed days', '-1.23 per 1,000 occupied bed days')
    """
    per_text = f"{per:,.0f}" if float(per).is_integer() else f"{per:,g}"
    name = f"per {per_text} {denominator}"
    if name not in SCALES:
        SCALES[name] = Scale(name, 0.0, 1.0, f" {name}", 2, f" per {per_text}")
    return name


def _scale(scale: str | Scale) -> Scale:
    if isinstance(scale, Scale):
        return scale
    try:
        return SCALES[scale]
    except KeyError:
        from cocEval.errors import InputError

        raise InputError(f"unknown scale {scale!r}; one of {', '.join(SCALES)}") from None


def _missing(v: object) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def fmt_number(v: SupportsFloat | str | None, digits: int = 1) -> str:
    """A plain number with thousands separators; ``''`` for missing; strings pass through.

    Examples
    --------
    >>> fmt_number(1234.567), fmt_number(7), fmt_number(float("nan")), fmt_number("*")
    ('1,234.6', '7', '', '*')
    """
    if isinstance(v, str):
        return v
    if v is None or _missing(v) or pd.isna(v):
        return ""
    if isinstance(v, numbers.Integral):
        return f"{int(v):,}"
    if hasattr(v, "is_integer") and not isinstance(v, float) and float(v).is_integer():
        return f"{int(float(v)):,}"
    if math.isinf(float(v)):
        return "not estimable"
    return f"{float(v):,.{digits}f}"


def fmt_pct(share: float, digits: int = 1) -> str:
    """A share (0-1) as a percentage.

    Examples
    --------
    >>> fmt_pct(0.1834), fmt_pct(0.5, 0)
    ('18.3%', '50%')
    """
    if _missing(share):
        return ""
    return f"{100 * share:.{digits}f}%"


def fmt_effect(value: float, scale: str | Scale, *, signed: bool = True, short: bool = False) -> str:
    """An effect on its scale, signed by default.

    Examples
    --------
    >>> fmt_effect(-0.113, "percentage change"), fmt_effect(0.0234, "percentage points")
    ('-11%', '+2.3 percentage points')
    >>> fmt_effect(0.0234, "percentage points", short=True), fmt_effect(0.82, "rate ratio")
    ('+2.3 pp', '0.82')
    """
    s = _scale(scale)
    if _missing(value) or math.isinf(value):
        return "not estimable"
    v = value * s.factor
    if s.null != 0:  # ratios are not signed
        return f"{v:.{s.digits}f}"
    sign = "+" if signed else ""
    text = f"{v:{sign}.{s.digits}f}"
    if text.lstrip("+-").strip("0.") == "":  # -0.0 -> 0
        text = f"{0:.{s.digits}f}"
    return text + (s.short_unit if short else s.unit)


def fmt_interval(low: float, high: float, scale: str | Scale, *, short: bool = False) -> str:
    """An interval on a scale, the unit written once.

    Examples
    --------
    >>> fmt_interval(-0.32, 0.17, "percentage change")
    '-32% to +17%'
    >>> fmt_interval(0.011, 0.052, "percentage points")
    '+1.1 to +5.2 percentage points'
    """
    s = _scale(scale)
    if _missing(low) or _missing(high) or math.isinf(low) or math.isinf(high):
        return "not estimable"
    lo = fmt_effect(low, s, short=short)
    hi = fmt_effect(high, s, short=short)
    unit = s.short_unit if short else s.unit
    if unit and unit != "%" and lo.endswith(unit):
        lo = lo[: -len(unit)]
    return f"{lo} to {hi}"


def fmt_p(p: float | None) -> str:
    """A p-value as reports show it.

    Examples
    --------
    >>> fmt_p(0.0312), fmt_p(0.00001), fmt_p(0.5)
    ('p = 0.031', 'p < 0.001', 'p = 0.50')
    """
    if p is None or _missing(p):
        return "p not available"
    if p < 0.001:
        return "p < 0.001"
    if p < 0.01:
        return f"p = {p:.3f}"
    return f"p = {p:.2f}" if p >= 0.1 else f"p = {p:.3f}"


def fmt_month(m: MonthLike) -> str:
    """A month as 'March 2025'.

    Examples
    --------
    >>> fmt_month(pd.Timestamp("2025-03-01"))
    'March 2025'
    """
    return f"{pd.Timestamp(m):%B %Y}"


def fmt_period(m: MonthLike) -> str:
    """A month as '2025-03' (tables, lists of months).

    Examples
    --------
    >>> fmt_period(pd.Timestamp("2025-03-01"))
    '2025-03'
    """
    return f"{pd.Timestamp(m):%Y-%m}"


def direction_word(estimate: float, null: float = 0.0, *, past: bool = True) -> str:
    """'fell' / 'rose' / 'did not change' (or 'lower' / 'higher' with ``past=False``).

    Examples
    --------
    >>> direction_word(-0.1), direction_word(0.2, past=False), direction_word(1.0, 1.0)
    ('fell', 'higher', 'did not change')
    """
    if estimate == null:
        return "did not change" if past else "no different"
    if past:
        return "fell" if estimate < null else "rose"
    return "lower" if estimate < null else "higher"


def verdict(low: float, high: float, null: float, improvement: Improvement | None) -> str:
    """Which way the interval points: 'improvement', 'deterioration' or 'unclear'.

    An estimate is an improvement only when its whole interval lies on the improving side of
    no change.

    Examples
    --------
    >>> verdict(-0.32, 0.17, 0, "decrease"), verdict(-0.3, -0.1, 0, "decrease"), verdict(0.1, 0.3, 0, "decrease")
    ('unclear', 'improvement', 'deterioration')
    """
    if _missing(low) or _missing(high):
        return "unclear"
    if high < null:
        side = "decrease"
    elif low > null:
        side = "increase"
    else:
        return "unclear"
    if improvement is None:
        return "change"
    return "improvement" if side == improvement else "deterioration"


def certainty(low: float, high: float, null: float, improvement: Improvement | None, *, level: int = 95) -> str:
    """A sentence on how sure we are, from the interval.

    Examples
    --------
    >>> certainty(-0.32, 0.17, 0, "decrease")
    'The 95% interval includes no change, so we cannot tell whether this is a real change.'
    >>> certainty(-0.3, -0.1, 0, "decrease")
    'The 95% interval excludes no change: an improvement.'
    """
    v = verdict(low, high, null, improvement)
    if v == "unclear":
        return f"The {level}% interval includes no change, so we cannot tell whether this is a real change."
    if v == "change":
        return f"The {level}% interval excludes no change."
    return f"The {level}% interval excludes no change: {'an improvement' if v == 'improvement' else 'a deterioration'}."


def relative_to_baseline(estimate: float, baseline: float, scale: str | Scale, *, baseline_words: str) -> str:
    """How an absolute effect relates to the level before: 'about 11% of the ... of 8.20 per 1,000 ...'.

    ``baseline`` is on the same scale as ``estimate`` (fractions for percentage points).

    Examples
    --------
    >>> relative_to_baseline(-0.9, 8.2, "per 1,000 occupied bed days", baseline_words="pre-coaching average")
    'a fall of about 11% of the pre-coaching average of 8.20 per 1,000 occupied bed days'
    >>> relative_to_baseline(0.023, 0.75, "percentage points", baseline_words="pre-coaching share")
    'a rise of about 3% of the pre-coaching share of 75.0%'
    """
    s = _scale(scale)
    level = fmt_pct(baseline) if s.name == "percentage points" else fmt_effect(baseline, s, signed=False)
    if _missing(estimate) or _missing(baseline) or baseline == 0:
        return f"the {baseline_words} was {level}"
    word = "fall" if estimate < 0 else "rise"
    return f"a {word} of about {abs(estimate / baseline):.0%} of the {baseline_words} of {level}"


def heterogeneity_words(i2: float, tau2: float, k: int) -> str:
    """What I² and tau² say about how much providers differ, without contradicting itself.

    Examples
    --------
    >>> print(heterogeneity_words(0.0, 0.0, 40))
    The 40 providers' estimates differ no more than chance would explain (I² = 0%, tau² = 0).
    >>> heterogeneity_words(51.2, 0.0008, 40)[:60]
    "About half of the spread between the 40 providers' estimates"
    """
    if k < 2 or _missing(i2):
        return "With one provider, differences between providers cannot be estimated."
    t2 = "0" if tau2 == 0 else f"{tau2:.2g}"
    stats_ = f"(I² = {i2:.0f}%, tau² = {t2})"
    if tau2 == 0 or i2 < 1:
        return f"The {k} providers' estimates differ no more than chance would explain {stats_}."
    share = "little" if i2 < 25 else ("about half" if i2 < 75 else "most")
    return (
        f"{share.capitalize()} of the spread between the {k} providers' estimates reflects real differences "
        f"between providers rather than chance {stats_}."
    )


#: Terms a report must use, in plain English. Reports show the entries they use.
GLOSSARY: dict[str, str] = {
    "95% CI": "95% confidence interval: the range of effects compatible with the data; if it includes no change, "
    "the data cannot tell the effect from chance.",
    "SPC": "Statistical process control: a chart of monthly values with limits showing the range expected from "
    "ordinary month-to-month variation (common cause); points outside it, or unusual runs, are special cause.",
    "Common cause": "Variation expected from month to month when nothing has changed.",
    "Special cause": "A point or run unlikely under common-cause variation: something has probably changed.",
    "Interrupted time series": "A model of the months before coaching, projected forward to estimate what would "
    "have happened without coaching, compared with what did happen.",
    "Difference-in-differences": "The change in coached providers compared with the change over the same months in "
    "providers not yet coached.",
    "Prediction interval": "The range in which the effect for a new provider like these would be expected to fall; "
    "wider than the confidence interval because providers differ.",
    "I²": "The share of the spread between providers' estimates that reflects real differences rather than chance.",
    "Percentage points": "The difference between two percentages (from 60% to 65% is +5 percentage points).",
    "Rate ratio": "A rate divided by another: 0.8 means 20% lower.",
    "Funnel plot": "Each provider's rate against its size, with limits that narrow for larger providers: points "
    "outside the limits differ from the average by more than chance would explain.",
    "tau²": "The variance of the true effects between providers (on the scale pooled, here the log ratio); 0 means "
    "no detectable differences between providers beyond chance.",
    "Parallel trends": "The assumption behind difference-in-differences: without coaching, coached providers' "
    "outcomes would have moved in parallel with those of the comparison providers.",
    "Pre-trend test": "A test of parallel trends before coaching: if coached and comparison providers already moved "
    "differently before coaching started, the assumption is in doubt. Not rejecting it does not prove parallel "
    "trends: the test has limited power to detect a small difference.",
    "Event study": "The difference-in-differences effect by time since coaching started; estimates before the start "
    "should be close to zero.",
    "TWFE": "Two-way fixed effects: one regression with provider and month effects; with staggered starts it also "
    "compares later-coached providers with already-coached ones, which biases it when effects build up over time.",
    "Goodman-Bacon decomposition": "Splits the TWFE estimate into the simple before/after comparisons it averages "
    "and their weights, showing how much rests on comparisons with already-coached providers.",
    "Dispersion (phi)": "How much more monthly counts vary than a Poisson model expects; the quasi-Poisson model "
    "widens its intervals by this factor.",
    "Suppressed (*)": (
        "A small count (under the disclosure rule stated with the methods, e.g. 0 to 4 under the MHSDS rule), "
        "or a figure computed from one, hidden to protect privacy."
    ),
    "Process limits": "The lines on an SPC chart marking the range expected from ordinary month-to-month "
    "variation, set from the months before coaching.",
    "Percentage change": "How much higher or lower a rate is than expected, as a share of the expected rate "
    "(-20% means a fifth lower).",
    "Provisional month": "The latest month, whose data are still incomplete: left out of the models and never "
    "quoted as a finding.",
    "Occupied bed days": "The number of beds in use, summed over the days of the month: the exposure behind "
    "rates of restrictive practice.",
}
