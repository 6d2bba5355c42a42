"""The per-provider report: every section as data, computed and worded in one place.

:class:`ProviderReport` holds the models for one provider (interrupted time series and SPC for
each monthly outcome, a staff survey comparison with providers not yet started, funnel
positions) and offers one method per report section. Each returns a
:class:`cocEval.report.blocks.Section` (headings, paragraphs, tables and figures that passed the
disclosure gate) and makes no display call: a notebook shows a section by leaving it as a cell's
value, ``print(section)`` gives plain text, and tests read the blocks.

Every number in the words comes from an :class:`cocEval.effects.EffectSummary` (ITS, SPC,
funnel, staff survey) or :mod:`cocEval.wording`; every table from :meth:`Gate.table`; every
figure from :meth:`Gate.figure`, drawn from :meth:`Gate.frame` data. Months of coaching are
counted from 1 (the start month is month 1).

A report names no other provider: peers appear only as anonymous points.

Examples
--------
>>> rep = ProviderReport.build("SYN001")
>>> print(rep.title().blocks[0].text)
Culture of Care evaluation: Synthetic Provider 01 (Wendley)
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from cocEval import wording as w
from cocEval.config import Outcome, ProgrammeConfig, load_inputs
from cocEval.data import ProgrammeData, provider_year_panel
from cocEval.disclosure import get_rule
from cocEval.effects import EffectSummary
from cocEval.errors import InputError
from cocEval.funnel import funnel_proportions, funnel_rates
from cocEval.quality import (
    is_ward_level,
    provider_month_completeness,
    provisional_months,
    ward_completeness,
    zero_stretches,
)
from cocEval.report.blocks import Bullets, Callout, Heading, Paragraph, Section
from cocEval.report.gate import Gate, alt_text
from cocEval.report.models import (
    BOUNDS_IMPUTATIONS,
    EFFECT_MONTH,
    StaffComparison,
    family_words,
    fit_outcome,
    pooling_effect,
    staff_absent_reason,
    staff_comparisons,
    sustain_start,
)
from cocEval.report.provenance import provenance
from cocEval.spc import xmr
from cocEval.style import NHS_GREY, use_nhs_style

__all__ = ["HEADLINE_MONTH", "ProviderReport"]

#: The at-a-glance effect is read in this month of coaching (or the latest modelled month).
HEADLINE_MONTH = EFFECT_MONTH

THIS = "This provider"
#: A monthly chart with more than this share of suppressed months is not drawn.
MOSTLY_SUPPRESSED = 0.5
#: Staff indicators quoted in the findings paragraph.
HEADLINE_STAFF = ("engagement", "violence")
#: Glossary terms a provider report uses (definitions in :data:`cocEval.wording.GLOSSARY`).
GLOSSARY_TERMS = (
    "95% CI",
    "Interrupted time series",
    "Percentage change",
    "Percentage points",
    "SPC",
    "Common cause",
    "Special cause",
    "Process limits",
    "Funnel plot",
    "Prediction interval",
    "Occupied bed days",
    "Provisional month",
    "Suppressed (*)",
)

_VERDICT_WORDS = {
    "improvement": "Improvement: the interval excludes no change",
    "deterioration": "Deterioration: the interval excludes no change",
    "unclear": "Cannot tell: the interval includes no change",
    "change": "A change: the interval excludes no change",
}

_SPC_WORDS = {
    "common_cause": "no unusual variation (common cause)",
    "special_cause_improvement": "unusual variation in the better direction (special cause improvement)",
    "special_cause_concern": "unusual variation in the worse direction (special cause concern)",
    "special_cause_neutral_high": "unusually high (special cause)",
    "special_cause_neutral_low": "unusually low (special cause)",
}


def verdict_words(e: EffectSummary) -> str:
    """What an effect's interval says, in words (the reason when it is not estimable).

    Examples
    --------
    >>> e = EffectSummary("Seclusion", "observed against expected", "percentage change", -0.1, -0.3, 0.1,
    ...                   "month 12 of coaching", "ITS", improvement="decrease")
    >>> verdict_words(e)
    'Cannot tell: the interval includes no change'
    """
    if not e.estimable:
        return f"Not estimated: {e.reason}"
    return _VERDICT_WORDS[e.verdict]


#: Reports built ahead by :meth:`ProviderReport.prebuild`, keyed by provider, data and config.
_PREBUILT: dict[tuple, ProviderReport] = {}

#: The section methods, in report order (what :meth:`ProviderReport.sections` returns).
SECTIONS = (
    "title",
    "at_a_glance",
    "data_quality",
    "restrictive_practice",
    "patient_experience",
    "staff_experience",
    "peers",
    "methods",
    "provenance",
)

#: Margins of the small-multiples grid, in inches, as ``tight_layout`` measured them on the
#: synthetic reports (top: the figure title and a panel title; bottom: the date labels;
#: between panels: the next panel's unit label and scale, or the date labels and panel title)
#: with room to spare. Fixed, so the figure is laid out without the extra draw ``tight_layout``
#: makes; what sticks out past the figure's edge is kept by ``figure_png``'s larger canvas.
_GRID_INCHES = {"left": 0.64, "right": 0.55, "top": 0.66, "bottom": 0.39, "wgap": 1.2, "hgap": 0.6}


def _prebuilt_key(provider_id: str, data_dir, config) -> tuple:
    return (provider_id, None if data_dir is None else str(data_dir), None if config is None else str(config))


def _grid_margins(fig, nrow: int, ncol: int, legend: float) -> None:
    """Place a ``nrow`` x ``ncol`` grid of axes with :data:`_GRID_INCHES` margins, leaving the
    bottom fraction ``legend`` of the figure to the legend.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> fig, axes = plt.subplots(2, 2, figsize=(10, 6.4))
    >>> _grid_margins(fig, 2, 2, legend=0.06)
    >>> round(float(fig.subplotpars.top * 6.4), 2), round(float(fig.subplotpars.left * 10), 2)
    (5.74, 0.64)
    >>> plt.close(fig)
    """
    m = _GRID_INCHES
    width, height = fig.get_size_inches()
    left, right = m["left"] / width, 1 - m["right"] / width
    bottom, top = legend + m["bottom"] / height, 1 - m["top"] / height
    axis_w = (width * (right - left) - (ncol - 1) * m["wgap"]) / ncol
    axis_h = (height * (top - bottom) - (nrow - 1) * m["hgap"]) / nrow
    fig.subplots_adjust(
        left=left, right=right, bottom=bottom, top=top, wspace=m["wgap"] / axis_w, hspace=m["hgap"] / axis_h
    )


@dataclass(repr=False)
class ProviderReport:
    """Everything one provider's report shows. Build it with :meth:`build`."""

    provider_id: str
    prog: ProgrammeData
    cfg: ProgrammeConfig
    info: pd.Series
    series: dict[str, pd.DataFrame] = field(default_factory=dict)
    its: dict[str, object] = field(default_factory=dict)
    its_errors: dict[str, str] = field(default_factory=dict)
    spc: dict[str, object] = field(default_factory=dict)
    staff: list[StaffComparison] = field(default_factory=list)
    staff_errors: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    excluded: dict[str, list[pd.Timestamp]] = field(default_factory=dict)
    #: outcomes and staff indicators not in the data, with the reason in words ("not in the data: ...")
    absent: dict[str, str] = field(default_factory=dict)
    staff_absent: dict[str, str] = field(default_factory=dict)
    #: per outcome, the ITS fit used ("standard" or "bounds") and why, and the naive fit beside a bounds-aware one
    fits: dict[str, tuple[str, str]] = field(default_factory=dict)
    naive: dict[str, object] = field(default_factory=dict)
    seconds: float = 0.0
    gate: Gate = field(default_factory=Gate)
    _effects: dict = field(default_factory=dict)
    _exclusions: dict = field(default_factory=dict)
    _caveats: dict = field(default_factory=dict)

    # ------------------------------------------------------------------------------------
    @classmethod
    def build(cls, provider_id: str, data_dir=None, config=None) -> ProviderReport:
        """Load data and config, then fit every model for one provider.

        Models the data cannot support (e.g. too few events) do not stop the report: the
        reason is kept in ``its_errors`` / ``staff_errors`` and said in plain words.

        Raises
        ------
        InputError
            The provider is not in the participation table, or never started coaching.

        Examples
        --------
        >>> rep = ProviderReport.build("SYN001")
        >>> rep.effect("restrictive_interventions").period
        'month 12 of coaching (March 2025)'
        """
        prebuilt = _PREBUILT.pop(_prebuilt_key(provider_id, data_dir, config), None)
        if prebuilt is not None:
            return prebuilt
        t0 = time.perf_counter()
        cfg, prog, _ = load_inputs(data_dir, config)
        part = prog.participation.set_index("provider_id")
        if provider_id not in part.index:
            raise InputError(f"provider {provider_id!r} is not in participation")
        info = part.loc[provider_id]
        if pd.isna(info["start_month"]):
            raise InputError(f"provider {provider_id!r} never started coaching: no provider report")
        rep = cls(provider_id, prog, cfg, info, gate=Gate(cfg.disclosure.preset, dpi=cfg.report.dpi))
        use_nhs_style(dpi=cfg.report.dpi)
        rep._fit_outcomes()
        rep._fit_staff()
        rep.seconds = time.perf_counter() - t0
        return rep

    @classmethod
    def prebuild(cls, provider_id: str, data_dir=None, config=None) -> None:
        """Build a provider's report and every section of it ahead, for the next :meth:`build`
        of the same provider, data and config in this process (or in a process forked from it).

        The batch's warm-kernel parent does this for the first provider report it forks a kernel
        for: the report that pays the first-use costs once for every kernel (modules imported on
        first use, fonts, compiled formulas) is then that kernel's own report, not work thrown
        away. Only the sections are built: nothing is rendered, so the page's element ids still
        count from 1 when the kernel shows them. Each prebuilt report is handed out once.

        Examples
        --------
        >>> ProviderReport.prebuild("SYN001")
        >>> rep = ProviderReport.build("SYN001")
        >>> rep.title() is rep.title()  # built ahead: the same section every time
        True
        >>> ProviderReport.build("SYN001").title() is rep.title()  # handed out once
        False
        """
        rep = cls.build(provider_id, data_dir, config)
        for name, section in zip(SECTIONS, rep.sections(), strict=True):
            setattr(rep, name, lambda section=section: section)  # shadows the method on this object only
        _PREBUILT[_prebuilt_key(provider_id, data_dir, config)] = rep

    def __repr__(self) -> str:
        head = [k for k, o in self.outcomes.items() if o.headline]
        lines = [
            f"ProviderReport({self.provider_id} {self.name!r}, {self.info['cohort']}, coaching from "
            f"{w.fmt_month(self.start)})",
            f"  {len(self.its)} of {len(self.cfg.outcomes)} outcomes modelled; {len(self.staff)} staff comparisons",
        ]
        lines += [f"  {self.cfg.outcomes[k].name}: {self.effect(k).estimate_text(short=True)}" for k in head]
        return "\n".join(lines)

    @property
    def outcomes(self) -> dict[str, Outcome]:
        """The configured outcomes that are in the data (absent ones are listed in ``absent``)."""
        return {k: o for k, o in self.cfg.outcomes.items() if k not in self.absent}

    def absent_sentence(self) -> str:
        """What the data do not hold, in plain words ('' when everything configured is there)."""
        items = [
            f"{self.cfg.outcomes[k].name} ({why.removeprefix('not in the data: ')})" for k, why in self.absent.items()
        ]
        items += [
            f"{self.cfg.staff_indicators[k].label} ({why.removeprefix('not in the data: ')})"
            for k, why in self.staff_absent.items()
        ]
        if not items:
            return ""
        return "Not in the data, so not analysed: " + "; ".join(items) + "."

    @property
    def start(self) -> pd.Timestamp:
        return self.info["start_month"]

    @property
    def end(self) -> pd.Timestamp | None:
        e = self.info["coaching_end_month"]
        return None if pd.isna(e) else e

    @property
    def name(self) -> str:
        return str(self.info["provider_name"])

    @property
    def sustain_start(self) -> pd.Timestamp | None:
        return sustain_start(self.prog, self.cfg, self.provider_id)

    @property
    def provisional(self) -> list[pd.Timestamp]:
        """Months left out of every model as provisional (the latest, incomplete months)."""
        return provisional_months(self.prog, self.cfg.report.exclude_provisional_months)

    def sustain_sentence(self) -> str:
        """Whether the data can say if the change lasted after coaching ended."""
        if self.end is None:
            return "No end of coaching is recorded, so whether the change lasted cannot be judged."
        if self.sustain_start is None:
            return (
                f"Coaching ends in {w.fmt_month(self.end)}; the data do not yet reach three months beyond it, so "
                "whether the change lasted after coaching cannot be judged yet."
            )
        return (
            f"Coaching ended in {w.fmt_month(self.end)}; the models add a further change in level and trend from "
            f"{w.fmt_month(self.sustain_start)} to show whether the change lasted."
        )

    # ------------------------------------------------------------------------------------
    # Fitting
    # ------------------------------------------------------------------------------------
    def _fit_outcomes(self) -> None:
        for key, o in self.cfg.outcomes.items():
            m = fit_outcome(self.prog, self.cfg, self.provider_id, key)
            if m.absent:
                self.absent[key] = m.error or "not in the data"
                continue
            self.series[key], self.excluded[key] = m.series, m.excluded
            self.notes += m.notes
            self.fits[key] = (m.fit, m.fit_reason)
            if m.naive is not None:
                self.naive[key] = m.naive
            if m.its is not None:
                self.its[key] = m.its
            else:
                self.its_errors[key] = m.error or "not fitted"
            # SPC: the 12-month baseline before coaching sets the limits; coaching months follow.
            s = m.series
            base_start = self.start - pd.DateOffset(months=self.cfg.report.baseline_months)
            sp = s[(s["month"] >= base_start) & ~s["excluded"] & s["value"].notna()]
            n_base = int((sp["month"] < self.start).sum())
            if n_base < 12 or len(sp) <= n_base:
                self.notes.append(
                    f"{o.name}: no SPC chart ({n_base} baseline month(s) before coaching; 12 are needed, and at "
                    "least one month after)."
                )
                continue
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                self.spc[key] = xmr(
                    sp["value"].to_numpy() * o.display_per / o.per,
                    index=pd.DatetimeIndex(sp["month"]),
                    improvement=o.improvement,
                    fix_after_n_points=n_base,
                )
            self.notes += [f"{o.name} SPC: {x.message}" for x in caught]

    def _fit_staff(self) -> None:
        for key, ind in self.cfg.staff_indicators.items():
            absent = staff_absent_reason(self.prog, ind)
            if absent is not None:
                self.staff_absent[key] = absent
                continue
            # every provider's at once, kept with the data: computed once in a batch's warm parent
            everyone = self.prog.derived(
                ("staff_comparisons", ind.column),
                lambda col=ind.column: staff_comparisons(
                    provider_year_panel(self.prog, col).dropna(subset=["value"]), self.prog.participation["provider_id"]
                ),
            )
            r = everyone[self.provider_id]
            if isinstance(r, str):
                self.staff_errors[key] = r
                continue
            few = self._too_few_respondents(r["before_year"], r["after_year"], column=ind.column)
            if few:
                self.staff_errors[key] = few
                continue
            self.staff.append(
                StaffComparison(
                    indicator=key,
                    label=ind.label,
                    **r,
                    scale="score points" if ind.is_score else "percentage points",
                    improvement=ind.improvement,
                )
            )

    def _too_few_respondents(self, *years: int, column: str | None = None) -> str | None:
        """Why this provider's survey results in ``years`` may not be shown (None when they may).

        NHS Staff Survey results are not published for groups with fewer respondents than the
        ``staff-survey`` disclosure rule's minimum (11), and neither is anything computed from
        them, so such an indicator is reported as suppressed (not under the ``none`` rule). With
        published results the group is the question's base (``<column>_base``) where the table
        has one, else ``respondents``.
        """
        if self.cfg.disclosure.preset == "none" or "respondents" not in self.prog.staff_survey.columns:
            return None
        minimum = get_rule("staff-survey").suppress_below
        s = self.prog.staff_survey
        mine = s[(s["provider_id"] == self.provider_id) & s["survey_year"].isin(years)]
        base = f"{column}_base" if column else ""
        size = mine[base].where(mine[base].notna(), mine["respondents"]) if base in s.columns else mine["respondents"]
        n = pd.to_numeric(size, errors="coerce")
        if len(mine) < len(years) or n.isna().any() or (n < minimum).any():
            return (
                f"suppressed: fewer than {minimum} respondents in {' or '.join(map(str, years))}; NHS Staff "
                "Survey results are not shown for so few"
            )
        return None

    # ------------------------------------------------------------------------------------
    # Units, exclusions and effects
    # ------------------------------------------------------------------------------------
    @staticmethod
    def unit(o: Outcome) -> str:
        """The one unit an outcome's levels are shown in: '%' or ' per 1,000 occupied bed days'."""
        return "%" if o.is_share else " " + w.rate_scale(o.per)

    def level_text(self, o: Outcome, v: float) -> str:
        """A level of an outcome (rate or share, already in display units) with its unit."""
        return f"{w.fmt_number(float(v), 1)}{self.unit(o)}"

    def axis_label(self, o: Outcome) -> str:
        """The y-axis label of an outcome's charts, with its unit."""
        return f"{o.label} (%)" if o.is_share else o.label

    def exclusions(self, key: str) -> pd.DataFrame:
        """Months left out of an outcome's model, each with its reason in words.

        Worked out once per outcome (a report asks about forty times); each call gets a copy.
        """
        if key not in self._exclusions:
            self._exclusions[key] = self._exclusions_of(key)
        return self._exclusions[key].copy()

    def _exclusions_of(self, key: str) -> pd.DataFrame:
        o = self.cfg.outcomes[key]
        prov = set(self.provisional)
        configured = {pd.Timestamp(m) for m in self.cfg.excluded_months(self.provider_id)}
        gaps = set()
        if o.table == "restrictive_practice":
            for z in zero_stretches(self.prog, self.provider_id).itertuples():
                gaps |= set(pd.date_range(pd.Timestamp(z.first_month), pd.Timestamp(z.last_month), freq="MS"))
        rows = []
        for m in self.excluded.get(key, []):
            if m in prov:
                why = "provisional: the latest month's data are incomplete"
            elif m in configured:
                why = "excluded in the programme configuration"
            elif m in gaps:
                why = "no restrictive practice recorded at all while beds were occupied: a recording gap"
            else:
                why = "left out"
            rows.append({"month": m, "reason": why})
        return pd.DataFrame(rows, columns=["month", "reason"])

    def exclusion_caveat(self, key: str, *, since: pd.Timestamp | None = None, what: str = "the model") -> str:
        """One sentence naming the months left out of an outcome's model (or chart), how many and why.

        ``since`` keeps only the months from then on (e.g. an SPC chart's first month). Worked
        out once per question (a report asks about thirty times).
        """
        ck = (key, since, what)
        if ck not in self._caveats:
            self._caveats[ck] = self._exclusion_caveat(key, since, what)
        return self._caveats[ck]

    def _exclusion_caveat(self, key: str, since: pd.Timestamp | None, what: str) -> str:
        ex = self.exclusions(key)
        if since is not None:
            ex = ex[ex["month"] >= since]
        if ex.empty:
            return ""
        parts = []
        for why, g in ex.groupby("reason", sort=False):
            months = g["month"].sort_values()
            first, last = w.fmt_month(months.iloc[0]), w.fmt_month(months.iloc[-1])
            runs = _month_runs(list(months))
            span = (
                first if len(months) == 1 else f"{first} to {last}" if len(runs) == 1 else f"between {first} and {last}"
            )
            parts.append(f"{len(months)} month{'s' if len(months) > 1 else ''} ({span}; {why})")
        return f"Left out of {what}: {' and '.join(parts)}."

    def _month_date(self, m: int) -> pd.Timestamp:
        return self.start + pd.DateOffset(months=m - 1)

    def effect(self, key: str, month: int = HEADLINE_MONTH) -> EffectSummary:
        """The ITS effect of one outcome in month ``month`` of coaching (counted from 1).

        When fewer months are modelled, the latest modelled month is used and the caveats say
        so; the months left out of the model are named with their reasons. An effect the model
        cannot estimate comes back as not estimable, with the reason.
        """
        ck = (key, month)
        if ck in self._effects:
            return self._effects[ck]
        o = self.cfg.outcomes[key]
        res = self.its.get(key)
        if key in self.absent:
            e = EffectSummary.not_estimable(o.name, self.absent[key])
        elif res is None:
            e = EffectSummary.not_estimable(o.name, _reason_words(self.its_errors.get(key, "not fitted")))
        else:
            e = res.effect_summary(month, outcome=o.name, improvement=o.improvement, per=o.per)
            if e.estimable and not np.all(np.isfinite([e.estimate, e.ci_low, e.ci_high])):
                e = EffectSummary.not_estimable(o.name, "too few events for a finite estimate")
            elif e.estimable:
                used = min(month, res.months_after_start)
                when = self._month_date(used)
                period = e.period
                if self.end is not None and when > self.end:
                    after = (when.year - self.end.year) * 12 + when.month - self.end.month
                    period = (
                        f"month {used} from the start of coaching ({w.fmt_month(when)}), "
                        f"{after} month{'s' if after > 1 else ''} after coaching ended"
                    )
                if e.scale == "difference":  # a linear model of the rate or share itself: state it in its unit
                    f = 100.0 if o.is_share else 1.0
                    e = replace(
                        e,
                        scale="percentage points" if o.is_share else w.rate_scale(o.per),
                        estimate=e.estimate / f,
                        ci_low=e.ci_low / f,
                        ci_high=e.ci_high / f,
                    )
                caveats = tuple(c for c in e.caveats if not c.startswith("Left out of the model"))
                if used < month:
                    caveats = tuple(c for c in caveats if not c.startswith("Only ")) + (
                        f"Only {used} months of coaching are modelled so far, so the effect is read in month {used}.",
                    )
                e = replace(e, period=period, caveats=caveats).with_caveats(self.exclusion_caveat(key))
                if self.fits.get(key, ("standard",))[0] == "bounds":
                    e = replace(
                        e, method=f"{e.method}; bounds-aware fit (multiple imputation within the published bounds)"
                    )
        self._effects[ck] = e
        return e

    def effect_months(self, key: str) -> list[int]:
        """Months of coaching the ITS table shows: 1, 12, the last month of coaching, the latest modelled."""
        res = self.its.get(key)
        if res is None:
            return []
        avail = res.months_after_start
        months = {1, min(HEADLINE_MONTH, avail), avail}
        if self.end is not None:
            last = (self.end.year - self.start.year) * 12 + self.end.month - self.start.month + 1
            if 1 <= last <= avail:
                months.add(last)
        return sorted(months)

    def staff_effects(self) -> dict[str, EffectSummary]:
        """The staff survey comparisons as EffectSummaries, by indicator key."""
        return {s.indicator: s.effect_summary() for s in self.staff}

    def effect_summaries(self) -> list[EffectSummary]:
        """Every ITS and staff survey effect the report quotes."""
        out = [self.effect(k, m) for k in self.outcomes for m in (self.effect_months(k) or [HEADLINE_MONTH])]
        return out + list(self.staff_effects().values())

    def headlines(self) -> dict[str, str]:
        """Short headline effects for the batch index (headline outcomes only)."""
        return {o.name: self.effect(k).estimate_text(short=True) for k, o in self.outcomes.items() if o.headline}

    def write_summary(self, path, effects_path=None) -> None:
        """Write the headline effects as JSON for the batch index (no-op when path is None), and
        when ``effects_path`` is given, what the programme report pools from this provider
        (:meth:`pooling_effects`), so the programme report need not fit the same models again."""
        if path:
            Path(path).write_text(json.dumps(self.headlines()))
        if effects_path:
            Path(effects_path).write_text(json.dumps({self.provider_id: self.pooling_effects()}))

    def pooling_effects(self) -> dict[str, dict]:
        """Per outcome, this provider's pooled quantity (see :func:`cocEval.report.models.pooling_effect`)."""
        return {
            key: pooling_effect(self.its.get(key), self.its_errors.get(key) or self.absent.get(key))
            for key in self.cfg.outcomes
        }

    def fit_note(self, key: str) -> str:
        """Which ITS fit an outcome used and why, in words ('' for exact counts without bounds).

        Beside a bounds-aware fit it quotes the naive fit (rounded counts as exact, suppressed
        months left out) in the same month, so a reader sees what the bounds change.
        """
        fit, why = self.fits.get(key, ("standard", ""))
        if not why or key not in self.its:  # nothing fitted: no fit to name
            return ""
        o = self.cfg.outcomes[key]
        if fit != "bounds":
            return f"Fit used for {o.name}: the standard fit; {why}."
        text = f"Fit used for {o.name}: the bounds-aware fit, because {why}."
        naive = self.naive.get(key)
        if naive is not None and key in self.its:
            used = min(HEADLINE_MONTH, self.its[key].months_after_start)
            n = naive.effect_summary(used, outcome=o.name, improvement=o.improvement, per=o.per)
            if n.estimable and np.all(np.isfinite([n.estimate, n.ci_low, n.ci_high])):
                text += f" The naive fit gives {n.estimate_text()} in the same month."
        elif naive is None and key in self.its:
            text += " The naive fit could not be fitted (too few unsuppressed months)."
        return text

    def findings(self) -> list[str]:
        """The findings sentences: headline outcomes' ITS effects, then headline staff indicators."""
        out = [self.effect(k).sentence() for k, o in self.outcomes.items() if o.headline]
        staff = self.staff_effects()
        return out + [staff[k].sentence() for k in HEADLINE_STAFF if k in staff]

    # ------------------------------------------------------------------------------------
    # Sections
    # ------------------------------------------------------------------------------------
    def sections(self) -> list[Section]:
        """Every section in report order."""
        return [getattr(self, name)() for name in SECTIONS]

    def title(self) -> Section:
        """Report title and one line of context."""
        i = self.info
        end = "" if self.end is None else f" to {w.fmt_month(self.end)}"
        wards = (
            f"{int(i['wards_enrolled'])} wards enrolled"
            if pd.notna(i["wards_enrolled"])
            else "wards enrolled not recorded"
        )
        return Section(
            "",
            [
                Heading(f"Culture of Care evaluation: {self.name}", 1),
                Paragraph(
                    f"{self.provider_id}, {i['cohort']}: quality-improvement coaching from {w.fmt_month(self.start)}"
                    f"{end}, {wards}. Data {w.fmt_month(self.prog.months[0])} to "
                    f"{w.fmt_month(self.prog.months[-1])}."
                ),
            ],
        ).add(self.gate.banner())

    def at_a_glance(self) -> Section:
        """What changed, by how much and how sure we are; each number is in the table below."""
        sec = Section("At a glance")
        heads = [k for k, o in self.outcomes.items() if o.headline]
        for key, text in zip(heads, self.findings()):
            sec.add(Paragraph(text, kind="finding"))
            if self.fit_note(key):
                sec.add(Paragraph(self.fit_note(key), kind="note"))
        for text in self.findings()[len(heads) :]:
            sec.add(Paragraph(text, kind="finding"))
        if any(k in self.staff_effects() for k in HEADLINE_STAFF):
            sec.add(Paragraph("The staff survey figures are in the staff experience table further down.", kind="note"))
        if self.absent_sentence():
            sec.add(Paragraph(self.absent_sentence(), kind="note"))
        rows = []
        first = self.prog.months[0] if len(self.prog.months) else self.start
        window = self.start - pd.DateOffset(months=self.cfg.report.baseline_months)
        n_before = (self.start.year - max(first, window).year) * 12 + self.start.month - max(first, window).month
        before_label = (
            f"{self.cfg.report.baseline_months} months before coaching"
            if n_before >= self.cfg.report.baseline_months
            else f"Before coaching ({n_before} months in the data)"
        )
        for key, o in self.outcomes.items():
            s = self.series[key]
            base = s[(s["month"] < self.start) & (s["month"] >= window) & ~s["excluded"]]
            post = s[(s["month"] >= self.start) & ~s["excluded"]]
            e = self.effect(key)
            chart = self.spc.get(key)
            b_n, b_d = self._period_total(base)
            p_n, p_d = self._period_total(post)
            rows.append(
                {
                    "Measure": o.name,
                    "Unit": self.unit(o).strip(),
                    "b_n": b_n,
                    "b_d": b_d,
                    "p_n": p_n,
                    "p_d": p_d,
                    before_label: _ratio(base) * o.display_per,
                    "Since coaching started": _ratio(post) * o.display_per,
                    "Change against expected without coaching (95% CI)": e.estimate_text(),
                    "When": e.period if e.estimable else "",
                    "What the interval says": verdict_words(e),
                    "SPC chart, latest month": _SPC_WORDS[chart.variation] if chart is not None else "no chart",
                }
            )
        rates = {before_label: ("b_n", "b_d"), "Since coaching started": ("p_n", "p_d")}
        prov = ", ".join(w.fmt_month(m) for m in self.provisional)
        sec.add(
            self.gate.table(
                pd.DataFrame(rows),
                counts=["b_n", "p_n"],
                rates=rates,
                drop=["b_n", "b_d", "p_n", "p_d"],
                formats={c: _one_decimal for c in rates},
                caption=self._glance_caption(prov),
            )
        )
        sec.add(
            Paragraph(
                "The model's change is the headline: it allows for the trend and seasons before coaching. The SPC "
                "column only compares each month with the 12 months before coaching, so the two can differ.",
                kind="note",
            )
        )
        return sec

    def _glance_caption(self, prov: str) -> str:
        """The at-a-glance table's caption, naming only the tables in the data."""
        tables = {o.table for o in self.outcomes.values()}
        rp, pe = "restrictive_practice" in tables, "patient_experience" in tables
        units = " ".join(
            x
            for x in (
                "Restrictive practice as rates per 1,000 occupied bed days" + (", " if pe else ".") if rp else "",
                ("patient experience" if rp else "Patient experience") + " as % of responses." if pe else "",
            )
            if x
        )
        change = " ".join(
            x
            for x in (
                "restrictive practice as a percentage change" + ("," if pe else ".") if rp else "",
                "patient experience in percentage points." if pe else "",
            )
            if x
        )
        return (
            f"{units} Change: interrupted time series, observed against expected had pre-coaching trends continued, "
            f"in month {HEADLINE_MONTH} of coaching (the start month is month 1) or the latest modelled month; "
            f"{change} Both periods leave out the months the models leave out (see data completeness)"
            + (f", such as the provisional month {prov}." if prov else ".")
        )

    def _period_total(self, d: pd.DataFrame) -> tuple[object, float]:
        """A period's numerator and denominator over the months whose count was reported.

        A count suppressed in the source makes the total unknown: it comes back as the
        disclosure marker (shown as suppressed, never reconstructed from the other months).
        """
        reported = d[d["numerator"].notna()]
        den = float(reported["denominator"].sum())
        if "source_suppressed" in d.columns and d["source_suppressed"].astype(bool).any():
            return self.gate.rule.marker, den
        return reported["numerator"].sum(), den

    def _ward_completeness(self) -> tuple[str, object]:
        """Ward-level data: the completeness sentence and the per-ward table."""
        wc = ward_completeness(self.prog, self.provider_id)
        missing = int((wc["months_expected"] - wc["rp_months"]).sum())
        text = (
            f"{len(wc)} wards reported restrictive practice for {int(wc['rp_months'].sum()):,} ward-months; "
            f"{missing} ward-month{'s' if missing != 1 else ''} {'are' if missing != 1 else 'is'} missing."
        )
        table = self.gate.table(
            wc.rename(
                columns={
                    "ward_id": "Ward",
                    "first_month": "First month",
                    "last_month": "Last month",
                    "months_expected": "Months expected",
                    "rp_months": "Restrictive practice months",
                    "pe_months": "Patient experience months",
                    "missing_months": "Missing months",
                }
            ),
            caption="Months each ward reported. Months are counted, not people or events, so nothing is suppressed.",
        )
        return text, table

    def _provider_month_completeness(self) -> tuple[str, object]:
        """Provider-level (published) data: months reported, suppressed and rounded per measure."""
        rows = []
        for o in self.outcomes.values():
            c = provider_month_completeness(self.prog, self.provider_id, o.table, o.numerator)
            rows.append(
                {
                    "Measure": o.name,
                    "Months expected": c["expected"],
                    "Months reported": c["reported"],
                    "Months not reported": ", ".join(
                        w.fmt_period(a) if a == b else f"{w.fmt_period(a)} to {w.fmt_period(b)}"
                        for a, b in _month_runs(c["missing"])
                    )
                    or "none",
                    "Months suppressed at source (fewer than 5)": c["suppressed"],
                    "Months rounded to the nearest 5 at source": c["rounded"],
                }
            )
        t = pd.DataFrame(rows)
        n_missing = int((t["Months expected"] - t["Months reported"]).sum()) if len(t) else 0
        text = (
            "These are provider-level published data: one row per provider-month, no wards. "
            + (
                f"{n_missing} provider-month{'s' if n_missing != 1 else ''} {'were' if n_missing != 1 else 'was'} not "
                "reported (a month with no published figure is not read as zero). "
                if n_missing
                else "Every month from the provider's first was reported. "
            )
            + "Published counts are disclosure-controlled at source; a count suppressed there stays suppressed here."
        )
        table = self.gate.table(
            t,
            caption="Provider-months reported for each measure, from the provider's first month in the data. Months "
            "are counted, not people or events, so nothing is suppressed.",
            digits=0,
        )
        return text, table

    def data_quality(self) -> Section:
        """Completeness, zero-reporting stretches, provisional months; every exclusion with its reason."""
        sec = Section("Data completeness and quality")
        if is_ward_level(self.prog):
            text, completeness = self._ward_completeness()
        else:
            text, completeness = self._provider_month_completeness()
        zs = zero_stretches(self.prog, self.provider_id)
        if len(zs):
            spans = ", ".join(
                f"{w.fmt_month(pd.Timestamp(r.first_month))} to {w.fmt_month(pd.Timestamp(r.last_month))} "
                f"({r.months} months)"
                for r in zs.itertuples()
            )
            text += (
                f" The provider reported no restrictive interventions at all for {len(zs)} stretch"
                f"{'es' if len(zs) > 1 else ''} of three or more months ({spans}) while beds were occupied: treated "
                "as a recording gap and left out of the restrictive practice models."
            )
        if self.provisional:
            text += (
                f" The latest month ({', '.join(w.fmt_month(m) for m in self.provisional)}) is provisional and left "
                "out of every model."
            )
        sec.add(Paragraph(text))
        sec.add(completeness)
        if self.absent_sentence():
            sec.add(Paragraph(self.absent_sentence()))
        rows = []
        for key, o in self.outcomes.items():
            ex = self.exclusions(key)
            for why, g in ex.groupby("reason", sort=False):
                rows.append(
                    {
                        "Measure": o.name,
                        "Months left out": ", ".join(
                            w.fmt_period(a) if a == b else f"{w.fmt_period(a)} to {w.fmt_period(b)}"
                            for a, b in _month_runs(list(g["month"]))
                        ),
                        "Number of months": len(g),
                        "Reason": why,
                    }
                )
        if rows:
            sec.add(
                self.gate.table(pd.DataFrame(rows), caption="Months left out of each model, with the reason.", digits=0)
            )
        return sec

    # -- one outcome ------------------------------------------------------------------------
    def _gated_series(self, key: str, frame: pd.DataFrame, x: str, value: str) -> pd.DataFrame:
        """``frame`` joined to the outcome's monthly counts and passed through the gate.

        ``value`` is a rate or share computed from those counts; every other numeric column is a
        model value (fitted line, limits) that carries no count.
        """
        s = self.series[key][["month", "numerator", "denominator"]].astype({"numerator": object})
        if "source_suppressed" in self.series[key].columns:  # suppressed at source: shown as suppressed
            s.loc[self.series[key]["source_suppressed"].astype(bool), "numerator"] = self.gate.rule.marker
        d = frame.merge(s, left_on=x, right_on="month", how="left", suffixes=("", "_series"))
        if "month" in d.columns and x != "month":
            d = d.drop(columns="month")
        vals = [
            c for c in d.columns if c not in (value, "numerator", "denominator") and pd.api.types.is_numeric_dtype(d[c])
        ]
        return self.gate.frame(d, counts=["numerator"], rates={value: ("numerator", "denominator")}, values=vals)

    def small_numbers(self, o: Outcome) -> str:
        """Why a month of an outcome is suppressed, in words (from the disclosure rule)."""
        r = self.gate.rule
        what = "events" if o.table == "restrictive_practice" else "positive responses"
        text = f"fewer than {r.suppress_below} {what}"
        if r.min_denominator is not None:
            den = "occupied bed days" if o.table == "restrictive_practice" else "responses"
            text += f" or fewer than {r.min_denominator:,.0f} {den}"
        return text

    def _suppressed_callout(self, o: Outcome, data: pd.DataFrame, what: str) -> Callout | None:
        n_hidden, n = int(data["suppressed"].sum()), len(data)
        if n and n_hidden / n > MOSTLY_SUPPRESSED:
            return Callout(
                f"The {what} of {o.name} is not shown: {n_hidden} of {n} months rest on {self.small_numbers(o)} and "
                "are suppressed to protect privacy, so the chart would be mostly gaps. The results in words and "
                "tables use every month.",
                kind="info",
            )
        return None

    def spc_text(self, key: str) -> str:
        """The SPC chart in words: mean and limits (a rate's lower limit never below zero), latest month, signals."""
        o, chart = self.cfg.outcomes[key], self.spc[key]
        lim = chart.limits(floor=0.0)
        t = chart.table
        after = t[~t["baseline"]]
        n_imp = int((after["point_type"] == "special_cause_improvement").sum())
        n_con = int((after["point_type"] == "special_cause_concern").sum())
        n_base = int(t["baseline"].sum())
        text = (
            f"SPC chart: the {n_base} months before coaching set the mean ({self.level_text(o, lim['mean'])}) and the "
            f"process limits ({w.fmt_number(lim['lcl'], 1)} to {self.level_text(o, lim['ucl'])})."
        )
        if lim["clipped"]:
            text += (
                f" The lower limit works out below zero; it is shown as 0 because a {'share' if o.is_share else 'rate'}"
                " cannot be negative."
            )
        text += (
            f" The latest month ({w.fmt_month(t.index[-1])}) shows {_SPC_WORDS[chart.variation]}. Of the "
            f"{len(after)} months since coaching started, {n_imp} show special cause improvement and {n_con} special "
            "cause concern."
        )
        e = self.spc_effect(key)
        text += " " + e.sentence()
        return text

    def spc_effect(self, key: str) -> EffectSummary:
        """The SPC comparison of coaching months with the baseline, in the outcome's own unit."""
        o, chart = self.cfg.outcomes[key], self.spc[key]
        t = chart.table
        after = t[~t["baseline"]]
        months = [
            (m.year - self.start.year) * 12 + m.month - self.start.month + 1 for m in (after.index[0], after.index[-1])
        ]
        return chart.effect_summary(
            outcome="Mean since coaching started",
            scale="percentage points" if o.is_share else w.rate_scale(o.per),
            unit_factor=100.0 if o.is_share else 1.0,
            period=f"months {months[0]} to {months[1]} of coaching ({w.fmt_month(after.index[0])} to "
            f"{w.fmt_month(after.index[-1])})",
        ).with_caveats(self.exclusion_caveat(key, since=t.index[0], what="the chart"))

    def spc_figure(self, key: str):
        """``(fig, ax, data)``: the SPC chart drawn from disclosed data, lower limit at 0 at least."""
        o, chart = self.cfg.outcomes[key], self.spc[key]
        data = self._gated_series(key, chart.get_plot_data(), "x", "value")
        for c in ("lcl", "near_lcl"):
            data[c] = data[c].clip(lower=0.0)
        if o.is_share:
            for c in ("ucl", "near_ucl"):
                data[c] = data[c].clip(upper=100.0)
        fig, ax = chart.plot(
            title=f"{o.name}: {_SPC_WORDS[chart.variation].split(' (')[0]} in the latest month",
            ylabel=self.axis_label(o),
            data=data,
            floor=0.0,
            icons=False,
            suppressed_label="Month not shown (small numbers)",
        )
        if o.is_share:  # a share's axis need not start at 0
            ax.autoscale(axis="y")
            ax.set_ylim(auto=True)
            ax.relim()
            ax.autoscale_view(scaley=True)
        ax.set_xlabel("Month")
        ax.axvline(self.start, color=NHS_GREY, linestyle=":", linewidth=1)
        ax.annotate(
            " coaching starts (month 1)",
            xy=(self.start, 1),
            xycoords=("data", "axes fraction"),
            va="top",
            fontsize=8,
            color=NHS_GREY,
        )
        return fig, ax, data

    def its_frame(self, key: str) -> pd.DataFrame:
        """The model's observed, fitted and expected values in display units, disclosed."""
        o, res = self.cfg.outcomes[key], self.its[key]
        p = res.predict(per=o.per)
        p = p[p["series"] == "treated"].drop(columns="series")
        if o.is_share:
            for c in p.columns:
                if c.startswith(("observed", "fitted", "counterfactual")):
                    p[c] = p[c] * 100.0
        return self._gated_series(key, p, "period", "observed")

    def its_figure(self, key: str):
        """``(fig, ax, data)``: observed against expected without coaching, from disclosed data."""
        import matplotlib.pyplot as plt

        o = self.cfg.outcomes[key]
        d = self.its_frame(key)
        e = self.effect(key)
        fig, ax = plt.subplots(figsize=(8, 4))
        title = f"{o.name}: {_its_headline(e)}"
        self.its[key].plot(ax=ax, data=d, words="report", zero=not o.is_share, title=title, legend=False)
        ax.set_ylabel(self.axis_label(o))
        ax.set_xlabel("Month")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8)
        _cap_band(ax, d)
        return fig, ax, d

    def _effects_table(self, keys: list[str], caption: str):
        rows = []
        for key in keys:
            o = self.cfg.outcomes[key]
            for m in self.effect_months(key) or [HEADLINE_MONTH]:
                e = self.effect(key, m)
                rows.append(
                    {
                        "Measure": o.name,
                        "When": e.period if e.estimable else "",
                        "Change against expected without coaching (95% CI)": e.estimate_text(),
                        "What the interval says": verdict_words(e),
                    }
                )
        return self.gate.table(pd.DataFrame(rows), caption=caption)

    def _effects_caption(self, key: str) -> str:
        o = self.cfg.outcomes[key]
        unit = "in percentage points" if o.is_share else "as a percentage change"
        cav = self.exclusion_caveat(key)
        return (
            f"Interrupted time series: {o.name} observed against expected had pre-coaching trends and seasons "
            f"continued, {unit}. Months of coaching are counted from 1 (the start month is month 1). {cav}"
        ).strip()

    def _outcome_blocks(self, key: str) -> list:
        """Words, tables and charts (SPC, then ITS) for one outcome."""
        o = self.cfg.outcomes[key]
        blocks: list = [Heading(o.label, 3)]
        if key in self.spc:
            blocks.append(Paragraph(self.spc_text(key)))
            fig, ax, data = self.spc_figure(key)
            hidden = self._suppressed_callout(o, data, "SPC chart")
            if hidden is not None:
                import matplotlib.pyplot as plt

                plt.close(fig)
                blocks.append(hidden)
            else:
                lim = self.spc[key].limits(floor=0.0)
                alt = alt_text(f"SPC chart of {o.name} by month", data, "x", "value", unit=self.unit(o))
                alt += (
                    f" Mean before coaching {self.level_text(o, lim['mean'])}; process limits "
                    f"{w.fmt_number(lim['lcl'], 1)} to {self.level_text(o, lim['ucl'])}."
                )
                blocks.append(
                    self.gate.figure(
                        fig,
                        data=data,
                        alt=alt,
                        caption="Grey: months; blue diamonds: special cause improvement; orange squares: special "
                        "cause concern. Dashed lines: process limits from the 12 months before coaching.",
                    )
                )
        else:
            blocks.append(
                Paragraph(
                    f"No SPC chart for {o.name}: fewer than 12 months before coaching that are not left out of the "
                    "analysis, so there is no baseline to set its limits."
                )
            )
        e = self.effect(key)
        if not e.estimable:
            blocks.append(Paragraph(f"No interrupted time series model for {o.name}: {e.reason}."))
            return blocks
        blocks.append(Paragraph(e.sentence()))
        blocks.append(self._effects_table([key], self._effects_caption(key)))
        fig, ax, data = self.its_figure(key)
        hidden = self._suppressed_callout(o, data, "model chart")
        if hidden is not None:
            import matplotlib.pyplot as plt

            plt.close(fig)
            blocks.append(hidden)
        else:
            kept = data[~data["excluded"].astype(bool)]
            alt = alt_text(f"Monthly {o.name} against the model", kept, "period", "observed", unit=self.unit(o))
            alt += f" {e.sentence().split('. ')[0]}."
            blocks.append(
                self.gate.figure(
                    fig,
                    data=data,
                    alt=alt,
                    caption="Points: observed months (open: left out of the model). Solid line: the model. Dashed "
                    "line and band: expected without coaching, with its 95% interval"
                    + (
                        " (cut at the top of the chart where it runs off it)"
                        if getattr(fig, "_coc_band_capped", False)
                        else ""
                    )
                    + "."
                    + (
                        " The model is the bounds-aware fit; the points are the published values (rounded to the "
                        "nearest 5), and months suppressed at source are marked, not drawn."
                        if self.fits.get(key, ("",))[0] == "bounds"
                        else ""
                    ),
                )
            )
        return blocks

    def _small_multiples(self, keys: list[str]):
        """Observed against expected-without-coaching for several outcomes in one figure."""
        import matplotlib.pyplot as plt

        frames, shown, hidden = [], [], []
        for key in keys:
            d = self.its_frame(key)
            (hidden if d["suppressed"].mean() > MOSTLY_SUPPRESSED else shown).append(key)
            frames.append(d.assign(measure=self.cfg.outcomes[key].name))
        if not shown:
            return None, hidden
        ncol = 2
        nrow = -(-len(shown) // ncol)
        fig, axes = plt.subplots(nrow, ncol, figsize=(10, 3.2 * nrow), squeeze=False)
        for ax, key in zip(axes.flat, shown):
            o = self.cfg.outcomes[key]
            d = frames[keys.index(key)]
            self.its[key].plot(ax=ax, data=d, words="report", zero=not o.is_share, legend=False)  # one, below
            ax.set_title(o.name, fontsize=10)
            ax.set_xlabel("")
            ax.set_ylabel(self.unit(o).strip().replace("occupied bed days", "bed days"))
        for ax in axes.flat[len(shown) :]:
            ax.set_visible(False)
        legend: dict = {}
        for ax in axes.flat[: len(shown)]:
            for h, lab in zip(*ax.get_legend_handles_labels()):
                legend.setdefault(lab, h)
        fig.legend(list(legend.values()), list(legend), loc="lower center", ncol=3, frameon=False, fontsize=8)
        fig.suptitle(
            "Restrictive practice by type: observed and expected without coaching (dashed)",
            x=0.01,
            ha="left",
            fontweight="bold",
            fontsize=11,
        )
        _grid_margins(fig, nrow, ncol, legend=0.1 if nrow == 1 else 0.06)
        data = pd.concat([frames[keys.index(k)] for k in shown], ignore_index=True)
        data.attrs = frames[0].attrs
        alt = "; ".join(
            alt_text(self.cfg.outcomes[k].name, frames[keys.index(k)], "period", "observed").split(":")[0]
            + ": "
            + self.effect(k).estimate_text()
            for k in shown
        )
        fig_block = self.gate.figure(
            fig,
            data=data,
            alt=f"Monthly rates per 1,000 occupied bed days by type of restrictive practice, with the model. {alt}.",
            caption="Each panel: observed months (points), the model (solid) and expected without coaching (dashed).",
        )
        return fig_block, hidden

    def restrictive_practice(self) -> Section:
        """SPC and ITS for restrictive interventions; ITS for each type."""
        sec = Section("Restrictive practice")
        sec.add(
            Paragraph(
                (
                    "The SPC chart shows the 12 months before coaching (which set its limits) and the months since. "
                    if self.spc
                    else ""
                )
                + "The model chart shows what the data would have looked like had pre-coaching trends and seasons "
                "continued (dashed) against what happened. " + self.sustain_sentence()
            )
        )
        keys = [k for k, o in self.outcomes.items() if o.table == "restrictive_practice"]
        for key in keys:
            if self.cfg.outcomes[key].headline:
                sec.add(*self._outcome_blocks(key))
        sec.add(*self._absent_blocks("restrictive_practice"))
        types = [k for k in keys if not self.cfg.outcomes[k].headline]
        if types:
            sec.add(Heading("By type of restrictive practice", 3))
            modelled = [k for k in types if self.effect(k).estimable]
            fig, hidden = self._small_multiples(modelled) if modelled else (None, [])
            sec.add(fig)
            if hidden:
                names = ", ".join(self.cfg.outcomes[k].name for k in hidden)
                sec.add(
                    Callout(
                        f"Not drawn: {names}. Most of their months rest on fewer than "
                        f"{self.gate.rule.suppress_below} events and are suppressed to protect privacy. The table "
                        "below uses every month.",
                        kind="info",
                    )
                )
            for k in types:
                if not self.effect(k).estimable:
                    sec.add(Paragraph(f"{self.cfg.outcomes[k].name}: not modelled ({self.effect(k).reason})."))
            if modelled:
                cav = " ".join(dict.fromkeys(self.exclusion_caveat(k) for k in modelled if self.exclusion_caveat(k)))
                sec.add(
                    self._effects_table(
                        modelled,
                        "Interrupted time series by type, each observed against expected had pre-coaching trends "
                        "continued, as a percentage change. Months of coaching are counted from 1. " + cav,
                    )
                )
        return sec

    def patient_experience(self) -> Section:
        """Share of positive responses: SPC and ITS."""
        sec = Section("Patient experience")
        for key, o in self.outcomes.items():
            if o.table == "patient_experience":
                sec.add(*self._outcome_blocks(key))
        sec.add(*self._absent_blocks("patient_experience"))
        return sec

    def _absent_blocks(self, table: str) -> list:
        """A plain sentence for the outcomes of ``table`` that are not in the data."""
        if table not in self.prog.tables and any(o.table == table for o in self.cfg.outcomes.values()):
            return [
                Paragraph(f"Not in the data: there is no {table.replace('_', ' ')} table, so nothing is shown here.")
            ]
        names = [self.cfg.outcomes[k].name for k in self.absent if self.cfg.outcomes[k].table == table]
        if not names:
            return []
        return [
            Paragraph(
                f"Not in the data: {', '.join(names)} (the {table.replace('_', ' ')} table has no such column), so "
                f"{'it is' if len(names) == 1 else 'they are'} not analysed."
            )
        ]

    def staff_experience(self) -> Section:
        """Staff survey before and after the start against providers not yet started."""
        sec = Section("Staff experience")
        sec.add(
            Paragraph(
                "NHS Staff Survey results (fieldwork September to November) the year before and the first year after "
                "coaching started, set against the same change among providers not yet coached. The interval shows "
                "where a provider without coaching would fall, so it is wide: one provider's change is compared with "
                "the spread of others' changes."
            )
        )
        if "staff_survey" not in self.prog.tables:
            return sec.add(Paragraph("Not in the data: there is no staff survey table, so nothing is shown here."))
        published = [
            s.label
            for s in self.staff
            if f"{self.cfg.staff_indicators[s.indicator].column}_pct" in self.prog.staff_survey
        ]
        if published:
            sec.add(
                Paragraph(
                    "These results are the survey's published percentages (weighted by occupation group) and their "
                    "question bases; no counts of staff are derived from them. Results from fewer than "
                    f"{get_rule('staff-survey').suppress_below} respondents are not shown.",
                    kind="note",
                )
            )
        effects = self.staff_effects()
        for s in self.staff:
            sec.add(Paragraph(replace(effects[s.indicator], caveats=()).sentence()))
        if self.staff:
            rows = []
            for s in self.staff:
                e = effects[s.indicator]
                rows.append(
                    {
                        "Indicator": s.label,
                        "Survey before coaching": f"{_staff_level(s, s.before)} ({s.before_year})",
                        "First survey after the start": f"{_staff_level(s, s.after)} ({s.after_year})",
                        "Change at this provider": w.fmt_effect(s.after - s.before, s.scale),
                        "Average change, providers not yet coached": w.fmt_effect(s.comparison_change, s.scale),
                        "Difference (95% CI)": e.estimate_text(),
                        "What the interval says": verdict_words(e),
                    }
                )
            sec.add(
                self.gate.table(
                    pd.DataFrame(rows),
                    caption="Scores are on the survey's 0-10 scale (changes in score points); shares are % of "
                    + ("staff answering the question, as published (weighted)" if published else "respondents")
                    + " (changes in percentage points).",
                )
            )
        for k, why in self.staff_errors.items():
            sec.add(Paragraph(f"{self.cfg.staff_indicators[k].label}: no comparison ({why})."))
        for k, why in self.staff_absent.items():
            sec.add(Paragraph(f"{self.cfg.staff_indicators[k].label}: {why}."))
        return sec

    def peers(self) -> Section:
        """Funnel plots against all providers, this provider highlighted, peers anonymous."""
        sec = Section("Position among peers")
        prov = set(self.provisional)
        last = [m for m in self.prog.months if m not in prov][-12:]
        span = f"{w.fmt_month(last[0])} to {w.fmt_month(last[-1])}"
        sec.add(
            Paragraph(
                f"All providers over the same {len(last)} months ({span}"
                + (f"; the provisional month {', '.join(w.fmt_month(m) for m in prov)} is left out" if prov else "")
                + "). Other providers are shown as anonymous grey points; providers whose value rests on a suppressed "
                "count are not drawn."
                + (
                    " Each provider's rate uses the months it reported; a month with no published figure is left out, "
                    "not read as zero."
                    if not is_ward_level(self.prog)
                    else ""
                )
            )
        )
        for _key, o in self.outcomes.items():
            if o.headline:
                sec.add(*self._peer_blocks(o, last, span))
        return sec

    def _peer_totals(self, o: Outcome, months: list) -> pd.DataFrame:
        """Each provider's numerator and denominator over ``months`` (the months it reported).

        ``suppressed`` marks providers whose total includes a count suppressed at source: the
        total is unknown, so it is neither drawn nor used for the limits. The same for every
        provider's report, so computed once and kept with the data.
        """
        key = ("peer_totals", o.table, o.numerator, o.denominator, tuple(months))
        return self.prog.derived(key, lambda: self._sum_peers(o, months)).copy()

    def _sum_peers(self, o: Outcome, months: list) -> pd.DataFrame:
        df = getattr(self.prog, o.table)
        d = df[df["month"].isin(months)]
        num = pd.to_numeric(d[o.numerator], errors="coerce")
        lo_col = f"{o.numerator}_lower"
        reported = num.notna() | (pd.to_numeric(d[lo_col], errors="coerce").notna() if lo_col in d else False)
        den = pd.to_numeric(d[o.denominator], errors="coerce")
        d = pd.DataFrame(
            {
                "provider_id": d["provider_id"],
                o.numerator: num,
                o.denominator: den.where(reported),
                "suppressed": reported & num.isna(),
            }
        )[reported & (den > 0)]
        tot = d.groupby("provider_id").agg(
            **{
                o.numerator: (o.numerator, "sum"),
                o.denominator: (o.denominator, "sum"),
                "suppressed": ("suppressed", "any"),
            }
        )
        return tot[tot[o.denominator] > 0]

    def _peer_blocks(self, o: Outcome, last: list, span: str) -> list:
        """The funnel plot of one outcome with this provider's position in words."""
        tot = self._peer_totals(o, last)
        if self.provider_id not in tot.index:
            return [Paragraph(f"{o.name}: this provider has no data in these months.")]
        if tot.at[self.provider_id, "suppressed"]:
            return [
                Heading(o.name, 3),
                Callout(
                    f"{o.name}: this provider's value for these months includes a count suppressed at source (fewer "
                    "than 5) and is not shown.",
                    kind="info",
                ),
            ]
        n_unknown = int(tot["suppressed"].sum())
        tot = tot[~tot["suppressed"]]
        labels = [THIS if p == self.provider_id else f"Peer {i + 1}" for i, p in enumerate(tot.index)]
        is_rate = o.table == "restrictive_practice"
        fn = funnel_rates if is_rate else funnel_proportions
        kw = {"per": o.per, "denominator_name": "occupied bed days"} if is_rate else {"denominator_name": "responses"}
        res = fn(
            tot[o.numerator].to_numpy(),
            tot[o.denominator].to_numpy(),
            labels=labels,
            overdispersion="additive",
            numerator_name=o.name.lower(),
            **kw,
        )
        vcol = "rate" if is_rate else "proportion"
        pts = res.table[["label", "observed", "denominator", vcol]].copy()
        data = self.gate.frame(
            pts, counts=["observed"], rates={vcol: ("observed", "denominator")}, values=["denominator"]
        )
        mine = data[data["label"] == THIS].iloc[0]
        blocks: list = [Heading(o.name, 3)]
        if pd.isna(mine[vcol]):
            blocks.append(
                Callout(
                    f"{o.name}: this provider's value for these months rests on fewer than "
                    f"{self.gate.rule.suppress_below} events and is not shown.",
                    kind="info",
                )
            )
            return blocks
        e = res.effect_summary(
            THIS, outcome=o.name, improvement=o.improvement, period=f"the {len(last)} months {span}", unit_factor=1.0
        )
        row = res.table[res.table["label"] == THIS].iloc[0]
        k = len(res.table)
        outer = f"{100 * max(res.limits):g}%"
        n_out = int(res.table["position"].str.endswith(outer).sum())
        value = row[vcol] * (100 if o.is_share else 1)
        target = res.target * (100 if o.is_share else 1)
        text = (
            f"This provider: {self.level_text(o, value)} against the average of all {k} providers, "
            f"{self.level_text(o, target)}; {res._position_text(row['position'])}. {e.sentence()}"
            f" Of the {k} providers, {n_out} lie outside the {outer} limits."
        )
        if res.adjusted:
            text += (
                " Providers differ more than chance alone would explain, so the limits are widened to allow for "
                "that (an overdispersion adjustment)."
            )
        if n_unknown:
            text += (
                f" {n_unknown} other provider(s) with a count suppressed at source in these months are left out of the "
                "plot and the limits."
            )
        blocks.append(Paragraph(text))
        alt = (
            f"Funnel plot of {o.name} for {k} providers, {span}: this provider at {self.level_text(o, value)} "
            f"against an average of {self.level_text(o, target)}, {res._position_text(row['position'])}."
        )
        blocks.append(self._peer_figure(o, res, data, alt))
        return blocks

    def _peer_figure(self, o: Outcome, res, data: pd.DataFrame, alt: str):
        """The funnel plot of one outcome from disclosed points, this provider highlighted."""
        fig, ax = res.plot(highlight=THIS, title=f"{o.name}: this provider against all providers", points=data)
        n_hidden = int(data["suppressed"].sum())
        if n_hidden:
            alt += f" {n_hidden} provider(s) with a suppressed value are not drawn."
        return self.gate.figure(
            fig,
            data=data,
            alt=alt,
            caption="Dashed and dotted lines: 95% and 99.8% control limits around the average; grey points: "
            "other providers (anonymous)"
            + (f"; {n_hidden} provider(s) with a suppressed value not drawn." if n_hidden else "."),
        )

    def methods(self) -> Section:
        """Model choices, diagnostics, notes and a glossary of the terms used."""
        sec = Section("Methods and assumptions")
        opts = self.cfg.its_options(self.provider_id)
        rule = self.gate.rule
        sec.add(
            Bullets(
                [
                    "Interrupted time series (segmented regression): pre-coaching level and trend, then a change in "
                    "level and in trend from the first month of coaching, and a further change after coaching ended "
                    f"where the data reach it. Models: {family_words(self.cfg, self.outcomes)}; restrictive practice counts use "
                    f"occupied bed days as exposure. Seasonality: {opts.seasonality} pair(s) of sine and cosine terms "
                    "by calendar month. Effects are read in a given month of coaching, counted from 1 (the start "
                    "month is month 1).",
                    "SPC: NHS Making Data Count XmR charts; limits from the 12 months before coaching; a rate's lower "
                    "limit is never shown below zero. Special cause: a month outside the limits, a run of 7 rising or "
                    "falling months, 2 of 3 months close to a limit, or 7 months on one side of the mean.",
                    "Staff survey: this provider's change from the year before to the first year after the start, "
                    "against the changes of providers not yet coached (a prediction interval).",
                    "Funnel plots: exact Poisson or binomial limits (95% and 99.8%), widened when providers differ "
                    "more than chance would explain.",
                    f"Disclosure control: counts under {rule.suppress_below} are suppressed and other counts rounded "
                    f"to the nearest {rule.rounding_base}; rates and shares are suppressed when the count behind them "
                    "is suppressed"
                    + (
                        f" or their denominator is under {rule.min_denominator:g}."
                        if rule.min_denominator is not None
                        else "."
                    ),
                    "Months left out: "
                    + ("the provisional latest month(s) of every model, and " if self.provisional else "")
                    + "stretches of three or more months with no restrictive practice recorded at all (a recording "
                    "gap), as listed under data completeness.",
                ]
            )
        )
        fit_items = self.fit_methods()
        if fit_items:
            sec.add(Heading("Which fit was used", 3), Bullets(fit_items))
        diag = self.diagnostics_table()
        if diag is not None:
            sec.add(diag)
        if self.notes:
            sec.add(Paragraph("Model notes: " + " ".join(sorted(set(self.notes))), kind="note"))
        sec.add(Heading("Glossary", 3))
        sec.add(Bullets(f"{t}: {w.GLOSSARY[t]}" for t in GLOSSARY_TERMS if t in w.GLOSSARY))
        return sec

    def fit_methods(self) -> list[str]:
        """The methods text on disclosure-controlled counts: which fit each outcome used and why."""
        items = [self.fit_note(k).removeprefix("Fit used for ") for k in self.outcomes if self.fit_note(k)]
        if not any(self.fits.get(k, ("",))[0] == "bounds" for k in self.outcomes):
            return items
        return [
            "Bounds-aware fit: published counts are intervals (a suppressed count is 0 to 4, a count rounded to the "
            "nearest 5 lies within 2 of it). A Poisson segmented regression is fitted to these intervals; from it "
            f"each count that is not exact is drawn {BOUNDS_IMPUTATIONS} times within its bounds, the model below is "
            "fitted to each completed series and the results are combined with Rubin's rules, so the intervals "
            "include the uncertainty the rounding and suppression add. The naive fit takes rounded counts as exact "
            "and leaves suppressed months out, which biases rates upwards when low months are suppressed. Occupied bed "
            "days are taken as published (rounding to 5 is negligible on thousands of days); a month whose bed days "
            "are suppressed is left out. Charts show only the published values; suppressed months are marked, never "
            "filled in.",
            *items,
        ]

    def diagnostics_table(self):
        """The ITS models' residual checks, one row per model, headed in words (for a bounds-aware
        fit, the checks of its naive fit: residuals of imputed counts would check the imputations)."""
        rows = []
        for key, fitted in self.its.items():
            res = self.naive.get(key, fitted) if self.fits.get(key, ("",))[0] == "bounds" else fitted
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                dg = res.diagnostics(warn=False)
            p_lb = dg.at["ljung_box", "p_value"] if "ljung_box" in dg.index else np.nan
            p_bg = dg.at["breusch_godfrey", "p_value"] if "breusch_godfrey" in dg.index else np.nan
            disp = dg.at["dispersion", "statistic"] if "dispersion" in dg.index else np.nan
            autocorr = bool(min(p_lb, p_bg) < 0.05)
            rows.append(
                {
                    "Measure": self.cfg.outcomes[key].name,
                    "Autocorrelation test (Ljung-Box)": w.fmt_p(p_lb),
                    "Autocorrelation test (Breusch-Godfrey)": w.fmt_p(p_bg),
                    "Dispersion (about 1 when the model's variance fits)": w.fmt_number(float(disp), 1),
                    "What it means": "Months left correlated after the model: intervals may be too narrow"
                    if autocorr
                    else "No sign of correlated months",
                }
            )
        if not rows:
            return None
        return self.gate.table(
            pd.DataFrame(rows),
            caption="Checks of the interrupted time series models: a small p-value (under 0.05) means the months "
            "left over after the model are correlated, so its intervals may be too narrow.",
        )

    def provenance(self) -> Section:
        """Which code, dependencies, data, configuration and seeds produced this report (no machine paths)."""
        import hashlib

        cfg_hash = hashlib.sha256(self.cfg.model_dump_json().encode()).hexdigest()
        info = {"Provider": self.provider_id}
        bounds = any(f == "bounds" for f, _ in self.fits.values())
        seeds = {"bounds-aware fit (imputations)": self.cfg.did.seed} if bounds else {}
        info.update(provenance(data_hash=self.prog.data_hash, config_hash=cfg_hash, seeds=seeds))
        info["Model fitting time"] = f"{w.fmt_number(self.seconds, 1)} seconds"
        t = pd.DataFrame({"Item": list(info), "Value": list(info.values())})
        return Section("Provenance", [self.gate.table(t, caption="What produced this report.")])


# ------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------
def _month_runs(months: list) -> list[tuple]:
    """Consecutive months grouped into ``(first, last)`` runs.

    Examples
    --------
    >>> ms = [pd.Timestamp(m) for m in ("2024-01-01", "2024-02-01", "2024-05-01")]
    >>> [(f"{a:%m}", f"{b:%m}") for a, b in _month_runs(ms)]
    [('01', '02'), ('05', '05')]
    """
    runs: list[list] = []
    for m in sorted(pd.Timestamp(x) for x in months):
        if runs and m == runs[-1][1] + pd.DateOffset(months=1):
            runs[-1][1] = m
        else:
            runs.append([m, m])
    return [(a, b) for a, b in runs]


def _ratio(df: pd.DataFrame) -> float:
    """Numerator over denominator summed over the months whose count is known."""
    known = df[df["numerator"].notna()]
    d = known["denominator"].sum()
    return float(known["numerator"].sum() / d) if d > 0 else float("nan")


def _one_decimal(v) -> str:
    return w.fmt_number(float(v), 1)


def _staff_level(s: StaffComparison, v: float) -> str:
    return w.fmt_pct(v, 1) if s.scale == "percentage points" else w.fmt_number(float(v), 2)


def _reason_words(msg: str) -> str:
    """A model's not-estimable message in plain words for a reader."""
    m = msg.lower()
    if "zero in every" in m or "0% or 100%" in m or "no finite estimate" in m:
        return "too few events to model"
    if "needed on each side" in m or "at least" in m and "are needed" in m:
        return "too few months before or after coaching started to model"
    if "too few to fit" in m or "rank deficient" in m:
        return "too few months to fit the model"
    return msg.split(":")[-1].strip() or "not fitted"


def _its_headline(e: EffectSummary) -> str:
    """An active chart title from an effect: '29% lower than expected in month 12 of coaching'."""
    if not e.estimable:
        return "not modelled"
    size = w.fmt_effect(abs(e.estimate), e.scale, signed=False)
    word = w.direction_word(e.estimate, e.null, past=False)
    sure = " (could be chance)" if e.verdict == "unclear" else ""
    month = e.period.split(" (")[0]
    return f"{size} {word} than expected in {month}{sure}"


def _cap_band(ax, d: pd.DataFrame, factor: float = 2.0) -> None:
    """Keep the observed months readable: when the interval of expected runs far above the data
    (short series extrapolate wide), cut the y axis at ``factor`` times the highest observed or
    fitted value; sets ``fig._coc_band_capped`` so the caption can say so."""
    vals = pd.concat([d[c] for c in ("observed", "fitted", "counterfactual") if c in d.columns]).astype(float)
    top = float(np.nanmax(vals.to_numpy())) if vals.notna().any() else np.nan
    if np.isfinite(top) and top > 0 and ax.get_ylim()[1] > factor * top:
        ax.set_ylim(top=factor * top)
        ax.figure._coc_band_capped = True
