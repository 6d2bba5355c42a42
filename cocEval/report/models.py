"""Models shared by the provider and programme reports: one provider's ITS per outcome, and a
provider's staff survey change against providers not yet coached.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from cocEval.config import Outcome, ProgrammeConfig, StaffIndicator
from cocEval.data import ProgrammeData, provider_months
from cocEval.effects import EffectSummary
from cocEval.errors import NotEstimableError
from cocEval.its import fit_its, get_family
from cocEval.quality import provisional_months, zero_stretches


@dataclass
class StaffComparison:
    """A provider's change in one staff survey indicator against comparison providers.

    With a single treated provider a regression's robust standard error is not valid (one
    treated cluster). Instead the provider's change is set against the spread of changes among
    comparison providers (those not yet started, or never): difference = change - mean(comparison
    changes), SE = sd(comparison changes) * sqrt(1 + 1/n), t on n - 1 degrees of freedom, i.e.
    a prediction interval: is this provider's change unusual for a provider without coaching?
    """

    indicator: str
    label: str
    before_year: int
    after_year: int
    before: float
    after: float
    comparison_change: float
    difference: float
    se: float
    ci_low: float
    ci_high: float
    n_comparison: int
    scale: str  # "score points" or "percentage points" (a key of cocEval.wording.SCALES)
    improvement: str

    def __repr__(self) -> str:
        return f"StaffComparison({self.label}: {self.effect_summary().estimate_text()})"

    def effect_summary(self) -> EffectSummary:
        """This provider's change against comparison providers' changes, as an EffectSummary.

        Shares are stored as fractions (the "percentage points" scale multiplies by 100),
        scores as points.

        Examples
        --------
        >>> s = StaffComparison("engagement", "Staff engagement (0-10)", 2023, 2024, 6.6, 6.8, 0.05, 0.15, 0.07,
        ...                     0.01, 0.29, 52, "score points", "increase")
        >>> print(s.effect_summary().estimate_text())
        +0.15 points (95% CI +0.01 to +0.29 points)
        >>> s.effect_summary().verdict
        'improvement'
        """
        df = max(self.n_comparison - 1, 1)
        p = float(2 * stats.t.sf(abs(self.difference) / self.se, df)) if self.se > 0 else None
        return EffectSummary(
            outcome=self.label,
            comparison="this provider's change against the average change among providers not yet coached",
            scale=self.scale,
            estimate=self.difference,
            ci_low=self.ci_low,
            ci_high=self.ci_high,
            period=f"the {self.after_year} staff survey (change since {self.before_year})",
            method="staff survey: one provider's change against comparison providers' changes (prediction interval)",
            p_value=p,
            n=self.n_comparison,
            n_label=f"{self.n_comparison} comparison providers",
            improvement=self.improvement,
            caveats=("The interval is where a provider without coaching would be expected to fall, so it is wide.",),
        )


def staff_comparison(panel: pd.DataFrame, provider_id: str, *, alpha: float = 0.05) -> dict:
    """Compare one provider's before/after change with comparison providers' changes.

    ``panel`` is :func:`cocEval.data.provider_year_panel` output. Before = the survey year
    before the provider's first post-start survey; after = that year. Comparison providers are
    those whose first post-start survey is later than "after" (or never).

    Returns a dict of numbers (see :class:`StaffComparison`), or raises NotEstimableError when
    the provider has no post-start survey, no survey in one of the two years, or fewer than
    three comparison providers. :func:`staff_comparisons` gives every provider's at once.

    Examples
    --------
    >>> p = pd.DataFrame({"provider_id": list("AABBCCDD"), "survey_year": [2023, 2024] * 4,
    ...                   "value": [5., 6, 5, 5.1, 5, 4.9, 5, 5.2], "first_year": [2024] * 2 + [0] * 6})
    >>> round(staff_comparison(p, "A")["difference"], 2)
    0.93
    """
    r = staff_comparisons(panel, [provider_id], alpha=alpha)[provider_id]
    if isinstance(r, str):
        raise NotEstimableError(r)
    return r


def staff_comparisons(
    panel: pd.DataFrame, providers: Iterable[str] | None = None, *, alpha: float = 0.05
) -> dict[str, dict | str]:
    """:func:`staff_comparison` of several providers (default: all in ``panel``) at once.

    Providers whose first survey after the start is the same year share one comparison group,
    which is found once. Each provider maps to its dict of numbers, or to why it has none (the
    message :func:`staff_comparison` raises).

    Examples
    --------
    >>> p = pd.DataFrame({"provider_id": list("AABBCCDD"), "survey_year": [2023, 2024] * 4,
    ...                   "value": [5., 6, 5, 5.1, 5, 4.9, 5, 5.2], "first_year": [2024] * 2 + [0] * 6})
    >>> out = staff_comparisons(p)
    >>> round(out["A"]["difference"], 2), out["B"]
    (0.93, 'B has no staff survey after coaching started')
    """
    firsts = panel.drop_duplicates("provider_id").set_index("provider_id")["first_year"]
    groups: dict[int, _YearChange | None] = {}  # by first year after the start
    out: dict[str, dict | str] = {}
    for provider_id in firsts.index if providers is None else providers:
        first = int(firsts[provider_id]) if provider_id in firsts.index else 0
        if first == 0:
            out[provider_id] = f"{provider_id} has no staff survey after coaching started"
            continue
        before_y, after_y = first - 1, first
        if first not in groups:
            groups[first] = _YearChange.of(panel, firsts, after_y, alpha)
        g = groups[first]
        if g is None or provider_id not in g.change.index:
            out[provider_id] = f"{provider_id}: no survey in {before_y} and {after_y}"
        elif g.n < 3:
            out[provider_id] = f"only {g.n} comparison providers surveyed in {before_y} and {after_y}"
        else:
            diff = float(g.change[provider_id] - g.comparison_change)
            out[provider_id] = {
                "before_year": before_y,
                "after_year": after_y,
                "before": float(g.wide.at[provider_id, before_y]),
                "after": float(g.wide.at[provider_id, after_y]),
                "comparison_change": g.comparison_change,
                "difference": diff,
                "se": g.se,
                "ci_low": diff - g.crit * g.se,
                "ci_high": diff + g.crit * g.se,
                "n_comparison": g.n,
            }
    return out


@dataclass(frozen=True)
class _YearChange:
    """Every provider's change from the survey year before ``after_year`` to it (``wide``:
    both years' values), and the comparison group of providers first surveyed after the start
    later than ``after_year`` or never: its size, mean change, the prediction SE and the
    critical t value. Providers first surveyed after the start in ``after_year`` are never in
    that group, so they all share it."""

    wide: pd.DataFrame
    change: pd.Series
    n: int
    comparison_change: float
    se: float
    crit: float

    @classmethod
    def of(cls, panel: pd.DataFrame, firsts: pd.Series, after_year: int, alpha: float) -> _YearChange | None:
        """None when no provider was surveyed in one of the two years."""
        before_y = after_year - 1
        wide = panel[panel["survey_year"].isin([before_y, after_year])].pivot_table(
            index="provider_id", columns="survey_year", values="value"
        )
        if before_y not in wide.columns or after_year not in wide.columns:
            return None
        change = (wide[after_year] - wide[before_y]).dropna()
        later = firsts.reindex(change.index)
        comp = change[(later == 0) | (later > after_year)]
        n = len(comp)
        se = float(comp.std(ddof=1) * np.sqrt(1 + 1 / n)) if n >= 3 else np.nan
        crit = float(stats.t.ppf(1 - alpha / 2, n - 1)) if n >= 3 else np.nan
        return cls(wide, change, n, float(comp.mean()) if n else np.nan, se, crit)


FAMILY_WORDS = {
    "quasipoisson": "quasi-Poisson (over-dispersed counts, Pearson dispersion)",
    "negbin": "negative binomial",
    "poisson": "Poisson",
    "binomial": "binomial (logit link)",
    "gaussian": "linear (AR(1) errors)",
}


def family_words(cfg: ProgrammeConfig, keys=None) -> str:
    """Which model each table's outcomes use, in words for the methods section (``keys``: only
    these outcomes, e.g. those in the data; default all configured)."""
    fams = {}
    for k, o in cfg.outcomes.items():
        if keys is not None and k not in keys:
            continue
        fams.setdefault(o.table.replace("_", " "), set()).add(FAMILY_WORDS.get(o.family, o.family))
    return "; ".join(f"{t}: {', '.join(sorted(f))}" for t, f in fams.items())


def model_months(prog: ProgrammeData, cfg: ProgrammeConfig) -> pd.DatetimeIndex:
    """Months the models use: all but the provisional ones."""
    return prog.months.difference(pd.DatetimeIndex(provisional_months(prog, cfg.report.exclude_provisional_months)))


def excluded_months(
    prog: ProgrammeData, cfg: ProgrammeConfig, provider_id: str, outcome: Outcome
) -> list[pd.Timestamp]:
    """Months left out of a provider's models: provisional months, the provider's configured
    exclusions and, for restrictive practice, stretches of three or more months with no
    restrictive intervention reported at all (a recording gap, not a run of perfect months)."""
    months = provisional_months(prog, cfg.report.exclude_provisional_months)
    months += [pd.Timestamp(m) for m in cfg.excluded_months(provider_id)]
    if outcome.table == "restrictive_practice":
        for _, z in zero_stretches(prog, provider_id).iterrows():
            months += list(pd.date_range(z["first_month"], z["last_month"], freq="MS"))
    return sorted(set(months))


#: Tables in words, for "not in the data" sentences.
TABLE_WORDS = {
    "restrictive_practice": "restrictive practice",
    "patient_experience": "patient experience",
    "staff_survey": "staff survey",
}

#: Imputations of the bounds-aware fit (multiple imputation within the published bounds).
BOUNDS_IMPUTATIONS = 20


def absent_reason(prog: ProgrammeData, o: Outcome) -> str | None:
    """Why an outcome cannot be analysed from these data ("not in the data: ..."), or None.

    An outcome is absent when its table is not in the data folder (``prog.tables``) or the
    table lacks its numerator or denominator column (published provider-level data carry
    only some counts).

    Examples
    --------
    >>> from cocEval.config import load_inputs
    >>> cfg, prog, _ = load_inputs()
    >>> absent_reason(prog, cfg.outcomes["restrictive_interventions"]) is None
    True
    """
    table = TABLE_WORDS[o.table]
    if o.table not in prog.tables:
        return f"not in the data: there is no {table} table"
    cols = getattr(prog, o.table).columns
    for c in (o.numerator, o.denominator):
        if c not in cols:
            return f"not in the data: the {table} table has no {c.replace('_', ' ')} column"
    return None


def staff_absent_reason(prog: ProgrammeData, ind: StaffIndicator) -> str | None:
    """Why a staff survey indicator cannot be analysed ("not in the data: ..."), or None.

    Absent when there is no staff survey table, or neither the indicator's column nor its
    published percentage (``<column>_pct``) holds a value.

    Examples
    --------
    >>> from cocEval.config import load_inputs
    >>> cfg, prog, _ = load_inputs()
    >>> staff_absent_reason(prog, cfg.staff_indicators["engagement"]) is None
    True
    """
    if "staff_survey" not in prog.tables:
        return "not in the data: there is no staff survey table"
    ss = prog.staff_survey
    cols = [c for c in (ind.column, f"{ind.column}_pct") if c in ss.columns]
    if not cols or not ss[cols].notna().any().any():
        return f"not in the data: the staff survey table has no {ind.column.replace('_', ' ')} results"
    return None


def has_bounds(prog: ProgrammeData, o: Outcome) -> bool:
    """True when the outcome's numerator carries ``_lower``/``_upper`` bounds (disclosure-controlled counts).

    Examples
    --------
    >>> from cocEval.config import load_inputs
    >>> cfg, prog, _ = load_inputs()
    >>> has_bounds(prog, cfg.outcomes["restrictive_interventions"])  # synthetic counts are exact
    False
    """
    cols = getattr(prog, o.table).columns
    return f"{o.numerator}_lower" in cols and f"{o.numerator}_upper" in cols


def monthly_series(prog: ProgrammeData, provider_id: str, outcome: Outcome) -> pd.DataFrame:
    """A provider's monthly numerator, denominator and value (rate per ``per``, or share).

    With disclosure-controlled counts the frame also has ``numerator_lower`` and
    ``numerator_upper`` and ``source_suppressed`` (True where the published count is suppressed:
    no value, only bounds). Months the provider did not report have no value and no bounds.
    """
    pm = provider_months(prog, outcome.table)
    bounds = [f"{outcome.numerator}_lower", f"{outcome.numerator}_upper"] if has_bounds(prog, outcome) else []
    s = pm.loc[pm["provider_id"] == provider_id, ["month", outcome.numerator, outcome.denominator, *bounds]]
    s = s.rename(
        columns={
            outcome.numerator: "numerator",
            outcome.denominator: "denominator",
            **{b: "numerator" + b[len(outcome.numerator) :] for b in bounds},
        }
    ).reset_index(drop=True)
    s["value"] = s["numerator"] / s["denominator"].where(s["denominator"] > 0) * outcome.per
    s["source_suppressed"] = s["numerator"].isna() & (s["numerator_lower"].notna() if bounds else False)
    return s


def sustain_start(prog: ProgrammeData, cfg: ProgrammeConfig, provider_id: str) -> pd.Timestamp | None:
    """First month after coaching ended, when the model months hold at least three from it."""
    end = prog.participation.set_index("provider_id").at[provider_id, "coaching_end_month"]
    if pd.isna(end):
        return None
    first_after = end + pd.offsets.MonthBegin(1)
    return first_after if (model_months(prog, cfg) >= first_after).sum() >= 3 else None


@dataclass
class OutcomeModel:
    """One provider's interrupted time series for one outcome (``its`` None when not estimable)."""

    key: str
    outcome: Outcome
    series: pd.DataFrame  # month, numerator, denominator, value, excluded
    excluded: list
    its: object | None = None
    error: str | None = None
    notes: list = field(default_factory=list)
    #: "standard" (counts as published) or "bounds" (multiple imputation within the published bounds)
    fit: str = "standard"
    #: why that fit, in words (empty for exact counts without bounds)
    fit_reason: str = ""
    #: the naive fit beside a bounds-aware one (rounded counts as exact, suppressed months left out)
    naive: object | None = None
    #: True when the outcome is not in the data (``error`` says why)
    absent: bool = False


def fit_outcome(prog: ProgrammeData, cfg: ProgrammeConfig, provider_id: str, key: str) -> OutcomeModel:
    """Fit the configured ITS model of one outcome for one provider.

    Restrictive practice: counts with occupied bed days as exposure (rate ratios); patient
    experience: positive responses out of responses (binomial). Seasonality, errors and the
    end-of-coaching terms follow the config. A model that cannot be fitted (e.g. too few events)
    comes back with ``its=None`` and the reason in ``error``; warnings are kept in ``notes``. An
    outcome that is not in the data comes back with ``absent=True``.

    Where the counts are disclosure-controlled (``<numerator>_lower``/``_upper`` columns, and
    some of this provider's months rounded or suppressed) and the family is a count family, the
    model is the bounds-aware fit (:func:`cocEval.censored.fit_its_bounds`: multiple imputation
    within the published bounds), with the naive fit kept beside it (``naive``); ``fit`` and
    ``fit_reason`` say which and why.

    Examples
    --------
    >>> from cocEval.config import load_inputs
    >>> cfg, prog, _ = load_inputs()
    >>> m = fit_outcome(prog, cfg, "SYN001", "restrictive_interventions")
    >>> m.error is None, m.excluded, m.fit
    (True, [Timestamp('2026-03-01 00:00:00')], 'standard')
    """
    o = cfg.outcomes[key]
    absent = absent_reason(prog, o)
    if absent is not None:
        empty = pd.DataFrame(columns=["month", "numerator", "denominator", "value", "excluded", "source_suppressed"])
        return OutcomeModel(key, o, empty, [], error=absent, absent=True)
    start = prog.participation.set_index("provider_id").at[provider_id, "start_month"]
    s = monthly_series(prog, provider_id, o)
    excluded = excluded_months(prog, cfg, provider_id, o)
    s["excluded"] = s["month"].isin(excluded)
    model = OutcomeModel(key, o, s, excluded)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _fit_its(model, prog, cfg, provider_id, start)
        model.notes = [f"{o.name}: {w.message}" for w in caught]
    except NotEstimableError as exc:
        model.error = str(exc)
    except ValueError as exc:
        # fit_its on main still raises plain ValueError for data that cannot support a model;
        # only those messages are a reason in words, anything else is a bug and propagates.
        if not _NOT_ESTIMABLE.search(str(exc)):
            raise
        model.error = str(exc)
    return model


def _fit_its(model: OutcomeModel, prog: ProgrammeData, cfg: ProgrammeConfig, provider_id: str, start) -> None:
    """Fit ``model`` in place: the standard fit, or the bounds-aware one where counts are intervals."""
    from cocEval.censored import fit_its_bounds

    o, s, excluded = model.outcome, model.series, model.excluded
    opts = cfg.its_options(provider_id)
    # Column names become the words of the model's narrative.
    den = "occupied bed days" if o.table == "restrictive_practice" else "responses"
    fit = s[s["denominator"] > 0].rename(
        columns={
            "numerator": o.name,
            "denominator": den,
            "numerator_lower": f"{o.name}_lower",
            "numerator_upper": f"{o.name}_upper",
        }
    )
    kw = {"exposure": den} if o.table == "restrictive_practice" else {"trials": den}
    gaussian = get_family(o.family).needs is None
    if gaussian:  # model the rate (or share) itself
        fit = fit.assign(**{o.name: fit[o.name] / fit[den] * o.display_per})
        kw = {}
    options = dict(
        family=o.family,
        errors=opts.errors_for(o.family),
        maxlags=opts.maxlags,
        seasonality=opts.seasonality,
        min_before=opts.min_months_before,
        min_after=opts.min_months_after,
        end=sustain_start(prog, cfg, provider_id),
        **kw,
    )
    model.fit, model.fit_reason = bounds_choice(fit, o, gaussian)
    if model.fit == "bounds":
        reported = fit[fit[f"{o.name}_lower"].notna()]
        res = fit_its_bounds(
            reported,
            o.name,
            "month",
            start,
            m=BOUNDS_IMPUTATIONS,
            seed=cfg.did.seed,
            exclude=[m for m in excluded if m in set(reported["month"])] or None,
            **options,
        )
        model.its, model.naive = res.pooled, res.naive
        return
    fit = fit[fit[o.name].notna()]  # suppressed or not reported: missing
    model.its = fit_its(
        fit, o.name, "month", start, exclude=[m for m in excluded if m in set(fit["month"])] or None, **options
    )


def bounds_choice(fit: pd.DataFrame, o: Outcome, gaussian: bool) -> tuple[str, str]:
    """Which ITS fit suits one provider's series, and why, in words: ``("bounds" | "standard", reason)``.

    ``fit`` has the outcome's counts under ``o.name`` and, for disclosure-controlled data, bounds
    in ``<o.name>_lower``/``_upper``. The reason is empty for exact counts without bounds.

    Examples
    --------
    >>> from cocEval.config import load_config
    >>> o = load_config("params/public_data.yaml").outcomes["people_restricted"]
    >>> fit = pd.DataFrame({o.name: [120.0, None], f"{o.name}_lower": [118, 0], f"{o.name}_upper": [122, 4]})
    >>> kind, why = bounds_choice(fit, o, gaussian=False)
    >>> kind, why.split(", so")[0]
    ('bounds', 'the published counts are disclosure-controlled (1 of its 2 months is rounded to the nearest 5 and 1 is suppressed as fewer than 5)')
    """
    lo_col, up_col = f"{o.name}_lower", f"{o.name}_upper"
    if lo_col not in fit.columns:
        return "standard", ""
    lo, up = pd.to_numeric(fit[lo_col]), pd.to_numeric(fit[up_col])
    reported = lo.notna() & up.notna()
    n_sup = int((fit[o.name].isna() & reported).sum())
    n_round = int((fit[o.name].notna() & reported & (lo < up)).sum())
    if n_sup + n_round == 0:
        return "standard", "the published counts behind it are exact, so the standard fit is used"
    what = " and ".join(
        x
        for x in (
            f"{n_round} of its {int(reported.sum())} months {'is' if n_round == 1 else 'are'} rounded to the nearest 5"
            if n_round
            else "",
            f"{n_sup} {'is' if n_sup == 1 else 'are'} suppressed as fewer than 5" if n_sup else "",
        )
        if x
    )
    if gaussian or o.table != "restrictive_practice":
        return "standard", (
            f"the published counts are disclosure-controlled ({what}); the bounds-aware fit is for count models, "
            "so this model takes rounded counts as exact and leaves suppressed months out"
        )
    return "bounds", (
        f"the published counts are disclosure-controlled ({what}), so the model is fitted within the published "
        f"bounds (multiple imputation, {BOUNDS_IMPUTATIONS} imputations) rather than taking rounded counts as exact "
        "and dropping suppressed months"
    )


_NOT_ESTIMABLE = re.compile(
    r"zero in every|0% or 100%|at least \d+ are needed|too few to fit|rank deficient|no finite estimate"
)


#: Months of coaching after which effects are read for the headline (provider report) and for
#: pooling across providers (programme report): the 12th month, the start month being month 1.
EFFECT_MONTH = 12


def pooling_effect(its, error: str | None = None, month: int = EFFECT_MONTH) -> dict:
    """What the programme report pools from one provider's model of one outcome.

    ``{"log_effect": L, "se": s}`` (the log ratio of fitted to expected in ``month`` of coaching
    and its SE, from :func:`log_effect_at`), or ``{"error": reason}`` when there is no model.
    Provider reports write these so that the programme report need not fit the same models again;
    JSON keeps the floats exact.

    Examples
    --------
    >>> pooling_effect(None, "too few events")
    {'error': 'too few events'}
    """
    if its is None:
        return {"error": error or "not fitted"}
    est, se = log_effect_at(its, month - 1)
    return {"log_effect": est, "se": se}


def log_effect_at(res, h: int) -> tuple[float, float]:
    """Log rate (or odds) ratio of fitted to counterfactual ``h`` periods after the start, with
    its standard error: the quantity pooled across providers.

    It is linear in the coefficients (E @ beta for the effect rows E of period ``h``), so its
    SE is exact given the coefficient covariance.
    """
    eff = res.effect_at(h).iloc[0]
    est = float(np.log1p(eff["relative"]))
    # relative = exp(L) - 1 with delta-method se(relative) = exp(L) se(L)
    se = float(eff["relative_se"] / (1 + eff["relative"]))
    return est, se
