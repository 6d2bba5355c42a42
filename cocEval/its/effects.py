"""Effects of an interrupted time series: the reader-facing table and the EffectSummary.

:func:`effects_table` builds :attr:`ITSResult.effects` (rate ratios, odds ratios or absolute
changes by family); :func:`effect_summary` states the effect in a given month of the
intervention as a :class:`cocEval.effects.EffectSummary` on the family's summary scale.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cocEval.effects import EffectSummary, coaching_month_label
from cocEval.errors import InputError
from cocEval.its.families import get_family

if TYPE_CHECKING:
    from cocEval.its.results import ITSResult

__all__ = ["effect_summary", "effects_table", "fmt_period"]

_TERM_LABELS = {
    "level_change": "Level change at start",
    "trend_change": "Trend change per period",
    "sustain_level_change": "Level change at end",
    "sustain_trend_change": "Trend change per period after end",
    "diff_level_change": "Level change vs control",
    "diff_trend_change": "Trend change per period vs control",
    "diff_sustain_level_change": "Level change at end vs control",
    "diff_sustain_trend_change": "Trend change after end vs control",
    "trend": "Pre-intervention trend per period",
}


def fmt_period(p: Any) -> str:
    """A period for prose: 'Apr 2024' for months, the number otherwise."""
    return p.strftime("%b %Y") if isinstance(p, pd.Timestamp) else f"{p}"


def effects_table(res: ITSResult) -> pd.DataFrame:
    """The reader-facing effects table of :attr:`ITSResult.effects`."""
    terms = [t for t in (*res.effect_terms, "trend") if t in res.coefficients.index]
    c = res.coefficients.loc[terms]
    tf = (lambda v: v) if get_family(res.family).link == "identity" else np.exp
    out = pd.DataFrame(
        {
            "effect": [_TERM_LABELS.get(t, t) for t in terms],
            "scale": res._scale_name,
            "estimate": tf(c["estimate"].to_numpy()),
            "ci_low": tf(c["ci_low"].to_numpy()),
            "ci_high": tf(c["ci_high"].to_numpy()),
            "p_value": c["p_value"].to_numpy(),
        },
        index=pd.Index(terms, name="term"),
    )
    return out


def effect_summary(
    res: ITSResult,
    month: int = 12,
    *,
    outcome: str | None = None,
    improvement: str | None = None,
    per: float | None = None,
) -> EffectSummary:
    """Implementation of :meth:`ITSResult.effect_summary` (see there)."""
    fam = get_family(res.family)
    if month < 1:
        raise InputError(f"month is counted from 1 (the start period); got {month}")
    available = res.months_after_start
    caveats = []
    if available == 0:
        return EffectSummary.not_estimable(outcome or res.outcome, "no fitted period after the start")
    if month > available:
        caveats.append(
            f"Only {available} month(s) after the start are modelled, so the effect is read in month {available}."
        )
        month = available
    row = res.effect_at(month - 1, per=per).iloc[0]
    period_label = row["period"]
    if res._time.kind == "month":
        period = coaching_month_label(month, period_label)
    else:
        label = int(period_label) if float(period_label).is_integer() else period_label
        period = f"month {month} after the start ({label})"
    excluded = res._frame[(res._frame["series"] == "treated") & ~res._frame["fitted_row"]]
    if len(excluded):
        labels = ", ".join(fmt_period(v) for v in res._time.label(excluded["t"].to_numpy()))
        caveats.append(f"Left out of the model: {labels}.")
    absolute = None
    if fam.is_count:
        scale, est, lo, hi = "percentage change", row["relative"], row["relative_low"], row["relative_high"]
        comparison = "observed against expected without coaching"
    elif fam.is_binomial:
        scale, est, lo, hi = "percentage points", row["absolute"], row["absolute_low"], row["absolute_high"]
        comparison = "observed against expected without coaching"
    else:
        scale, est, lo, hi = "difference", row["absolute"], row["absolute_low"], row["absolute_high"]
        comparison = "observed against expected without the intervention"
    p = res.coefficients["p_value"]
    return EffectSummary(
        outcome=outcome or res.outcome,
        comparison=comparison,
        scale=scale,
        estimate=float(est),
        ci_low=float(lo),
        ci_high=float(hi),
        period=period,
        method=f"interrupted time series ({res.family}, {res.errors} errors)",
        p_value=float(p["level_change"]) if "level_change" in p.index and month == 1 else None,
        n=res.model_info["n"],
        n_label=f"{res.model_info['n']} months modelled",
        improvement=improvement,
        caveats=tuple(caveats),
        level=int(round(100 * (1 - res.alpha))),
        absolute=absolute,
    )
