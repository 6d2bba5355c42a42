"""The programme evaluation: did coaching change things across the programme?

:class:`ProgrammeReport` computes, for every configured outcome, the staggered
difference-in-differences of Callaway & Sant'Anna (not-yet-treated providers as controls, on
the provider-month panel) with its event study and cohort effects; two-way fixed effects beside
it with the Goodman-Bacon decomposition; and per-provider interrupted time series effects pooled
by random-effects meta-analysis. Staff survey indicators get the same staggered DiD on the
provider-year panel. When the data carry a truth file (synthetic data) it also sets every
estimate against the known true effect.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

import cocEval
from cocEval.config import ProgrammeConfig, load_inputs
from cocEval.data import ProgrammeData, provider_month_panel, provider_year_panel
from cocEval.did import att_gt
from cocEval.did.bacon import bacon_decomposition
from cocEval.did.twfe import twfe
from cocEval.meta import random_effects
from cocEval.quality import provisional_months, zero_stretches
from cocEval.report import display as d
from cocEval.report.models import family_words, fit_outcome, log_effect_at, model_months
from cocEval.style import NHS_GREY, PALETTE, use_nhs_style

POOL_MONTH = 12  # pooled ITS effects are read in the 12th month of coaching


@dataclass
class OutcomeEvaluation:
    """Everything the programme report says about one monthly outcome."""

    key: str
    panel: pd.DataFrame
    dropped: list[str]
    attgt: object
    dynamic: object
    simple: object
    group: object
    twfe: object | None
    bacon: object | None
    pooled: object | None
    provider_effects: pd.DataFrame  # provider_id, cohort, log_effect, se
    pooled_by_cohort: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)


def _quiet(fn, *args, notes: list | None = None, **kwargs):
    """Call ``fn`` keeping its warnings as notes (they are reported in the methods section)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn(*args, **kwargs)
    if notes is not None:
        notes += [str(w.message) for w in caught]
    return out


@dataclass
class ProgrammeReport:
    """The programme evaluation. Build it with :meth:`build`."""

    prog: ProgrammeData
    cfg: ProgrammeConfig
    outcomes: dict[str, OutcomeEvaluation] = field(default_factory=dict)
    staff: dict[str, dict] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    config_path: str = ""

    @classmethod
    def build(cls, data_dir=None, config=None, *, outcomes=None) -> ProgrammeReport:
        """Load data and config, then estimate everything the programme report shows.

        Parameters
        ----------
        data_dir, config : optional
            As for :class:`cocEval.report.provider.ProviderReport`; None = project defaults.
        outcomes : list of str, optional
            Outcome keys to evaluate (default: all configured).

        Examples
        --------
        >>> rep = ProgrammeReport.build()  # doctest: +SKIP
        >>> rep.conclusions()  # doctest: +SKIP
        """
        t0 = time.perf_counter()
        cfg, prog, config = load_inputs(data_dir, config)
        rep = cls(prog, cfg, config_path=str(config))
        use_nhs_style(dpi=cfg.report.dpi)
        for key in outcomes or list(cfg.outcomes):
            rep.outcomes[key] = rep._evaluate(key)
        for key, _ind in cfg.staff_indicators.items():
            rep.staff[key] = rep._evaluate_staff(key)
        rep.seconds = time.perf_counter() - t0
        return rep

    # ------------------------------------------------------------------------------------
    def _did(self, panel, time_col, cohort_col, notes):
        o = self.cfg.did
        res = _quiet(
            att_gt,
            panel,
            "value",
            "provider_id",
            time_col,
            cohort_col,
            control_group=o.control_group,
            method=o.method,
            bootstrap=o.bootstrap,
            n_boot=o.n_boot,
            seed=o.seed,
            notes=notes,
        )
        return res

    def _evaluate(self, key: str) -> OutcomeEvaluation:
        o = self.cfg.outcomes[key]
        notes: list[str] = []
        prov = [f"{m:%Y-%m}" for m in provisional_months(self.prog, self.cfg.report.exclude_provisional_months)]
        panel = _quiet(provider_month_panel, self.prog, o.numerator, exclude_months=prov, notes=notes)
        all_ids = set(self.prog.participation["provider_id"])
        dropped = sorted(all_ids - set(panel["provider_id"]))
        if o.table == "restrictive_practice":
            # A stretch of months with nothing reported is a recording gap: keep that provider out
            # of the panel rather than read the gap as a fall in restrictive practice.
            gaps = [p for p in panel["provider_id"].unique() if len(zero_stretches(self.prog, p))]
            panel = panel[~panel["provider_id"].isin(gaps)]
            dropped += gaps
        panel = panel.assign(value=panel["value"] * o.display_per / o.per)  # shares in percentage points
        res = self._did(panel, "month", "start_month", notes)
        dyn = _quiet(res.aggregate, "dynamic", min_e=self.cfg.did.min_e, max_e=self.cfg.did.max_e, notes=notes)
        simple = _quiet(res.aggregate, "simple", notes=notes)
        group = _quiet(res.aggregate, "group", notes=notes)
        tw = bd = None
        try:
            tw = _quiet(twfe, panel, "value", "provider_id", "month", "post", cluster="provider_id", notes=notes)
            bd = _quiet(bacon_decomposition, panel, "value", "provider_id", "month", "post", notes=notes)
        except ValueError as exc:
            notes.append(f"TWFE / Bacon decomposition not computed: {exc}")
        effects = self._provider_effects(key, notes)
        pooled, by_cohort = None, {}
        if len(effects) >= 2:
            pooled = _quiet(
                random_effects,
                effects["log_effect"],
                effects["se"],
                labels=effects["provider_id"],
                method="REML",
                hartung_knapp=True,
                notes=notes,
            )
            for c, g in effects.groupby("cohort"):
                if len(g) >= 2:
                    by_cohort[c] = _quiet(
                        random_effects,
                        g["log_effect"],
                        g["se"],
                        labels=g["provider_id"],
                        method="REML",
                        hartung_knapp=True,
                        notes=notes,
                    )
        return OutcomeEvaluation(
            key, panel, dropped, res, dyn, simple, group, tw, bd, pooled, effects, by_cohort, notes
        )

    def _provider_effects(self, key: str, notes: list) -> pd.DataFrame:
        """Each provider's ITS log ratio in month 12 of coaching, where its data reach that month."""
        months = model_months(self.prog, self.cfg)
        rows = []
        for _, p in self.prog.participating.iterrows():
            if (months >= p["start_month"]).sum() < POOL_MONTH:
                continue
            m = fit_outcome(self.prog, self.cfg, p["provider_id"], key)
            if m.its is None:
                notes.append(f"{p['provider_id']}: not modelled ({m.error})")
                continue
            est, se = log_effect_at(m.its, POOL_MONTH - 1)
            if np.isfinite(est) and np.isfinite(se) and se > 0:
                rows.append({"provider_id": p["provider_id"], "cohort": p["cohort"], "log_effect": est, "se": se})
        return pd.DataFrame(rows, columns=["provider_id", "cohort", "log_effect", "se"])

    def _evaluate_staff(self, key: str) -> dict:
        ind = self.cfg.staff_indicators[key]
        notes: list[str] = []
        panel = provider_year_panel(self.prog, ind.column).dropna(subset=["value"])
        years = panel.groupby("provider_id")["survey_year"].nunique()
        panel = panel[panel["provider_id"].isin(years[years == years.max()].index)]
        scale = 1 if ind.is_score else 100
        panel = panel.assign(value=panel["value"] * scale)
        try:
            res = self._did(panel, "survey_year", "first_year", notes)
            simple = _quiet(res.aggregate, "simple", notes=notes)
            return {
                "simple": simple,
                "attgt": res,
                "notes": notes,
                "panel": panel,
                "factor": scale,
                "scale": "points" if scale == 1 else "percentage points",
            }
        except ValueError as exc:
            return {"error": str(exc), "notes": notes}

    # ------------------------------------------------------------------------------------
    # Words and tables
    # ------------------------------------------------------------------------------------
    def _unit(self, key: str) -> str:
        o = self.cfg.outcomes[key]
        return "percentage points" if o.is_share else "per 1,000 occupied bed days"

    def did_sentence(self, key: str) -> str:
        """Plain-English result of the staggered DiD for one outcome."""
        ev, o = self.outcomes[key], self.cfg.outcomes[key]
        s = ev.simple.overall
        base = ev.panel.loc[(ev.panel["post"] == 0) & ev.panel["start_month"].notna(), "value"].mean()
        good = (s.att < 0) == (o.improvement == "decrease")
        clear = s.ci_low > 0 or s.ci_high < 0
        return (
            f"{o.name}: after coaching started, providers' {('share' if o.is_share else 'rate')} was on average "
            f"{abs(s.att):.2f} {self._unit(key)} {'lower' if s.att < 0 else 'higher'} than in comparable providers "
            f"not yet coached (95% CI {s.ci_low:+.2f} to {s.ci_high:+.2f}; pre-coaching average {base:.1f}), "
            f"{'an improvement' if good else 'a deterioration'}{'' if clear else ' that could be chance'}."
        )

    def pooled_sentence(self, key: str) -> str:
        """Plain-English result of the pooled provider ITS effects."""
        ev, o = self.outcomes[key], self.cfg.outcomes[key]
        m = ev.pooled
        if m is None:
            return f"{o.name}: too few providers with {POOL_MONTH} months of coaching data to pool."
        ratio = "share" if o.is_share else "rate"
        return (
            f"{o.name}: pooling {m.k} providers' interrupted time series, the {ratio} in month {POOL_MONTH} of "
            f"coaching was {np.exp(m.estimate):.2f} times what pre-coaching trends predicted (95% CI "
            f"{np.exp(m.ci_low):.2f} to {np.exp(m.ci_high):.2f}). Providers differ (I-squared {m.i2:.0f}%): a new "
            f"provider's effect would likely lie between {np.exp(m.pi_low):.2f} and {np.exp(m.pi_high):.2f}."
        )

    def conclusions(self) -> pd.DataFrame:
        """One row per outcome: DiD, pooled ITS, heterogeneity, TWFE."""
        rows = []
        for key, ev in self.outcomes.items():
            o, s = self.cfg.outcomes[key], ev.simple.overall
            row = {
                "Outcome": o.name,
                "Unit": self._unit(key),
                "Staggered DiD effect (95% CI)": f"{s.att:+.2f} ({s.ci_low:+.2f} to {s.ci_high:+.2f})",
                "TWFE (95% CI)": ""
                if ev.twfe is None
                else f"{ev.twfe.estimate:+.2f} ({ev.twfe.ci_low:+.2f} to {ev.twfe.ci_high:+.2f})",
            }
            m = ev.pooled
            row[f"Pooled ITS ratio, month {POOL_MONTH} (95% CI)"] = (
                "" if m is None else (f"{np.exp(m.estimate):.2f} ({np.exp(m.ci_low):.2f} to {np.exp(m.ci_high):.2f})")
            )
            row["Prediction interval"] = "" if m is None else f"{np.exp(m.pi_low):.2f} to {np.exp(m.pi_high):.2f}"
            row["I-squared"] = "" if m is None else f"{m.i2:.0f}%"
            rows.append(row)
        return pd.DataFrame(rows)

    def write_summary(self, path) -> None:
        """Write headline effects as JSON for the batch index (no-op when path is None)."""
        if path:
            import json
            from pathlib import Path

            heads = {}
            for key, ev in self.outcomes.items():
                if self.cfg.outcomes[key].headline:
                    s = ev.simple.overall
                    heads[self.cfg.outcomes[key].name] = (
                        f"{s.att:+.2f} {self._unit(key)} ({s.ci_low:+.2f} to {s.ci_high:+.2f})"
                    )
            Path(path).write_text(json.dumps(heads))

    # ------------------------------------------------------------------------------------
    # Sections
    # ------------------------------------------------------------------------------------
    def title(self) -> None:
        p = self.prog
        d.show_html("<h1>Culture of Care programme evaluation</h1>")
        d.paragraph(
            f"{len(p.participating)} providers in {p.participating['cohort'].nunique()} cohorts and "
            f"{len(p.participation) - len(p.participating)} providers not in the programme; monthly data "
            f"{p.months[0]:%B %Y} to {p.months[-1]:%B %Y}."
        )

    def findings(self) -> None:
        """Section 1: conclusions first."""
        d.heading("Findings")
        for key, o in self.cfg.outcomes.items():
            if key in self.outcomes and o.headline:
                d.finding(self.did_sentence(key))
                d.finding(self.pooled_sentence(key))
        d.show_table(
            self.conclusions(),
            rule=self.cfg.disclosure.preset,
            caption="Staggered DiD: Callaway & Sant'Anna, not-yet-coached providers as controls, average over all "
            "coached provider-months. Pooled ITS: random-effects meta-analysis (REML, Hartung-Knapp) of "
            "each provider's fitted/expected ratio in month 12 of coaching.",
        )

    def participation(self) -> None:
        """Section 2: who joined when."""
        import matplotlib.pyplot as plt

        d.heading("Participation")
        p = self.prog.participating
        t = (
            p.groupby("cohort")
            .agg(
                providers=("provider_id", "size"),
                wards=("wards_enrolled", "sum"),
                start=("start_month", "min"),
                end=("coaching_end_month", "max"),
            )
            .reset_index()
        )
        t["start"], t["end"] = t["start"].dt.strftime("%Y-%m"), t["end"].dt.strftime("%Y-%m")
        d.show_table(
            t.rename(
                columns={
                    "cohort": "Cohort",
                    "providers": "Providers",
                    "wards": "Wards enrolled",
                    "start": "Coaching starts",
                    "end": "Coaching ends",
                }
            ),
            rule=self.cfg.disclosure.preset,
        )
        import matplotlib.dates as mdates

        fig, ax = plt.subplots(figsize=(8, 0.7 * len(t) + 1.2))
        for i, r in enumerate(t.itertuples()):
            s, e = pd.Timestamp(r.start), pd.Timestamp(r.end) + pd.offsets.MonthEnd(0)
            ax.barh(i, (e - s).days, left=s, color=PALETTE[i % len(PALETTE)], height=0.5)
            ax.text(s, i - 0.3, f"{r.cohort}: {r.providers} providers", fontsize=8, va="bottom")
        last = self.prog.months[-1]
        ax.axvline(last, color=NHS_GREY, ls="--", lw=1)
        ax.annotate(" data end", xy=(last, 1), xycoords=("data", "axes fraction"), fontsize=8, color=NHS_GREY, va="top")
        ax.set_yticks([])
        ax.invert_yaxis()
        locator = mdates.AutoDateLocator(maxticks=8)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        first, latest = pd.Timestamp(t["start"].min()), pd.Timestamp(t["start"].max())
        ax.set_title(f"Coaching started in {len(t)} cohort(s) between {first:%B %Y} and {latest:%B %Y}")
        d.show_figure(fig)

    def staggered_did(self) -> None:
        """Section 3: event studies and cohort effects."""
        d.heading("Staggered difference-in-differences")
        d.paragraph(
            "Each coached provider is compared with providers not yet coached at the same time (Callaway & "
            "Sant'Anna 2021, doubly robust, multiplier-bootstrap bands). The event study shows the effect by "
            "months since coaching started; estimates before 0 check the parallel-trends assumption and "
            "should sit around zero."
        )
        for key, ev in self.outcomes.items():
            o = self.cfg.outcomes[key]
            d.heading(o.label, 3)
            d.paragraph(self.did_sentence(key))
            if ev.dropped:
                d.paragraph(
                    f"{len(ev.dropped)} provider(s) left out of this panel (missing months or a stretch of "
                    f"nothing reported): {', '.join(ev.dropped)}."
                )
            d.paragraph(self._pretrend_sentence(ev))
            fig, ax = ev.dynamic.plot()
            ax.set_ylabel(f"Effect ({self._unit(key)})")
            ax.set_title(f"{o.name}: effect by months since coaching started")
            d.show_figure(fig)
            g = ev.group.table.reset_index()
            g["cohort"] = pd.to_datetime(g["cohort"]).dt.strftime("starting %Y-%m")
            d.show_table(
                g.rename(
                    columns={
                        "cohort": "Cohort",
                        "att": "Effect",
                        "se": "SE",
                        "ci_low": "Band low",
                        "ci_high": "Band high",
                    }
                ),
                rule=self.cfg.disclosure.preset,
                caption=f"Effect by cohort ({self._unit(key)})",
                formats={c: (lambda v: f"{v:+.2f}") for c in ("Effect", "Band low", "Band high")}
                | {"SE": lambda v: f"{v:.2f}"},
            )

    def _pretrend_sentence(self, ev: OutcomeEvaluation) -> str:
        pre = ev.dynamic.table[ev.dynamic.table.index < 0]
        if pre.empty:
            return "No pre-coaching event times to check parallel trends."
        inside = ((pre["ci_low"] <= 0) & (pre["ci_high"] >= 0)).mean()
        test = _quiet(ev.dynamic.pretrend_test, notes=ev.notes)
        wald = (
            ""
            if not np.isfinite(test["p_value"])
            else f" A joint Wald test that the {test['df']} pre-coaching event-time effects are all zero gives "
            f"p = {test['p_value']:.3f}{' (a warning sign)' if test['p_value'] < 0.05 else ''}."
        )
        return (
            f"Parallel-trends check: {inside:.0%} of the {len(pre)} pre-coaching event-time estimates have bands that "
            f"include zero.{wald}"
        )

    def twfe_and_bacon(self) -> None:
        """Section 4: why not two-way fixed effects."""
        d.heading("Two-way fixed effects and the Goodman-Bacon decomposition")
        d.paragraph(
            "A two-way fixed-effects regression averages every 2x2 comparison in the data, including 'later vs "
            "earlier coached' ones that use already-coached providers as controls. When effects build up over "
            "time those comparisons are biased, so the TWFE estimate can differ from the staggered DiD."
        )
        for key, ev in self.outcomes.items():
            o = self.cfg.outcomes[key]
            if not o.headline or ev.twfe is None:
                continue
            d.paragraph(
                f"{o.name}: TWFE {ev.twfe.estimate:+.2f} (95% CI {ev.twfe.ci_low:+.2f} to {ev.twfe.ci_high:+.2f}) "
                f"against the staggered DiD {ev.simple.overall.att:+.2f} ({self._unit(key)})."
            )
            t = ev.bacon.summary_by_type().reset_index()
            d.show_table(
                t.rename(columns={"type": "Comparison", "estimate": "Average 2x2 estimate", "weight": "Weight"}),
                rule=self.cfg.disclosure.preset,
                formats={"Average 2x2 estimate": lambda v: f"{v:+.2f}", "Weight": lambda v: f"{v:.1%}"},
            )
            fig, ax = ev.bacon.plot()
            ax.set_title(f"{o.name}: the 2x2 comparisons inside TWFE")
            d.show_figure(fig)

    def pooled_its(self) -> None:
        """Section 5: per-provider ITS effects pooled by random effects, with forest plots."""
        d.heading("Provider effects pooled")
        d.paragraph(
            f"Each provider's interrupted time series gives the ratio of what happened to what pre-coaching "
            f"trends predicted in month {POOL_MONTH} of coaching; providers whose data do not yet reach month "
            f"{POOL_MONTH} are not pooled. The diamond is the pooled effect; the dashed line where a new "
            "provider's effect would likely fall."
        )
        for key, ev in self.outcomes.items():
            o = self.cfg.outcomes[key]
            if not o.headline or ev.pooled is None:
                continue
            d.paragraph(self.pooled_sentence(key))
            fig, ax = ev.pooled.forest_plot(
                transform=np.exp,
                xlabel="Ratio (1 = no change)",
                title=f"{o.name}: ratio to expected in month {POOL_MONTH}, by provider",
            )
            fig.set_size_inches(8, max(4, 0.18 * ev.pooled.k + 2))
            d.show_figure(fig)

    def cohorts(self) -> None:
        """Section 6: do cohorts differ?"""
        d.heading("Cohort comparisons")
        rows = []
        for key, ev in self.outcomes.items():
            o = self.cfg.outcomes[key]
            for c, g in ev.group.table.iterrows():
                rows.append(
                    {
                        "Outcome": o.name,
                        "Cohort start": f"{pd.Timestamp(c):%Y-%m}",
                        "DiD effect (band)": f"{g['att']:+.2f} ({g['ci_low']:+.2f} to {g['ci_high']:+.2f})",
                        "Unit": self._unit(key),
                    }
                )
        d.show_table(
            pd.DataFrame(rows),
            rule=self.cfg.disclosure.preset,
            caption="Later cohorts have had less time in coaching, so smaller effects are expected while effects build up.",
        )
        rows = []
        for key, ev in self.outcomes.items():
            for c, m in ev.pooled_by_cohort.items():
                rows.append(
                    {
                        "Outcome": self.cfg.outcomes[key].name,
                        "Cohort": c,
                        "Providers": m.k,
                        f"Pooled ITS ratio, month {POOL_MONTH} (95% CI)": f"{np.exp(m.estimate):.2f} ({np.exp(m.ci_low):.2f} to {np.exp(m.ci_high):.2f})",
                    }
                )
        if rows:
            d.show_table(pd.DataFrame(rows), rule=self.cfg.disclosure.preset)

    def staff_experience(self) -> None:
        """Section 7: staff survey, staggered DiD by survey year."""
        d.heading("Staff experience")
        d.paragraph(
            "NHS Staff Survey indicators by provider and year; a survey year counts as after the start when "
            "coaching began by September. Comparison: providers not yet coached."
        )
        rows = []
        for key, r in self.staff.items():
            ind = self.cfg.staff_indicators[key]
            if "error" in r:
                rows.append({"Indicator": ind.label, "Effect (95% CI)": f"not estimated: {r['error']}", "Unit": ""})
                continue
            s = r["simple"].overall
            good = (s.att > 0) == (ind.improvement == "increase")
            rows.append(
                {
                    "Indicator": ind.label,
                    "Effect (95% CI)": f"{s.att:+.2f} ({s.ci_low:+.2f} to {s.ci_high:+.2f})",
                    "Unit": r["scale"],
                    "Direction": "better" if good else "worse",
                    "Clear?": "yes" if (s.ci_low > 0 or s.ci_high < 0) else "no",
                }
            )
        d.show_table(pd.DataFrame(rows), rule=self.cfg.disclosure.preset)

    def truth(self) -> None:
        """Section 8 (synthetic data only): estimates against the known truth."""
        if self.prog.truth is None or not self.cfg.report.show_truth:
            return
        from cocEval.synthetic import true_effects

        d.heading("Do the methods recover the known truth?")
        d.paragraph(
            "These data are synthetic, generated with known effects (truth.csv). Each estimate is set against "
            "the true value of the same quantity over the same providers and months."
        )
        truth = self.prog.truth
        rows = []
        for key, ev in self.outcomes.items():
            o = self.cfg.outcomes[key]
            months = set(ev.panel["month"].dt.strftime("%Y-%m"))
            sub = truth[
                (truth["outcome"] == o.numerator)
                & truth["provider_id"].isin(set(ev.panel["provider_id"]))
                & truth["period"].isin(months)
            ]
            te = true_effects(sub, by=None)
            true_att = float(te["difference"].iloc[0]) * o.display_per / o.per
            s = ev.simple.overall
            rows.append(
                {
                    "Outcome": o.name,
                    "Estimand": f"ATT, {self._unit(key)}",
                    "Estimate": s.att,
                    "95% CI": f"{s.ci_low:+.2f} to {s.ci_high:+.2f}",
                    "Truth": true_att,
                    "Covered": "yes" if s.ci_low <= true_att <= s.ci_high else "no",
                }
            )
            if ev.pooled is not None:
                true_log = self._true_log_effect(ev, o.numerator)
                rows.append(
                    {
                        "Outcome": o.name,
                        "Estimand": f"pooled log ratio, month {POOL_MONTH}",
                        "Estimate": ev.pooled.estimate,
                        "95% CI": f"{ev.pooled.ci_low:+.3f} to {ev.pooled.ci_high:+.3f}",
                        "Truth": true_log,
                        "Covered": "yes" if ev.pooled.ci_low <= true_log <= ev.pooled.ci_high else "no",
                    }
                )
        for key, r in self.staff.items():
            if "error" in r:
                continue
            ind = self.cfg.staff_indicators[key]
            sub = truth[
                (truth["outcome"] == ind.column)
                & truth["provider_id"].isin(set(r["panel"]["provider_id"]))
                & truth["period"].isin({str(y) for y in r["panel"]["survey_year"]})
            ]
            true_att = float(true_effects(sub, by=None)["difference"].iloc[0]) * r["factor"]
            s = r["simple"].overall
            rows.append(
                {
                    "Outcome": ind.label,
                    "Estimand": f"ATT, {r['scale']}",
                    "Estimate": s.att,
                    "95% CI": f"{s.ci_low:+.2f} to {s.ci_high:+.2f}",
                    "Truth": true_att,
                    "Covered": "yes" if s.ci_low <= true_att <= s.ci_high else "no",
                }
            )
        t = pd.DataFrame(rows)
        d.show_table(
            t,
            rule=self.cfg.disclosure.preset,
            formats={"Estimate": lambda v: f"{v:+.3f}", "Truth": lambda v: f"{v:+.3f}"},
        )
        covered = (t["Covered"] == "yes").mean()
        d.finding(f"{covered:.0%} of the {len(t)} intervals cover the true value.")

    def _true_log_effect(self, ev: OutcomeEvaluation, outcome: str) -> float:
        """Mean over pooled providers of the true log effect in month 12 of coaching."""
        truth = self.prog.truth
        starts = self.prog.participation.set_index("provider_id")["start_month"]
        vals = []
        for pid in ev.provider_effects["provider_id"]:
            month = f"{starts[pid] + pd.DateOffset(months=POOL_MONTH - 1):%Y-%m}"
            r = truth[(truth["provider_id"] == pid) & (truth["outcome"] == outcome) & (truth["period"] == month)]
            if len(r):
                vals.append(np.log(r["effect"].iloc[0]))  # ratio of expected counts = ratio of rates or shares
        return float(np.mean(vals)) if vals else float("nan")

    def methods(self) -> None:
        """Section 9: methods, assumptions, provenance."""
        d.heading("Methods, assumptions and provenance")
        o = self.cfg.did
        d.bullets(
            [
                f"Staggered DiD (Callaway & Sant'Anna 2021): {o.control_group} controls, {o.method} estimator, varying base "
                f"period, {'multiplier bootstrap (' + str(o.n_boot) + ' draws) with simultaneous bands' if o.bootstrap else 'analytic standard errors'}, "
                "clustered by provider. The overall effect averages all coached provider-months, weighting cohorts by size.",
                "Provider-month panel: rates per 1,000 occupied bed days summed over wards; shares of positive responses in "
                "percentage points. The provisional latest month is left out; providers with missing months or a stretch of "
                "nothing reported are left out of that outcome's panel.",
                "Two-way fixed effects with provider-clustered standard errors (fixest's small-sample convention) and the "
                "Goodman-Bacon (2021) decomposition.",
                f"Pooled ITS: each provider's segmented regression with seasonality ({family_words(self.cfg)}); the month-{POOL_MONTH} log ratio pooled by REML random effects "
                "with the Hartung-Knapp adjustment (as metafor), with a prediction interval.",
            ]
        )
        notes = sorted({n for ev in self.outcomes.values() for n in ev.notes})
        if notes:
            d.paragraph(f"Model notes ({len(notes)}): " + " | ".join(notes[:30]) + (" ..." if len(notes) > 30 else ""))
        d.show_table(
            pd.DataFrame(
                [
                    {"Item": "Data folder", "Value": str(self.prog.source)},
                    {"Item": "Data hash (SHA-256)", "Value": self.prog.data_hash[:16]},
                    {"Item": "cocEval version", "Value": cocEval.__version__},
                    {"Item": "Configuration", "Value": self.config_path},
                    {"Item": "Estimation time", "Value": f"{self.seconds:.1f} s"},
                    {"Item": "Rendered", "Value": time.strftime("%Y-%m-%d %H:%M")},
                ]
            ),
            rule=self.cfg.disclosure.preset,
        )
