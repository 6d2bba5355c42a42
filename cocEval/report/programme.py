"""The programme evaluation: did coaching change things across the programme?

:class:`ProgrammeReport` computes, for every configured outcome, the staggered
difference-in-differences of Callaway & Sant'Anna on the provider-month panel with its event
study and cohort effects; two-way fixed effects beside it with the Goodman-Bacon decomposition;
and per-provider interrupted time series effects pooled by random-effects meta-analysis. Staff
survey indicators get the same staggered DiD on the provider-year panel. When the data carry a
truth file (synthetic data) it also sets every estimate against the known true effect.

The report opens with a verdict resting on the **primary analysis** pre-specified in
``params/programme.yaml`` (``primary_analysis``; by default the staggered DiD, dynamic
aggregation, not-yet-coached controls); TWFE, pooled ITS and the staff survey are secondary and
the verdict says whether they agree and, when not, why. Every section is a function returning a
:class:`cocEval.report.blocks.Section` (data, no display calls): tables come from
:meth:`Gate.table`, figures from :meth:`Gate.figure` with alt text and disclosed data.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from cocEval import wording as w
from cocEval.censored import att_gt_bounds
from cocEval.config import ProgrammeConfig, load_inputs
from cocEval.data import ProgrammeData, provider_month_panel, provider_months, provider_year_panel
from cocEval.did import att_gt
from cocEval.did.bacon import bacon_decomposition
from cocEval.did.twfe import twfe
from cocEval.effects import EffectSummary, coaching_month_label
from cocEval.errors import NotEstimableError
from cocEval.meta import random_effects
from cocEval.quality import is_ward_level, provisional_months, zero_stretches
from cocEval.report.blocks import Bullets, Callout, Heading, Paragraph, Section
from cocEval.report.gate import Gate
from cocEval.report.models import (
    BOUNDS_IMPUTATIONS,
    EFFECT_MONTH,
    absent_reason,
    family_words,
    fit_outcome,
    has_bounds,
    model_months,
    pooling_effect,
    staff_absent_reason,
)
from cocEval.report.provenance import provenance
from cocEval.style import NHS_BLUE, NHS_GREY, PALETTE, use_nhs_style

__all__ = ["POOL_MONTH", "PRETREND_TEST", "ProgrammeReport", "pretrend_sentence", "verdict_sentence"]

POOL_MONTH = EFFECT_MONTH  # pooled ITS effects are read in the 12th month of coaching (months counted from 1)

#: The one named pre-trend test of every DiD analysis in this report.
PRETREND_TEST = "Wald test that the event-study effects before the start are all zero"

#: The Goodman-Bacon comparison types in words.
BACON_WORDS = {
    "Earlier vs Later Treated": "Earlier-coached against not-yet-coached later cohorts",
    "Later vs Earlier Treated": "Later-coached against already-coached cohorts (forbidden)",
    "Treated vs Untreated": "Coached against never-coached providers",
}

_VERDICT_WORDS = {
    "improvement": "an improvement",
    "deterioration": "a deterioration",
    "unclear": "we cannot tell whether this is a real change (the interval includes no change)",
    "change": "a change",
    "not estimable": "not estimated",
}


@dataclass
class OutcomeEvaluation:
    """Everything the programme report says about one monthly outcome (or staff indicator)."""

    key: str
    panel: pd.DataFrame
    scale: str
    baseline: float  # coached providers' mean before coaching, on the panel's units
    attgt: object = None
    primary: object = None  # the pre-specified aggregation
    dynamic: object = None
    simple: object = None
    group: object = None
    pretrend: dict = field(default_factory=dict)
    dropped_missing: list = field(default_factory=list)
    dropped_gaps: list = field(default_factory=list)
    twfe: object | None = None
    bacon: object | None = None
    pooled: object | None = None
    provider_effects: pd.DataFrame = field(default_factory=pd.DataFrame)
    pooled_by_cohort: dict = field(default_factory=dict)
    pool_excluded: list = field(default_factory=list)  # (cohort, providers, coaching months in the data)
    not_modelled: list = field(default_factory=list)  # (provider, reason)
    error: str = ""
    notes: list = field(default_factory=list)
    #: the bounds-aware DiD (:func:`cocEval.censored.att_gt_bounds`) where the counts are intervals
    bounds: object | None = None
    #: which fit the primary effect uses ("standard" or "bounds") and why, in words
    fit: str = "standard"
    fit_reason: str = ""


def _quiet(fn, *args, notes: list | None = None, **kwargs):
    """Call ``fn`` keeping its warnings as notes (they are listed in the methods section)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn(*args, **kwargs)
    if notes is not None:
        notes += [str(x.message) for x in caught]
    return out


#: At most this many provider ids are listed in one sentence (published data can drop hundreds).
MAX_IDS = 12


def _ids(ids) -> str:
    """Provider ids for a sentence: all of them, or the first :data:`MAX_IDS` and how many more.

    Examples
    --------
    >>> _ids(["A", "B"]), _ids([f"P{i}" for i in range(14)])[-22:]
    ('A, B', 'P11 and 2 more (of 14)')
    """
    ids = list(map(str, ids))
    if len(ids) <= MAX_IDS:
        return ", ".join(ids)
    return f"{', '.join(ids[:MAX_IDS])} and {len(ids) - MAX_IDS} more (of {len(ids)})"


def pretrend_sentence(test: dict, *, unit: str = "month", label: str = "") -> str:
    """The one pre-trend statement of an analysis: the named test, what it covers, its p-value.

    "Consistent with parallel trends" only when the test does not reject at 5%, always with its
    limited power.

    Examples
    --------
    >>> t = {"p_value": 0.42, "df": 12, "first": -12, "last": -1}
    >>> "consistent with parallel trends" in pretrend_sentence(t)
    True
    >>> "consistent with parallel trends" in pretrend_sentence(dict(t, p_value=0.01))
    False
    """
    df, first, last, p = test.get("df", 0), test.get("first"), test.get("last"), test.get("p_value")
    if not df:
        return f"Pre-trend test ({PRETREND_TEST}): no event times before the start, so parallel trends is not checked."
    cover = (
        f"the {df} event-study effects at event times {first} to {last}, the {df} {unit}s before coaching started"
        if df > 1
        else f"the event-study effect at event time {first}, the {unit} before coaching started"
    )
    head = f"Pre-trend test ({PRETREND_TEST}; it covers {cover})"
    if label:  # the test is named once in the section; each analysis gets one statement
        head = f"{label}: pre-trend test over {cover}"
    if p is None or not np.isfinite(p):
        return f"{head}: could not be computed (singular covariance), so parallel trends is not checked."
    if p < 0.05:
        return (
            f"{head}: {w.fmt_p(p)}, so the test rejects parallel trends: coached and comparison providers already "
            "moved differently before coaching, and the estimate may be biased."
        )
    if label:
        return f"{head}: {w.fmt_p(p)}, consistent with parallel trends (the test has limited power)."
    return (
        f"{head}: {w.fmt_p(p)}, consistent with parallel trends. The test has limited power: it can miss a "
        "difference in trends small enough to matter."
    )


def bare_effect(e: EffectSummary) -> str:
    """'-3.56 (-5.70 to -1.42)': an effect and its 95% CI without the unit (tables carry a Unit column).

    Examples
    --------
    >>> e = EffectSummary(outcome="x", comparison="", scale="percentage points", estimate=0.052, ci_low=0.024,
    ...                   ci_high=0.079, period="", method="")
    >>> bare_effect(e)
    '+5.2 (+2.4 to +7.9)'
    """
    if not e.estimable:
        return "not estimated"
    s = w.SCALES[e.scale]

    def num(v: float) -> str:
        text = w.fmt_effect(v, s)
        return text[: -len(s.unit)] if s.unit and s.unit != "%" and text.endswith(s.unit) else text

    return f"{num(e.estimate)} ({num(e.ci_low)} to {num(e.ci_high)})"


def unit_words(scale: str) -> str:
    """The unit an effect on ``scale`` is stated in, for a table's Unit column.

    Examples
    --------
    >>> unit_words("percentage points"), unit_words("per 1,000 occupied bed days")
    ('percentage points', 'per 1,000 occupied bed days')
    """
    return {"score points": "points (0-10)", "percentage change": "% relative change"}.get(scale, scale)


def ci_text(e: EffectSummary) -> str:
    """'-3.56 per 1,000 occupied bed days (95% CI -5.70 to -1.42)': the unit written once.

    Examples
    --------
    >>> e = EffectSummary(outcome="x", comparison="", scale="percentage points", estimate=0.052, ci_low=0.024,
    ...                   ci_high=0.079, period="", method="")
    >>> ci_text(e)
    '+5.2 percentage points (95% CI +2.4 to +7.9)'
    """
    if not e.estimable:
        return "not estimated"
    lo_hi = bare_effect(e).split(" (", 1)[1][:-1]
    return f"{w.fmt_effect(e.estimate, e.scale)} ({e.level}% CI {lo_hi})"


def verdict_sentence(e: EffectSummary, *, baseline: float | None = None, baseline_words: str = "") -> str:
    """A headline effect: the number with its 95% CI on one scale, how it relates to the level
    before coaching, and the verdict ("improvement" only when the interval excludes no change in
    the improving direction).

    Examples
    --------
    >>> e = EffectSummary(outcome="Restraint", comparison="", scale="per 1,000 occupied bed days",
    ...                   estimate=-0.9, ci_low=-2.0, ci_high=0.3, period="", method="", improvement="decrease")
    >>> s = verdict_sentence(e, baseline=8.2, baseline_words="pre-coaching average")
    >>> "improvement" in s, "-0.90 per 1,000 occupied bed days (95% CI -2.00 to +0.30)" in s
    (False, True)
    """
    if not e.estimable:
        return f"{e.outcome}: not estimated ({e.reason})."
    rel = ""
    if baseline is not None and np.isfinite(baseline):
        rel = ", " + w.relative_to_baseline(e.estimate, baseline, e.scale, baseline_words=baseline_words)
    return f"{e.outcome}: {ci_text(e)}{rel}: {_VERDICT_WORDS[e.verdict]}."


@dataclass
class ProgrammeReport:
    """The programme evaluation. Build it with :meth:`build`; each section method returns a Section."""

    prog: ProgrammeData
    cfg: ProgrammeConfig
    outcomes: dict[str, OutcomeEvaluation] = field(default_factory=dict)
    staff: dict[str, OutcomeEvaluation] = field(default_factory=dict)
    seconds: float = 0.0
    config_hash: str = ""
    #: per outcome and provider, what provider reports already computed for pooling (see build)
    provider_effects: dict = field(default_factory=dict, repr=False)
    #: configured outcomes and staff indicators not in the data, with the reason ("not in the data: ...")
    absent: dict[str, str] = field(default_factory=dict)
    staff_absent: dict[str, str] = field(default_factory=dict)
    _robustness: object = field(default=None, repr=False)
    #: speedB: provider -> whether it has a recording gap (asked once per report, not per outcome)
    _has_gap: dict = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, data_dir=None, config=None, *, outcomes=None, provider_effects=None) -> ProgrammeReport:
        """Load data and config, then estimate everything the programme report shows.

        Parameters
        ----------
        data_dir, config : optional
            Data folder and config (path or :class:`ProgrammeConfig`); None = project defaults.
        outcomes : list of str, optional
            Outcome keys to evaluate (default: all configured).
        provider_effects : dict or path of a JSON file, optional
            ``{provider_id: {outcome: pooling_effect}}`` as provider reports write them
            (:meth:`ProviderReport.write_summary`) from the same data and config: the pooled
            interrupted time series then uses them instead of fitting each provider's model
            again. Providers missing from it are fitted here.

        Examples
        --------
        >>> cfg = load_inputs()[0]
        >>> quick = cfg.model_copy(update={"staff_indicators": {}, "did": cfg.did.model_copy(update={"n_boot": 100})})
        >>> rep = ProgrammeReport.build(config=quick, outcomes=["positive_experience"])
        >>> [s.title for s in rep.sections()[:2]]
        ['Culture of Care programme evaluation', 'Verdict']
        """
        t0 = time.perf_counter()
        cfg, prog, _ = load_inputs(data_dir, config)
        rep = cls(prog, cfg, config_hash=hashlib.sha256(cfg.model_dump_json().encode()).hexdigest())
        if provider_effects is not None and not isinstance(provider_effects, dict):
            provider_effects = json.loads(Path(provider_effects).read_text())
        rep.provider_effects = provider_effects or {}
        use_nhs_style(dpi=cfg.report.dpi)
        for key in outcomes or list(cfg.outcomes):
            why = absent_reason(prog, cfg.outcomes[key])
            if why is None:
                rep.outcomes[key] = rep._evaluate(key)
            else:
                rep.absent[key] = why
        for key, ind in cfg.staff_indicators.items():
            why = staff_absent_reason(prog, ind)
            if why is None:
                rep.staff[key] = rep._evaluate_staff(key)
            else:
                rep.staff_absent[key] = why
        rep.seconds = time.perf_counter() - t0
        return rep

    # ------------------------------------------------------------------------------------
    # Estimation
    # ------------------------------------------------------------------------------------
    @property
    def gate(self) -> Gate:
        return Gate(self.cfg.disclosure.preset, dpi=self.cfg.report.dpi)

    @property
    def provisional(self) -> list[pd.Timestamp]:
        return [pd.Timestamp(m) for m in provisional_months(self.prog, self.cfg.report.exclude_provisional_months)]

    def _did(self, ev: OutcomeEvaluation, time_col: str, cohort_col: str) -> None:
        o = self.cfg.did
        ev.attgt = _quiet(
            att_gt,
            ev.panel,
            "value",
            "provider_id",
            time_col,
            cohort_col,
            control_group=o.control_group,
            method=o.method,
            bootstrap=o.bootstrap,
            n_boot=o.n_boot,
            seed=o.seed,
            notes=ev.notes,
        )
        ev.dynamic = _quiet(ev.attgt.aggregate, "dynamic", min_e=o.min_e, max_e=o.max_e, notes=ev.notes)
        ev.simple = _quiet(ev.attgt.aggregate, "simple", notes=ev.notes)
        ev.group = _quiet(ev.attgt.aggregate, "group", notes=ev.notes)
        ev.primary = {"dynamic": ev.dynamic, "simple": ev.simple, "group": ev.group}[
            self.cfg.primary_analysis.aggregation
        ]
        pre = ev.dynamic.table.index[(ev.dynamic.table.index < 0) & np.isfinite(ev.dynamic.table["att"])]
        test = _quiet(ev.dynamic.pretrend_test, notes=ev.notes)
        ev.pretrend = dict(test, first=int(pre.min()) if len(pre) else None, last=int(pre.max()) if len(pre) else None)

    def _evaluate(self, key: str) -> OutcomeEvaluation:
        o = self.cfg.outcomes[key]
        notes: list[str] = []
        prov = [w.fmt_period(m) for m in self.provisional]
        panel = _quiet(provider_month_panel, self.prog, o.numerator, per=o.per, exclude_months=prov, notes=notes)
        missing = sorted(set(self.prog.participation["provider_id"]) - set(panel["provider_id"]))
        gaps: list[str] = []
        if o.table == "restrictive_practice":
            # A stretch of months with nothing reported is a recording gap: keep that provider out
            # of the panel rather than read the gap as a fall in restrictive practice.
            for p in panel["provider_id"].unique():
                if p not in self._has_gap:
                    self._has_gap[p] = len(zero_stretches(self.prog, p)) > 0
            gaps = sorted(p for p in panel["provider_id"].unique() if self._has_gap[p])
            panel = panel[~panel["provider_id"].isin(gaps)]
        scale = "percentage points" if o.is_share else w.rate_scale(o.per)
        base = panel.loc[(panel["post"] == 0) & panel["start_month"].notna(), "value"].mean()
        ev = OutcomeEvaluation(key, panel, scale, float(base), dropped_missing=missing, dropped_gaps=gaps, notes=notes)
        self._did(ev, "month", "start_month")
        self._bounds_did(ev, gaps)
        try:
            ev.twfe = _quiet(twfe, panel, "value", "provider_id", "month", "post", cluster="provider_id", notes=notes)
            ev.bacon = _quiet(bacon_decomposition, panel, "value", "provider_id", "month", "post", notes=notes)
        except (ValueError, np.linalg.LinAlgError) as exc:  # estimators outside cocEval.errors still raise these
            notes.append(f"TWFE / Bacon decomposition not computed: {exc}")
        self._pool(ev)
        return ev

    def _bounds_did(self, ev: OutcomeEvaluation, gaps: list[str]) -> None:
        """Where the outcome's counts are intervals (published, disclosure-controlled), the
        bounds-aware staggered DiD beside the naive one; the primary effect then uses it."""
        o = self.cfg.outcomes[ev.key]
        if not has_bounds(self.prog, o):
            return
        if o.table != "restrictive_practice" or self.cfg.primary_analysis.event_time is not None:
            ev.fit_reason = (
                "the published counts are disclosure-controlled, but the bounds-aware fit covers count rates and the "
                "average over event times only, so this estimate takes rounded counts as exact and leaves providers "
                "with a suppressed month out"
            )
            return
        pm = provider_months(self.prog, o.table)
        months = model_months(self.prog, self.cfg)
        cols = [o.numerator, f"{o.numerator}_lower", f"{o.numerator}_upper", o.denominator]
        grid = pd.MultiIndex.from_product(
            [self.prog.participation["provider_id"], months], names=["provider_id", "month"]
        )
        panel = pm.set_index(["provider_id", "month"])[cols].reindex(grid).reset_index()
        panel = panel.merge(self.prog.participation[["provider_id", "start_month"]], on="provider_id")
        panel = panel[~panel["provider_id"].isin(gaps)]
        d = self.cfg.did
        try:
            ev.bounds = _quiet(
                att_gt_bounds,
                panel,
                o.numerator,
                "provider_id",
                "month",
                "start_month",
                denominator=o.denominator,
                per=o.per,
                aggregation=self.cfg.primary_analysis.aggregation,
                aggregate_options={"min_e": d.min_e, "max_e": d.max_e}
                if self.cfg.primary_analysis.aggregation == "dynamic"
                else None,
                m=BOUNDS_IMPUTATIONS,
                seed=d.seed,
                control_group=d.control_group,
                method=d.method,
                notes=ev.notes,
            )
        except (NotEstimableError, ValueError) as exc:  # att_gt still raises bare ValueError for some panels
            ev.fit_reason = f"the bounds-aware fit could not be computed ({exc}), so this estimate is the naive one"
            return
        t = ev.bounds.table
        if not np.isfinite(t.loc["bounds", "att"]) or not np.isfinite(t.loc["bounds", "se"]):
            ev.fit_reason = "the bounds-aware fit gave no finite estimate, so this estimate is the naive one"
            return
        n_round = ev.bounds.n_censored - ev.bounds.n_suppressed
        ev.fit = "bounds"
        ev.fit_reason = (
            f"the published counts are disclosure-controlled ({n_round} provider-months rounded to the nearest 5 and "
            f"{ev.bounds.n_suppressed} suppressed), so the estimate is fitted within the published bounds (multiple "
            f"imputation, {ev.bounds.m} imputations); it keeps {int(t.loc['bounds', 'units'])} providers, where the "
            f"naive fit (rounded counts as exact) keeps only the {int(t.loc['naive', 'units'])} without a suppressed "
            "month"
        )

    def _pool(self, ev: OutcomeEvaluation) -> None:
        """Each provider's ITS log ratio in month 12 of coaching, pooled by random effects."""
        months = model_months(self.prog, self.cfg)
        rows = []
        for cohort, g in self.prog.participating.groupby("cohort"):
            reach = int((months >= g["start_month"].min()).sum())
            if reach < POOL_MONTH:
                ev.pool_excluded.append((cohort, len(g), reach))
        excluded = {c for c, _, _ in ev.pool_excluded}
        for _, p in self.prog.participating.iterrows():
            if p["cohort"] in excluded or (months >= p["start_month"]).sum() < POOL_MONTH:
                continue
            r = self.provider_effects.get(p["provider_id"], {}).get(ev.key)
            if r is None:  # not handed over by a provider report: fit it here
                m = fit_outcome(self.prog, self.cfg, p["provider_id"], ev.key)
                r = pooling_effect(m.its, m.error, POOL_MONTH)
            if "error" in r:
                ev.not_modelled.append((p["provider_id"], r["error"]))
                continue
            est, se = r["log_effect"], r["se"]
            if np.isfinite(est) and np.isfinite(se) and se > 0:
                rows.append({"provider_id": p["provider_id"], "cohort": p["cohort"], "log_effect": est, "se": se})
            else:
                ev.not_modelled.append((p["provider_id"], "no finite month-12 effect"))
        ev.provider_effects = pd.DataFrame(rows, columns=["provider_id", "cohort", "log_effect", "se"])
        e = ev.provider_effects
        if len(e) >= 2:
            kw = dict(method="REML", hartung_knapp=True, notes=ev.notes)
            ev.pooled = _quiet(random_effects, e["log_effect"], e["se"], labels=e["provider_id"], **kw)
            for c, g in e.groupby("cohort"):
                if len(g) >= 2:
                    ev.pooled_by_cohort[c] = _quiet(
                        random_effects, g["log_effect"], g["se"], labels=g["provider_id"], **kw
                    )

    def _evaluate_staff(self, key: str) -> OutcomeEvaluation:
        ind = self.cfg.staff_indicators[key]
        panel = provider_year_panel(self.prog, ind.column).dropna(subset=["value"])
        years = panel.groupby("provider_id")["survey_year"].nunique()
        missing = sorted(years[years < years.max()].index)
        panel = panel[panel["provider_id"].isin(years[years == years.max()].index)]
        base = panel.loc[(panel["post"] == 0) & (panel["first_year"] > 0), "value"].mean()
        scale = "score points" if ind.is_score else "percentage points"
        ev = OutcomeEvaluation(key, panel, scale, float(base), dropped_missing=missing)
        try:
            self._did(ev, "survey_year", "first_year")
        except (ValueError, NotEstimableError) as exc:
            ev.error = str(exc)
        return ev

    # ------------------------------------------------------------------------------------
    # Effect summaries: the numbers every section quotes
    # ------------------------------------------------------------------------------------
    def _name(self, key: str) -> str:
        return self.cfg.outcomes[key].name

    def _unit_words(self, scale: str) -> str:
        return "percentage points" if scale == "percentage points" else scale.replace("score points", "points")

    def _level(self, value: float, scale: str, *, unit: bool = True) -> str:
        if scale == "percentage points":
            return w.fmt_pct(value)
        text = w.fmt_effect(value, scale, signed=False)
        u = w.SCALES[scale].unit
        return text if unit or not text.endswith(u) else text[: -len(u)]

    def did_caveats(self, key: str) -> list[str]:
        """Exclusions of the DiD panel of one outcome, with counts and reasons."""
        ev = self.outcomes[key]
        out = [f"{w.fmt_month(m)} is provisional and left out." for m in self.provisional]
        out += self._composition_caveat()
        if ev.dropped_missing:
            out.append(
                f"{len(ev.dropped_missing)} provider(s) left out of this panel for "
                + ("missing months: " if is_ward_level(self.prog) else "months not reported or suppressed at source: ")
                + f"{_ids(ev.dropped_missing)}."
            )
        if ev.dropped_gaps:
            out.append(
                f"{len(ev.dropped_gaps)} provider(s) left out of this panel for a stretch of three or more months with "
                f"nothing reported (a recording gap): {_ids(ev.dropped_gaps)}."
            )
        return out

    def _composition_caveat(self) -> list[str]:
        """Which cohorts the later event times of the dynamic aggregation rest on."""
        pa, max_e = self.cfg.primary_analysis, self.cfg.did.max_e
        if pa.aggregation != "dynamic" or pa.event_time is not None or max_e is None:
            return []
        months = model_months(self.prog, self.cfg)
        short = [
            f"{c} only months 1 to {n}"
            for c, g in self.prog.participating.groupby("cohort")
            if (n := int((months >= g["start_month"].min()).sum())) < max_e + 1
        ]
        if not short:
            return []
        return [
            f"The average gives each month since the start equal weight, and later months rest on fewer cohorts: "
            f"the data cover {', '.join(short)}."
        ]

    def primary_effect(self, key: str) -> EffectSummary:
        """The primary analysis's effect for one outcome (as pre-specified in the config); the
        bounds-aware fit's where the outcome's counts are disclosure-controlled intervals."""
        ev = self.outcomes[key]
        o = self.cfg.outcomes[key]
        e = ev.primary.effect_summary(
            outcome=o.name,
            scale=ev.scale,
            improvement=o.improvement,
            event_time=self.cfg.primary_analysis.event_time,
            unit_name="providers in the panel (coached and comparison)",
            caveats=self.did_caveats(key),
        )
        if ev.fit != "bounds":
            return e
        b = ev.bounds.table.loc["bounds"]
        naive = "the naive fit could not be computed" if e.estimable is False else f"the naive fit gives {ci_text(e)}"
        n = int(b["units"])
        from scipy import stats

        p = float(2 * stats.t.sf(abs(b["att"] / b["se"]), b["df"])) if b["se"] > 0 else None
        return EffectSummary(
            outcome=o.name,
            comparison=e.comparison if e.estimable else "coached against comparison providers",
            scale=ev.scale,
            estimate=float(b["att"]),
            ci_low=float(b["ci_low"]),
            ci_high=float(b["ci_high"]),
            period=e.period if e.estimable else "months since the start, on average",
            method=f"{e.method}; bounds-aware fit (multiple imputation within the published bounds)",
            p_value=p,
            n=n,
            n_label=f"{n} providers in the panel (coached and comparison)",
            improvement=o.improvement,
            caveats=(*self.did_caveats(key), f"Bounds-aware fit; {naive}."),
        )

    def fit_note(self, key: str) -> str:
        """Which fit the primary effect of an outcome used and why ('' for exact counts)."""
        ev = self.outcomes[key]
        if not ev.fit_reason:
            return ""
        kind = "bounds-aware" if ev.fit == "bounds" else "standard"
        return f"Fit used for {self._name(key)}: the {kind} fit, because {ev.fit_reason}."

    def absent_sentence(self) -> str:
        """What the data do not hold, in plain words ('' when everything configured is there)."""
        items = [
            f"{self.cfg.outcomes[k].name} ({why.removeprefix('not in the data: ')})" for k, why in self.absent.items()
        ]
        items += [
            f"{self.cfg.staff_indicators[k].label} ({why.removeprefix('not in the data: ')})"
            for k, why in self.staff_absent.items()
        ]
        return "Not in the data, so not analysed: " + "; ".join(items) + "." if items else ""

    def twfe_effect(self, key: str) -> EffectSummary:
        ev, o = self.outcomes[key], self.cfg.outcomes[key]
        if ev.twfe is None:
            return EffectSummary.not_estimable(o.name, "TWFE could not be computed", scale=ev.scale)
        return ev.twfe.effect_summary(outcome=o.name, scale=ev.scale, improvement=o.improvement)

    def pool_caveats(self, key: str) -> list[str]:
        """Who the pooled ITS leaves out, with counts and reasons."""
        ev = self.outcomes[key]
        out = [
            f"It leaves out {c} ({n} providers), whose data reach only {m} coaching months."
            for c, n, m in ev.pool_excluded
        ]
        if ev.not_modelled:
            out.append(
                f"{len(ev.not_modelled)} provider(s) could not be modelled and are left out: "
                + "; ".join(f"{p} ({r})" for p, r in ev.not_modelled)
                + "."
            )
        return out

    def pooled_effect(self, key: str) -> EffectSummary:
        ev, o = self.outcomes[key], self.cfg.outcomes[key]
        if ev.pooled is None:
            return EffectSummary.not_estimable(
                o.name, f"fewer than two providers with {POOL_MONTH} months of coaching data", scale="percentage change"
            )
        return ev.pooled.effect_summary(
            outcome=o.name,
            transform="percentage change",
            improvement=o.improvement,
            period=coaching_month_label(POOL_MONTH),
            caveats=self.pool_caveats(key),
        )

    def staff_effect(self, key: str) -> EffectSummary:
        ev, ind = self.staff[key], self.cfg.staff_indicators[key]
        if ev.error:
            return EffectSummary.not_estimable(ind.label, ev.error, scale=ev.scale)
        return ev.primary.effect_summary(
            outcome=ind.label,
            scale=ev.scale,
            improvement=ind.improvement,
            unit_name="providers in the panel (coached and comparison)",
        )

    def headline_keys(self) -> list[str]:
        keys = [k for k in self.outcomes if self.cfg.outcomes[k].headline]
        return keys or list(self.outcomes)

    def primary_words(self) -> str:
        pa, d = self.cfg.primary_analysis, self.cfg.did
        ctrl = "providers not yet coached" if d.control_group == "notyettreated" else "providers never coached"
        if pa.aggregation == "dynamic" and pa.event_time is None:
            agg = (
                "dynamic aggregation: the average of the event-study effects from month 1 of coaching to month "
                f"{(d.max_e or 0) + 1}{self._months_reached_words()}"
            )
        elif pa.aggregation == "dynamic":
            agg = f"dynamic aggregation: the event-study effect in month {pa.event_time + 1} of coaching"
        elif pa.aggregation == "simple":
            agg = "simple aggregation: the average over all coached provider-months, weighting cohorts by size"
        else:
            agg = "group aggregation: the average of the cohort effects, weighting cohorts by size"
        return f"staggered difference-in-differences (Callaway & Sant'Anna 2021), {agg}, with {ctrl} as controls"

    def _months_reached_words(self) -> str:
        """ ", where these data reach only month N" when no outcome's event study reaches max_e."""
        reached = [
            int(t.index[(t.index >= 0) & np.isfinite(t["att"])].max()) + 1
            for ev in self.outcomes.values()
            if ev.dynamic is not None and len(t := ev.dynamic.table) and ((t.index >= 0) & np.isfinite(t["att"])).any()
        ]
        max_e = self.cfg.did.max_e
        if not reached or max_e is None or max(reached) >= max_e + 1:
            return ""
        return f" (these data reach only month {max(reached)})"

    # ------------------------------------------------------------------------------------
    # Secondary analyses: do they agree, and if not, why
    # ------------------------------------------------------------------------------------
    def twfe_agreement(self, key: str, *, named: bool = False) -> str:
        """Whether TWFE agrees with the primary analysis, and the reason in words when it does not."""
        p, t = self.primary_effect(key), self.twfe_effect(key)
        lead = f"{self._name(key)}, TWFE" if named else "TWFE"
        if not t.estimable:
            return f"{lead}: not computed ({t.reason})."
        ev = self.outcomes[key]
        s = ev.bacon.summary_by_type() if ev.bacon is not None else pd.DataFrame(columns=["estimate", "weight"])
        bad_w = float(s["weight"].get("Later vs Earlier Treated", 0.0))
        bad_e = s["estimate"].get("Later vs Earlier Treated", np.nan)
        forbidden = (
            f"{bad_w:.0%} of its weight rests on 'forbidden' comparisons that use already-coached providers as "
            f"controls (their average {w.fmt_effect(bad_e, t.scale)}; Goodman-Bacon decomposition), which bias TWFE "
            "when effects build up over time"
        )
        head = f"{lead}: {ci_text(t)}: {_VERDICT_WORDS[t.verdict]}."
        if t.verdict == p.verdict:
            return f"{head} It agrees with the primary analysis; {forbidden}."
        return (
            f"{head} It does not agree with the primary analysis, which found {ci_text(p)}: "
            f"{_VERDICT_WORDS[p.verdict]}. Why: TWFE averages all before/after comparisons with regression weights "
            f"instead of comparing each cohort with providers not yet coached, and {forbidden}. The primary analysis "
            "avoids these comparisons, so where the two differ it is the one to rely on."
        )

    def pooled_agreement(self, key: str, *, named: bool = False) -> str:
        """Whether the pooled ITS agrees with the primary analysis, and why they can differ."""
        p, m = self.primary_effect(key), self.pooled_effect(key)
        lead = f"{self._name(key)}, pooled ITS" if named else "Pooled ITS"
        if not m.estimable:
            return f"{lead}: not estimated ({m.reason})."
        ev = self.outcomes[key]
        rel = w.fmt_effect(p.estimate / ev.baseline if ev.baseline else np.nan, "percentage change")
        head = (
            f"{lead}: {w.fmt_effect(m.estimate, m.scale)} relative change against expected in "
            f"{coaching_month_label(POOL_MONTH)} (95% CI {w.fmt_interval(m.ci_low, m.ci_high, m.scale)}; "
            f"{m.n} providers): {_VERDICT_WORDS[m.verdict]}."
        )
        estimand = (
            f"each provider's level in month {POOL_MONTH} against its own projected pre-coaching trend, with no "
            "comparison providers, pooled with random-effects weights; the primary analysis compares with providers "
            f"not yet coached, averaged over the months since the start ({rel} of the pre-coaching level)"
        )
        excl = " ".join(self.pool_caveats(key))
        if m.verdict == p.verdict:
            return f"{head} It agrees with the primary analysis. It is a different estimand: {estimand}. {excl}".strip()
        return (
            f"{head} It does not agree with the primary analysis, which found {ci_text(p)}: "
            f"{_VERDICT_WORDS[p.verdict]}. Why: it is a different estimand: {estimand}; its narrower interval rests on "
            f"each provider's projected trend being right. {excl}"
        ).strip()

    # ------------------------------------------------------------------------------------
    # Sections
    # ------------------------------------------------------------------------------------
    def title(self) -> Section:
        """The report title and what the data cover."""
        p = self.prog
        return Section("Culture of Care programme evaluation", level=1).add(
            Paragraph(
                f"{len(p.participating)} providers in {p.participating['cohort'].nunique()} cohorts and "
                f"{len(p.participation) - len(p.participating)} providers not in the programme; monthly data "
                f"{w.fmt_month(p.months[0])} to {w.fmt_month(p.months[-1])}."
            ),
            self.gate.banner(),
        )

    def verdict(self) -> Section:
        """Section 1: the verdict of the pre-specified primary analysis, and whether the others agree."""
        sec = Section("Verdict")
        sec.add(
            Paragraph(
                "Primary analysis, pre-specified in the programme configuration before looking at the results: "
                f"{self.primary_words()}. Two-way fixed effects (TWFE), pooled interrupted time series (ITS) and the "
                "staff survey are secondary. An effect is called an improvement only when its 95% confidence "
                "interval excludes no change in the improving direction."
            )
        )
        summary = [f"{self._name(k)}: {_VERDICT_WORDS[self.primary_effect(k).verdict]}" for k in self.headline_keys()]
        sec.add(Callout("In short (primary analysis): " + "; ".join(summary) + ".", kind="info"))
        rows = []
        for key in self.headline_keys():
            e = self.primary_effect(key)
            ev = self.outcomes[key]
            sec.add(Heading(self.cfg.outcomes[key].label, 3))
            sec.add(
                Paragraph(
                    verdict_sentence(e, baseline=ev.baseline, baseline_words=self._relative_words(key))
                    + f" Period: {e.period}; {e.n_label}.",
                    kind="finding",
                )
            )
            if self.fit_note(key):
                sec.add(Paragraph(self.fit_note(key), kind="note"))
            sec.add(
                Paragraph("Checks and exclusions:"),
                Bullets([pretrend_sentence(ev.pretrend), *e.caveats]),
                Paragraph("Do the secondary analyses agree?"),
                Bullets([self.twfe_agreement(key), self.pooled_agreement(key)]),
            )
            rows.append(self._effect_row(key, e))
        sec.add(
            self.gate.table(
                pd.DataFrame(rows),
                caption="Headline outcomes, primary analysis. The same numbers appear in the staggered "
                "difference-in-differences section below.",
            )
        )
        if self.absent_sentence():
            sec.add(Paragraph(self.absent_sentence(), kind="note"))
        if self.staff:
            items = [verdict_sentence(self.staff_effect(k)) for k in self.staff]
            sec.add(
                Paragraph(
                    "Staff survey (secondary: the same method on the yearly staff survey, survey years since "
                    "coaching started, averaged):"
                ),
                Bullets(items),
            )
        return sec

    def _relative_words(self, key: str) -> str:
        ev = self.outcomes[key]
        return "coached providers' pre-coaching " + ("share" if ev.scale == "percentage points" else "average")

    def _effect_row(self, key: str, e: EffectSummary) -> dict:
        ev = self.outcomes[key]
        p = ev.pretrend.get("p_value")
        return {
            "Outcome": self.cfg.outcomes[key].name,
            "Effect (95% CI)": bare_effect(e),
            "Unit": unit_words(e.scale),
            "Pre-coaching level": self._level(ev.baseline, ev.scale, unit=False),
            "Relative to pre-coaching level": w.fmt_effect(e.estimate / ev.baseline, "percentage change")
            if ev.baseline
            else "",
            "Verdict": e.verdict,
            "Pre-trend test": w.fmt_p(p),
            "Providers in the panel": e.n_label.split()[0] if e.n_label else "",
        }

    def participation(self) -> Section:
        """Who joined when: table and timeline."""
        import matplotlib.dates as mdates
        import matplotlib.pyplot as plt

        sec = Section("Participation")
        p = self.prog.participating
        months = model_months(self.prog, self.cfg)
        t = (
            p.groupby("cohort")
            .agg(
                providers=("provider_id", "size"),
                wards=("wards_enrolled", lambda x: x.sum(min_count=1)),
                start=("start_month", "min"),
                end=("coaching_end_month", "max"),
            )
            .reset_index()
        )
        t["in_data"] = [int((months >= s).sum()) for s in t["start"]]
        shown = pd.DataFrame(
            {
                "Cohort": t["cohort"],
                "Providers": t["providers"],
                "Wards enrolled": [int(v) if pd.notna(v) else "not recorded" for v in t["wards"]],
                "Coaching starts": [w.fmt_month(m) for m in t["start"]],
                "Coaching ends": [w.fmt_month(m) if pd.notna(m) else "" for m in t["end"]],
                "Coaching months in the data": t["in_data"],
            }
        )
        sec.add(
            self.gate.table(
                shown,
                caption=f"Coaching months in the data count from the start month (month 1) to "
                f"{w.fmt_month(months[-1])}, the last month analysed.",
            )
        )
        data = self.gate.frame(t.rename(columns={"cohort": "Cohort"}), values=["start", "end", "providers"])
        fig, ax = plt.subplots(figsize=(8, 0.7 * len(t) + 1.2))
        for i, r in enumerate(data.itertuples()):
            ongoing = pd.isna(r.end)  # no end recorded (e.g. published data): drawn to the last month analysed
            s = pd.Timestamp(r.start)
            e = (months[-1] if ongoing else pd.Timestamp(r.end)) + pd.offsets.MonthEnd(0)
            ax.barh(i, (e - s).days, left=s, color=PALETTE[i % len(PALETTE)], height=0.5)
            label = f"{r.Cohort}: {r.providers} providers" + (" (no end recorded)" if ongoing else "")
            ax.text(s, i - 0.3, label, fontsize=8, va="bottom")
        last = months[-1]
        ax.axvline(last, color=NHS_GREY, ls="--", lw=1)
        ax.annotate(" last month analysed", xy=(last, 1), xycoords=("data", "axes fraction"), fontsize=8, va="top")
        ax.set_yticks([])
        ax.set_ylim(len(t) - 0.5, -1.0)  # top down, with room above the first bar for its label
        locator = mdates.AutoDateLocator(maxticks=8)
        if (last - t["start"].min()).days < 366:  # a short span: month ticks, never days of the month
            locator = mdates.MonthLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        ax.set_xlabel("Month")
        first, latest = t["start"].min(), t["start"].max()
        ax.set_title(f"Coaching started in {len(t)} cohorts between {w.fmt_month(first)} and {w.fmt_month(latest)}")
        alt = "Timeline of coaching by cohort: " + "; ".join(
            f"{r.cohort}, {r.providers} providers, coaching from {w.fmt_month(r.start)}"
            + (f" to {w.fmt_month(r.end)}" if pd.notna(r.end) else "")
            for r in t.itertuples()
        )
        sec.add(self.gate.figure(fig, data=data, alt=alt + f". Data end {w.fmt_month(last)}."))
        return sec

    def _axis_unit(self, scale: str) -> tuple[float, str]:
        """Plot factor and axis unit for a scale (shares are plotted in percentage points)."""
        if scale == "percentage points":
            return 100.0, "percentage points"
        if scale == "score points":
            return 1.0, "points"
        return 1.0, scale

    def event_study_figure(self, key: str):
        """The event study of one outcome as a gated Figure."""
        import matplotlib.pyplot as plt

        ev = self.outcomes[key]
        o = self.cfg.outcomes[key]
        f, unit = self._axis_unit(ev.scale)
        d = ev.dynamic.table.reset_index()
        d = d.assign(att=d["att"] * f, ci_low=d["ci_low"] * f, ci_high=d["ci_high"] * f)
        data = self.gate.frame(d, values=["event_time", "att", "ci_low", "ci_high"])
        fig, ax = plt.subplots(figsize=(8, 4))
        for before, colour, marker in ((True, NHS_GREY, "s"), (False, NHS_BLUE, "o")):
            s = data[(data["event_time"] < 0) == before]
            ax.fill_between(s["event_time"], s["ci_low"], s["ci_high"], color=colour, alpha=0.2, lw=0)
            ax.plot(
                s["event_time"],
                s["att"],
                marker=marker,
                ms=3,
                color=colour,
                ls=":" if before else "-",
                label="before coaching" if before else "after coaching started",
            )
        ax.axhline(0, color="black", lw=0.8)
        ax.axvline(-0.5, color=NHS_GREY, ls="--", lw=1)
        ax.set_xlabel("Months since coaching started (0 = month 1 of coaching)")
        ax.set_ylabel(f"Effect ({unit})")
        e = self.primary_effect(key)
        ax.set_title(f"{o.name}: {w.fmt_effect(e.estimate, e.scale)} on average after the start")
        ax.legend(frameon=False, fontsize=8)
        post = data[data["event_time"] >= 0]
        alt = (
            f"Event study of {o.name}, effect in {unit} by months since coaching started, event times "
            f"{int(data['event_time'].min())} to {int(data['event_time'].max())}, with 95% simultaneous bands. "
            f"Before the start the estimates range from {data.loc[data['event_time'] < 0, 'att'].min():.2f} to "
            f"{data.loc[data['event_time'] < 0, 'att'].max():.2f}; after it from {post['att'].min():.2f} to "
            f"{post['att'].max():.2f}, last {post['att'].iloc[-1]:.2f} at event time {int(post['event_time'].iloc[-1])}."
        )
        return self.gate.figure(
            fig,
            data=data,
            alt=alt,
            caption="Shaded: 95% simultaneous bootstrap band. Event time 0 is the start month (month 1 of coaching).",
        )

    def staggered_did(self) -> Section:
        """The primary analysis in full: effects, pre-trend tests, event studies and cohort effects."""
        sec = Section("Staggered difference-in-differences (primary analysis)")
        sec.add(
            Paragraph(
                "Each coached provider is compared with providers not yet coached at the same time (Callaway & "
                "Sant'Anna 2021, doubly robust, multiplier-bootstrap bands). The event study shows the effect by "
                "months since coaching started; the estimates before the start are tested jointly for parallel "
                f"trends ({PRETREND_TEST})."
            )
        )
        sec.add(
            self.gate.table(
                pd.DataFrame([self._effect_row(k, self.primary_effect(k)) for k in self.outcomes]),
                caption=f"Every outcome, primary analysis ({self.primary_words()}). Rates per 1,000 occupied bed days; "
                "shares as % with differences in percentage points.",
            )
        )
        for key, ev in self.outcomes.items():
            o = self.cfg.outcomes[key]
            e = self.primary_effect(key)
            sec.add(Heading(o.label, 3))
            sec.add(Paragraph(e.sentence()))
            if ev.fit == "bounds":
                sec.add(
                    Paragraph(
                        "The event study, pre-trend test and cohort effects below, and the robustness checks further "
                        "down, use the naive balanced panel (rounded counts as exact, providers with a suppressed month "
                        "left out); the effect above is the bounds-aware fit.",
                        kind="note",
                    )
                )
            sec.add(Paragraph(pretrend_sentence(ev.pretrend)))
            sec.add(self.event_study_figure(key))
            g = ev.group.table.reset_index()
            z = 1.959963984540054
            rows = pd.DataFrame(
                {
                    "Cohort starting": [w.fmt_month(c) for c in g["cohort"]],
                    "Effect (95% CI)": [
                        bare_effect(replace(e, estimate=a, ci_low=a - z * s, ci_high=a + z * s))
                        for a, s in zip(g["att"], g["se"])
                    ],
                    "Unit": unit_words(ev.scale),
                }
            )
            sec.add(
                self.gate.table(
                    rows,
                    caption=f"{o.name}: effect by cohort (average over the cohort's coached months; pointwise 95% CI). "
                    "Later cohorts have had less time in coaching.",
                )
            )
        return sec

    def twfe_and_bacon(self) -> Section:
        """Secondary: two-way fixed effects and why it can differ (Goodman-Bacon)."""
        import matplotlib.pyplot as plt
        from matplotlib.ticker import PercentFormatter

        sec = Section("Two-way fixed effects and the Goodman-Bacon decomposition (secondary)")
        sec.add(
            Paragraph(
                "A two-way fixed-effects (TWFE) regression averages every before/after comparison in the data, "
                "including 'forbidden' ones that use already-coached providers as controls. When effects build up "
                "over time those comparisons are biased, so TWFE can differ from the staggered DiD. It rests on the "
                "same parallel-trends assumption, checked by the pre-trend test of the staggered DiD above."
            )
        )
        rows = []
        for key in self.outcomes:
            t, p = self.twfe_effect(key), self.primary_effect(key)
            rows.append(
                {
                    "Outcome": self._name(key),
                    "TWFE (95% CI)": bare_effect(t),
                    "Staggered DiD (95% CI)": bare_effect(p),
                    "Unit": unit_words(p.scale),
                }
            )
        sec.add(self.gate.table(pd.DataFrame(rows), caption="TWFE beside the primary analysis, same units."))
        for key in self.outcomes:
            if key not in self.headline_keys():
                sec.add(Paragraph(self.twfe_agreement(key, named=True)))
        for key in self.headline_keys():
            ev = self.outcomes[key]
            if ev.bacon is None:
                continue
            o = self.cfg.outcomes[key]
            sec.add(Heading(o.label, 3), Paragraph(self.twfe_agreement(key)))
            s = ev.bacon.summary_by_type().reset_index()
            s["type"] = s["type"].map(BACON_WORDS).fillna(s["type"])
            sec.add(
                self.gate.table(
                    pd.DataFrame(
                        {
                            "Comparison": s["type"],
                            f"Average estimate ({unit_words(ev.scale)})": [
                                bare_effect(replace(self.twfe_effect(key), estimate=v, ci_low=v, ci_high=v)).split(
                                    " ("
                                )[0]
                                for v in s["estimate"]
                            ],
                            "Weight": [w.fmt_pct(v) for v in s["weight"]],
                        }
                    ),
                    caption=f"{o.name}: the before/after comparisons inside TWFE, by type.",
                )
            )
            f, unit = self._axis_unit(ev.scale)
            d = ev.bacon.table.assign(
                estimate=ev.bacon.table["estimate"] * f, type=ev.bacon.table["type"].map(BACON_WORDS).fillna("other")
            )
            data = self.gate.frame(d, values=["estimate", "weight"])
            fig, ax = plt.subplots(figsize=(8, 4))
            for i, (typ, g) in enumerate(data.groupby("type")):
                ax.scatter(g["weight"], g["estimate"], label=typ, color=PALETTE[i % len(PALETTE)], s=18)
            ax.axhline(ev.twfe.estimate * f, color=NHS_GREY, ls="--", lw=1, label="TWFE estimate")
            ax.xaxis.set_major_formatter(PercentFormatter(1.0))
            ax.set_xlabel("Weight in the TWFE estimate (%)")
            ax.set_ylabel(f"Comparison estimate ({unit})")
            ax.set_title(f"{o.name}: the comparisons inside TWFE")
            ax.legend(frameon=False, fontsize=8)
            alt = (
                f"Scatter of the {len(data)} comparisons inside the TWFE estimate of {o.name} ({unit}) against their weight: "
                + "; ".join(
                    f"{r['type']}: weight {r['weight']:.0%}, average {w.fmt_effect(r['estimate'], ev.scale)}"
                    for _, r in s.iterrows()
                )
            )
            sec.add(self.gate.figure(fig, data=data, alt=alt + "."))
        return sec

    def forest_figure(self, key: str):
        """(fig, ax) of the pooled ITS forest plot of one outcome, on the percentage-change scale."""
        from matplotlib.ticker import MaxNLocator, ScalarFormatter

        ev = self.outcomes[key]
        o = self.cfg.outcomes[key]
        m = ev.pooled
        fig, ax = m.forest_plot(
            transform=lambda v: 100 * np.expm1(v),
            xlabel=f"Relative change against expected in month {POOL_MONTH} of coaching (%; 0 = no change)",
            title=f"{o.name}: month {POOL_MONTH} of coaching against expected, by provider",
        )
        ax.set_xscale("linear")
        ax.xaxis.set_major_locator(MaxNLocator(nbins=8, min_n_ticks=4))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        num = re.compile(r"(-?[\d.]+) \[(-?[\d.]+), (-?[\d.]+)\](.*)")
        for t in ax.texts:  # "estimate [low, high] weight" in whole per cent, as the tables
            if mt := num.fullmatch(t.get_text()):
                a, lo, hi = (float(x) for x in mt.groups()[:3])
                t.set_text(f"{a:+.0f}% ({lo:+.0f}% to {hi:+.0f}%){mt.group(4)}")
        leg = ax.get_legend()
        if leg is not None:
            for t in leg.get_texts():
                t.set_text(t.get_text().replace("Study", "Provider"))
        fig.set_size_inches(8, max(4, 0.2 * m.k + 2))
        return fig, ax

    def pooled_its(self) -> Section:
        """Secondary: per-provider ITS effects in month 12 pooled by random effects, with forest plots."""
        sec = Section("Provider effects pooled (secondary)")
        sec.add(
            Paragraph(
                f"Each provider's interrupted time series gives the change in {coaching_month_label(POOL_MONTH)} "
                "against what its own pre-coaching trend and seasonality predicted. These are pooled by random-effects "
                "meta-analysis. Providers whose data do not reach month "
                f"{POOL_MONTH} are left out. The diamond is the pooled effect; the dashed line the 95% prediction "
                "interval, where a new provider's effect would be expected."
            )
        )
        rows = []
        for key in self.outcomes:
            e = self.pooled_effect(key)
            m = self.outcomes[key].pooled
            rows.append(
                {
                    "Outcome": self._name(key),
                    f"Relative change in month {POOL_MONTH}, % (95% CI)": bare_effect(e),
                    "Prediction interval": ""
                    if m is None
                    else w.fmt_interval(np.expm1(m.pi_low), np.expm1(m.pi_high), "percentage change"),
                    "I²": "" if m is None else f"{m.i2:.0f}%",
                    "Providers": "" if m is None else str(m.k),
                    "Verdict": e.verdict,
                }
            )
        common = [
            f"{c} ({n} providers) is left out: its data reach only {m} coaching months."
            for c, n, m in next(iter(self.outcomes.values())).pool_excluded
        ]
        sec.add(
            self.gate.table(
                pd.DataFrame(rows),
                caption="Pooled ITS, relative change against each provider's expected level. " + " ".join(common),
            )
        )
        unmodelled = [
            f"{self._name(k)}: " + "; ".join(f"{p} ({r})" for p, r in ev.not_modelled)
            for k, ev in self.outcomes.items()
            if ev.not_modelled
        ]
        if unmodelled:
            sec.add(Paragraph("Providers that could not be modelled, left out of the pooling:"), Bullets(unmodelled))
        for key in self.outcomes:
            if key not in self.headline_keys():
                sec.add(Paragraph(self.pooled_agreement(key, named=True)))
        for key in self.headline_keys():
            ev = self.outcomes[key]
            if ev.pooled is None:
                continue
            o = self.cfg.outcomes[key]
            e = self.pooled_effect(key)
            sec.add(Heading(o.label, 3), Paragraph(e.sentence()))
            fig, _ = self.forest_figure(key)
            d = ev.pooled.get_plot_data(transform=lambda v: 100 * np.expm1(v))
            data = self.gate.frame(d, values=["estimate", "low", "high", "weight"])
            studies = data[data["kind"] == "study"]
            alt = (
                f"Forest plot of {o.name}: {len(studies)} providers' change in month {POOL_MONTH} of coaching against "
                f"expected, from {studies['estimate'].min():.0f}% to {studies['estimate'].max():.0f}%; pooled "
                f"{w.fmt_effect(e.estimate, e.scale)} (95% CI {w.fmt_interval(e.ci_low, e.ci_high, e.scale)})."
            )
            sec.add(self.gate.figure(fig, data=data, alt=alt))
        return sec

    def cohorts(self) -> Section:
        """Do cohorts differ? DiD cohort effects and pooled ITS by cohort."""
        sec = Section("Cohort comparisons")
        rows = []
        for key, ev in self.outcomes.items():
            for c, m in ev.pooled_by_cohort.items():
                e = m.effect_summary(outcome=self._name(key), transform="percentage change")
                rows.append(
                    {
                        "Outcome": self._name(key),
                        "Cohort": c,
                        "Providers": str(m.k),
                        f"Pooled ITS relative change in month {POOL_MONTH}, % (95% CI)": bare_effect(e),
                        "I²": f"{m.i2:.0f}%",
                    }
                )
        sec.add(
            Paragraph(
                "The staggered DiD effect of each cohort is shown with each outcome above. Pooled ITS by cohort, for "
                f"the cohorts whose data reach month {POOL_MONTH}:"
            )
        )
        if rows:
            sec.add(self.gate.table(pd.DataFrame(rows), caption="Later cohorts have had less time in coaching."))
        else:
            sec.add(Paragraph(f"No cohort has two or more providers with {POOL_MONTH} coaching months of data."))
        return sec

    def staff_experience(self) -> Section:
        """Secondary: staff survey, staggered DiD by survey year."""
        sec = Section("Staff experience (secondary)")
        sec.add(
            Paragraph(
                "NHS Staff Survey indicators by provider and year; a survey year counts as after the start when "
                "coaching began by September. Same method as the primary analysis, on the provider-year panel; "
                "scores in points (0-10), shares of respondents as % with differences in percentage points."
            )
        )
        rows, notes = [], []
        for key, ev in self.staff.items():
            e = self.staff_effect(key)
            rows.append(
                {
                    "Indicator": self.cfg.staff_indicators[key].label,
                    "Effect (95% CI)": bare_effect(e),
                    "Unit": unit_words(e.scale),
                    "Pre-coaching level": self._level(ev.baseline, ev.scale, unit=False),
                    "Verdict": e.verdict,
                    "Pre-trend test": w.fmt_p(ev.pretrend.get("p_value")) if not ev.error else "",
                    "Providers in the panel": e.n_label.split()[0] if e.n_label else "",
                }
            )
            if not ev.error:
                notes.append(
                    pretrend_sentence(ev.pretrend, unit="survey year", label=self.cfg.staff_indicators[key].label)
                )
            if ev.dropped_missing:
                notes.append(
                    f"{self.cfg.staff_indicators[key].label}: {len(ev.dropped_missing)} provider(s) left out for a "
                    f"missing survey year: {_ids(ev.dropped_missing)}."
                )
        if rows:
            sec.add(self.gate.table(pd.DataFrame(rows), caption="Staff survey, staggered DiD (secondary)."))
            sec.add(
                Paragraph(
                    f"Pre-trend test of each indicator: {PRETREND_TEST}. Not rejecting it does not prove parallel "
                    "trends: with few survey years the test can miss a difference in trends small enough to matter."
                ),
                Bullets(notes),
            )
        return sec

    def truth(self) -> Section:
        """Synthetic data only: estimates against the known truth."""
        sec = Section("Do the methods recover the known truth?")
        if self.prog.truth is None or not self.cfg.report.show_truth:
            return Section("")

        sec.add(
            Paragraph(
                "These data are synthetic, generated with known effects. Each estimate is set against the true value "
                "of the same quantity over the same providers and months."
            )
        )
        rows = []

        def row(name, estimand, e: EffectSummary, true):
            ok = e.ci_low <= true <= e.ci_high
            return {
                "Outcome": name,
                "Estimand": estimand,
                "Estimate (95% CI)": bare_effect(e),
                "Truth": bare_effect(replace(e, estimate=true, ci_low=true, ci_high=true)).split(" (")[0],
                "Unit": unit_words(e.scale),
                "Covered": "yes" if ok else "no",
            }

        for key, ev in self.outcomes.items():
            o = self.cfg.outcomes[key]
            sub = self._truth_rows(ev, o.numerator, "month")
            rows.append(row(o.name, "primary analysis", self.primary_effect(key), self._true_primary(ev, sub)))
            if ev.pooled is not None:
                rows.append(
                    row(
                        o.name,
                        f"pooled ITS, month {POOL_MONTH}",
                        self.pooled_effect(key),
                        float(np.expm1(self._true_log_effect(ev, o.numerator))),
                    )
                )
        for key, ev in self.staff.items():
            if ev.error:
                continue
            ind = self.cfg.staff_indicators[key]
            sub = self._truth_rows(ev, ind.column, "survey_year")
            rows.append(row(ind.label, "primary analysis", self.staff_effect(key), self._true_primary(ev, sub)))
        t = pd.DataFrame(rows)
        sec.add(self.gate.table(t, caption="Truth: the true effect of the same estimand."))
        covered = (t["Covered"] == "yes").mean()
        sec.add(Paragraph(f"{covered:.0%} of the {len(t)} intervals cover the true value.", kind="finding"))
        return sec

    def _truth_rows(self, ev: OutcomeEvaluation, outcome: str, time_col: str) -> pd.DataFrame:
        truth = self.prog.truth
        if time_col == "month":
            periods = set(ev.panel["month"].dt.strftime("%Y-%m"))
        else:
            periods = {str(y) for y in ev.panel["survey_year"]}
        return truth[
            (truth["outcome"] == outcome)
            & truth["provider_id"].isin(set(ev.panel["provider_id"]))
            & truth["period"].isin(periods)
        ]

    def _true_primary(self, ev: OutcomeEvaluation, sub: pd.DataFrame) -> float:
        """The true value of the primary estimand (dynamic: the mean over event times of the true effects)."""
        from cocEval.synthetic import true_effects

        pa = self.cfg.primary_analysis
        if pa.aggregation != "dynamic":
            return float(true_effects(sub, by=None)["difference"].iloc[0])
        first = ev.panel.drop_duplicates("provider_id").set_index("provider_id")
        if "month" in ev.panel:
            start = first["start_month"]
            t = pd.to_datetime(sub["period"])
            s = pd.to_datetime(sub["provider_id"].map(start))
            e = (t.dt.year - s.dt.year) * 12 + (t.dt.month - s.dt.month)
        else:
            e = sub["period"].astype(int) - sub["provider_id"].map(first["first_year"])
        sub = sub.assign(e=e)
        keep = [x for x in ev.dynamic.table.index if x >= 0]
        if pa.event_time is not None:
            keep = [pa.event_time]
        # speedB: one pass of true_effects by event time (was one call per event time; same numbers)
        te = true_effects(sub[sub["e"].isin(keep)], by="e")
        vals = [float(v) for v in te.loc[te["group"].ne("All"), "difference"]]
        return float(np.mean(vals)) if vals else float("nan")

    def _true_log_effect(self, ev: OutcomeEvaluation, outcome: str) -> float:
        """Mean over pooled providers of the true log effect in month 12 of coaching."""
        truth = self.prog.truth
        starts = self.prog.participation.set_index("provider_id")["start_month"]
        # speedB: one lookup table of this outcome's truth (first row per provider and month, as
        # the row-by-row filter it replaces read), not a filter of the whole table per provider
        first = truth[truth["outcome"] == outcome].drop_duplicates(["provider_id", "period"])
        effect = dict(zip(zip(first["provider_id"], first["period"], strict=True), first["effect"], strict=True))
        vals = []
        for pid in ev.provider_effects["provider_id"]:
            month = w.fmt_period(starts[pid] + pd.DateOffset(months=POOL_MONTH - 1))
            if (pid, month) in effect:
                vals.append(np.log(effect[(pid, month)]))
        return float(np.mean(vals)) if vals else float("nan")

    def robustness(self) -> Section:
        """ "How robust is this?": sensitivity of the primary analysis (HonestDiD), placebos,
        leave-one-out, comparison choices, multiplicity and the minimum detectable effect.

        Permutations and simulations are kept small (99 and 100; about 5 s of CPU for six outcomes);
        :func:`cocEval.report.robustness.assess_programme` takes larger numbers for a dedicated
        run.
        """
        from cocEval.report.robustness import assess_programme, robustness_section

        if self._robustness is None:
            self._robustness = assess_programme(
                self.prog,
                self.cfg,
                panels={k: ev.panel for k, ev in self.outcomes.items()},
                outcomes=list(self.outcomes),
                n_perm=99,
                n_sims=100,
                window=(-6, 2),
            )
        return robustness_section(self._robustness, gate=self.gate)

    def methods(self) -> Section:
        """Methods, assumptions and the terms used."""
        o = self.cfg.did
        sec = Section("Methods and assumptions")
        prov = ", ".join(w.fmt_month(m) for m in self.provisional) or "none"
        sec.add(
            Bullets(
                [
                    f"Primary analysis (pre-specified): {self.primary_words()}. {o.method.upper()} estimator, varying "
                    f"base period, "
                    + (
                        f"multiplier bootstrap ({o.n_boot} draws, seed {o.seed}) with simultaneous bands"
                        if o.bootstrap
                        else "analytic standard errors"
                    )
                    + ", clustered by provider. Event times from "
                    f"{o.min_e} to {o.max_e} months; event time 0 is the start month (month 1 of coaching).",
                    f"Pre-trend test: {PRETREND_TEST} (the event times {o.min_e} to -1), with the clustered "
                    "covariance of their influence functions; it has limited power.",
                    "Provider-month panel: rates per 1,000 occupied bed days "
                    + ("summed over wards" if is_ward_level(self.prog) else "from published provider-month figures")
                    + "; shares of positive "
                    "responses as %, with differences in percentage points. Provisional months left out: "
                    f"{prov}. Providers with missing months, or (restrictive practice) a stretch of three or more "
                    "months with nothing reported, are left out of that outcome's panel.",
                    "TWFE: provider and month fixed effects, provider-clustered standard errors (fixest's small-sample "
                    "convention), with the Goodman-Bacon (2021) decomposition.",
                    f"Pooled ITS: each provider's segmented regression with seasonality ({family_words(self.cfg, self.outcomes)}); "
                    f"the log ratio in month {POOL_MONTH} of coaching pooled by REML random effects with the "
                    "Hartung-Knapp adjustment (as metafor), with a 95% prediction interval; shown as a percentage "
                    "change.",
                ]
            )
        )
        terms = [
            "95% CI",
            "Difference-in-differences",
            "Parallel trends",
            "Pre-trend test",
            "Event study",
            "TWFE",
            "Goodman-Bacon decomposition",
            "Interrupted time series",
            "Dispersion (phi)",
            "Prediction interval",
            "I²",
            "tau²",
            "Percentage points",
        ]
        items = self.fit_methods()
        if items:
            sec.add(Heading("Which fit was used", 3), Bullets(items))
        if self.absent_sentence():
            sec.add(Paragraph(self.absent_sentence()))
        sec.add(Heading("Terms used", 3), Bullets([f"{t}: {w.GLOSSARY[t]}" for t in terms if t in w.GLOSSARY]))
        notes = sorted(
            {
                _clean(n)
                for ev in [*self.outcomes.values(), *self.staff.values()]
                for n in ev.notes
                if not n.startswith("provider_month_panel(")  # stated as exclusions where the estimate is quoted
            }
        )
        if notes:
            sec.add(
                Paragraph(
                    f"Model notes ({len(notes)}): " + " | ".join(notes[:20]) + (" ..." if len(notes) > 20 else ""),
                    kind="note",
                )
            )
        return sec

    def fit_methods(self) -> list[str]:
        """The methods text on disclosure-controlled counts: which fit each outcome's primary effect used and why."""
        items = [self.fit_note(k).removeprefix("Fit used for ") for k in self.outcomes if self.fit_note(k)]
        if any(ev.fit == "bounds" for ev in self.outcomes.values()):
            items.insert(
                0,
                "Bounds-aware fit (published, disclosure-controlled counts): a suppressed count is 0 to 4 and a "
                "count rounded to the nearest 5 lies within 2 of it. A Poisson model with provider and month "
                "effects and a post-start term is fitted to these intervals; each count that is not exact is "
                f"drawn {BOUNDS_IMPUTATIONS} times within its bounds, the staggered DiD (analytic standard errors) "
                "is run on each completed panel and the results are combined with Rubin's rules. The naive fit "
                "takes rounded counts as exact and leaves every provider with a suppressed month out. Occupied "
                "bed days are taken as published; providers with a month not reported or with bed days "
                "suppressed are left out of both.",
            )
        return items

    def provenance(self) -> Section:
        """Which code, dependencies, data, configuration and random seeds produced this report."""
        info = provenance(
            data_hash=self.prog.data_hash,
            config_hash=self.config_hash,
            seeds={"DiD multiplier bootstrap": self.cfg.did.seed}
            | (
                {"bounds-aware fit (imputations)": self.cfg.did.seed}
                if any(ev.fit == "bounds" for ev in self.outcomes.values())
                else {}
            ),
        )
        info["Estimation time"] = f"{self.seconds:.0f} s"
        t = pd.DataFrame({"Item": list(info), "Value": list(info.values())})
        return Section("Provenance").add(self.gate.table(t))

    def sections(self) -> list[Section]:
        """The report's sections in order: verdict, evidence, methods, provenance."""
        return [
            self.title(),
            self.verdict(),
            self.participation(),
            self.staggered_did(),
            self.twfe_and_bacon(),
            self.pooled_its(),
            self.cohorts(),
            self.staff_experience(),
            self.truth(),
            self.robustness(),
            self.methods(),
            self.provenance(),
        ]

    def write_summary(self, path) -> None:
        """Write headline effects of the primary analysis as JSON for the batch index (no-op when path is None)."""
        if path:
            import json
            from pathlib import Path

            heads = {self._name(k): ci_text(self.primary_effect(k)) for k in self.headline_keys()}
            Path(path).write_text(json.dumps(heads))


_PATH = re.compile(r"(?:[A-Za-z]:)?(?:/[\w.+-]+){2,}/?")


def _clean(note: str) -> str:
    """A model note without machine paths."""
    return _PATH.sub("<path>", note)
