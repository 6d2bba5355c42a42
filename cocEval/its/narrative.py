"""The plain-English narrative of an ITS result (findings first, then certainty, then the model)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from cocEval._results import pct
from cocEval.its.effects import fmt_period
from cocEval.its.families import ERRORS_WORDS, get_family

if TYPE_CHECKING:
    from cocEval.its.results import ITSResult

__all__ = ["model_words", "narrative", "outcome_words"]


def _direction(rel: float) -> str:
    return "fell" if rel < 0 else "rose"


def _signed_range(lo: float, hi: float) -> str:
    """Relative-change interval in words: '9% to 26%' for a fall or a rise (magnitudes), and
    'a 12% fall to a 3% rise' when it spans zero."""
    if hi < 0:
        return f"{pct(-hi)} to {pct(-lo)}"
    if lo > 0:
        return f"{pct(lo)} to {pct(hi)}"
    return f"a {pct(-lo)} fall to a {pct(hi)} rise"


def _p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}" if p < 0.1 else f"p = {p:.2f}"


def outcome_words(res: ITSResult) -> str:
    """The outcome name as words, capitalised."""
    w = res.outcome.replace("_", " ").strip()
    return w[:1].upper() + w[1:]


def narrative(res: ITSResult) -> str:
    """Implementation of :meth:`ITSResult.narrative` (see there)."""
    conf = f"{100 * (1 - res.alpha):.0f}% CI"
    name = res._outcome_words()
    unit = "month" if res._time.kind == "month" else "period"
    vs = " relative to the control series" if res.controlled else ""
    gaussian = res.family == "gaussian"
    s = []
    e0 = res.effect_at(0).iloc[0]
    p_lvl = res.coefficients.loc[res.effect_terms[0], "p_value"]
    if gaussian:
        first = (
            f"{name} {_direction(e0['absolute'])} by {abs(e0['absolute']):.3g} ({conf} "
            f"{e0['absolute_low']:+.3g} to {e0['absolute_high']:+.3g}; {pct(abs(e0['relative']))} of the "
            "expected level)"
        )
    else:
        first = (
            f"{name} {_direction(e0['relative'])} by {pct(abs(e0['relative']))} "
            f"({conf} {_signed_range(e0['relative_low'], e0['relative_high'])})"
        )
    s.append(
        f"{first} in the first {unit} of the intervention{vs}, compared with the pre-intervention "
        f"trend continued ({_p(p_lvl)})."
    )
    tc = next((t for t in res.effect_terms if t.endswith("trend_change") and "sustain" not in t), None)
    if tc is not None:
        c = res.coefficients.loc[tc]
        if gaussian:
            s.append(
                f"The trend changed by {c['estimate']:+.3g} per {unit} ({conf} {c['ci_low']:+.3g} to "
                f"{c['ci_high']:+.3g}, {_p(c['p_value'])})."
            )
        else:
            s.append(
                f"The trend changed by {pct(np.expm1(c['estimate']), 1)} per {unit} ({conf} "
                f"{pct(np.expm1(c['ci_low']), 1)} to {pct(np.expm1(c['ci_high']), 1)}, {_p(c['p_value'])})."
            )
    fr = res._frame
    last_t = int(fr.loc[fr["series"] == "treated", "t"].max())
    last_during = last_t if res._end is None else min(last_t, res._end - 1)
    h = last_during - res._start
    if h > 0:
        eh = res.effect_at(h).iloc[0]
        s.append(
            f"In {unit} {h + 1} of the intervention ({fmt_period(eh['period'])}) it was "
            f"{pct(abs(eh['relative']))} {'below' if eh['relative'] < 0 else 'above'} the counterfactual "
            f"({conf} {_signed_range(eh['relative_low'], eh['relative_high'])})."
        )
    if res._end is not None:
        eh = res.effect_at(last_t - res._start).iloc[0]
        lasted = eh["relative_high"] < 0 or eh["relative_low"] > 0
        s.append(
            f"After the intervention ended ({fmt_period(res.end)}), in {fmt_period(eh['period'])}, it was "
            f"{pct(abs(eh['relative']))} {'below' if eh['relative'] < 0 else 'above'} the counterfactual "
            f"({conf} {_signed_range(eh['relative_low'], eh['relative_high'])}): "
            + ("the change was sustained." if lasted else "a lasting change cannot be confirmed.")
        )
    s.append(f"Model: {res._model_words()}.")
    if res.notes:
        s.append("Notes: " + " ".join(res.notes))
    return " ".join(s)


def model_words(res: ITSResult) -> str:
    """The model in words: family, errors, offset, seasonality, control, periods."""
    info = res.model_info
    fam = get_family(res.family).words
    if res.family == "negbin":
        fam += f" (theta {info.get('theta', float('nan')):.3g})"
    err = ERRORS_WORDS[res.errors].format(maxlags=info.get("maxlags"), phi=info.get("phi", float("nan")))
    extra = []
    if res.exposure:
        extra.append(f"offset log({res.exposure})")
    if res.seasonality:
        extra.append(f"{res.seasonality} Fourier pair(s) for seasonality")
    if res.controlled:
        extra.append("differences from a control series")
    return f"{fam}, {err}" + (", " + ", ".join(extra) if extra else "") + f", {info['n']} periods"
