"""Two-way fixed effects (unit + period) regressions and the canonical 2x2 DiD.

TWFE is what most evaluations report; under staggered adoption with changing effects it is a
weighted average of 2x2 comparisons, some with negative weights (see
:func:`cocEval.did.bacon_decomposition`). It is provided as a diagnostic to set beside
:func:`cocEval.did.att_gt`.

Standard errors are cluster-robust with fixest's default small-sample correction:
``G/(G-1) * (N-1)/(N-K)``, where ``K`` = slope coefficients + T: fixest's ``fixef.K =
"nested"`` drops the unit effects nested in the clusters except one, and keeps the T - 1
free period effects (checked against fixest's clustered SEs on the ehec data to 4 digits). Estimation uses the within transformation of the balanced panel
(exact for two-way fixed effects in balanced panels).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf
from scipy import stats

from cocEval.errors import InputError, NotEstimableError

from .._results import ResultMixin
from ._inference import cluster_sums
from ._panel import _require_columns, _show, prepare_panel

__all__ = ["twfe", "event_study_twfe", "did_2x2", "TWFEResult", "EventStudyTWFE", "DiD2x2"]


def _within(A: np.ndarray) -> np.ndarray:
    """Two-way demean a units x periods (x p) array (balanced panel)."""
    return A - A.mean(axis=1, keepdims=True) - A.mean(axis=0, keepdims=True) + A.mean(axis=(0, 1), keepdims=True)


def _fe_ols(Y: np.ndarray, X: np.ndarray, cluster: np.ndarray):
    """OLS of y on X with unit and period fixed effects; fixest-style clustered vcov.

    Y: n x T; X: n x T x p; cluster: cluster code per unit. Returns (beta, vcov, dof_resid).
    """
    n, T, p = X.shape
    y = _within(Y).reshape(-1)
    Xw = _within(X).reshape(-1, p)
    XtX_inv = np.linalg.inv(Xw.T @ Xw)
    beta = XtX_inv @ (Xw.T @ y)
    u = y - Xw @ beta
    scores = (Xw * u[:, None]).reshape(n, T, p).sum(axis=1)  # per unit
    S = cluster_sums(scores, cluster)
    G = S.shape[0]
    N = n * T
    K = p + T  # fixest fixef.K='nested': slopes + (T - 1) period effects + 1 for the nested unit effects
    adj = G / (G - 1) * (N - 1) / (N - K)
    vcov = adj * XtX_inv @ (S.T @ S) @ XtX_inv
    return beta, vcov, G


def _cluster_codes(data, unit, cluster, panel) -> np.ndarray:
    if cluster is None or cluster == unit:
        return np.arange(panel.n)
    return panel.cluster


@dataclass
class TWFEResult(ResultMixin):
    """Two-way fixed-effects estimate: ``estimate``, ``se``, ``ci_low``, ``ci_high``."""

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    n_obs: int
    n_clusters: int
    outcome: str
    alpha: float = 0.05

    @property
    def table(self) -> pd.DataFrame:
        return pd.DataFrame(
            {"estimate": [self.estimate], "se": [self.se], "ci_low": [self.ci_low], "ci_high": [self.ci_high]},
            index=pd.Index(["treated"], name="term"),
        )

    def summary(self) -> str:
        lvl = f"{100 * (1 - self.alpha):.0f}%"
        return (
            f"The two-way fixed-effects estimate of the effect on {self.outcome} is {self.estimate:.3g} "
            f"({lvl} CI {self.ci_low:.3g} to {self.ci_high:.3g}; SE {self.se:.3g} clustered over {self.n_clusters} "
            f"clusters, {self.n_obs} observations). With staggered starts this is a weighted mix of earlier/later "
            "comparisons and can be biased when effects change over time; compare with att_gt()."
        )

    # --- effect_summary (issue 10) -------------------------------------------------------
    def effect_summary(
        self, *, outcome: str | None = None, scale: str = "difference", improvement: str | None = None, caveats=()
    ):
        """The TWFE estimate as an :class:`cocEval.effects.EffectSummary` (outcome's own units).

        Examples
        --------
        >>> df = pd.DataFrame({"y": [1, 2, 1, 4, 2, 2], "id": [1, 1, 2, 2, 3, 3],
        ...                    "t": [1, 2] * 3, "d": [0, 0, 0, 1, 0, 0]})
        >>> e = twfe(df, "y", "id", "t", "d").effect_summary(improvement="increase")
        >>> round(e.estimate, 3), e.n_label
        (2.5, '3 clusters')
        """
        from cocEval.effects import EffectSummary

        se_ok = np.isfinite(self.se) and self.se > 0
        return EffectSummary(
            outcome=outcome or self.outcome,
            comparison="treated against untreated periods, with unit and period fixed effects",
            scale=scale,
            estimate=float(self.estimate),
            ci_low=float(self.ci_low),
            ci_high=float(self.ci_high),
            period="averaged over all treated periods (regression weights)",
            method="two-way fixed effects, clustered standard errors",
            p_value=float(2 * stats.t.sf(abs(self.estimate / self.se), self.n_clusters - 1)) if se_ok else None,
            n=int(self.n_clusters),
            n_label=f"{self.n_clusters} clusters",
            improvement=improvement,
            caveats=(
                "With staggered starts TWFE also compares later-treated units with already-treated ones; "
                "see the Goodman-Bacon decomposition.",
                *caveats,
            ),
            level=int(round(100 * (1 - self.alpha))),
        )

    def get_plot_data(self) -> pd.DataFrame:
        return self.table.reset_index()

    def plot(self, *, ax=None):
        from ..style import NHS_BLUE, new_axes

        fig, ax = new_axes(ax)
        ax.errorbar(
            [self.estimate],
            [0],
            xerr=[[self.estimate - self.ci_low], [self.ci_high - self.estimate]],
            fmt="o",
            color=NHS_BLUE,
            capsize=4,
        )
        ax.axvline(0, color="black", lw=0.8)
        ax.set_yticks([0], ["TWFE"])
        ax.set_xlabel(f"Effect on {self.outcome}")
        ax.set_title(f"TWFE estimate {self.estimate:.3g} ({self.ci_low:.3g} to {self.ci_high:.3g})")
        return fig, ax


def twfe(
    data: pd.DataFrame,
    outcome: str,
    unit: str,
    time: str,
    treated: str,
    *,
    cluster: str | None = None,
    alpha: float = 0.05,
) -> TWFEResult:
    """Static two-way fixed-effects DiD: ``outcome ~ treated | unit + time``.

    Parameters
    ----------
    data : DataFrame
        Balanced long panel.
    outcome, unit, time, treated : str
        Columns; ``treated`` is the 0/1 indicator of being treated in that period.
    cluster : str, optional
        Cluster column (constant within unit); default the unit, as fixest.
    alpha : float

    Returns
    -------
    TWFEResult
        ``estimate``, ``se``, ``ci_low``, ``ci_high`` (t critical value with G - 1 degrees of
        freedom, as fixest's ``confint`` for clustered SEs).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"y": [1, 2, 1, 4, 2, 2], "id": [1, 1, 2, 2, 3, 3],
    ...                    "t": [1, 2] * 3, "d": [0, 0, 0, 1, 0, 0]})
    >>> round(twfe(df, "y", "id", "t", "d").estimate, 3)
    2.5
    """
    panel = prepare_panel(data, outcome, unit, time, treated=treated, cluster=None if cluster == unit else cluster)
    cl = _cluster_codes(data, unit, cluster, panel)
    beta, vcov, G = _fe_ols(panel.Y, panel.D[:, :, None], cl)
    se = float(np.sqrt(vcov[0, 0]))
    crit = float(stats.t.ppf(1 - alpha / 2, G - 1))
    b = float(beta[0])
    return TWFEResult(b, se, b - crit * se, b + crit * se, panel.Y.size, G, outcome, alpha)


class EventStudyTWFE(ResultMixin):
    """Event-study TWFE coefficients by event time (reference period fixed at 0)."""

    _table_attr = "table"

    def __init__(self, table, outcome, ref, bins, unit_word):
        self.table, self.outcome, self.ref, self.bins, self._unit_word = table, outcome, ref, bins, unit_word

    def get_plot_data(self) -> pd.DataFrame:
        return self.table.reset_index()

    def plot(self, *, ax=None):
        from ..style import NHS_BLUE, NHS_GREY, new_axes

        fig, ax = new_axes(ax)
        d = self.get_plot_data()
        pre = d["event_time"] < 0
        for mask, colour, marker, label in ((pre, NHS_GREY, "s", "before start"), (~pre, NHS_BLUE, "o", "after start")):
            s = d[mask]
            ax.errorbar(
                s["event_time"],
                s["estimate"],
                yerr=[s["estimate"] - s["ci_low"], s["ci_high"] - s["estimate"]],
                fmt=marker,
                color=colour,
                capsize=2,
                label=label,
            )
        ax.axhline(0, color="black", lw=0.8)
        ax.axvline(self.ref, color=NHS_GREY, ls="--", lw=1)
        ax.set_xlabel(
            f"{self._unit_word.capitalize()} since start (endpoints binned: {self.bins[0]} or less, {self.bins[1]} or more)"
        )
        ax.set_ylabel(f"Effect on {self.outcome}")
        ax.legend(frameon=False)
        ax.set_title("TWFE event study (can be biased under staggered starts)")
        return fig, ax

    def summary(self) -> str:
        post = self.table[self.table.index >= 0]
        pre = self.table[self.table.index < 0]
        away = int(((pre["ci_low"] > 0) | (pre["ci_high"] < 0)).sum())
        return (
            f"TWFE event study of {self.outcome}: after the start, effects range from {post['estimate'].min():.3g} to "
            f"{post['estimate'].max():.3g}; {away} of {len(pre)} pre-start coefficients are clearly away from zero. "
            f"Endpoints are binned at {self.bins[0]} and {self.bins[1]}; reference e = {self.ref}. Under staggered starts "
            "these coefficients mix in other periods' effects (Sun & Abraham 2021); prefer att_gt().aggregate('dynamic')."
        )


def event_study_twfe(
    data: pd.DataFrame,
    outcome: str,
    unit: str,
    time: str,
    cohort: str,
    *,
    window: tuple[int, int] = (-5, 5),
    ref: int = -1,
    cluster: str | None = None,
    alpha: float = 0.05,
) -> EventStudyTWFE:
    """Dynamic TWFE: ``outcome ~ sum_e 1{t - cohort = e} | unit + time`` with binned endpoints.

    Event times below ``window[0]`` are pooled into ``window[0]`` and above ``window[1]`` into
    ``window[1]`` (binned endpoints); ``ref`` (default -1) is the omitted reference; never-treated
    units (cohort 0 / NaN / NaT) have all indicators 0.

    Returns
    -------
    EventStudyTWFE
        ``table`` indexed by ``event_time`` with ``estimate``, ``se``, ``ci_low``, ``ci_high``
        (the reference row is 0 with NaN SE).

    Examples
    --------
    >>> from cocEval.synthetic import example_panel
    >>> es = event_study_twfe(example_panel(), "y", "id", "t", "g", window=(-3, 3))
    >>> round(float(es.table.loc[0, "estimate"]), 1), float(es.table.loc[-1, "estimate"])
    (1.0, 0.0)
    """
    lo, hi = window
    if not (lo < ref < hi or lo <= ref <= hi) or lo >= hi:
        raise InputError(
            f"window must satisfy window[0] <= ref <= window[1] with window[0] < window[1]; got {window}, ref={ref}"
        )
    panel = prepare_panel(data, outcome, unit, time, cohort=cohort, cluster=None if cluster == unit else cluster)
    cl = _cluster_codes(data, unit, cluster, panel)
    e = panel.periods[None, :] - panel.G[:, None]  # -inf for never treated
    eb = np.clip(e, lo, hi)
    levels = [k for k in range(lo, hi + 1) if k != ref]
    X = np.stack([(np.isfinite(e) & (eb == k)).astype(float) for k in levels], axis=2)
    present = X.reshape(-1, len(levels)).any(axis=0)
    X, levels_used = X[:, :, present], [k for k, p in zip(levels, present) if p]
    beta, vcov, G = _fe_ols(panel.Y, X, cl)
    se = np.sqrt(np.diag(vcov))
    crit = float(stats.t.ppf(1 - alpha / 2, G - 1))
    tab = pd.DataFrame({"estimate": beta, "se": se}, index=pd.Index(levels_used, name="event_time"))
    tab.loc[ref] = [0.0, np.nan]
    tab = tab.sort_index()
    tab["ci_low"] = tab["estimate"] - crit * tab["se"]
    tab["ci_high"] = tab["estimate"] + crit * tab["se"]
    return EventStudyTWFE(tab, outcome, ref, (lo, hi), panel.coder.unit_word)


class DiD2x2(ResultMixin):
    """Canonical 2x2 difference-in-differences: ``estimate``, ``se``, ``ci_low``, ``ci_high``,
    and ``table`` of the four group-period means."""

    _table_attr = "table"

    def __init__(self, estimate, se, ci_low, ci_high, table, outcome, se_kind, alpha):
        self.estimate, self.se, self.ci_low, self.ci_high = estimate, se, ci_low, ci_high
        self.table, self.outcome, self.se_kind, self.alpha = table, outcome, se_kind, alpha

    def get_plot_data(self) -> pd.DataFrame:
        return self.table.stack().rename("mean").reset_index()

    def plot(self, *, ax=None):
        from ..style import NHS_BLUE, NHS_GREY, new_axes

        fig, ax = new_axes(ax)
        d = self.table
        for grp, colour, marker, ls in (("comparison", NHS_GREY, "s", "--"), ("treated", NHS_BLUE, "o", "-")):
            ax.plot(
                ["before", "after"],
                d.loc[grp, ["before", "after"]],
                marker=marker,
                color=colour,
                ls=ls,
                label=f"{grp} group",
            )
        ax.set_ylabel(self.outcome)
        ax.legend(frameon=False)
        ax.set_title(f"Difference-in-differences {self.estimate:.3g} ({self.ci_low:.3g} to {self.ci_high:.3g})")
        return fig, ax

    def summary(self) -> str:
        lvl = f"{100 * (1 - self.alpha):.0f}%"
        t = self.table
        return (
            f"From before to after, {self.outcome} changed by {t.loc['treated', 'after'] - t.loc['treated', 'before']:.3g} in the "
            f"treated group and by {t.loc['comparison', 'after'] - t.loc['comparison', 'before']:.3g} in the comparison group: "
            f"a difference-in-differences of {self.estimate:.3g} ({lvl} CI {self.ci_low:.3g} to {self.ci_high:.3g}; "
            f"{self.se_kind} SE {self.se:.3g}). This assumes both groups would have moved in parallel without the change."
        )


def did_2x2(
    data: pd.DataFrame, outcome: str, treated: str, post: str, *, cluster: str | None = None, alpha: float = 0.05
) -> DiD2x2:
    """Two-group, two-period DiD: OLS of ``outcome ~ treated * post`` with robust SEs.

    Works for repeated cross-sections (e.g. staff survey respondents the year before versus the
    year after) and for panels (pass ``cluster`` = the unit column so repeated observations of
    the same unit are not treated as independent).

    Parameters
    ----------
    data : DataFrame
    outcome : str
    treated, post : str
        0/1 columns: in the treated (e.g. early) group; in the later period.
    cluster : str, optional
        Cluster-robust SEs (statsmodels, with its small-sample correction); default HC1.
    alpha : float

    Returns
    -------
    DiD2x2

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"y": [1., 2, 3, 6, 1.2, 2.1, 2.9, 6.2], "g": [0, 0, 1, 1] * 2, "p": [0, 1] * 4})
    >>> round(did_2x2(df, "y", "g", "p").estimate, 2)
    2.2
    """
    _require_columns(data, [outcome, treated, post, cluster])
    for c in (treated, post):
        v = data[c]
        if v.isna().any() or not v.isin([0, 1, True, False]).all():
            raise InputError(f"column '{c}' must be 0/1 with no missing values")
    df = pd.DataFrame(
        {
            "y": pd.to_numeric(data[outcome], errors="coerce"),
            "d": data[treated].astype(int),
            "p": data[post].astype(int),
        }
    )
    if df["y"].isna().any():
        raise NotEstimableError(f"column '{outcome}' has missing or non-numeric values")
    cells = df.groupby(["d", "p"])["y"].agg(["mean", "size"])
    if len(cells) < 4:
        raise NotEstimableError(
            f"need observations in all four treated x post cells; found {_show(cells.index.tolist())}"
        )
    fit_kw = dict(cov_type="HC1")
    kind = "heteroskedasticity-robust (HC1)"
    if cluster is not None:
        codes = pd.factorize(data[cluster])[0]
        fit_kw = dict(cov_type="cluster", cov_kwds={"groups": codes})
        kind = f"cluster-robust ({len(np.unique(codes))} clusters of {cluster})"
    fit = smf.ols("y ~ d * p", data=df).fit(**fit_kw)
    b, se = float(fit.params["d:p"]), float(fit.bse["d:p"])
    lo, hi = fit.conf_int(alpha).loc["d:p"]
    means = cells["mean"].unstack("p").rename(index={0: "comparison", 1: "treated"}, columns={0: "before", 1: "after"})
    means.index.name, means.columns.name = "group", "period"
    return DiD2x2(b, se, float(lo), float(hi), means, outcome, kind, alpha)
