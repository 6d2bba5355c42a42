"""How robust is the programme's answer: placebos, permutations, leave-one-out, choices, power.

Every function takes a long provider-month panel (as :func:`cocEval.data.provider_month_panel`
returns: ``provider_id, month, value, start_month``) and a :class:`DiDSpec` naming the columns
and the staggered-DiD options, re-fits :func:`cocEval.did.att_gt` (analytic standard errors, so
each fit takes a fraction of a second) and returns a tidy frame. Compute is bounded: permutation
and simulation counts default to 199 and 200 and are capped at 999.

- :func:`multiplicity`: Holm and Benjamini-Hochberg adjustment across the outcome family;
- :func:`placebo_in_time`: pretend coaching began ``shift`` months early and estimate the
  "effect" over the months before the real start (should be near zero);
- :func:`placebo_in_time_its`: the same for each provider's interrupted time series;
- :func:`placebo_outcome`: the same DiD on an outcome coaching should not move;
- :func:`randomisation_inference`: reshuffle start dates among participating providers;
- :func:`leave_one_out`: drop each cohort or provider in turn (DiD), :func:`leave_one_out_pooled`
  drop each provider from the pooled ITS meta-analysis;
- :func:`comparison_choices`: never vs not-yet-treated, anticipation 0-2, varying vs universal
  base period, side by side;
- :func:`mde`: the effect the design detects with 80% power at the 5% level, by simulation;
- :func:`effect_summaries`: rows of a check as :class:`~cocEval.effects.EffectSummary`.

Examples
--------
>>> from cocEval.did.robustness import multiplicity
>>> multiplicity({"a": 0.01, "b": 0.04, "c": 0.30})[["outcome", "p_holm", "survives_holm"]].values.tolist()
[['a', 0.03, True], ['b', 0.08, False], ['c', 0.3, False]]
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd
from scipy import optimize, stats

from ..errors import InputError, NotEstimableError
from ._inference import analytic_se
from ._panel import Panel, prepare_panel
from .aggregate import _aggregate_parts, _Cells
from .attgt import _check_options, _fit_cells

__all__ = [
    "DiDSpec",
    "multiplicity",
    "placebo_in_time",
    "placebo_in_time_its",
    "placebo_outcome",
    "randomisation_inference",
    "leave_one_out",
    "leave_one_out_pooled",
    "comparison_choices",
    "mde",
    "effect_summaries",
    "MAX_DRAWS",
]

MAX_DRAWS = 999


@dataclass(frozen=True)
class DiDSpec:
    """Columns and options of the programme DiD re-fitted by the robustness checks.

    ``summary`` picks the effect compared across checks: "simple" (the average effect over all
    cohort-months after the start, R ``aggte(type = "simple")``) or "dynamic" (the average over
    event times 0..``max_e``).

    Examples
    --------
    >>> DiDSpec().control_group
    'notyettreated'
    """

    outcome: str = "value"
    unit: str = "provider_id"
    time: str = "month"
    cohort: str = "start_month"
    control_group: str = "notyettreated"
    method: str = "dr"
    base_period: str = "varying"
    anticipation: int = 0
    alpha: float = 0.05
    summary: str = "simple"
    max_e: int | None = None

    def fit_kwargs(self) -> dict:
        return dict(
            control_group=self.control_group,
            method=self.method,
            base_period=self.base_period,
            anticipation=self.anticipation,
            alpha=self.alpha,
            bootstrap=False,
        )


def _quiet(fn, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*a, **k)


def _prepare(panel: pd.DataFrame, spec: DiDSpec) -> Panel | None:
    """The panel as arrays (units x months), or None when it cannot be estimated as it is."""
    try:
        return prepare_panel(panel, spec.outcome, spec.unit, spec.time, cohort=spec.cohort)
    except ValueError:  # InputError: the estimate is NaN, as att_gt's would be
        return None


def _estimate_prepared(p: Panel | None, spec: DiDSpec, *, max_e=None) -> tuple[float, float]:
    """(effect, SE) of the spec's summary on a prepared panel; NaN when not estimable.

    The numbers of ``att_gt(..., bootstrap=False)`` and its ``aggregate`` overall effect (the same
    arithmetic, :func:`cocEval.did.attgt._fit_cells` and
    :func:`cocEval.did.aggregate._aggregate_parts`) without re-reading a frame or building
    tables: the checks below re-fit hundreds of variants of one panel.
    """
    if p is None:
        return np.nan, np.nan
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _check_options(spec.control_group, spec.method, spec.base_period, spec.anticipation, 999, spec.alpha)
            q, cells, att, inf, _ = _fit_cells(
                p, spec.cohort, spec.control_group, spec.method, spec.base_period, spec.anticipation, 0
            )
            c = _Cells.of(cells[:, 0], q.periods[cells[:, 1].astype(int)].astype(float), att, inf, q.G)
            if spec.summary == "dynamic" or max_e is not None:
                top = max_e if max_e is not None else spec.max_e
                o_att, o_if = _aggregate_parts(c, "dynamic", q.periods, min_e=0, max_e=top)[3:]
            else:
                o_att, o_if = _aggregate_parts(c, "simple", q.periods, max_e=spec.max_e)[3:]
        se = float(analytic_se(np.asarray(o_if).reshape(-1, 1), q.cluster)[0]) if np.isfinite(o_att) else np.nan
        return float(o_att), se
    except (ValueError, np.linalg.LinAlgError):  # NotEstimableError and the estimators' ValueErrors
        return np.nan, np.nan


def _estimate(panel: pd.DataFrame, spec: DiDSpec, *, max_e=None) -> tuple[float, float]:
    """(effect, SE) of the spec's summary; NaN when not estimable."""
    return _estimate_prepared(_prepare(panel, spec), spec, max_e=max_e)


def _variant(p: Panel, *, keep: np.ndarray | None = None, G: np.ndarray | None = None, Y=None) -> Panel:
    """The prepared panel with other units (``keep``), start dates (``G``) or outcomes (``Y``)."""
    G = p.G if G is None else G
    Y = p.Y if Y is None else Y
    if keep is None:
        return replace(p, G=G, Y=Y)
    if G is None:  # prepared without a cohort column: nothing to re-fit
        raise InputError("the panel has no cohort column")
    X = None if p.X is None else p.X[keep]
    return replace(p, units=p.units[keep], Y=Y[keep], G=G[keep], X=X)


def _row(label: str, est: float, se: float, alpha: float, **extra) -> dict:
    z = stats.norm.ppf(1 - alpha / 2)
    p = float(2 * stats.norm.sf(abs(est / se))) if np.isfinite(est) and se > 0 else np.nan
    return {
        "check": label,
        "estimate": est,
        "se": se,
        "ci_low": est - z * se,
        "ci_high": est + z * se,
        "p_value": p,
        **extra,
    }


def _n_draws(n: int) -> int:
    n = int(n)
    if n < 1:
        raise InputError("the number of permutations / simulations must be at least 1")
    return min(n, MAX_DRAWS)


# ---------------------------------------------------------------------------------------------
def multiplicity(p_values: Mapping[str, float] | pd.Series, *, alpha: float = 0.05) -> pd.DataFrame:
    """Holm (family-wise) and Benjamini-Hochberg (false discovery rate) adjusted p-values.

    Parameters
    ----------
    p_values : mapping or Series
        One p-value per outcome of the pre-specified family; NaN (not estimable) are kept out of
        the family and reported as NaN.
    alpha : float

    Returns
    -------
    DataFrame
        ``outcome, p_value, p_holm, q_bh, survives_holm, survives_bh`` in the input order.

    Examples
    --------
    >>> out = multiplicity({"x": 0.001, "y": 0.02, "z": float("nan")})
    >>> out["q_bh"].round(3).tolist()
    [0.002, 0.02, nan]
    """
    from statsmodels.stats.multitest import multipletests

    s = pd.Series(p_values, dtype=float)
    if ((s < 0) | (s > 1)).any():
        raise InputError("p-values must lie between 0 and 1")
    out = pd.DataFrame({"outcome": s.index.astype(str), "p_value": s.to_numpy()})
    out["p_holm"] = np.nan
    out["q_bh"] = np.nan
    ok = s.notna().to_numpy()
    if ok.any():
        out.loc[ok, "p_holm"] = multipletests(s[ok], alpha=alpha, method="holm")[1]
        out.loc[ok, "q_bh"] = multipletests(s[ok], alpha=alpha, method="fdr_bh")[1]
    out["survives_holm"] = out["p_holm"] < alpha
    out["survives_bh"] = out["q_bh"] < alpha
    return out


# ---------------------------------------------------------------------------------------------
def _shift_months(s: pd.Series, months: int) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(s):
        return s - pd.DateOffset(months=months)
    return s.where(s.isna() | (s == 0), s - months)


def placebo_in_time(panel: pd.DataFrame, spec: DiDSpec = DiDSpec(), *, shifts=(6, 12)) -> pd.DataFrame:
    """DiD with start dates moved ``shift`` months earlier, over months before the real start.

    Each cohort is treated as if coaching began ``shift`` months early; the placebo effect is the
    event-study average over event times 0..shift-1 from the fake start, all of them before the
    real start (not-yet-treated comparisons are then untreated too). A real programme effect
    cannot show up here, so an estimate clearly away from zero signals diverging trends.

    Returns
    -------
    DataFrame
        ``check, estimate, se, ci_low, ci_high, p_value, shift``.

    Examples
    --------
    >>> from cocEval.data import provider_month_panel
    >>> panel = provider_month_panel(prog, "restrictive_interventions")  # ``prog``: the synthetic programme
    >>> out = placebo_in_time(panel, DiDSpec(), shifts=(6, 12))
    >>> out["shift"].tolist(), bool(((out["ci_low"] < 0) & (out["ci_high"] > 0)).all())
    ([6, 12], True)
    """
    rows = []
    for k in shifts:
        k = int(k)
        if k < 1:
            raise InputError("placebo shifts must be positive numbers of months")
        fake = panel.assign(**{spec.cohort: _shift_months(panel[spec.cohort], k)})
        first = panel[spec.time].min()
        # cohorts whose fake start falls before the data would have no pre-period: drop them
        c = fake[spec.cohort]
        too_early = c.notna() & (c <= first) if pd.api.types.is_datetime64_any_dtype(c) else (c > 0) & (c <= first)
        fake = fake[~too_early]
        est, se = _estimate(fake, replace(spec, summary="dynamic", anticipation=0), max_e=k - 1)
        rows.append(_row(f"start moved {k} months earlier", est, se, spec.alpha, shift=k))
    return pd.DataFrame(rows)


def placebo_outcome(panel: pd.DataFrame, spec: DiDSpec = DiDSpec(), *, label: str = "placebo outcome") -> pd.DataFrame:
    """The programme DiD on an outcome coaching should not change (a hook: pass its panel).

    Examples
    --------
    >>> from cocEval.data import provider_month_panel
    >>> panel = provider_month_panel(prog, "restrictive_interventions")  # ``prog``: the synthetic programme
    >>> noise = panel.assign(value=np.random.default_rng(0).normal(size=len(panel)))
    >>> out = placebo_outcome(noise, DiDSpec(), label="pure noise")
    >>> out["check"].iloc[0], bool(abs(out["estimate"].iloc[0]) < 4 * out["se"].iloc[0])
    ('pure noise', True)
    """
    est, se = _estimate(panel, spec)
    return pd.DataFrame([_row(label, est, se, spec.alpha)])


def placebo_in_time_its(
    series: Mapping[str, pd.DataFrame],
    starts: Mapping[str, object],
    *,
    outcome: str = "value",
    time: str = "month",
    shift: int = 12,
    min_periods: int = 6,
    **its_kwargs,
) -> pd.DataFrame:
    """Per-provider ITS with a fake start ``shift`` months early, fitted to pre-start data only.

    Parameters
    ----------
    series : mapping provider -> DataFrame
        Each provider's series (columns ``time`` and ``outcome``, plus any exposure column named
        in ``its_kwargs``).
    starts : mapping provider -> start month
    its_kwargs
        Passed to :func:`cocEval.its.fit_its` (``family``, ``exposure``, ``errors`` ...).

    Returns
    -------
    DataFrame
        ``provider_id, level_change, ci_low, ci_high, p_value`` for the fake start (the level
        change on the model's scale); providers with fewer than ``min_periods`` months either
        side of the fake start are left out. About 5% should look "significant" by chance.

    Examples
    --------
    >>> from cocEval.data import provider_month_panel
    >>> panel = provider_month_panel(prog, "restrictive_interventions")  # ``prog``: the synthetic programme
    >>> ids = ["SYN001", "SYN002"]
    >>> series = {p: panel[panel["provider_id"] == p] for p in ids}
    >>> starts = {p: series[p]["start_month"].iloc[0] for p in ids}
    >>> out = placebo_in_time_its(series, starts, outcome="numerator", family="quasipoisson", exposure="denominator")
    >>> out.columns.tolist(), len(out)
    (['provider_id', 'level_change', 'ci_low', 'ci_high', 'p_value'], 2)
    """
    from ..its import fit_its

    rows = []
    for pid, df in series.items():
        start = pd.Timestamp(starts[pid])
        pre = df[pd.to_datetime(df[time]) < start]
        fake = start - pd.DateOffset(months=int(shift))
        t = pd.to_datetime(pre[time])
        if (t < fake).sum() < min_periods or (t >= fake).sum() < min_periods:
            continue
        try:
            fit = _quiet(fit_its, pre, outcome, time, fake, **its_kwargs)
            r = fit.coefficients.loc["level_change"]
        except (ValueError, KeyError, np.linalg.LinAlgError):
            continue
        rows.append(
            {
                "provider_id": pid,
                "level_change": float(r.get("estimate", np.nan)),
                "ci_low": float(r.get("ci_low", np.nan)),
                "ci_high": float(r.get("ci_high", np.nan)),
                "p_value": float(r.get("p_value", np.nan)),
            }
        )
    return pd.DataFrame(rows, columns=["provider_id", "level_change", "ci_low", "ci_high", "p_value"])


# ---------------------------------------------------------------------------------------------
def randomisation_inference(
    panel: pd.DataFrame, spec: DiDSpec = DiDSpec(), *, n_perm: int = 199, seed: int = 20240401
) -> pd.DataFrame:
    """Permutation p-value: start dates reshuffled among the participating providers.

    Under the sharp null that coaching changed nothing, which provider started when is
    arbitrary; the observed effect is compared with the effects after ``n_perm`` reshuffles of
    the start dates among providers that started (never-treated providers stay untreated).
    ``p = (1 + #{|perm| >= |observed|}) / (1 + n_perm)``.

    Returns
    -------
    DataFrame
        One row: ``check, estimate, p_value, n_perm, perm_q025, perm_q975`` (the middle 95% of
        the permutation distribution).

    Examples
    --------
    >>> from cocEval.data import provider_month_panel
    >>> panel = provider_month_panel(prog, "restrictive_interventions")  # ``prog``: the synthetic programme
    >>> out = randomisation_inference(panel, DiDSpec(), n_perm=19, seed=1)
    >>> int(out["n_perm"].iloc[0]), bool(0.05 <= out["p_value"].iloc[0] <= 1)
    (19, True)
    """
    n_perm = _n_draws(n_perm)
    prepared = _prepare(panel, spec)
    obs, _ = _estimate_prepared(prepared, spec)
    if prepared is None or prepared.G is None or not np.isfinite(obs):
        raise NotEstimableError("the DiD could not be estimated, so nothing to permute")
    # the participating providers (in unit order) and their start dates; a permutation of the
    # array of dates is the same draw whatever the dates are stored as
    G0 = prepared.G
    treated = np.isfinite(G0)
    starts = G0[treated]
    rng = np.random.default_rng(seed)
    draws = np.empty(n_perm)
    for b in range(n_perm):
        G = G0.copy()
        G[treated] = rng.permutation(starts)
        draws[b] = _estimate_prepared(_variant(prepared, G=G), spec)[0]
    ok = draws[np.isfinite(draws)]
    pval = (1 + np.sum(np.abs(ok) >= abs(obs) - 1e-12)) / (1 + ok.size)
    q = np.quantile(ok, [0.025, 0.975]) if ok.size else (np.nan, np.nan)
    return pd.DataFrame(
        [
            {
                "check": "start dates reshuffled",
                "estimate": obs,
                "p_value": float(pval),
                "n_perm": int(ok.size),
                "perm_q025": float(q[0]),
                "perm_q975": float(q[1]),
            }
        ]
    )


# ---------------------------------------------------------------------------------------------
def leave_one_out(panel: pd.DataFrame, spec: DiDSpec = DiDSpec(), *, by: str = "cohort") -> pd.DataFrame:
    """Re-estimate the DiD leaving out each cohort (``by="cohort"``) or provider (``"provider"``).

    Returns
    -------
    DataFrame
        ``left_out, estimate, se, ci_low, ci_high, p_value, change`` (change from the full-data
        estimate), sorted by the size of the change (largest first). Leaving out a never-treated
        provider is included for providers; cohorts are the participating start dates.

    Examples
    --------
    >>> from cocEval.data import provider_month_panel
    >>> panel = provider_month_panel(prog, "restrictive_interventions")  # ``prog``: the synthetic programme
    >>> out = leave_one_out(panel, DiDSpec(), by="cohort")
    >>> len(out) == panel["start_month"].nunique(), bool(out["change"].abs().is_monotonic_decreasing)
    (True, True)
    """
    if by not in ("cohort", "provider"):
        raise InputError("by must be 'cohort' or 'provider'")
    prepared = _prepare(panel, spec)
    full, _ = _estimate_prepared(prepared, spec)
    col = spec.cohort if by == "cohort" else spec.unit
    if by == "cohort":
        c = panel[spec.cohort]
        groups = sorted(c.dropna().unique()) if pd.api.types.is_datetime64_any_dtype(c) else sorted(c[c > 0].unique())
    else:
        groups = list(panel[spec.unit].unique())
    rows = []
    for g in groups:
        if prepared is None:  # the whole panel is not estimable; a part of it may be
            est, se = _estimate(panel[(panel[col] != g).to_numpy()], spec)
        else:  # a cohort or provider is all of a unit's rows: drop those units from the arrays
            gone = [g] if by == "provider" else panel.loc[(panel[col] == g).to_numpy(), spec.unit].to_numpy()
            est, se = _estimate_prepared(_variant(prepared, keep=~np.isin(prepared.units, gone)), spec)
        label = f"{g:%Y-%m}" if isinstance(g, pd.Timestamp) else str(g)
        rows.append({**_row(label, est, se, spec.alpha), "change": est - full})
    out = pd.DataFrame(rows).rename(columns={"check": "left_out"})
    return out.reindex(out["change"].abs().sort_values(ascending=False).index).reset_index(drop=True)


def leave_one_out_pooled(
    effects: pd.DataFrame, *, estimate="log_effect", se="se", label="provider_id", **meta_kw
) -> pd.DataFrame:
    """Pooled ITS (random-effects meta-analysis) leaving out each provider in turn.

    Returns
    -------
    DataFrame
        ``left_out, estimate, ci_low, ci_high, change`` on the pooled scale (e.g. log rate ratio).

    Examples
    --------
    >>> eff = pd.DataFrame({"provider_id": list("abcd"), "log_effect": [-0.2, -0.1, -0.3, 0.1], "se": [0.1] * 4})
    >>> leave_one_out_pooled(eff)["left_out"].iloc[0]
    'd'
    """
    from ..meta import random_effects

    kw = {"method": "REML", "hartung_knapp": True, "prediction": "metafor", **meta_kw}
    if len(effects) < 3:
        raise NotEstimableError("leave-one-out pooling needs at least three providers")
    full = _quiet(random_effects, effects[estimate], effects[se], **kw).estimate
    rows = []
    for i, lab in enumerate(effects[label]):
        sub = effects.drop(effects.index[i])
        r = _quiet(random_effects, sub[estimate], sub[se], **kw)
        rows.append(
            {
                "left_out": str(lab),
                "estimate": r.estimate,
                "ci_low": r.ci_low,
                "ci_high": r.ci_high,
                "change": r.estimate - full,
            }
        )
    out = pd.DataFrame(rows)
    return out.reindex(out["change"].abs().sort_values(ascending=False).index).reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
def comparison_choices(
    panel: pd.DataFrame,
    spec: DiDSpec = DiDSpec(),
    *,
    control_groups=("notyettreated", "nevertreated"),
    anticipation=(0, 1, 2),
    base_periods=("varying", "universal"),
) -> pd.DataFrame:
    """The DiD under each combination of comparison group, anticipation and base period.

    Returns
    -------
    DataFrame
        ``control_group, anticipation, base_period, estimate, se, ci_low, ci_high, p_value,
        is_main`` (``is_main`` marks the specification in ``spec``).

    Examples
    --------
    >>> from cocEval.data import provider_month_panel
    >>> panel = provider_month_panel(prog, "restrictive_interventions")  # ``prog``: the synthetic programme
    >>> out = comparison_choices(panel, DiDSpec(), anticipation=(0, 1))
    >>> len(out), int(out["is_main"].sum())
    (8, 1)
    """
    rows = []
    prepared = _prepare(panel, spec)
    for cg in control_groups:
        for a in anticipation:
            for bp in base_periods:
                s = replace(spec, control_group=cg, anticipation=int(a), base_period=bp)
                est, se = _estimate_prepared(prepared, s)
                r = _row("", est, se, spec.alpha)
                del r["check"]
                rows.append({"control_group": cg, "anticipation": int(a), "base_period": bp, **r})
    out = pd.DataFrame(rows)
    out["is_main"] = (
        (out["control_group"] == spec.control_group)
        & (out["anticipation"] == spec.anticipation)
        & (out["base_period"] == spec.base_period)
    )
    return out


# ---------------------------------------------------------------------------------------------
def _null_panels(panel: pd.DataFrame, spec: DiDSpec, n_sims: int, seed: int):
    """Outcomes with no effect: provider + month means plus AR(1) noise as seen before the start.

    Yields ``(wide, rho, outcomes)``: the observed panel as providers x months (sorted both
    ways), the AR(1) coefficient used, and one simulated providers x months array.
    """
    wide = panel.pivot(index=spec.unit, columns=spec.time, values=spec.outcome)
    starts = panel.groupby(spec.unit)[spec.cohort].first().reindex(wide.index)
    times = wide.columns.to_numpy()
    if pd.api.types.is_datetime64_any_dtype(starts):
        treated_now = starts.notna().to_numpy()[:, None] & (times[None, :] >= starts.to_numpy()[:, None])
    else:
        s = starts.to_numpy(dtype=float)
        treated_now = (s[:, None] > 0) & (times[None, :] >= s[:, None])
    Y = wide.to_numpy(dtype=float)
    U = np.where(treated_now, np.nan, Y)
    # two-way means on untreated cells (alternating projections)
    a = np.nanmean(U, axis=1)
    b = np.zeros(U.shape[1])
    for _ in range(50):
        b = np.nanmean(U - a[:, None], axis=0)
        b = np.where(np.isfinite(b), b, 0.0)
        a = np.nanmean(U - b[None, :], axis=1)
    R = U - a[:, None] - b[None, :]
    sd = np.nanstd(R, axis=1, ddof=1)
    sd = np.where(np.isfinite(sd) & (sd > 0), sd, np.nanmedian(sd))
    r0, r1 = R[:, :-1], R[:, 1:]
    ok = np.isfinite(r0) & np.isfinite(r1)
    rho = float(np.clip(np.sum(np.where(ok, r0 * r1, 0)) / np.sum(np.where(ok, r0 * r0, 0)), -0.9, 0.9))
    rng = np.random.default_rng(seed)
    n, T = Y.shape
    for _ in range(n_sims):
        e = rng.standard_normal((n, T))
        x = np.empty_like(e)
        x[:, 0] = e[:, 0]
        for t in range(1, T):
            x[:, t] = rho * x[:, t - 1] + np.sqrt(1 - rho**2) * e[:, t]
        yield wide, rho, a[:, None] + b[None, :] + sd[:, None] * x


def _null_estimates(panel: pd.DataFrame, spec: DiDSpec, n_sims: int, seed: int):
    """(estimate, SE, rho) of the spec's DiD on each simulated null panel."""
    prepared, base = _prepare(panel, spec), None
    for wide, rho, y in _null_panels(panel, spec, n_sims, seed):
        if (  # same providers and months in the same order: swap the outcomes
            prepared is not None
            and np.array_equal(prepared.units, wide.index.to_numpy())
            and prepared.Y.shape == y.shape
        ):
            est = (np.nan, np.nan) if np.isnan(y).any() else _estimate_prepared(_variant(prepared, Y=y), spec)
        else:  # the observed panel is not a balanced grid: go through the long frame
            if base is None:
                index = pd.MultiIndex.from_product([wide.index, wide.columns], names=[spec.unit, spec.time])
                base = panel.set_index([spec.unit, spec.time]).reindex(index)
            est = _estimate(base.assign(**{spec.outcome: y.reshape(-1)}).reset_index(), spec)
        yield *est, rho


def mde(
    panel: pd.DataFrame,
    spec: DiDSpec = DiDSpec(),
    *,
    power: float = 0.8,
    alpha: float = 0.05,
    n_sims: int = 200,
    seed: int = 20240401,
) -> dict:
    """Minimum detectable effect of the programme DiD, by simulation on its own design.

    The design is kept (its providers, cohorts, start dates, months); outcomes without any
    effect are simulated as each provider's level plus each month's level plus noise with each
    provider's own standard deviation and the month-to-month correlation (AR(1)) seen in the
    months before coaching. The DiD estimate is linear in the outcome and a constant effect
    leaves its standard error unchanged, so power at effect d is the share of null fits with
    ``|estimate + d| > z * se``; the MDE is the smallest d with that share >= ``power``.

    Returns
    -------
    dict
        ``mde`` (on the outcome's scale, in the direction of a positive effect), ``power``,
        ``alpha``, ``n_sims`` (fits that succeeded), ``rho`` (AR(1) used), ``rejection_at_zero``
        (the false-alarm rate of the DiD on these null data), ``analytic_mde`` ((z_{1-a/2} + z_power)
        times the median SE: the textbook formula, for comparison).

    Examples
    --------
    >>> from cocEval.data import provider_month_panel
    >>> panel = provider_month_panel(prog, "restrictive_interventions")  # ``prog``: the synthetic programme
    >>> m = mde(panel, DiDSpec(), n_sims=20, seed=2)
    >>> m["n_sims"], bool(0 < m["mde"] < 5 * m["analytic_mde"])
    (20, True)
    """
    if not 0 < power < 1 or not 0 < alpha < 1:
        raise InputError("power and alpha must lie between 0 and 1")
    n_sims = _n_draws(n_sims)
    ests, ses, rhos = [], [], [np.nan]
    for e, s, r in _null_estimates(panel, spec, n_sims, seed):
        rhos.append(r)
        if np.isfinite(e) and np.isfinite(s) and s > 0:
            ests.append(e)
            ses.append(s)
    if len(ests) < 10:
        raise NotEstimableError("too few simulated fits succeeded to estimate the detectable effect")
    est, se = np.array(ests), np.array(ses)
    z = stats.norm.ppf(1 - alpha / 2)

    def pw(d):
        return float(np.mean(np.abs(est + d) > z * se))

    hi = 10 * float(np.median(se)) + 10 * float(np.max(np.abs(est)))
    d = optimize.brentq(lambda d: pw(d) - power, 0.0, hi, xtol=1e-6 * float(np.median(se))) if pw(0) < power else 0.0
    # power is a step function of d: move to the first d that reaches it
    while pw(d) < power:
        d *= 1.0001
    return {
        "mde": float(d),
        "power": power,
        "alpha": alpha,
        "n_sims": int(est.size),
        "rho": float(rhos[-1]),
        "rejection_at_zero": pw(0.0),
        "analytic_mde": float((z + stats.norm.ppf(power)) * np.median(se)),
    }


def spec_dict(spec: DiDSpec) -> dict:
    """The spec as a plain dict (for provenance)."""
    return asdict(spec)


def effect_summaries(
    frame: pd.DataFrame,
    *,
    outcome: str,
    period: str,
    scale: str = "difference",
    improvement: str | None = None,
    label: str = "check",
) -> list:
    """One :class:`~cocEval.effects.EffectSummary` per row of a check's frame.

    For frames with ``estimate, ci_low, ci_high`` (and optionally ``p_value``): placebo,
    leave-one-out, comparison choices. The row's ``label`` column (or its position) becomes the
    comparison.

    Examples
    --------
    >>> f = pd.DataFrame({"check": ["start moved 6 months earlier"], "estimate": [0.1], "ci_low": [-0.2],
    ...                   "ci_high": [0.4], "p_value": [0.5]})
    >>> s = effect_summaries(f, outcome="Seclusion", period="before the real start")[0]
    >>> s.comparison, s.verdict
    ('start moved 6 months earlier', 'unclear')
    """
    from ..effects import EffectSummary

    out = []
    for i, row in frame.reset_index(drop=True).iterrows():
        comp = str(row[label]) if label in frame.columns else f"specification {i + 1}"
        est = float(row["estimate"])
        if not np.isfinite(est):
            out.append(EffectSummary.not_estimable(outcome, f"{comp}: not estimable", scale=scale))
            continue
        out.append(
            EffectSummary(
                outcome=outcome,
                comparison=comp,
                scale=scale,
                estimate=est,
                ci_low=float(row["ci_low"]),
                ci_high=float(row["ci_high"]),
                period=period,
                method="staggered difference-in-differences (Callaway & Sant'Anna)",
                p_value=float(row["p_value"]) if "p_value" in frame.columns and pd.notna(row["p_value"]) else None,
                improvement=improvement,
            )
        )
    return out
