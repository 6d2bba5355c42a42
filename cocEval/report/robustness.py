"""The programme report's "How robust is this?" section.

Two steps, so the programme report can compute once and render anywhere:

1. :func:`assess_outcome` (one outcome's provider-month panel) or :func:`assess_programme`
   (every configured outcome of a :class:`~cocEval.data.ProgrammeData`) runs the checks of
   :mod:`cocEval.did.robustness` and :mod:`cocEval.did.honest` and returns
   :class:`OutcomeRobustness` records;
2. :func:`robustness_section` turns them into a :class:`~cocEval.report.blocks.Section`: the
   sensitivity plot (robust intervals against Mbar), the breakdown value, placebo and
   permutation results, the leave-one-out range, comparison choices, multiplicity-adjusted
   p-values with the findings that survive, and the minimum detectable effect, each in one
   plain sentence. Tables and the figure pass through the disclosure gate; no provider is
   named.

Examples
--------
With ``prog`` the synthetic programme (small numbers of permutations and simulations, so it is
quick; the programme report uses 99 and 100):

>>> from cocEval.config import load_config
>>> from cocEval.report.gate import Gate
>>> cfg = load_config("params/programme.yaml")
>>> res = assess_programme(prog, cfg, outcomes=["positive_experience"], mbar=(1.0,), window=(-2, 0),
...                        placebo_shifts=(6,), n_perm=9, n_sims=10, leave_out_providers=False)
>>> section = robustness_section(res, gate=Gate(cfg.disclosure.preset))
>>> section.title, res["positive_experience"].notes
('How robust is this?', [])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cocEval.did import att_gt
from cocEval.did.honest import honest_did_event_study
from cocEval.did.robustness import (
    DiDSpec,
    _quiet,
    comparison_choices,
    leave_one_out,
    mde,
    multiplicity,
    placebo_in_time,
    randomisation_inference,
)
from cocEval.errors import CocEvalError
from cocEval.report.blocks import Bullets, Paragraph, Section
from cocEval.report.gate import Gate
from cocEval.wording import fmt_number, fmt_p

__all__ = ["OutcomeRobustness", "assess_outcome", "assess_programme", "robustness_section"]


@dataclass
class OutcomeRobustness:
    """The robustness checks of one outcome (inputs of :func:`robustness_section`).

    ``unit`` is the outcome's unit in words ("per 1,000 occupied bed days", "percentage
    points"); ``improvement`` "decrease" or "increase". Each check is ``None`` when it was not
    run or could not be estimated (the reason is in ``notes``).
    """

    outcome: str
    unit: str
    improvement: str | None
    estimate: float
    ci_low: float
    ci_high: float
    p_value: float
    honest: pd.DataFrame | None = None
    honest_target: str = ""
    placebo: pd.DataFrame | None = None
    permutation: pd.DataFrame | None = None
    loo_provider: pd.DataFrame | None = None
    loo_cohort: pd.DataFrame | None = None
    choices: pd.DataFrame | None = None
    mde: dict | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def breakdown(self) -> tuple[float, float] | None:
        """(last Mbar at which the robust interval excludes zero, first at which it includes it).

        ``(0, 0)`` when the conventional interval already includes zero; ``(max, inf)`` when
        every Mbar tried still excludes zero.
        """
        h = self.honest
        if h is None or h.empty:
            return None
        orig = h[h["method"] == "Original"].iloc[0]
        if orig["lb"] <= 0 <= orig["ub"]:
            return (0.0, 0.0)
        rob = h[h["method"] != "Original"].sort_values("m")
        inc = (rob["lb"] <= 0) & (rob["ub"] >= 0)
        ok = rob.loc[~inc, "m"]
        first = rob.loc[inc, "m"].min() if inc.any() else np.inf
        last = ok[ok < first].max() if (ok < first).any() else 0.0
        return (float(last), float(first))


def _att_gt(panel: pd.DataFrame, spec: DiDSpec, **options):
    """``att_gt`` on ``panel`` as ``spec`` sets it up (no bootstrap), warnings silenced; ``options`` override."""
    kw: dict[str, object] = {
        "control_group": spec.control_group,
        "method": spec.method,
        "base_period": spec.base_period,
        "anticipation": spec.anticipation,
        "bootstrap": False,
    }
    kw.update(options)
    return _quiet(att_gt, panel, spec.outcome, spec.unit, spec.time, spec.cohort, **kw)


def assess_outcome(
    panel: pd.DataFrame,
    *,
    outcome: str,
    unit: str,
    improvement: str | None = "decrease",
    spec: DiDSpec | None = None,
    mbar: Sequence[float] = (0.5, 1.0, 1.5, 2.0),
    window: tuple[int, int] = (-6, 5),
    placebo_shifts: Sequence[int] = (6, 12),
    n_perm: int = 199,
    n_sims: int = 200,
    leave_out_providers: bool = True,
    seed: int = 20240401,
) -> OutcomeRobustness:
    """Run every robustness check on one outcome's provider-month panel.

    Parameters
    ----------
    panel : DataFrame
        As :func:`cocEval.data.provider_month_panel` (columns of ``spec``: ``provider_id,
        month, value, start_month``), on the scale the report shows.
    outcome, unit, improvement : str
        Words for the sentences.
    spec : DiDSpec, optional
        The main DiD specification (the programme's control group and method; default
        ``DiDSpec()``).
    mbar : sequence of float
        Relative-magnitude bounds for the HonestDiD sensitivity analysis.
    window : (int, int)
        Event-time window of the event study behind HonestDiD: months before (negative) and the
        last month after the start; its target is the average effect over months 1..last+1 of
        coaching. A short window keeps the analysis fast (well under a second per Mbar at 6 months).
    placebo_shifts, n_perm, n_sims, leave_out_providers, seed
        Placebo start shifts (months), permutations, power simulations (both capped at 999),
        whether to run leave-one-provider-out (one fit per provider).

    Examples
    --------
    >>> from cocEval.data import provider_month_panel
    >>> panel = provider_month_panel(prog, "restrictive_interventions")  # ``prog``: the synthetic programme
    >>> r = assess_outcome(panel, outcome="Restrictive interventions", unit="per 1,000 occupied bed days",
    ...                    mbar=(0.5, 1.0), window=(-3, 1), placebo_shifts=(6,), n_perm=9, n_sims=10,
    ...                    leave_out_providers=False)
    >>> r.honest["method"].tolist(), int(r.permutation["n_perm"].iloc[0]), r.mde["n_sims"]
    (['Original', 'C-LF', 'C-LF'], 9, 10)
    """
    spec = spec or DiDSpec()
    notes: list[str] = []
    res = _att_gt(panel, spec, alpha=spec.alpha)
    if spec.summary == "dynamic":
        simple = _quiet(res.aggregate, "dynamic", min_e=0, max_e=spec.max_e).overall
    else:
        simple = _quiet(res.aggregate, "simple", max_e=spec.max_e).overall
    from scipy import stats

    p = float(2 * stats.norm.sf(abs(simple.att / simple.se))) if simple.se > 0 else np.nan
    out = OutcomeRobustness(outcome, unit, improvement, simple.att, simple.ci_low, simple.ci_high, p, notes=notes)

    def attempt(name, fn):
        try:
            return fn()
        except (CocEvalError, ValueError, np.linalg.LinAlgError) as exc:
            notes.append(f"{name} not computed: {exc}")
            return None

    lo, hi = window
    n_post = hi + 1

    def honest():
        uni = _att_gt(panel, spec, base_period="universal")
        agg = _quiet(uni.aggregate, "dynamic", min_e=lo, max_e=hi)
        return honest_did_event_study(
            agg, restriction="relative_magnitudes", m=list(mbar), l_vec=np.ones(n_post) / n_post, alpha=spec.alpha
        )

    out.honest = attempt("Sensitivity analysis (HonestDiD)", honest)
    out.honest_target = f"the average effect over the first {n_post} months of coaching"
    out.placebo = attempt("Placebo in time", lambda: placebo_in_time(panel, spec, shifts=placebo_shifts))
    out.permutation = attempt(
        "Randomisation inference", lambda: randomisation_inference(panel, spec, n_perm=n_perm, seed=seed)
    )
    if leave_out_providers:
        out.loo_provider = attempt("Leave one provider out", lambda: leave_one_out(panel, spec, by="provider"))
    out.loo_cohort = attempt("Leave one cohort out", lambda: leave_one_out(panel, spec, by="cohort"))
    out.choices = attempt("Comparison choices", lambda: comparison_choices(panel, spec))
    out.mde = attempt("Minimum detectable effect", lambda: mde(panel, spec, n_sims=n_sims, seed=seed))
    return out


def assess_programme(prog, cfg, *, panels: Mapping[str, pd.DataFrame] | None = None, outcomes=None, **kwargs):
    """:func:`assess_outcome` for every configured outcome (or ``outcomes``).

    Parameters
    ----------
    prog : ProgrammeData
    cfg : ProgrammeConfig
    panels : mapping, optional
        Outcome key -> the panel the programme report used (e.g. ``OutcomeEvaluation.panel``,
        rates per ``per``, shares as proportions or per cent). Missing keys are built with
        :func:`cocEval.data.provider_month_panel`. Shares are shown in percentage points.
    kwargs
        Passed to :func:`assess_outcome`. The default ``spec`` follows the configuration: the
        ``did`` control group and method, and the primary analysis's aggregation ("dynamic":
        the average over event times 0..``did.max_e``).

    Returns
    -------
    dict
        Outcome key -> :class:`OutcomeRobustness`.

    Examples
    --------
    >>> from cocEval.config import load_config
    >>> cfg = load_config("params/programme.yaml")
    >>> res = assess_programme(prog, cfg, outcomes=["seclusion"], mbar=(1.0,), window=(-2, 0),
    ...                        placebo_shifts=(6,), n_perm=9, n_sims=10, leave_out_providers=False)
    >>> list(res), res["seclusion"].unit
    (['seclusion'], 'per 1,000 occupied bed days')
    """
    from cocEval.data import provider_month_panel

    pa = getattr(cfg, "primary_analysis", None)
    summary = "simple" if pa is not None and pa.aggregation == "simple" else "dynamic"
    default = DiDSpec(control_group=cfg.did.control_group, method=cfg.did.method, summary=summary, max_e=cfg.did.max_e)
    spec = kwargs.pop("spec", default)
    results = {}
    for key in outcomes or list(cfg.outcomes):
        o = cfg.outcomes[key]
        if panels is not None and key in panels:
            panel = panels[key]
        else:
            panel = _quiet(provider_month_panel, prog, o.numerator, per=o.per)
        if o.is_share and panel["value"].abs().max() <= 1:
            panel = panel.assign(value=panel["value"] * 100.0)  # proportions -> percentage points
        unit = "percentage points" if o.is_share else f"per {fmt_number(o.per, 0)} occupied bed days"
        results[key] = assess_outcome(panel, outcome=o.name, unit=unit, improvement=o.improvement, spec=spec, **kwargs)
    return results


# ---------------------------------------------------------------------------------------------
# the section
# ---------------------------------------------------------------------------------------------
def _num(v: float, unit: str = "") -> str:
    if v is None or not np.isfinite(v):
        return "not estimable"
    s = fmt_number(float(v), 2 if abs(v) < 10 else 1)
    return f"{s} {unit}" if unit else s


def _bare_p(p: float) -> str:
    """A p-value for a table cell ("0.031", "< 0.001")."""
    return fmt_p(p).replace("p = ", "").replace("p < ", "< ")


def _range(lo: float, hi: float, unit: str) -> str:
    return f"{_num(lo)} to {_num(hi, unit)}"


def _excludes_zero(lo, hi) -> bool:
    return bool(np.isfinite(lo) and np.isfinite(hi) and (lo > 0 or hi < 0))


def _sensitivity_sentence(r: OutcomeRobustness) -> str:
    bd = r.breakdown
    if bd is None:
        return f"{r.outcome}: the sensitivity analysis could not be run."
    if bd == (0.0, 0.0):
        return (
            f"{r.outcome}: even assuming trends would have stayed parallel, the interval for {r.honest_target} "
            "includes no change, so there is no finding for a departure from parallel trends to overturn."
        )
    last, first = bd
    if not np.isfinite(first):
        return (
            f"{r.outcome}: the finding holds even if, after the start, trends drifted apart by up to "
            f"{fmt_number(last, 1)} times the largest month-to-month drift seen before it."
        )
    if last == 0:
        return (
            f"{r.outcome}: the finding is fragile: it no longer holds if trends after the start could drift apart "
            f"by even {fmt_number(first, 1)} times the largest month-to-month drift seen before it."
        )
    return (
        f"{r.outcome}: the finding holds if, after the start, trends drifted apart by up to {fmt_number(last, 1)} "
        f"times the largest month-to-month drift seen before it, but not at {fmt_number(first, 1)} times "
        "(the breakdown value)."
    )


def _placebo_sentence(r: OutcomeRobustness) -> str | None:
    if r.placebo is None or r.placebo.empty:
        return None
    parts = []
    flagged = 0
    for _, row in r.placebo.iterrows():
        parts.append(f"{int(row['shift'])} months: {_num(row['estimate'], r.unit)}")
        flagged += _excludes_zero(row["ci_low"], row["ci_high"])
    verdict = (
        "none is clearly different from no change, as it should be"
        if flagged == 0
        else f"{flagged} is clearly different from no change, a warning that trends were already diverging"
    )
    return (
        f"Pretending coaching began earlier than it did, when it could have had no effect, gives "
        f"{'; '.join(parts)}; {verdict}."
    )


def _permutation_sentence(r: OutcomeRobustness) -> str | None:
    if r.permutation is None or r.permutation.empty:
        return None
    row = r.permutation.iloc[0]
    return (
        f"If start dates had been handed out at random among the participating providers "
        f"({int(row['n_perm'])} reshuffles), an effect at least as large as the one estimated would have "
        f"appeared {fmt_number(100 * row['p_value'], 0)}% of the time ({fmt_p(row['p_value'])})."
    )


def _loo_sentence(r: OutcomeRobustness) -> str | None:
    parts = []
    for frame, what in ((r.loo_provider, "provider"), (r.loo_cohort, "cohort")):
        if frame is None or frame.empty or not frame["estimate"].notna().any():
            continue
        e = frame["estimate"].dropna()
        flips = int(
            sum(
                _excludes_zero(lo, hi) != _excludes_zero(r.ci_low, r.ci_high)
                for lo, hi in zip(frame["ci_low"], frame["ci_high"], strict=False)
            )
        )
        tail = "" if flips == 0 else f" ({flips} of these leave-outs change whether no change can be ruled out)"
        parts.append(f"leaving out one {what} at a time, from {_range(e.min(), e.max(), r.unit)}{tail}")
    if not parts:
        return None
    return f"The estimate ({_num(r.estimate, r.unit)}) moves, " + "; ".join(parts) + "."


def _choices_sentence(r: OutcomeRobustness) -> str | None:
    c = r.choices
    if c is None or c.empty or not c["estimate"].notna().any():
        return None
    excl = sum(_excludes_zero(lo, hi) for lo, hi in zip(c["ci_low"], c["ci_high"], strict=False))
    return (
        f"Comparing with providers not yet coached or only with those never coached, allowing 0 to 2 months of "
        f"anticipation, and measuring from a varying or a fixed baseline ({len(c)} combinations), the estimate "
        f"ranges from {_range(c['estimate'].min(), c['estimate'].max(), r.unit)}, and {excl} of the {len(c)} "
        "rule out no change."
    )


def _mde_sentence(r: OutcomeRobustness) -> str | None:
    if not r.mde:
        return None
    return (
        f"With these providers, start dates and months, an average effect smaller than "
        f"{_num(r.mde['mde'], r.unit)} would likely go unseen (80% power at the 5% level)."
    )


def _sensitivity_figure(results: Sequence[OutcomeRobustness], gate: Gate):
    import matplotlib.pyplot as plt

    from cocEval.style import NHS_BLUE, NHS_GREY

    rows = []
    for r in results:
        if r.honest is None:
            continue
        h = r.honest.copy()
        h["outcome"] = r.outcome
        h["Mbar"] = h["m"].fillna(0.0)
        rows.append(h)
    if not rows:
        return None
    data = gate.frame(pd.concat(rows, ignore_index=True), values=["lb", "ub", "Mbar"])
    outs = list(dict.fromkeys(data["outcome"]))
    units = {r.outcome: r.unit for r in results}
    targets = " or ".join(dict.fromkeys(r.honest_target for r in results if r.honest is not None))
    # at most three panels a row, so the figure keeps a readable size on the page (was one row, 25 in wide)
    ncols = min(3, len(outs))
    nrows = -(-len(outs) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.4 * nrows), squeeze=False)
    for ax in axes.flat[len(outs) :]:
        ax.set_visible(False)
    for ax, o in zip(axes.flat, outs, strict=False):
        d = data[data["outcome"] == o]
        for _, row in d.iterrows():
            orig = row["method"] == "Original"
            x = row["Mbar"] - (0.12 if orig else 0.0)
            ax.plot([x, x], [row["lb"], row["ub"]], color=NHS_GREY if orig else NHS_BLUE, lw=3)
        ax.axhline(0, color="black", lw=0.8)
        ax.set_title(f"{o}\n({units[o]})", fontsize=9)
        ax.set_xlabel("Mbar: allowed drift after the start,\nrelative to the largest before it")
    for row in axes:
        row[0].set_ylabel("Effect (95% interval)")
    fig.tight_layout()
    alt = "Robust 95% intervals for " + "; ".join(
        f"{o}: from {_range(float(d['lb'].iloc[0]), float(d['ub'].iloc[0]), '')} assuming parallel trends to "
        f"{_range(float(d['lb'].iloc[-1]), float(d['ub'].iloc[-1]), '')} at Mbar {fmt_number(float(d['Mbar'].iloc[-1]), 1)}"
        for o, d in ((o, data[data["outcome"] == o]) for o in outs)
    )
    return gate.figure(
        fig,
        data=data,
        alt=alt + ".",
        caption="Grey: the usual interval (parallel trends assumed). Blue: intervals that stay valid if trends "
        "after the start drifted apart by up to Mbar times the largest drift seen before it (Rambachan & Roth 2023). "
        f"Each interval is for {targets}, so it can differ from the headline average over all months since the "
        "start.",
    )


def _multiplicity_blocks(recs: Sequence[OutcomeRobustness], gate: Gate, alpha: float) -> list:
    """The finding on multiplicity-adjusted p-values and its table."""
    m = multiplicity({r.outcome: r.p_value for r in recs}, alpha=alpha)
    survive_h = m.loc[m["survives_holm"], "outcome"].tolist()
    survive_b = m.loc[m["survives_bh"], "outcome"].tolist()
    raw = m.loc[m["p_value"] < alpha, "outcome"].tolist()
    text = Paragraph(
        f"Testing {len(recs)} outcomes makes a chance finding more likely, so the p-values are adjusted: "
        f"{len(raw)} outcome(s) pass the 5% level on their own, {len(survive_h)} survive the strict Holm "
        f"adjustment ({', '.join(survive_h) or 'none'}) and {len(survive_b)} survive the false-discovery-rate "
        f"(Benjamini-Hochberg) adjustment ({', '.join(survive_b) or 'none'}).",
        kind="finding",
    )
    tab = pd.DataFrame(
        {
            "Outcome": m["outcome"],
            "Unit": [r.unit for r in recs],
            "Effect": [_num(r.estimate) for r in recs],
            "95% interval": [_range(r.ci_low, r.ci_high, "") for r in recs],
            "p-value": m["p_value"].map(_bare_p),
            "Holm-adjusted p": m["p_holm"].map(_bare_p),
            "Benjamini-Hochberg q": m["q_bh"].map(_bare_p),
            "Survives": [
                "Holm and BH" if h else ("BH only" if b else "no")
                for h, b in zip(m["survives_holm"], m["survives_bh"], strict=False)
            ],
        }
    )
    caption = (
        "Average effect since the start (staggered difference-in-differences) with multiplicity-adjusted p-values."
    )
    return [text, gate.table(tab, caption=caption)]


def _outcome_blocks(r: OutcomeRobustness, gate: Gate) -> list:
    """One outcome's checks in sentences, and its comparison-choices table."""
    out: list = []
    sentences = (
        _placebo_sentence(r),
        _permutation_sentence(r),
        _loo_sentence(r),
        _choices_sentence(r),
        _mde_sentence(r),
    )
    items = [s for s in sentences if s]
    if items:
        out += [Paragraph(f"{r.outcome} ({r.unit}):"), Bullets(items)]
    if r.choices is not None and not r.choices.empty:
        c = r.choices
        ct = pd.DataFrame(
            {
                "Comparison group": c["control_group"].map(
                    {"notyettreated": "not yet coached", "nevertreated": "never coached"}
                ),
                "Anticipation (months)": c["anticipation"].astype(int).astype(str),
                "Baseline": c["base_period"].map({"varying": "varying", "universal": "fixed"}),
                "Effect": c["estimate"].map(_num),
                "95% interval": [_range(lo, hi, "") for lo, hi in zip(c["ci_low"], c["ci_high"], strict=False)],
                "Main analysis": c["is_main"].map({True: "yes", False: ""}),
            }
        )
        out.append(gate.table(ct, caption=f"{r.outcome}: the effect under each comparison choice."))
    return out


def robustness_section(
    results: Mapping[str, OutcomeRobustness] | Sequence[OutcomeRobustness],
    *,
    gate: Gate,
    alpha: float = 0.05,
    title: str = "How robust is this?",
) -> Section:
    """The "How robust is this?" section from :class:`OutcomeRobustness` records.

    Parameters
    ----------
    results : mapping or sequence of OutcomeRobustness
        One per outcome of the pre-specified family (the multiplicity adjustment is across them).
    gate : Gate
        The report's disclosure gate (tables and the figure pass through it).
    alpha : float
    title : str

    Returns
    -------
    Section

    Examples
    --------
    >>> r = OutcomeRobustness("Seclusion", "per 1,000 occupied bed days", "decrease", -0.4, -0.7, -0.1, 0.01)
    >>> s = robustness_section([r], gate=Gate("mhsds"))
    >>> s.title
    'How robust is this?'
    """
    recs = list(results.values()) if isinstance(results, Mapping) else list(results)
    sec = Section(title)
    sec.add(
        Paragraph(
            "An evaluation's first answer is how big the effect is; the next is how much it would take to "
            "overturn it. The checks below re-run the comparison of coached with not-yet-coached providers "
            "under different assumptions. No single provider is named."
        )
    )
    if not recs:
        sec.add(Paragraph("No outcome could be checked.", kind="note"))
        return sec

    # multiplicity first: which findings survive
    sec.add(*_multiplicity_blocks(recs, gate, alpha))
    fig = _sensitivity_figure(recs, gate)
    if fig is not None:
        sec.add(fig)
    sec.add(Bullets([_sensitivity_sentence(r) for r in recs]))
    for r in recs:
        sec.add(*_outcome_blocks(r, gate))
    return sec
