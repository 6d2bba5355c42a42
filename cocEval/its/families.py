"""The family registry: everything the ITS code (and the config schema) knows about a family.

Each :class:`Family` states its link, variance function, how the dispersion is found, which
``errors`` options it allows (and the default), what it needs besides the outcome (an exposure
offset or binomial trials) and the scale effects are shown on. :func:`cocEval.its.fit_its`, the
results and :mod:`cocEval.config` all read this registry, so they cannot disagree.

To add a family: add a :class:`Family` to :data:`REGISTRY`, teach ``fitting._fit_glm`` (or a new
engine) to fit it, add an R fixture to ``tests/reference/its_reference.R`` and a benchmark
scenario to ``benchmarks/its_coverage.py``.

Examples
--------
>>> get_family("negbin").link, get_family("negbin").default_errors
('log', 'pearson')
>>> "ar1-reml" in get_family("gaussian").errors
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import special

from cocEval.errors import InputError

__all__ = [
    "Family",
    "REGISTRY",
    "FAMILIES",
    "COUNT_FAMILIES",
    "BINOMIAL_FAMILIES",
    "DEFAULT_ERRORS",
    "ALL_ERRORS",
    "ERRORS_WORDS",
    "MAX_SEASONALITY",
    "get_family",
]

#: Largest number of Fourier pairs for seasonality (6 pairs would include sin(pi m), which is 0).
MAX_SEASONALITY = 5


@dataclass(frozen=True)
class Family:
    """One outcome family of the interrupted time series.

    Attributes
    ----------
    name : str
        The ``family=`` value.
    link : {"identity", "log", "logit"}
    variance : str
        Variance function in words (``"mu + mu^2 / theta"``).
    dispersion : {"estimated", "fixed", "pearson", "theta"}
        ``estimated`` (residual variance), ``fixed`` at 1, ``pearson`` (chi-square / df, as R's
        quasi families) or ``theta`` (negative-binomial shape by maximum likelihood).
    errors : tuple of str
        Allowed ``errors=`` options; the first is not necessarily the default.
    default_errors : str
        The default ``errors`` (chosen by ``benchmarks/its_coverage.py``).
    needs : {"exposure", "trials", None}
        ``exposure`` is optional for counts (offset), ``trials`` required for binomial families.
    effect_scale : str
        Scale of the effects table (``"rate ratio"`` etc.; counts without exposure say
        ``"count ratio"``).
    summary_scale : str
        Scale of :class:`cocEval.effects.EffectSummary` (a :data:`cocEval.wording.SCALES` key).
    words : str
        The model in words, for narratives.
    """

    name: str
    link: Literal["identity", "log", "logit"]
    variance: str
    dispersion: Literal["estimated", "fixed", "pearson", "theta"]
    errors: tuple[str, ...]
    default_errors: str
    needs: Literal["exposure", "trials"] | None
    effect_scale: str
    summary_scale: str
    words: str

    @property
    def is_count(self) -> bool:
        return self.link == "log"

    @property
    def is_binomial(self) -> bool:
        return self.link == "logit"

    @property
    def quasi(self) -> bool:
        return self.dispersion == "pearson"

    def inverse_link(self, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and d mean / d eta at the linear predictor ``eta``.

        Examples
        --------
        >>> import numpy as np
        >>> get_family("poisson").inverse_link(np.array([0.0]))
        (array([1.]), array([1.]))
        """
        if self.link == "identity":
            return eta, np.ones_like(eta)
        if self.link == "log":
            mu = np.exp(eta)
            return mu, mu
        mu = special.expit(eta)
        return mu, mu * (1 - mu)

    def scale_name(self, has_exposure: bool) -> str:
        if self.is_count and not has_exposure:
            return "count ratio"
        return self.effect_scale


_GAUSSIAN_ERRORS = ("ols", "newey-west", "ar1", "ar1-reml", "ar1-reml-adj")
_GLM_ERRORS = ("model", "newey-west")

#: Default ``errors`` of each family and why: ``benchmarks/its_coverage.py`` (60 months, 36 before
#: the start, 1000 replications; coverage % of level_change / trend_change). Gaussian AR(1) errors
#: rho 0 / 0.3 / 0.6: "ar1-reml-adj" 95.4/95.7, 96.2/96.6, 97.0/95.7 (R-parity "ar1-reml" 93.9/94.1,
#: 93.9/94.6, 92.7/92.3); negative-binomial counts: "pearson" 95.7/93.9 (glm.nb "model" 93.1/91.6),
#: quasipoisson "model" 95.6/94.5. Every default covers 93-97% there.
REGISTRY: dict[str, Family] = {
    f.name: f
    for f in (
        Family(
            "gaussian",
            "identity",
            "sigma^2",
            "estimated",
            _GAUSSIAN_ERRORS,
            "ar1-reml-adj",
            None,
            "absolute change",
            "difference",
            "linear segmented regression",
        ),
        Family(
            "poisson",
            "log",
            "mu",
            "fixed",
            _GLM_ERRORS,
            "model",
            "exposure",
            "rate ratio",
            "percentage change",
            "Poisson segmented regression",
        ),
        Family(
            "quasipoisson",
            "log",
            "phi mu",
            "pearson",
            _GLM_ERRORS,
            "model",
            "exposure",
            "rate ratio",
            "percentage change",
            "quasi-Poisson segmented regression",
        ),
        Family(
            "negbin",
            "log",
            "mu + mu^2 / theta",
            "theta",
            (*_GLM_ERRORS, "pearson"),
            "pearson",
            "exposure",
            "rate ratio",
            "percentage change",
            "negative-binomial segmented regression",
        ),
        Family(
            "binomial",
            "logit",
            "mu (1 - mu)",
            "fixed",
            _GLM_ERRORS,
            "model",
            "trials",
            "odds ratio",
            "percentage points",
            "logistic segmented regression",
        ),
        Family(
            "quasibinomial",
            "logit",
            "phi mu (1 - mu)",
            "pearson",
            _GLM_ERRORS,
            "model",
            "trials",
            "odds ratio",
            "percentage points",
            "quasi-binomial logistic segmented regression",
        ),
    )
}

FAMILIES: tuple[str, ...] = tuple(REGISTRY)
COUNT_FAMILIES: tuple[str, ...] = tuple(n for n, f in REGISTRY.items() if f.is_count)
BINOMIAL_FAMILIES: tuple[str, ...] = tuple(n for n, f in REGISTRY.items() if f.is_binomial)
DEFAULT_ERRORS: dict[str, str] = {n: f.default_errors for n, f in REGISTRY.items()}
ALL_ERRORS: tuple[str, ...] = tuple(dict.fromkeys(e for f in REGISTRY.values() for e in f.errors))

#: How each ``errors`` option is described in narratives ({maxlags}, {phi} filled in).
ERRORS_WORDS: dict[str, str] = {
    "ols": "independent errors",
    "model": "model-based standard errors",
    "pearson": "model-based standard errors scaled by the Pearson dispersion (t intervals)",
    "newey-west": "Newey-West standard errors (lag {maxlags})",
    "ar1": "AR(1) errors by ML (phi {phi:.2f})",
    "ar1-reml": "AR(1) errors by REML (phi {phi:.2f})",
    "ar1-reml-adj": "AR(1) errors by REML with a small-sample adjustment (phi {phi:.2f})",
}


def get_family(name: str) -> Family:
    """The registered :class:`Family` called ``name`` (an :class:`InputError` otherwise)."""
    try:
        return REGISTRY[name]
    except (KeyError, TypeError):
        raise InputError(f"family={name!r} is not one of {FAMILIES}") from None
