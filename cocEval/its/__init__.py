"""Interrupted time series (segmented regression), validated against R.

:func:`fit_its` fits one series (optionally against a control series) and returns an
:class:`ITSResult` with the coefficient table, reader-facing effects, effects at a horizon with
delta-method intervals, the tidy frame behind every chart, diagnostics, a plain-English summary
and a plot.

Model (Wagner et al. 2002; Lopez Bernal, Cummins & Gasparrini 2017). With ``t`` the integer
period (months for month dates), ``t0`` the first period in the data, ``s`` the first
intervention period (``start``) and ``e`` the optional end of the intervention (``end``)::

    g(E[y_t]) = b0 + trend * (t - t0 + 1) + level_change * [t >= s] + trend_change * (t - s) [t >= s]
                + sustain_level_change * [t >= e] + sustain_trend_change * (t - e) [t >= e]
                + sum_k (sin_k sin(2 pi k m_t / 12) + cos_k cos(2 pi k m_t / 12)) + log(exposure_t)

so ``level_change`` is the fitted value minus the counterfactual at ``start`` on the
linear-predictor scale, ``trend_change`` the change of slope per period from there, ``trend``
the pre-intervention slope, and ``intercept`` the level one period before the first row.

Families and standard errors (each checked against R in ``tests/test_its.py``):

=============== ==================================== ============================================
family          R equivalent                          ``errors``
=============== ==================================== ============================================
gaussian        ``lm``                                "ols"
gaussian        ``lm`` + ``sandwich::NeweyWest``      "newey-west" (Bartlett, ``prewhite=FALSE``,
                                                      ``adjust=TRUE``)
gaussian        ``nlme::gls(corAR1, method="ML")``    "ar1" (``"ar1-reml"`` for ``method="REML"``)
gaussian        REML AR(1), small-sample adjusted     "ar1-reml-adj" (default; REML estimates, the
                                                      covariance at a bias-corrected phi and t on
                                                      Satterthwaite df; no R equivalent)
poisson         ``glm(family=poisson)``               "model" or "newey-west"
quasipoisson    ``glm(family=quasipoisson)``          "model" (Pearson dispersion) or "newey-west"
negbin          ``MASS::glm.nb``                      "model" (SEs as glm.nb reports),
                                                      "pearson" (default; glm.nb SEs scaled by the
                                                      Pearson dispersion, t intervals) or
                                                      "newey-west"
binomial        ``glm(cbind(y, n - y), binomial)``    "model" or "newey-west" (needs ``trials``)
quasibinomial   ``glm(..., quasibinomial)``           "model" (Pearson dispersion) or "newey-west"
=============== ==================================== ============================================

The default ``errors`` per family are in :data:`DEFAULT_ERRORS`, chosen from the Monte-Carlo
coverage study in ``benchmarks/its_coverage.py`` (see that script's docstring for the table).

Layout of the package:

================  ===========================================================================
module            holds
================  ===========================================================================
``families``      the family registry (link, variance, dispersion, allowed errors, scales)
``design``        time coding (shared :class:`cocEval.timecode.TimeCoder`) and the design matrix
``engines``       OLS, AR(1) by (RE)ML, GLMs and Newey-West covariances
``fitting``       :func:`fit_its`: argument and data checks, then the engine
``results``       :class:`ITSResult`: coefficients, ``effect_at``, ``predict``
``effects``       the effects table and :meth:`ITSResult.effect_summary`
``diagnostics``   residual autocorrelation and overdispersion checks
``narrative``     plain-English summary; ``plot`` draws the chart
================  ===========================================================================
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cocEval.its.design import MIN_PERIODS, RECOMMENDED_PERIODS
from cocEval.its.families import (
    BINOMIAL_FAMILIES,
    COUNT_FAMILIES,
    DEFAULT_ERRORS,
    FAMILIES,
    MAX_SEASONALITY,
    REGISTRY,
    Family,
    get_family,
)

if TYPE_CHECKING:
    from cocEval.its.fitting import fit_its
    from cocEval.its.results import ITSResult

__all__ = [
    "fit_its",
    "ITSResult",
    "DEFAULT_ERRORS",
    "FAMILIES",
    "COUNT_FAMILIES",
    "BINOMIAL_FAMILIES",
    "MAX_SEASONALITY",
    "MIN_PERIODS",
    "RECOMMENDED_PERIODS",
    "REGISTRY",
    "Family",
    "get_family",
]


def __getattr__(name: str) -> Any:
    """``fit_its`` and ``ITSResult`` are imported on first use (PEP 562): they need statsmodels
    (about 1.3 s to import), which the configuration, that reads the family registry, does not."""
    if name == "fit_its":
        from cocEval.its.fitting import fit_its

        return fit_its
    if name == "ITSResult":
        from cocEval.its.results import ITSResult

        return ITSResult
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
