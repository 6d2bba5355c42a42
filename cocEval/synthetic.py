"""Synthetic Culture of Care programme data with known true effects.

:func:`generate` simulates the four tables of the data contract (see the README's data
dictionary) for about 60 participating providers in three staggered cohorts plus about a dozen
comparator providers that never join, and returns the true effects beside them;
:func:`write_synthetic` writes them as CSV. The committed ``data/synthetic/`` folder is the
output for the default seed, and re-running ``python -m cocEval synthesise`` reproduces it byte
for byte.

Everything here is invented: provider ids are ``SYN001``... (participating) and ``SYN101``...
(comparators), names are "Synthetic Provider NN (Place)" with made-up place names, wards are
``SYN001-W01``... No real ODS code or trust name is used.

Generating model
----------------
Restrictive practice, per ward ``w`` of provider ``p``, month ``t`` and intervention type ``j``::

    log mu[w,t,j] = log(OBD[w,t] / 1000) + log(base_rate[type(w)] * share[type(w), j])
                    + a[p] + b[w] + season(t) + trend(t) + beta[p] * m[j] * x[p,t]
    count[w,t,j] ~ NegBin(mean = mu[w,t,j] * exp(u[w,t] - s^2/2), size = nb_size)

with provider and ward random effects ``a``, ``b``; a winter-peaking seasonal term; a small
common secular trend; ward-level AR(1) noise ``u`` on the log rate (stationary sd ``s``; the
``- s^2/2`` keeps the mean at ``mu``); the provider's full log rate ratio ``beta[p]`` (cohort
mean ``log(cohort_rate_ratios[c])`` plus a normal provider deviation, centred within the
cohort so the cohort's geometric mean full rate ratio is exactly nominal); per-type multipliers
``m[j]`` (1 for physical and chemical restraint); and the exposure ``x[p,t]`` in [0, 1]:

- ``x = 0`` before the provider's ``start_month`` (always 0 for comparators);
- during coaching (``coaching_months`` months from the start) it ramps linearly,
  ``x = min((k + 1) / ramp_months, 1)`` in the k-th month since the start (k = 0, 1, ...);
- after coaching ends it fades: ``x = 1 - fade_fraction * (1 - 0.5 ** (j / fade_half_life))``
  j months after ``coaching_end_month``.

``restrictive_interventions`` is the sum of the five types (physical, seclusion, segregation,
chemical, mechanical); ``prone_restraint`` is a subset of ``physical_restraint`` (a binomial
thinning of it whose log effect multiplier is ``m["prone_restraint"]``); ``people_restricted``
is between 1 and the total whenever anything was counted.

Patient experience: responses per ward-month are negative binomial (some months have none, kept
as rows with ``responses = 0``); positive responses are beta-binomial with mean share
``expit(logit(pe_baseline_share) + c[p] + d[w] + gamma[p] * x[p,t])``.

Staff survey (provider-year; fieldwork September-November): a survey year ``Y`` counts as after
the start when ``start_month <= Y-09``, and then carries the exposure ``x`` of October ``Y``.
Engagement and morale (0-10) rise by ``staff_score_effect * i[p] * x``; the four respondent
counts are beta-binomial whose logit moves by ``staff_logit_effects[...] * i[p] * x``. Morale is
missing before 2021, when the NHS Staff Survey introduced it.

Every secondary effect is scaled by the provider's *intensity* ``i[p] = beta[p] / mean(log
cohort_rate_ratios)`` (about 1; exactly 1 for every participating provider if all cohort
rate ratios are 1), so providers and cohorts that cut restrictive practice more
also improve patient and staff experience more. ``gamma[p] = pe_logit_effect * i[p]``.

Truth
-----
``truth.csv`` (long form, one table) has one row per provider x month x outcome for the
ward-month outcomes (``restrictive_interventions``, the five types, ``prone_restraint``,
``positive_responses``) and one row per provider x survey year x outcome for the staff survey
(``engagement``, ``morale``, and the four respondent counts). Columns:

``provider_id``, ``cohort``, ``period`` ("YYYY-MM" for months, "YYYY" for survey years),
``outcome``, ``post`` (1 from the start month / the first survey year after the start),
``exposure`` (``x``), ``denominator`` (occupied bed days, responses or respondents behind the
row, as published), ``expected_untreated`` and ``expected_treated`` (noise-free means of the
outcome given the provider and ward random effects, season, trend and the published
denominators: sums over the provider's reporting wards for counts, the score itself for
engagement and morale), and ``effect`` = ``expected_treated / expected_untreated`` (empty when
the untreated expectation is zero, e.g. a month without responses).

The truth describes the real process, *before* the reporting quirks below; so, for example,
the true average effect on the treated in rate terms is the mean over ``post == 1`` rows of
``(expected_treated - expected_untreated) / denominator * 1000`` (see :func:`true_effects`).

``truth.json`` holds the generating parameters, each provider's full effects, cohort-level
summaries (:func:`true_effects`) and the data-quality quirks: ~0.5% of ward-months missing from
both ward-month tables (rows absent; listed), one participating provider that reports zero
restrictive interventions of every type for a stretch of months (bed days still reported), and
a provisional last month whose restrictive intervention counts undercount by about 30%
(binomial thinning; bed days complete).

Examples
--------
>>> from cocEval.synthetic import SyntheticConfig, generate
>>> tables = generate(SyntheticConfig(seed=1))
>>> sorted(tables)
['participation', 'patient_experience', 'restrictive_practice', 'staff_survey', 'truth']
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator
from scipy.special import expit, logit

from cocEval.data import RESTRICTIVE_MEASURES, RESTRICTIVE_TYPES, STAFF_COUNTS, STAFF_SCORES
from cocEval.errors import InputError

__all__ = [
    "SyntheticConfig",
    "generate",
    "write_synthetic",
    "exposure",
    "true_effects",
    "example_panel",
    "DEFAULT_SEED",
]

log = logging.getLogger(__name__)

DEFAULT_SEED = 20240401

#: Restrictive intervention types whose sum is ``restrictive_interventions`` (the data contract's).
TYPES = RESTRICTIVE_TYPES
#: Outcomes of the restrictive practice table that ``truth.csv`` carries.
RP_OUTCOMES = ("restrictive_interventions", *TYPES, "prone_restraint")
TRUTH_COLUMNS = (
    "provider_id",
    "cohort",
    "period",
    "outcome",
    "post",
    "exposure",
    "denominator",
    "expected_untreated",
    "expected_treated",
    "effect",
)

REGIONS = (
    "North East and Yorkshire",
    "North West",
    "Midlands",
    "East of England",
    "London",
    "South East",
    "South West",
)
_PLACE_START = (
    "North",
    "Ash",
    "Bram",
    "Cold",
    "Elder",
    "Fern",
    "Glen",
    "Hart",
    "Kings",
    "Lark",
    "Mill",
    "Oak",
    "Red",
    "Stan",
    "Thorn",
    "Wil",
    "Brack",
    "Hollin",
    "Marl",
    "Quen",
    "Rook",
    "Sedge",
    "Tarn",
    "Wend",
)
_PLACE_END = ("moor", "vale", "ford", "mere", "ley", "wick", "brook", "field", "stead", "combe", "hurst", "dale")

#: Ward types: probability, bed range, baseline restrictive interventions per 1,000 occupied
#: bed days, shares of the five types, prone share of physical restraint (range), and the share
#: of interventions that are a different person (range; low = few people restricted often).
WARD_TYPES: dict[str, dict] = {
    "Adult acute": dict(
        p=0.42, beds=(16, 25), rate=14.0, shares=(0.50, 0.10, 0.02, 0.36, 0.02), prone=(0.10, 0.25), people=(0.35, 0.65)
    ),
    "Psychiatric intensive care": dict(
        p=0.10, beds=(8, 12), rate=45.0, shares=(0.45, 0.22, 0.03, 0.28, 0.02), prone=(0.15, 0.30), people=(0.25, 0.50)
    ),
    "Older adult": dict(
        p=0.15, beds=(12, 20), rate=5.0, shares=(0.60, 0.02, 0.01, 0.36, 0.01), prone=(0.02, 0.08), people=(0.45, 0.75)
    ),
    "Learning disability and autism": dict(
        p=0.11, beds=(6, 12), rate=40.0, shares=(0.60, 0.12, 0.08, 0.15, 0.05), prone=(0.10, 0.25), people=(0.10, 0.30)
    ),
    "Children and young people": dict(
        p=0.08, beds=(10, 14), rate=35.0, shares=(0.55, 0.10, 0.05, 0.27, 0.03), prone=(0.10, 0.25), people=(0.15, 0.40)
    ),
    "Forensic": dict(
        p=0.14, beds=(12, 16), rate=12.0, shares=(0.45, 0.25, 0.08, 0.20, 0.02), prone=(0.10, 0.25), people=(0.25, 0.55)
    ),
}


class SyntheticConfig(BaseModel):
    """Every knob of the synthetic generator; the defaults produce ``data/synthetic/``.

    Months are "YYYY-MM" strings. Effects on restrictive practice are rate ratios at full
    effect; other effects are scaled by each provider's intensity (see the module docstring).

    Examples
    --------
    >>> SyntheticConfig(seed=7).cohort_starts
    ('2024-04', '2024-10', '2025-04')
    >>> SyntheticConfig(seed=7, n_comparators=0).n_comparators
    0
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    seed: int = DEFAULT_SEED
    # programme structure
    cohort_starts: tuple[str, ...] = ("2024-04", "2024-10", "2025-04")
    providers_per_cohort: tuple[int, ...] = (20, 20, 20)
    n_comparators: int = Field(12, ge=0, le=99)
    wards_per_provider: tuple[int, int] = (2, 6)
    coaching_months: int = Field(18, ge=1)
    first_month: str = "2021-04"
    last_month: str = "2026-03"
    survey_years: tuple[int, int] = (2019, 2025)
    # true effects
    cohort_rate_ratios: tuple[float, ...] = (0.75, 0.80, 0.85)
    provider_effect_sd: float = Field(0.08, ge=0)
    type_effect_multipliers: dict[str, float] = Field(
        default_factory=lambda: {
            "physical_restraint": 1.0,
            "prone_restraint": 1.25,
            "seclusion": 0.9,
            "segregation": 0.8,
            "chemical_restraint": 1.0,
            "mechanical_restraint": 0.8,
        }
    )
    ramp_months: float = Field(9.0, gt=0)
    fade_fraction: float = Field(0.5, ge=0, le=1)
    fade_half_life: float = Field(6.0, gt=0)
    pe_logit_effect: float = 0.32
    staff_score_effect: float = 0.15
    staff_logit_effects: dict[str, float] = Field(
        default_factory=lambda: {
            "violence_from_patients": -0.10,
            "harassment_from_patients": -0.08,
            "discrimination_from_patients": -0.10,
            "recommend_workplace": 0.10,
        }
    )
    # restrictive practice process
    provider_sd: float = Field(0.45, ge=0)
    ward_sd: float = Field(0.30, ge=0)
    seasonal_amplitude: float = 0.08
    trend_per_year: float = 0.02
    ar_rho: float = Field(0.4, gt=-1, lt=1)
    ar_sd: float = Field(0.15, ge=0)
    nb_size: float = Field(4.0, gt=0)
    # patient experience process
    pe_baseline_share: float = Field(0.80, gt=0, lt=1)
    pe_provider_sd: float = Field(0.35, ge=0)
    pe_ward_sd: float = Field(0.20, ge=0)
    pe_precision: float = Field(60.0, gt=0)
    pe_mean_responses: tuple[float, float] = (8.0, 30.0)
    pe_zero_response_prob: float = Field(0.02, ge=0, le=1)
    # data-quality quirks
    missing_fraction: float = Field(0.005, ge=0, lt=1)
    zero_reporting_months: int = Field(8, ge=0)
    provisional_undercount: float = Field(0.30, ge=0, lt=1)

    @model_validator(mode="after")
    def _check(self) -> SyntheticConfig:
        n = len(self.cohort_starts)
        if not (len(self.providers_per_cohort) == len(self.cohort_rate_ratios) == n):
            raise InputError("cohort_starts, providers_per_cohort and cohort_rate_ratios must have the same length")
        if sum(self.providers_per_cohort) > 99:
            raise InputError("at most 99 participating providers (ids SYN001-SYN099)")
        lo, hi = pd.Period(self.first_month, "M"), pd.Period(self.last_month, "M")
        if hi <= lo:
            raise InputError(f"last_month {self.last_month} must be after first_month {self.first_month}")
        for s in self.cohort_starts:
            if not lo <= pd.Period(s, "M") <= hi:
                raise InputError(f"cohort start {s} outside the data range {self.first_month} to {self.last_month}")
        if any(r <= 0 for r in self.cohort_rate_ratios):
            raise InputError("cohort_rate_ratios must be positive")
        if not 1 <= self.wards_per_provider[0] <= self.wards_per_provider[1] <= 99:
            raise InputError("wards_per_provider must be (min, max) with 1 <= min <= max <= 99")
        missing = set(RP_OUTCOMES[1:]) - set(self.type_effect_multipliers)
        if missing:
            raise InputError(f"type_effect_multipliers lacks {sorted(missing)}")
        if set(self.staff_logit_effects) != set(STAFF_COUNTS):
            raise InputError(f"staff_logit_effects must have exactly the keys {list(STAFF_COUNTS)}")
        return self


# --------------------------------------------------------------------------------------------
# Exposure
# --------------------------------------------------------------------------------------------


def exposure(months_since_start: np.ndarray, config: SyntheticConfig | None = None) -> np.ndarray:
    """Fraction of a provider's full effect in force ``k`` months after its start.

    0 before the start (``k < 0``); a linear ramp ``min((k + 1) / ramp_months, 1)`` during
    coaching; after coaching ends, ``fade_fraction`` of the end-of-coaching effect is lost with
    half-life ``fade_half_life`` months.

    Parameters
    ----------
    months_since_start : array of int
        Month index minus the start month index (NaN for providers that never start).
    config : SyntheticConfig, optional

    Returns
    -------
    numpy.ndarray of float in [0, 1] (0 where ``months_since_start`` is NaN).

    Examples
    --------
    >>> exposure(np.array([-1, 0, 8, 17, 23])).round(3).tolist()
    [0.0, 0.111, 1.0, 1.0, 0.75]
    """
    cfg = config or SyntheticConfig()
    k = np.asarray(months_since_start, dtype=float)
    ramp = np.minimum((k + 1) / cfg.ramp_months, 1.0)
    end = min(cfg.coaching_months / cfg.ramp_months, 1.0)
    after = k - (cfg.coaching_months - 1)
    faded = end * (1 - cfg.fade_fraction * (1 - 0.5 ** (np.maximum(after, 0) / cfg.fade_half_life)))
    x = np.where(k < 0, 0.0, np.where(after > 0, faded, ramp))
    return np.where(np.isnan(k), 0.0, x)


# --------------------------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------------------------


def _providers(cfg: SyntheticConfig, rng: np.random.Generator) -> pd.DataFrame:
    n_part = sum(cfg.providers_per_cohort)
    ids = [f"SYN{i:03d}" for i in range(1, n_part + 1)] + [f"SYN{100 + i:03d}" for i in range(1, cfg.n_comparators + 1)]
    places = [a + b for a in _PLACE_START for b in _PLACE_END]
    if len(places) < len(ids):  # pragma: no cover - only with very large configs
        raise InputError("too many providers for the place-name list")
    chosen = rng.choice(len(places), size=len(ids), replace=False)
    cohort_idx = rng.permutation(np.repeat(np.arange(len(cfg.cohort_starts)), cfg.providers_per_cohort))
    cohort_idx = np.concatenate([cohort_idx, np.full(cfg.n_comparators, -1)])
    n_wards = rng.integers(cfg.wards_per_provider[0], cfg.wards_per_provider[1] + 1, size=len(ids))
    starts = [pd.Period(cfg.cohort_starts[c], "M") if c >= 0 else None for c in cohort_idx]
    return pd.DataFrame(
        {
            "provider_id": ids,
            "provider_name": [
                f"Synthetic Provider {pid[3:] if int(pid[3:]) >= 100 else pid[4:]} ({places[i]})"
                for pid, i in zip(ids, chosen)
            ],
            "cohort_idx": cohort_idx,
            "cohort": [f"Cohort {c + 1}" if c >= 0 else None for c in cohort_idx],
            "start": starts,
            "start_month": [str(s) if s is not None else None for s in starts],
            "coaching_end_month": [str(s + cfg.coaching_months - 1) if s is not None else None for s in starts],
            "n_wards": n_wards,
            "wards_enrolled": np.where(cohort_idx >= 0, n_wards, 0),
            "region": rng.choice(REGIONS, size=len(ids)),
        }
    )


def _provider_effects(cfg: SyntheticConfig, prov: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    log_rr = np.log(np.asarray(cfg.cohort_rate_ratios))
    c = prov["cohort_idx"].to_numpy()
    dev = rng.normal(0.0, cfg.provider_effect_sd, size=len(prov))
    # Centre the deviations within each cohort, so each cohort's geometric mean full rate ratio
    # is exactly its nominal value and estimators can be checked against it.
    for j in range(len(log_rr)):
        sel = c == j
        if sel.any():
            dev[sel] -= dev[sel].mean()
    beta = np.where(c >= 0, log_rr[np.maximum(c, 0)] + dev, 0.0)
    intensity = beta / log_rr.mean() if log_rr.mean() != 0 else np.where(c >= 0, 1.0, 0.0)
    out = pd.DataFrame({"provider_id": prov["provider_id"], "full_log_rate_ratio": beta, "intensity": intensity})
    out["pe_full_logit_effect"] = cfg.pe_logit_effect * intensity
    out["staff_score_full_effect"] = cfg.staff_score_effect * intensity
    for k, v in cfg.staff_logit_effects.items():
        out[f"{k}_full_logit_effect"] = v * intensity
    return out


def _wards(cfg: SyntheticConfig, prov: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    names = list(WARD_TYPES)
    probs = np.array([WARD_TYPES[n]["p"] for n in names])
    p_idx = np.repeat(np.arange(len(prov)), prov["n_wards"].to_numpy())
    n = len(p_idx)
    wtype = rng.choice(len(names), size=n, p=probs / probs.sum())
    spec = [WARD_TYPES[names[t]] for t in wtype]
    beds = np.array([rng.integers(s["beds"][0], s["beds"][1] + 1) for s in spec])
    ward_no = np.concatenate([np.arange(1, k + 1) for k in prov["n_wards"]])
    return pd.DataFrame(
        {
            "p_idx": p_idx,
            "provider_id": prov["provider_id"].to_numpy()[p_idx],
            "ward_id": [f"{prov['provider_id'].iat[p]}-W{w:02d}" for p, w in zip(p_idx, ward_no)],
            "ward_type": [names[t] for t in wtype],
            "beds": beds,
            "occupancy": rng.uniform(0.85, 0.95, size=n),
            "base_rate": [s["rate"] for s in spec],
            "prone_share": [rng.uniform(*s["prone"]) for s in spec],
            "people_share": [rng.uniform(*s["people"]) for s in spec],
            "ward_re": rng.normal(0.0, cfg.ward_sd, size=n),
            "pe_ward_re": rng.normal(0.0, cfg.pe_ward_sd, size=n),
            "mean_responses": rng.uniform(*cfg.pe_mean_responses, size=n),
            **{f"share_{t}": [s["shares"][j] / sum(s["shares"]) for s in spec] for j, t in enumerate(TYPES)},
        }
    )


def _nb(rng: np.random.Generator, mean: np.ndarray, size: float) -> np.ndarray:
    """Negative binomial draws with the given mean and size (variance mean + mean^2 / size)."""
    return rng.negative_binomial(size, size / (size + mean)).astype(np.int64)


def _sum_types(counts: Mapping[str, np.ndarray]) -> np.ndarray:
    """The sum over the five intervention types (``restrictive_interventions``), added in order."""
    total = counts[TYPES[0]]
    for j in TYPES[1:]:
        total = total + counts[j]
    return total


def _restrictive(
    cfg: SyntheticConfig,
    prov: pd.DataFrame,
    eff: pd.DataFrame,
    wards: pd.DataFrame,
    months: pd.PeriodIndex,
    x_wt: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Ward-month restrictive practice counts (W x T arrays) and their expectations."""
    W, T = len(wards), len(months)
    days = np.asarray(months.days_in_month, dtype=float)
    occ = np.clip(wards["occupancy"].to_numpy()[:, None] + rng.normal(0.0, 0.03, size=(W, T)), 0.5, 1.0)
    obd = np.maximum(np.rint(wards["beds"].to_numpy()[:, None] * days[None, :] * occ), 1).astype(np.int64)

    moy = np.asarray(months.month)
    season = cfg.seasonal_amplitude * np.cos(2 * np.pi * (moy - 1) / 12)
    t = np.arange(T)
    trend = cfg.trend_per_year * (t - (T - 1) / 2) / 12
    prov_re = rng.normal(0.0, cfg.provider_sd, size=len(prov))
    base = (
        np.log(obd / 1000.0)
        + np.log(wards["base_rate"].to_numpy())[:, None]
        + prov_re[wards["p_idx"].to_numpy()][:, None]
        + wards["ward_re"].to_numpy()[:, None]
        + (season + trend)[None, :]
    )
    # AR(1) noise on the log rate, stationary from the first month, mean-corrected.
    u = np.empty((W, T))
    u[:, 0] = rng.normal(0.0, cfg.ar_sd, size=W)
    innov = rng.normal(0.0, cfg.ar_sd * np.sqrt(1 - cfg.ar_rho**2), size=(W, T))
    for i in range(1, T):
        u[:, i] = cfg.ar_rho * u[:, i - 1] + innov[:, i]
    noise = np.exp(u - cfg.ar_sd**2 / 2)

    beta_w = eff["full_log_rate_ratio"].to_numpy()[wards["p_idx"].to_numpy()][:, None]
    m = cfg.type_effect_multipliers
    counts, exp_u, exp_t = {}, {}, {}
    for j in TYPES:
        mu0 = np.exp(base) * wards[f"share_{j}"].to_numpy()[:, None]
        mu1 = mu0 * np.exp(beta_w * m[j] * x_wt)
        exp_u[j], exp_t[j] = mu0, mu1
        counts[j] = _nb(rng, mu1 * noise, cfg.nb_size)
    # Prone restraint: a thinning of physical restraint whose effect multiplier is m["prone_restraint"].
    s0 = wards["prone_share"].to_numpy()[:, None]
    s1 = np.clip(s0 * np.exp(beta_w * (m["prone_restraint"] - m["physical_restraint"]) * x_wt), 0.0, 1.0)
    counts["prone_restraint"] = rng.binomial(counts["physical_restraint"], s1)
    exp_u["prone_restraint"] = s0 * exp_u["physical_restraint"]
    exp_t["prone_restraint"] = s1 * exp_t["physical_restraint"]
    total = _sum_types(counts)
    counts["people_restricted"] = np.where(
        total > 0, 1 + rng.binomial(np.maximum(total - 1, 0), wards["people_share"].to_numpy()[:, None]), 0
    )
    return obd, counts, exp_u, exp_t


def _patient_experience(
    cfg: SyntheticConfig, eff: pd.DataFrame, wards: pd.DataFrame, x_wt: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Ward-month responses and positive responses (W x T) and the expected positives."""
    W, T = x_wt.shape
    mean_resp = wards["mean_responses"].to_numpy()[:, None] * np.ones((1, T))
    responses = _nb(rng, mean_resp, 8.0)
    responses[rng.random((W, T)) < cfg.pe_zero_response_prob] = 0
    prov_re = rng.normal(0.0, cfg.pe_provider_sd, size=len(eff))
    p_idx = wards["p_idx"].to_numpy()
    lin0 = logit(cfg.pe_baseline_share) + prov_re[p_idx][:, None] + wards["pe_ward_re"].to_numpy()[:, None]
    p0 = expit(lin0) * np.ones((1, T))
    p1 = expit(lin0 + eff["pe_full_logit_effect"].to_numpy()[p_idx][:, None] * x_wt)
    share = rng.beta(p1 * cfg.pe_precision, (1 - p1) * cfg.pe_precision)
    positive = rng.binomial(responses, share)
    return responses, positive, responses * p0, responses * p1


_ENGAGEMENT_YEAR = {2019: 0.05, 2020: 0.10, 2021: 0.0, 2022: -0.15, 2023: -0.05, 2024: 0.0, 2025: 0.03}
_MORALE_YEAR = {2021: 0.0, 2022: -0.20, 2023: -0.05, 2024: 0.02, 2025: 0.05}
_STAFF_BASE = {
    "violence_from_patients": 0.20,
    "harassment_from_patients": 0.32,
    "discrimination_from_patients": 0.10,
    "recommend_workplace": 0.62,
}
_STAFF_YEAR_LOGIT = {2019: 0.0, 2020: -0.05, 2021: 0.02, 2022: 0.06, 2023: 0.04, 2024: 0.02, 2025: 0.0}
_MORALE_FIRST_YEAR = 2021


def _staff_survey(
    cfg: SyntheticConfig, prov: pd.DataFrame, eff: pd.DataFrame, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Provider-year staff survey: years, exposure (P x Y), reported values, expectations."""
    years = np.arange(cfg.survey_years[0], cfg.survey_years[1] + 1)
    P, Y = len(prov), len(years)
    # A survey year Y counts as after the start when start_month <= Y-09; its exposure is October's.
    x = np.zeros((P, Y))
    for i, s in enumerate(prov["start"]):
        if not isinstance(s, pd.Period):
            continue
        k = np.array([(pd.Period(f"{y}-10", "M") - s).n for y in years], dtype=float)
        after = np.array([s <= pd.Period(f"{y}-09", "M") for y in years])
        x[i] = np.where(after, exposure(k, cfg), 0.0)
    staff = np.exp(rng.normal(np.log(3000), 0.5, size=P))
    resp_rate = np.clip(rng.normal(0.45, 0.06, size=(P, Y)), 0.2, 0.8)
    respondents = rng.binomial(np.rint(staff).astype(np.int64)[:, None], resp_rate)
    out = {"respondents": respondents}
    exp_u, exp_t = {}, {}
    score_eff = eff["staff_score_full_effect"].to_numpy()[:, None] * x
    for name, centre, shifts in (("engagement", 6.8, _ENGAGEMENT_YEAR), ("morale", 5.9, _MORALE_YEAR)):
        level = (
            centre
            + rng.normal(0.0, 0.3, size=P)[:, None]
            + np.array([shifts.get(int(y), np.nan) for y in years])[None, :]
        )
        exp_u[name], exp_t[name] = np.clip(level, 0, 10), np.clip(level + score_eff, 0, 10)
        out[name] = np.clip(np.round(exp_t[name] + rng.normal(0.0, 0.05, size=(P, Y)), 2), 0, 10)
    for name, base in _STAFF_BASE.items():
        lin = (
            logit(base)
            + rng.normal(0.0, 0.2, size=P)[:, None]
            + np.array([_STAFF_YEAR_LOGIT[int(y)] for y in years])[None, :]
        )
        q0, q1 = expit(lin), expit(lin + eff[f"{name}_full_logit_effect"].to_numpy()[:, None] * x)
        phi = 500.0
        out[name] = rng.binomial(respondents, rng.beta(q1 * phi, (1 - q1) * phi))
        exp_u[name], exp_t[name] = respondents * q0, respondents * q1
    return years, x, out, exp_u, exp_t


def _exposure_by_provider(
    cfg: SyntheticConfig, prov: pd.DataFrame, months: pd.PeriodIndex
) -> tuple[np.ndarray, np.ndarray]:
    """Months since each provider's start (P x T; NaN for comparators) and the exposure ``x``."""
    k = np.full((len(prov), len(months)), np.nan)
    for i, s in enumerate(prov["start"]):
        if isinstance(s, pd.Period):
            k[i] = np.arange(len(months)) - (s - months[0]).n
    return k, exposure(k, cfg)


@dataclass
class _Simulation:
    """The true process that :func:`generate` simulates, before the reporting quirks.

    Ward-month arrays are W x T (wards x months), provider arrays P x T or P x Y (survey years);
    ``*_u`` / ``*_t`` are the expectations untreated / treated.
    """

    months: pd.PeriodIndex
    prov: pd.DataFrame
    wards: pd.DataFrame
    eff: pd.DataFrame
    k: np.ndarray
    x_pt: np.ndarray
    obd: np.ndarray
    rp: dict[str, np.ndarray]
    rp_u: dict[str, np.ndarray]
    rp_t: dict[str, np.ndarray]
    responses: np.ndarray
    positive: np.ndarray
    pe_u: np.ndarray
    pe_t: np.ndarray
    years: np.ndarray
    x_py: np.ndarray
    staff: dict[str, np.ndarray]
    st_u: dict[str, np.ndarray]
    st_t: dict[str, np.ndarray]


def _simulate(cfg: SyntheticConfig, rngs: Sequence[np.random.Generator]) -> _Simulation:
    """Providers, wards, effects and the four outcome processes (one generator each, in order)."""
    r_struct, r_eff, r_rp, r_pe, r_staff = rngs
    months = pd.period_range(cfg.first_month, cfg.last_month, freq="M")
    prov = _providers(cfg, r_struct)
    wards = _wards(cfg, prov, r_struct)
    eff = _provider_effects(cfg, prov, r_eff)
    k, x_pt = _exposure_by_provider(cfg, prov, months)
    x_wt = x_pt[wards["p_idx"].to_numpy()]
    obd, rp, rp_u, rp_t = _restrictive(cfg, prov, eff, wards, months, x_wt, r_rp)
    for d in (rp_u, rp_t):
        d["restrictive_interventions"] = _sum_types(d)
    responses, positive, pe_u, pe_t = _patient_experience(cfg, eff, wards, x_wt, r_pe)
    years, x_py, staff, st_u, st_t = _staff_survey(cfg, prov, eff, r_staff)
    return _Simulation(
        months=months, prov=prov, wards=wards, eff=eff, k=k, x_pt=x_pt,
        obd=obd, rp=rp, rp_u=rp_u, rp_t=rp_t,
        responses=responses, positive=positive, pe_u=pe_u, pe_t=pe_t,
        years=years, x_py=x_py, staff=staff, st_u=st_u, st_t=st_t,
    )  # fmt: skip


def _zero_reporting(cfg: SyntheticConfig, sim: _Simulation, rng: np.random.Generator) -> dict[str, Any] | None:
    """Set one multi-ward participating provider's counts to 0 for a stretch; describe it."""
    prov, months = sim.prov, sim.months
    part_multi = np.flatnonzero((prov["cohort_idx"].to_numpy() >= 0) & (prov["n_wards"].to_numpy() >= 3))
    if cfg.zero_reporting_months <= 0 or not len(part_multi):
        return None
    zp = int(rng.choice(part_multi))
    # A stretch inside the pre-programme period where possible (ends before the first start).
    first_start = min(pd.Period(s, "M") for s in cfg.cohort_starts)
    latest = max((first_start - months[0]).n - cfg.zero_reporting_months, 1)
    z0 = int(rng.integers(min(9, latest - 1), latest)) if latest > 1 else 0
    z1 = min(z0 + cfg.zero_reporting_months, len(months))
    rows = sim.wards["p_idx"].to_numpy() == zp
    for c in sim.rp:
        sim.rp[c][np.ix_(rows, np.arange(z0, z1))] = 0
    return {
        "provider_id": prov["provider_id"].iat[zp],
        "first_month": str(months[z0]),
        "last_month": str(months[z1 - 1]),
        "months": z1 - z0,
        "columns": [*RP_OUTCOMES, "people_restricted"],
        "note": "all restrictive intervention counts reported as 0; occupied bed days still reported",
    }


def _provisional_undercount(cfg: SyntheticConfig, rp: dict[str, np.ndarray], rng: np.random.Generator) -> None:
    """Thin the last month's counts binomially (a provisional month that undercounts)."""
    if cfg.provisional_undercount <= 0:
        return
    keep = 1 - cfg.provisional_undercount
    last = rp["physical_restraint"].shape[1] - 1
    phys_old = rp["physical_restraint"][:, last].copy()
    for j in TYPES:
        rp[j][:, last] = rng.binomial(rp[j][:, last], keep)
    # Prone restraints stay a subset of the physical restraints that survive the thinning.
    prone_old = rp["prone_restraint"][:, last]
    rp["prone_restraint"][:, last] = rng.hypergeometric(
        prone_old, phys_old - prone_old, rp["physical_restraint"][:, last]
    )
    tot = _sum_types(rp)[:, last]
    ppl = rng.binomial(rp["people_restricted"][:, last], keep)
    rp["people_restricted"][:, last] = np.where(tot > 0, np.clip(ppl, 1, np.maximum(tot, 1)), 0)


def _reporting_quirks(
    cfg: SyntheticConfig, sim: _Simulation, rng: np.random.Generator
) -> tuple[np.ndarray, dict[str, Any] | None]:
    """Apply the quirks to the reported counts (``sim.rp``, in place; the truth stays the true
    process): which ward-months are present (W x T), and the zero-reporting stretch."""
    present = rng.random(sim.obd.shape) >= cfg.missing_fraction
    zero = _zero_reporting(cfg, sim, rng)
    _provisional_undercount(cfg, sim.rp, rng)
    sim.rp["restrictive_interventions"] = _sum_types(sim.rp)
    return present, zero


#: Column order of the restrictive practice table.
_RP_COLUMNS = ["provider_id", "ward_id", "month", "ward_type", *RESTRICTIVE_MEASURES]


def _contract_tables(sim: _Simulation, present: np.ndarray) -> dict[str, pd.DataFrame]:
    """The data contract's four tables (reported values; absent ward-months left out), sorted."""
    wards, prov = sim.wards, sim.prov
    wi, ti = np.nonzero(present)
    base = pd.DataFrame(
        {
            "provider_id": wards["provider_id"].to_numpy()[wi],
            "ward_id": wards["ward_id"].to_numpy()[wi],
            "month": sim.months.astype(str).to_numpy()[ti],
        }
    )
    rp_df = base.assign(
        ward_type=wards["ward_type"].to_numpy()[wi],
        occupied_bed_days=sim.obd[wi, ti],
        restrictive_interventions=sim.rp["restrictive_interventions"][wi, ti],
        **{c: sim.rp[c][wi, ti] for c in (*TYPES, "prone_restraint", "people_restricted")},
    )[_RP_COLUMNS]
    pe_df = base.assign(responses=sim.responses[wi, ti], positive_responses=sim.positive[wi, ti])
    part = prov[
        ["provider_id", "provider_name", "cohort", "start_month", "coaching_end_month", "wards_enrolled", "region"]
    ]
    P, Y = len(prov), len(sim.years)
    staff_df = pd.DataFrame(
        {
            "provider_id": np.repeat(prov["provider_id"].to_numpy(), Y),
            "survey_year": np.tile(sim.years, P),
            "respondents": sim.staff["respondents"].ravel(),
            "engagement": sim.staff["engagement"].ravel(),
            "morale": sim.staff["morale"].ravel(),
            **{c: sim.staff[c].ravel() for c in STAFF_COUNTS},
        }
    )
    return {
        "participation": part.sort_values("provider_id").reset_index(drop=True),
        "restrictive_practice": rp_df.sort_values(["provider_id", "ward_id", "month"]).reset_index(drop=True),
        "patient_experience": pe_df.sort_values(["provider_id", "ward_id", "month"]).reset_index(drop=True),
        "staff_survey": staff_df.sort_values(["provider_id", "survey_year"]).reset_index(drop=True),
    }


def _truth_table(sim: _Simulation, present: np.ndarray) -> pd.DataFrame:
    """``truth.csv``: provider-level expectations (sums over the wards that reported each month)."""
    prov = sim.prov
    P, T = sim.x_pt.shape
    wi, ti = np.nonzero(present)
    p_of_row = sim.wards["p_idx"].to_numpy()[wi]

    def agg(a: np.ndarray) -> np.ndarray:
        out = np.zeros((P, T))
        np.add.at(out, (p_of_row, ti), a[wi, ti])
        return out

    def block(
        outcome: str,
        den: np.ndarray,
        eu: np.ndarray,
        et: np.ndarray,
        xs: np.ndarray,
        periods: np.ndarray,
        post: np.ndarray,
        keep: np.ndarray,
    ) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "provider_id": np.repeat(prov["provider_id"].to_numpy(), len(periods)),
                "cohort": np.repeat(prov["cohort"].to_numpy(), len(periods)),
                "period": np.tile(periods, P),
                "outcome": outcome,
                "post": post.ravel().astype(np.int64),
                "exposure": xs.ravel(),
                "denominator": np.rint(den).astype(np.int64).ravel(),
                "expected_untreated": eu.ravel(),
                "expected_treated": et.ravel(),
                "keep": keep.ravel() & np.isfinite(eu).ravel(),
            }
        )

    reporting = agg(np.ones(present.shape)) > 0
    obd_p, resp_p = agg(sim.obd.astype(float)), agg(sim.responses.astype(float))
    month_str = sim.months.astype(str).to_numpy()
    post_m = sim.k >= 0
    frames = [
        block(o, obd_p, agg(sim.rp_u[o]), agg(sim.rp_t[o]), sim.x_pt, month_str, post_m, reporting) for o in RP_OUTCOMES
    ]
    frames.append(
        block("positive_responses", resp_p, agg(sim.pe_u), agg(sim.pe_t), sim.x_pt, month_str, post_m, reporting)
    )
    years = sim.years
    post_y = np.array(
        [[isinstance(s, pd.Period) and s <= pd.Period(f"{y}-09", "M") for y in years] for s in prov["start"]]
    )
    ystr = years.astype(str)
    every = np.ones((P, len(years)), bool)
    for o in (*STAFF_SCORES, *STAFF_COUNTS):
        frames.append(block(o, sim.staff["respondents"], sim.st_u[o], sim.st_t[o], sim.x_py, ystr, post_y, every))
    truth = pd.concat(frames, ignore_index=True)
    truth = truth[truth.pop("keep")].copy()
    eu = truth["expected_untreated"].to_numpy()
    truth["effect"] = np.where(eu > 0, truth["expected_treated"].to_numpy() / np.where(eu > 0, eu, 1), np.nan)
    return truth.sort_values(["provider_id", "period", "outcome"]).reset_index(drop=True)[list(TRUTH_COLUMNS)]


def generate(config: SyntheticConfig | None = None) -> dict[str, pd.DataFrame]:
    """Simulate the programme's four tables and their true effects.

    Parameters
    ----------
    config : SyntheticConfig, optional
        Generator settings; defaults to ``SyntheticConfig()`` (seed 20240401, the committed
        ``data/synthetic/``).

    Returns
    -------
    dict of pandas.DataFrame
        ``participation``, ``restrictive_practice``, ``patient_experience``, ``staff_survey``
        (the data contract's tables, months as "YYYY-MM" strings, sorted by their keys) and
        ``truth`` (long form, see the module docstring). ``result["truth"].attrs["truth_json"]``
        holds the dict written to ``truth.json``.

    Examples
    --------
    >>> tables = generate(SyntheticConfig(seed=3))
    >>> tables["participation"]["cohort"].value_counts().sort_index().tolist()
    [20, 20, 20]
    """
    cfg = config or SyntheticConfig()
    *rngs, r_quirk = (np.random.default_rng(s) for s in np.random.SeedSequence(cfg.seed).spawn(6))
    sim = _simulate(cfg, rngs)
    present, zero = _reporting_quirks(cfg, sim, r_quirk)
    tables = _contract_tables(sim, present)
    truth = _truth_table(sim, present)
    missing = [
        {
            "provider_id": sim.wards["provider_id"].iat[w],
            "ward_id": sim.wards["ward_id"].iat[w],
            "month": str(sim.months[t]),
        }
        for w, t in zip(*np.nonzero(~present))
    ]
    zero_responses = int((tables["patient_experience"]["responses"] == 0).sum())
    truth.attrs["truth_json"] = _truth_json(
        cfg, sim.prov, sim.eff, truth, zero, missing, str(sim.months[-1]), zero_responses
    )
    tables["truth"] = truth
    return tables


# --------------------------------------------------------------------------------------------
# Truth summaries
# --------------------------------------------------------------------------------------------

#: Scale of the difference reported by :func:`true_effects`: per 1,000 occupied bed days for
#: restrictive practice, a proportion for responses and respondents, points for scores.
_SCALE = {**{o: 1000.0 for o in RP_OUTCOMES}, "positive_responses": 1.0, **{o: 1.0 for o in STAFF_COUNTS}}


def true_effects(truth: pd.DataFrame, by: str | None = "cohort") -> pd.DataFrame:
    """Average true effects on the treated, from a long ``truth`` table.

    Over the ``post == 1`` rows (treated provider-periods) with a positive denominator, per
    ``by`` group (and "All") and outcome: ``n`` rows, ``mean_exposure``, ``ratio`` = sum of
    ``expected_treated`` / sum of ``expected_untreated`` (a rate ratio for counts; for scores,
    a ratio of mean scores), and ``difference`` = mean of ``(expected_treated -
    expected_untreated) / denominator * scale``: the ATT per 1,000 occupied bed days for
    restrictive practice, in proportion for patient experience and staff respondent counts, and
    in points for engagement and morale.

    Parameters
    ----------
    truth : pandas.DataFrame
        ``truth.csv`` as read, or ``generate()["truth"]``.
    by : str or None
        Grouping column (default ``"cohort"``); None for the overall effect only.

    Examples
    --------
    >>> te = true_effects(generate(SyntheticConfig(seed=2))["truth"])
    >>> bool((te.query("outcome == 'restrictive_interventions'")["ratio"] < 1).all())
    True
    """
    need = {"outcome", "post", "denominator", "expected_untreated", "expected_treated", "exposure"}
    if not need <= set(truth.columns):
        raise InputError(f"truth lacks columns {sorted(need - set(truth.columns))}")
    d = truth[(truth["post"] == 1) & (truth["denominator"] > 0)].copy()
    scale = d["outcome"].map(_SCALE)
    diff = d["expected_treated"] - d["expected_untreated"]
    d["difference"] = np.where(scale.notna(), diff / d["denominator"] * scale.fillna(1.0), diff)
    groups = [("All", d)] + ([] if by is None else list(d.groupby(by, sort=True)))
    rows = []
    for g, sub in groups:
        for o, s in sub.groupby("outcome", sort=True):
            rows.append(
                {
                    "group": g,
                    "outcome": o,
                    "n": len(s),
                    "mean_exposure": s["exposure"].mean(),
                    "ratio": s["expected_treated"].sum() / s["expected_untreated"].sum(),
                    "difference": s["difference"].mean(),
                }
            )
    return pd.DataFrame(rows)


def _r(x: float) -> float | None:
    """Round for JSON so the file is byte-stable (None for NaN)."""
    return None if not np.isfinite(x) else float(round(float(x), 8))


def _str_or_none(v: object) -> str | None:
    """A string, or None for any missing marker (None, NaN, pd.NA), for strict JSON."""
    return None if pd.isna(v) else str(v)


def _truth_json(
    cfg: SyntheticConfig,
    prov: pd.DataFrame,
    eff: pd.DataFrame,
    truth: pd.DataFrame,
    zero: dict[str, Any] | None,
    missing: list[dict[str, str]],
    provisional_month: str,
    zero_responses: int,
) -> dict[str, Any]:
    """The content of ``truth.json``: parameters, true effects per cohort and provider, quirks."""
    cohorts = {}
    log_rr = eff["full_log_rate_ratio"].to_numpy()
    te = true_effects(truth)
    for c, (start, rr) in enumerate(zip(cfg.cohort_starts, cfg.cohort_rate_ratios)):
        label = f"Cohort {c + 1}"
        sel = prov["cohort_idx"].to_numpy() == c
        t = te[te["group"] == label]
        cohorts[label] = {
            "start_month": start,
            "coaching_end_month": str(pd.Period(start, "M") + cfg.coaching_months - 1),
            "n_providers": int(sel.sum()),
            "nominal_rate_ratio": rr,
            "mean_full_log_rate_ratio": _r(log_rr[sel].mean()),
            "geometric_mean_full_rate_ratio": _r(np.exp(log_rr[sel].mean())),
            "mean_pe_full_logit_effect": _r(eff.loc[sel, "pe_full_logit_effect"].mean()),
            "mean_staff_score_full_effect": _r(eff.loc[sel, "staff_score_full_effect"].mean()),
            "att": {
                r.outcome: {
                    "n": int(r.n),
                    "mean_exposure": _r(r.mean_exposure),
                    "ratio": _r(r.ratio),
                    "difference": _r(r.difference),
                }
                for r in t.itertuples()
            },
        }
    overall = te[te["group"] == "All"]
    providers = {}
    for i, pid in enumerate(prov["provider_id"]):
        e = eff.iloc[i]
        providers[pid] = {
            "cohort": _str_or_none(prov["cohort"].iat[i]),
            "start_month": _str_or_none(prov["start_month"].iat[i]),
            **{c: _r(e[c]) for c in eff.columns if c != "provider_id"},
        }
    return {
        "description": "Synthetic Culture of Care programme data (cocEval.synthetic). Every provider, ward and number is invented.",
        "config": cfg.model_dump(mode="json"),
        "effect_shape": (
            "log rate ratio = full_log_rate_ratio * type multiplier * exposure; exposure is 0 before start_month, "
            "min((k + 1) / ramp_months, 1) in the k-th month of coaching (k = 0 at start_month), and after "
            "coaching_end_month loses fade_fraction of the effect with half-life fade_half_life months. Staff "
            "survey year Y is after the start when start_month <= Y-09 and carries October Y's exposure."
        ),
        "truth_csv": "long form: provider_id, cohort, period (YYYY-MM or YYYY), outcome, post, exposure, denominator, "
        "expected_untreated, expected_treated, effect = expected_treated / expected_untreated",
        "cohorts": cohorts,
        "overall_att": {
            r.outcome: {
                "n": int(r.n),
                "mean_exposure": _r(r.mean_exposure),
                "ratio": _r(r.ratio),
                "difference": _r(r.difference),
            }
            for r in overall.itertuples()
        },
        "providers": providers,
        "quirks": {
            "zero_reporting": zero,
            "provisional_month": {
                "month": provisional_month,
                "undercount": cfg.provisional_undercount,
                "columns": [*RP_OUTCOMES, "people_restricted"],
                "note": "restrictive intervention counts thinned binomially; occupied bed days complete",
            },
            "missing_ward_months": missing,
            "zero_response_ward_months": zero_responses,
            "morale_missing_before": _MORALE_FIRST_YEAR,
        },
    }


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def write_synthetic(out: str | Path, config: SyntheticConfig | None = None) -> list[Path]:
    """Generate synthetic data and write it to ``out`` as CSV, with the truth.

    Writes ``participation.csv``, ``restrictive_practice.csv``, ``patient_experience.csv``,
    ``staff_survey.csv``, ``truth.csv`` and ``truth.json`` (creating ``out``), with fixed
    formatting (``\\n`` line ends, scores to 2 decimals, truth to 6) so the same seed gives
    byte-identical files.

    Parameters
    ----------
    out : str or Path
        Output folder.
    config : SyntheticConfig, optional
        Defaults to ``SyntheticConfig()``.

    Returns
    -------
    list of Path
        The files written.

    Examples
    --------
    >>> import tempfile
    >>> paths = write_synthetic(tempfile.mkdtemp(), SyntheticConfig(seed=5))
    >>> [p.name for p in paths][:2]
    ['participation.csv', 'restrictive_practice.csv']
    """
    cfg = config or SyntheticConfig()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tables = generate(cfg)
    fmt = {"staff_survey": "%.2f", "truth": "%.6f"}
    paths = []
    for name in ("participation", "restrictive_practice", "patient_experience", "staff_survey", "truth"):
        p = out / f"{name}.csv"
        tables[name].to_csv(p, index=False, lineterminator="\n", float_format=fmt.get(name))
        paths.append(p)
    p = out / "truth.json"
    p.write_text(
        json.dumps(tables["truth"].attrs["truth_json"], indent=1, allow_nan=False) + "\n",
        encoding="utf-8",
        newline="\n",
    )
    paths.append(p)
    log.info("wrote synthetic data (seed %s) to %s", cfg.seed, out)
    return paths


def example_panel(n_units: int = 60, n_periods: int = 6, *, effect: float = 1.0, seed: int = 0) -> pd.DataFrame:
    """A small staggered-adoption panel with a known effect, for examples and quick checks.

    Units are assigned at random to never treated (cohort 0) or to cohorts starting in periods
    3 and 5; the outcome is noise (sd 0.1) plus ``effect`` from a unit's cohort start on.

    Returns
    -------
    DataFrame
        ``y``, ``id``, ``t`` (1..n_periods), ``g`` (cohort, 0 = never) and ``post`` (0/1).

    Examples
    --------
    >>> df = example_panel()
    >>> df.shape, sorted(df["g"].unique().tolist())
    ((360, 5), [0, 3, 5])
    >>> round(df.loc[df["post"] == 1, "y"].mean() - df.loc[df["post"] == 0, "y"].mean())
    1
    """
    rng = np.random.default_rng(seed)
    units = np.repeat(np.arange(n_units), n_periods)
    t = np.tile(np.arange(1, n_periods + 1), n_units)
    g = np.repeat(rng.choice([0, 3, 5], n_units), n_periods)
    post = ((g > 0) & (t >= g)).astype(int)
    y = rng.normal(scale=0.1, size=len(units)) + effect * post
    return pd.DataFrame({"y": y, "id": units, "t": t, "g": g, "post": post})
