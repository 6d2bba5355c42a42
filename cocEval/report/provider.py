"""The per-provider report: every number the provider notebook shows, computed in one place.

:class:`ProviderReport` holds the models for one provider (interrupted time series and SPC for
each monthly outcome, a staff survey comparison with providers not yet started, funnel
positions) and offers one method per report section. The notebook only calls them, so the
same analysis is available to an evaluator in their own notebook::

    rep = ProviderReport.build("SYN001", "data/synthetic", "params/programme.yaml")
    rep.its["restrictive_interventions"].summary()

A report names no other provider: peers appear only as anonymous points.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

import cocEval
from cocEval.config import Outcome, ProgrammeConfig, load_inputs
from cocEval.data import ProgrammeData, provider_year_panel
from cocEval.funnel import funnel_proportions, funnel_rates
from cocEval.quality import provisional_months, ward_completeness, zero_stretches
from cocEval.report import display as d
from cocEval.report.models import StaffComparison, family_words, fit_outcome, staff_comparison, sustain_start
from cocEval.spc import xmr
from cocEval.style import use_nhs_style

THIS = "This provider"
HEADLINE_MONTH = 12  # the at-a-glance effect is read in the 12th month of coaching (or the latest)


@dataclass
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
    seconds: float = 0.0
    config_path: str = ""
    _headlines: dict = field(default_factory=dict, repr=False)  # cache of _headline_effect

    # ------------------------------------------------------------------------------------
    @classmethod
    def build(cls, provider_id: str, data_dir=None, config=None) -> ProviderReport:
        """Load data and config, then fit every model for one provider.

        Model failures (e.g. too few events) do not stop the report: they are kept in
        ``its_errors`` / ``staff_errors`` and said in plain words.

        Examples
        --------
        >>> rep = ProviderReport.build("SYN001", "data/synthetic")  # doctest: +SKIP
        >>> rep.headlines()  # doctest: +SKIP
        """
        t0 = time.perf_counter()
        cfg, prog, config = load_inputs(data_dir, config)
        part = prog.participation.set_index("provider_id")
        if provider_id not in part.index:
            raise ValueError(f"provider {provider_id!r} is not in participation")
        info = part.loc[provider_id]
        if pd.isna(info["start_month"]):
            raise ValueError(f"provider {provider_id!r} never started coaching: no provider report")
        rep = cls(
            provider_id,
            prog,
            cfg,
            info,
            config_path=str(config) if not isinstance(config, ProgrammeConfig) else "in memory",
        )
        use_nhs_style(dpi=cfg.report.dpi)
        rep._fit_outcomes()
        rep._fit_staff()
        rep.seconds = time.perf_counter() - t0
        return rep

    @property
    def start(self) -> pd.Timestamp:
        return self.info["start_month"]

    @property
    def name(self) -> str:
        return str(self.info["provider_name"])

    @property
    def sustain_start(self) -> pd.Timestamp | None:
        return sustain_start(self.prog, self.cfg, self.provider_id)

    def sustain_sentence(self) -> str:
        """Whether the data can say if the change lasted after coaching ended."""
        end = self.info["coaching_end_month"]
        if pd.isna(end):
            return "No end of coaching is recorded, so whether the change lasted cannot be judged."
        if self.sustain_start is None:
            return (
                f"Coaching ends in {end:%B %Y}; the data do not yet reach three months beyond it, so whether the "
                "change lasted after coaching cannot be judged yet."
            )
        return (
            f"Coaching ended in {end:%B %Y}; the models add a further change in level and trend from "
            f"{self.sustain_start:%B %Y} to show whether the change lasted."
        )

    def _fit_outcomes(self) -> None:
        for key, o in self.cfg.outcomes.items():
            m = fit_outcome(self.prog, self.cfg, self.provider_id, key)
            self.series[key], self.excluded[key] = m.series, m.excluded
            self.notes += m.notes
            if m.its is not None:
                self.its[key] = m.its
            else:
                self.its_errors[key] = m.error
            # SPC: the 12-month baseline before coaching sets the limits; coaching months follow.
            s = m.series
            base_start = self.start - pd.DateOffset(months=self.cfg.report.baseline_months)
            sp = s[(s["month"] >= base_start) & ~s["excluded"] & s["value"].notna()]
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    self.spc[key] = xmr(
                        sp["value"].to_numpy() * o.display_per / o.per,
                        index=pd.DatetimeIndex(sp["month"]),
                        improvement=o.improvement,
                        fix_after_n_points=max(12, int((sp["month"] < self.start).sum())),
                    )
                self.notes += [f"{o.name} SPC: {w.message}" for w in caught]
            except ValueError as exc:
                self.notes.append(f"{o.name}: SPC chart not drawn ({exc})")

    def _fit_staff(self) -> None:
        for key, ind in self.cfg.staff_indicators.items():
            panel = provider_year_panel(self.prog, ind.column)
            try:
                r = staff_comparison(panel.dropna(subset=["value"]), self.provider_id)
            except ValueError as exc:
                self.staff_errors[key] = str(exc)
                continue
            self.staff.append(
                StaffComparison(
                    indicator=key,
                    label=ind.label,
                    **r,
                    scale="points" if ind.is_score else "percentage points",
                    improvement=ind.improvement,
                )
            )

    # ------------------------------------------------------------------------------------
    # Words
    # ------------------------------------------------------------------------------------
    def _headline_effect(self, key: str) -> dict | None:
        if key not in self._headlines:
            self._headlines[key] = self._compute_headline_effect(key)
        return self._headlines[key]

    def _compute_headline_effect(self, key: str) -> dict | None:
        res = self.its.get(key)
        if res is None:
            return None
        pred = res.predict()
        # months of coaching the model has data for (provisional or excluded months do not count)
        post = pred[(pred["period"] >= self.start) & ~pred["excluded"]]
        h = int(min(HEADLINE_MONTH - 1, max(len(post) - 1, 0)))
        e = res.effect_at(h).iloc[0]
        return {
            "h": h,
            "relative": e["relative"],
            "low": e["relative_low"],
            "high": e["relative_high"],
            "absolute": e["absolute"],
            "abs_low": e["absolute_low"],
            "abs_high": e["absolute_high"],
        }

    def effect_sentence(self, key: str) -> str:
        """One plain-English sentence on what changed for an outcome (from the ITS model)."""
        o = self.cfg.outcomes[key]
        if key not in self.its:
            return f"{o.name}: not modelled ({self.its_errors.get(key, 'no model')})."
        e = self._headline_effect(key)
        month = e["h"] + 1
        direction = "lower" if e["relative"] < 0 else "higher"
        lo, hi = (e["abs_low"], e["abs_high"]) if o.is_share else (e["low"], e["high"])
        sure = (
            "The 95% interval does not include no change."
            if (lo > 0 or hi < 0)
            else "The 95% interval includes no change, so this could be chance."
        )
        good = (e["relative"] < 0) == (o.improvement == "decrease")
        verdict = "an improvement" if good else "a deterioration"
        return (
            f"{o.name}: in month {month} of coaching, {_effect_words(o, e)} {direction} than expected had "
            f"pre-coaching trends continued (95% CI {_effect_range(o, e)}), {verdict}. {sure}"
        )

    def headlines(self) -> dict[str, str]:
        """Short headline effects for the batch index (headline outcomes only)."""
        out = {}
        for key, o in self.cfg.outcomes.items():
            if not o.headline:
                continue
            e = self._headline_effect(key)
            out[o.name] = "not modelled" if e is None else f"{_effect_signed(o, e)} ({_effect_range(o, e)})"
        return out

    def write_summary(self, path) -> None:
        """Write the headline effects as JSON for the batch index (no-op when path is None)."""
        if path:
            Path(path).write_text(json.dumps(self.headlines()))

    # ------------------------------------------------------------------------------------
    # Sections
    # ------------------------------------------------------------------------------------
    def title(self) -> None:
        """Report title and one line of context."""
        i = self.info
        end = "" if pd.isna(i["coaching_end_month"]) else f" to {i['coaching_end_month']:%B %Y}"
        d.show_html(f"<h1>Culture of Care evaluation: {d.esc(self.name)}</h1>")
        d.paragraph(
            f"{self.provider_id} - {i['cohort']}: quality-improvement coaching from "
            f"{self.start:%B %Y}{end}, {int(i['wards_enrolled']) if pd.notna(i['wards_enrolled']) else 'unknown'} "
            f"wards enrolled. Data {self.prog.months[0]:%B %Y} to {self.prog.months[-1]:%B %Y}."
        )

    def at_a_glance(self) -> None:
        """Section 1: what changed, by how much, how sure we are."""
        d.heading("At a glance")
        for key, o in self.cfg.outcomes.items():
            if o.headline:
                d.finding(self.effect_sentence(key))
        staff = [s for s in self.staff if s.indicator in ("engagement", "violence")]
        for s in staff:
            d.finding(self._staff_sentence(s))
        rows = []
        for key, o in self.cfg.outcomes.items():
            s = self.series[key]
            base = s[
                (s["month"] < self.start)
                & (s["month"] >= self.start - pd.DateOffset(months=self.cfg.report.baseline_months))
            ]
            post = s[(s["month"] >= self.start) & ~s["excluded"]]
            e = self._headline_effect(key)
            chart = self.spc.get(key)
            rows.append(
                {
                    "Measure": o.name,
                    "b_n": base["numerator"].sum(),
                    "b_d": base["denominator"].sum(),
                    "p_n": post["numerator"].sum(),
                    "p_d": post["denominator"].sum(),
                    "12 months before coaching": base["numerator"].sum()
                    / max(base["denominator"].sum(), 1)
                    * o.display_per,
                    "Since coaching started": post["numerator"].sum()
                    / max(post["denominator"].sum(), 1)
                    * o.display_per,
                    "Modelled change (95% CI)": "not modelled"
                    if e is None
                    else f"{_effect_signed(o, e)} ({_effect_range(o, e)})",
                    "SPC signal": chart.icon_label() if chart is not None else "",
                }
            )
        t = pd.DataFrame(rows)
        den = {"12 months before coaching": ("b_n", "b_d"), "Since coaching started": ("p_n", "p_d")}
        d.show_table(
            t,
            rates=den,
            rule=self.cfg.disclosure.preset,
            drop=["b_n", "b_d", "p_n", "p_d"],
            caption="Rates per 1,000 occupied bed days (restrictive practice) or % positive (patient experience). "
            "Modelled change: interrupted time series at month 12 of coaching, or the latest month.",
            formats={c: (lambda v: f"{v:.1f}") for c in den},
        )
        if self.spc:
            fig, axes = _icon_strip({self.cfg.outcomes[k].name: c for k, c in self.spc.items()})
            d.show_figure(fig)

    def data_quality(self) -> None:
        """Section 2: completeness, zero-reporting stretches, provisional months."""
        d.heading("Data completeness and quality")
        wc = ward_completeness(self.prog, self.provider_id)
        zs = zero_stretches(self.prog, self.provider_id)
        prov = provisional_months(self.prog, self.cfg.report.exclude_provisional_months)
        missing = int((wc["months_expected"] - wc["rp_months"]).sum())
        text = (
            f"{len(wc)} wards reported restrictive practice for {int(wc['rp_months'].sum())} ward-months; "
            f"{missing} ward-month(s) are missing."
        )
        if len(zs):
            text += (
                f" The provider reported no restrictive interventions at all for {len(zs)} stretch(es) of three or more "
                f"months ({', '.join(f'{r.first_month} to {r.last_month}' for r in zs.itertuples())}) while reporting "
                "occupied bed days: treated as a recording gap and left out of the restrictive practice models."
            )
        if prov:
            text += f" The latest month ({', '.join(f'{m:%Y-%m}' for m in prov)}) is provisional and left out of the models."
        d.paragraph(text)
        d.show_table(
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
            rule=self.cfg.disclosure.preset,
        )

    def _outcome_block(self, key: str, *, charts: bool = True) -> None:
        """Words and table for one outcome; its SPC and ITS charts when ``charts``."""
        o = self.cfg.outcomes[key]
        d.heading(o.label, 3)
        chart = self.spc.get(key)
        if chart is not None:
            d.paragraph(chart.summary())
            if charts:
                fig, ax = chart.plot(
                    title=f"{o.name}: {chart.headline().lower()}", ylabel=o.label + (" (%)" if o.is_share else "")
                )
                ax.axvline(self.start, color="#4C6272", linestyle=":", linewidth=1)
                ax.annotate(
                    " coaching starts",
                    xy=(self.start, 1),
                    xycoords=("data", "axes fraction"),
                    va="top",
                    fontsize=8,
                    color="#4C6272",
                )
                d.show_figure(fig)
        res = self.its.get(key)
        if res is None:
            d.paragraph(f"No interrupted time series model: {self.its_errors.get(key, 'not fitted')}.")
            return
        d.paragraph(res.narrative())
        eff = res.effects.reset_index(drop=True).rename(
            columns={
                "effect": "Effect",
                "scale": "Scale",
                "estimate": "Estimate",
                "ci_low": "95% CI low",
                "ci_high": "95% CI high",
                "p_value": "p-value",
            }
        )
        d.show_table(
            eff,
            rule=self.cfg.disclosure.preset,
            formats={c: (lambda v: f"{v:.3f}") for c in ("Estimate", "95% CI low", "95% CI high", "p-value")},
        )
        if charts:
            fig, ax = res.plot(title=f"{o.name}: observed and expected without coaching")
            d.show_figure(fig)

    def _small_multiples(self, keys: list[str]) -> None:
        """Observed against expected-without-coaching for several outcomes in one figure."""
        import matplotlib.pyplot as plt

        keys = [k for k in keys if k in self.its]
        if not keys:
            return
        ncol = 2
        nrow = -(-len(keys) // ncol)
        fig, axes = plt.subplots(nrow, ncol, figsize=(10, 3.2 * nrow), squeeze=False)
        for ax, key in zip(axes.flat, keys):
            self.its[key].plot(ax=ax, title=self.cfg.outcomes[key].name)
            ax.set_xlabel("")
            ax.set_ylabel("per 1,000 occupied bed days")
            if ax is not axes.flat[0] and ax.get_legend() is not None:
                ax.get_legend().remove()
        for ax in axes.flat[len(keys) :]:
            ax.set_visible(False)
        fig.suptitle(
            "Restrictive practice by type: observed and expected without coaching (dashed)",
            x=0.01,
            ha="left",
            fontweight="bold",
            fontsize=11,
        )
        fig.tight_layout()
        d.show_figure(fig)

    def restrictive_practice(self) -> None:
        """Section 3: SPC and ITS for restrictive interventions; ITS for the key types."""
        d.heading("Restrictive practice")
        d.paragraph(
            "The SPC chart shows the 12 months before coaching (which set its limits) and the months since. "
            "The model charts show what the data would have looked like had pre-coaching trends and seasons "
            "continued (dashed) against what happened. " + self.sustain_sentence()
        )
        keys = [k for k, o in self.cfg.outcomes.items() if o.table == "restrictive_practice"]
        for key in keys:
            if self.cfg.outcomes[key].headline:
                self._outcome_block(key)
        types = [k for k in keys if not self.cfg.outcomes[k].headline]
        if types:
            d.heading("By type of restrictive practice", 3)
            self._small_multiples(types)
            for key in types:
                self._outcome_block(key, charts=False)

    def patient_experience(self) -> None:
        """Section 4: share of positive responses, SPC and ITS."""
        d.heading("Patient experience")
        for key, o in self.cfg.outcomes.items():
            if o.table == "patient_experience":
                self._outcome_block(key)

    def _staff_sentence(self, s: StaffComparison) -> str:
        unit = 100 if s.scale == "percentage points" else 1
        good = (s.difference > 0) == (s.improvement == "increase")
        clear = s.ci_low > 0 or s.ci_high < 0
        return (
            f"{s.label}: from {s.before_year} to {s.after_year} this provider's result changed by "
            f"{(s.after - s.before) * unit:+.1f} {s.scale}, against {s.comparison_change * unit:+.1f} among "
            f"{s.n_comparison} providers not yet coached: a difference of {s.difference * unit:+.1f} "
            f"(95% interval {s.ci_low * unit:+.1f} to {s.ci_high * unit:+.1f}), "
            f"{'better' if good else 'worse'} than comparison providers"
            f"{'' if clear else ', but within the range of their changes'}."
        )

    def staff_experience(self) -> None:
        """Section 5: staff survey before and after the start against providers not yet started."""
        d.heading("Staff experience")
        d.paragraph(
            "NHS Staff Survey results (fieldwork September to November) the year before and the first year after "
            "coaching started, set against the same change among providers not yet coached. The interval shows "
            "where a provider without coaching would fall, so it is wide: one provider's change is compared with "
            "the spread of others' changes."
        )
        for s in self.staff:
            d.paragraph(self._staff_sentence(s))
        if self.staff:
            rows = [
                {
                    "Indicator": s.label,
                    "Before": s.before,
                    "After": s.after,
                    "Comparison change": s.comparison_change,
                    "Difference": s.difference,
                    "95% interval": (s.ci_low, s.ci_high),
                    "scale": s.scale,
                }
                for s in self.staff
            ]
            t = pd.DataFrame(rows)

            def f(row, v):
                return f"{v * 100:.1f}%" if row["scale"] == "percentage points" else f"{v:.2f}"

            for c in ("Before", "After", "Comparison change", "Difference"):
                t[c] = [f(r, r[c]) for _, r in t.iterrows()]
            t["95% interval"] = [
                f"{f(r, r['95% interval'][0])} to {f(r, r['95% interval'][1])}" for _, r in t.iterrows()
            ]
            d.show_table(
                t.drop(columns="scale"),
                rule=self.cfg.disclosure.preset,
                caption="Shares are % of respondents; differences of shares are percentage points.",
            )
        for k, why in self.staff_errors.items():
            d.paragraph(f"{self.cfg.staff_indicators[k].label}: no comparison ({why}).")

    def peers(self) -> None:
        """Section 6: funnel plots against all providers, this provider highlighted, peers anonymous."""
        d.heading("Position among peers")
        last = [
            m
            for m in self.prog.months
            if m not in provisional_months(self.prog, self.cfg.report.exclude_provisional_months)
        ][-12:]
        d.paragraph(
            f"All providers over the same 12 months ({last[0]:%B %Y} to {last[-1]:%B %Y}). Other providers are "
            "shown as anonymous grey points."
        )
        for _key, o in self.cfg.outcomes.items():
            if not o.headline:
                continue
            df = getattr(self.prog, o.table)
            tot = df[df["month"].isin(last)].groupby("provider_id")[[o.numerator, o.denominator]].sum()
            tot = tot[tot[o.denominator] > 0]
            if self.provider_id not in tot.index:
                d.paragraph(f"{o.name}: this provider has no data in these months.")
                continue
            labels = [THIS if p == self.provider_id else f"Peer {i + 1}" for i, p in enumerate(tot.index)]
            fn = funnel_rates if o.table == "restrictive_practice" else funnel_proportions
            kw = {"per": o.per} if o.table == "restrictive_practice" else {}
            res = fn(
                tot[o.numerator].to_numpy(),
                tot[o.denominator].to_numpy(),
                labels=labels,
                overdispersion="additive",
                **kw,
            )
            d.paragraph(res.summary(highlight=THIS))
            fig, ax = res.plot(highlight=THIS, title=f"{o.name}: this provider against all providers")
            d.show_figure(fig)

    def methods(self) -> None:
        """Section 7: model choices, diagnostics, provenance."""
        d.heading("Methods, assumptions and provenance")
        opts = self.cfg.its_options(self.provider_id)
        d.bullets(
            [
                "Interrupted time series (segmented regression): pre-coaching level and trend, then a change in level and in "
                "trend from the first month of coaching, and a further change after coaching ended where the data reach it. "
                f"Models: {family_words(self.cfg)}; restrictive practice counts use occupied bed days as exposure "
                f"(rate ratios). Seasonality: {opts.seasonality} Fourier pair(s); "
                f"standard errors: {opts.errors}.",
                "SPC: NHS Making Data Count XmR charts; limits from the 12 months before coaching; special-cause rules as "
                "NHSRplotthedots (outside limits; 7-point trend; 2 of 3 close to a limit; 7-point shift).",
                "Staff survey: this provider's change from the year before to the first year after the start, against the "
                "changes of providers not yet coached (a prediction interval).",
                "Funnel plots: exact Poisson/binomial limits (95% and 99.8%) with an additive random-effects adjustment for "
                "over-dispersion between providers.",
                "Disclosure control: counts under 5 are suppressed and other counts rounded to the nearest 5; rates are "
                "suppressed when the count behind them is under 5 or bed days under 100.",
            ]
        )
        diag = []
        for key, res in self.its.items():
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    dg = res.diagnostics(warn=False)
            except Exception as exc:  # diagnostics are informative only
                self.notes.append(f"{key}: diagnostics unavailable ({exc})")
                continue
            row = {"Model": self.cfg.outcomes[key].name}
            row.update(_diagnostic_row(dg))
            diag.append(row)
        if diag:
            d.show_table(
                pd.DataFrame(diag),
                rule=self.cfg.disclosure.preset,
                caption="ITS model diagnostics (p-values)",
                formats={c: (lambda v: f"{v:.3f}") for c in pd.DataFrame(diag).columns if c != "Model"},
            )
        if self.notes:
            d.paragraph("Model notes: " + " ".join(sorted(set(self.notes))))
        d.show_table(
            pd.DataFrame(
                [
                    {"Item": "Provider", "Value": self.provider_id},
                    {"Item": "Data folder", "Value": str(self.prog.source)},
                    {"Item": "Data hash (SHA-256)", "Value": self.prog.data_hash[:16]},
                    {"Item": "cocEval version", "Value": cocEval.__version__},
                    {"Item": "Configuration", "Value": self.config_path},
                    {
                        "Item": "Months left out of models",
                        "Value": "; ".join(
                            f"{self.cfg.outcomes[k].name}: {', '.join(f'{m:%Y-%m}' for m in v)}"
                            for k, v in self.excluded.items()
                            if v and k in ("restrictive_interventions", "positive_experience")
                        ),
                    },
                    {"Item": "Model fitting time", "Value": f"{self.seconds:.1f} s"},
                    {"Item": "Rendered", "Value": time.strftime("%Y-%m-%d %H:%M")},
                ]
            ),
            rule=self.cfg.disclosure.preset,
        )


def _effect_words(o: Outcome, e: dict) -> str:
    """Size of an effect: percentage points for shares, per cent for rates."""
    return f"{abs(e['absolute']) * 100:.1f} percentage points" if o.is_share else f"{abs(e['relative']):.0%}"


def _effect_signed(o: Outcome, e: dict) -> str:
    return f"{e['absolute'] * 100:+.1f} pp" if o.is_share else f"{e['relative']:+.0%}"


def _effect_range(o: Outcome, e: dict) -> str:
    if o.is_share:
        return f"{e['abs_low'] * 100:+.1f} to {e['abs_high'] * 100:+.1f} pp"
    return f"{e['low']:+.0%} to {e['high']:+.0%}"


def _diagnostic_row(dg: pd.DataFrame) -> dict:
    """Flatten an ITS diagnostics frame into p-values by test name."""
    if "p_value" in dg.columns:
        key = "test" if "test" in dg.columns else dg.columns[0]
        return {str(r[key]): r["p_value"] for _, r in dg.iterrows() if pd.notna(r["p_value"])}
    return {}


def _icon_strip(charts: dict):
    """One row of MDC variation/assurance icons, labelled by measure."""
    import matplotlib.pyplot as plt

    n = len(charts)
    fig, axes = plt.subplots(1, n, figsize=(1.6 * n, 1.9))
    axes = np.atleast_1d(axes)
    for ax, (name, c) in zip(axes, charts.items()):
        c.icons(ax=ax)
        ax.set_title(name, fontsize=8, fontweight="normal", loc="center", wrap=True)
    fig.tight_layout()
    return fig, axes
