"""One contract from estimate to sentence: :class:`EffectSummary`.

Every estimator result (ITS, DiD aggregations, TWFE, the staff survey comparison, pooled
meta-analysis, funnel, SPC) offers ``effect_summary()`` returning an :class:`EffectSummary`:
what was estimated, on which scale (stated once), the estimate with its 95% interval, the
period it refers to, how many units it rests on, and the caveats. It renders as one plain
English sentence (:meth:`EffectSummary.sentence`) and as a tidy one-row frame
(:meth:`EffectSummary.to_frame`), so a number in a report's text and the same number in its
table come from one object and read the same way. Wording lives in :mod:`cocEval.wording`.

Months of coaching are counted from 1: "month 12" is the twelfth month from the start month
(the start month is month 1).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pandas as pd

from cocEval import wording as w

__all__ = ["EffectSummary", "coaching_month_label"]


def coaching_month_label(month_number: int, month: w.MonthLike | None = None) -> str:
    """'month 12 of coaching (March 2025)': months counted from 1 (the start month is month 1).

    Examples
    --------
    >>> coaching_month_label(12, pd.Timestamp("2025-03-01"))
    'month 12 of coaching (March 2025)'
    """
    text = f"month {int(month_number)} of coaching"
    return f"{text} ({w.fmt_month(month)})" if month is not None else text


@dataclass(frozen=True)
class EffectSummary:
    """A typed summary of one effect, shared by every estimator.

    Parameters
    ----------
    outcome
        What was measured, in words ("Restrictive interventions per 1,000 occupied bed days").
    comparison
        What is compared with what ("observed against expected without coaching").
    scale
        A key of :data:`cocEval.wording.SCALES` ("percentage change", "percentage points",
        "score points", "rate ratio", ...): the one scale the estimate and interval are on.
    estimate, ci_low, ci_high
        The estimate and its 95% (``level``) interval on ``scale`` (fractions for percentages).
    period
        What time the effect refers to ("month 12 of coaching (March 2025)", "on average over
        months 1-18 of coaching").
    method
        The estimator in words ("interrupted time series, quasi-Poisson").
    p_value
        Where the estimator gives one.
    n, n_label
        How many units the estimate rests on ("36 months", "48 providers").
    improvement
        "decrease" or "increase" when a direction is better, else None.
    caveats
        Exclusions and limits, each a short sentence ("March 2026 is provisional and left out.").
    estimable, reason
        False, with the reason in words, when the data cannot support the estimate.
    absolute
        Optionally the same effect on an absolute scale, as ``(estimate, low, high, scale)``,
        shown beside a relative one.

    Examples
    --------
    >>> e = EffectSummary(outcome="Restrictive interventions", comparison="observed against expected without coaching",
    ...                   scale="percentage change", estimate=-0.11, ci_low=-0.32, ci_high=0.17,
    ...                   period="month 12 of coaching (March 2025)", method="interrupted time series",
    ...                   improvement="decrease")
    >>> print(e.sentence())
    Restrictive interventions: in month 12 of coaching (March 2025), 11% lower than expected without coaching (95% CI -32% to +17%). The 95% interval includes no change, so we cannot tell whether this is a real change.
    >>> e.verdict
    'unclear'
    """

    outcome: str
    comparison: str
    scale: str
    estimate: float
    ci_low: float
    ci_high: float
    period: str
    method: str
    p_value: float | None = None
    n: int | None = None
    n_label: str = ""
    improvement: str | None = None
    caveats: tuple[str, ...] = field(default_factory=tuple)
    estimable: bool = True
    reason: str = ""
    level: int = 95
    absolute: tuple[float, float, float, str] | None = None

    def __post_init__(self) -> None:
        w._scale(self.scale)  # fail early on an unknown scale
        object.__setattr__(self, "caveats", tuple(self.caveats))

    # --------------------------------------------------------------------------------------
    @classmethod
    def not_estimable(
        cls, outcome: str, reason: str, *, method: str = "", period: str = "", scale: str = "difference"
    ) -> EffectSummary:
        """An effect the data cannot support, with the reason in words.

        Examples
        --------
        >>> print(EffectSummary.not_estimable("Seclusion", "too few events to model").sentence())
        Seclusion: not estimated (too few events to model).
        """
        nan = float("nan")
        return cls(
            outcome=outcome,
            comparison="",
            scale=scale,
            estimate=nan,
            ci_low=nan,
            ci_high=nan,
            period=period,
            method=method,
            estimable=False,
            reason=reason,
        )

    @property
    def null(self) -> float:
        """The value meaning no change on this scale."""
        return w.SCALES[self.scale].null

    @property
    def verdict(self) -> str:
        """'improvement', 'deterioration', 'unclear' (interval includes no change) or 'change'."""
        if not self.estimable:
            return "not estimable"
        return w.verdict(self.ci_low, self.ci_high, self.null, self.improvement)  # type: ignore[arg-type]

    def with_caveats(self, *caveats: str) -> EffectSummary:
        """A copy with more caveats."""
        return replace(self, caveats=self.caveats + tuple(c for c in caveats if c))

    # --------------------------------------------------------------------------------------
    def estimate_text(self, *, short: bool = False) -> str:
        """'-11% (95% CI -32% to +17%)'."""
        if not self.estimable:
            return "not estimated"
        return (
            f"{w.fmt_effect(self.estimate, self.scale, short=short)} "
            f"({self.level}% CI {w.fmt_interval(self.ci_low, self.ci_high, self.scale, short=short)})"
        )

    def _size_words(self) -> str:
        s = w.SCALES[self.scale]
        if s.null == 0 and self.scale == "percentage change":
            return f"{abs(self.estimate) * 100:.0f}% {w.direction_word(self.estimate, past=False)}"
        if s.null == 0:
            mag = w.fmt_effect(abs(self.estimate), self.scale, signed=False)
            return f"{mag} {w.direction_word(self.estimate, past=False)}"
        return f"a {self.scale} of {w.fmt_effect(self.estimate, self.scale)}"

    def sentence(self) -> str:
        """One plain-English sentence: what changed, by how much, how sure we are."""
        if not self.estimable:
            return f"{self.outcome}: not estimated ({self.reason})."
        where = f"in {self.period}, " if self.period else ""
        than = self.comparison.split(" against ", 1)[-1] if " against " in self.comparison else self.comparison
        rng = w.fmt_interval(self.ci_low, self.ci_high, self.scale)
        text = f"{self.outcome}: {where}{self._size_words()} than {than} ({self.level}% CI {rng})."
        if self.absolute is not None:
            est, lo, hi, sc = self.absolute
            text = text[:-1] + f"; {w.fmt_effect(est, sc)} ({w.fmt_interval(lo, hi, sc)}) in absolute terms."
        text += " " + w.certainty(self.ci_low, self.ci_high, self.null, self.improvement, level=self.level)  # type: ignore[arg-type]
        if self.caveats:
            text += " " + " ".join(self.caveats)
        return text

    def to_frame(self) -> pd.DataFrame:
        """The summary as a tidy one-row frame (numbers unformatted)."""
        return pd.DataFrame(
            [
                {
                    "outcome": self.outcome,
                    "comparison": self.comparison,
                    "method": self.method,
                    "period": self.period,
                    "scale": self.scale,
                    "estimate": self.estimate,
                    "ci_low": self.ci_low,
                    "ci_high": self.ci_high,
                    "p_value": self.p_value,
                    "n": self.n,
                    "n_label": self.n_label,
                    "verdict": self.verdict,
                    "caveats": " ".join(self.caveats),
                    "reason": self.reason,
                }
            ]
        )

    def __str__(self) -> str:
        return self.sentence()
