"""Callaway & Sant'Anna (2021) group-time average treatment effects, ATT(g, t).

Mirrors R ``did::att_gt`` for balanced panels: the same cells, comparison groups, base
periods, doubly robust / regression / IPW estimators (DRDID), influence-function SEs and the
multiplier bootstrap with a simultaneous band. Without covariates every cell is a difference of
mean changes, computed for all cells at once as matrix operations (no loop over units).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

from cocEval.errors import InputError, NotEstimableError

from .._results import ResultMixin
from ._drdid import ESTIMATORS, CellFailure
from ._inference import wald_zero
from ._options import ATTOptions, standard_errors
from ._options import fmt_level as _fmt
from ._panel import NEVER, Panel, _show, prepare_panel
from .aggregate import aggregate as _aggregate

__all__ = ["att_gt", "GroupTimeATT"]


def _check_options(control_group, method, base_period, anticipation, n_boot, alpha):
    if control_group not in ("nevertreated", "notyettreated"):
        raise InputError(f"control_group must be 'nevertreated' or 'notyettreated', got {control_group!r}")
    if method not in ESTIMATORS:
        raise InputError(f"method must be one of 'dr', 'reg', 'ipw', got {method!r}")
    if base_period not in ("varying", "universal"):
        raise InputError(f"base_period must be 'varying' or 'universal', got {base_period!r}")
    if not (isinstance(anticipation, (int, np.integer)) and anticipation >= 0):
        raise InputError(f"anticipation must be a non-negative integer number of periods, got {anticipation!r}")
    if not (isinstance(n_boot, (int, np.integer)) and n_boot >= 100):
        raise InputError(f"n_boot must be an integer >= 100, got {n_boot!r}")
    if not 0 < alpha < 1:
        raise InputError(f"alpha must lie in (0, 1), got {alpha!r}")


def _clean_cohorts(panel: Panel, cohort: str, control_group: str, anticipation: int, k_cov: int) -> Panel:
    """Apply R ``did``'s cohort rules, raising or warning as documented in :func:`att_gt`."""
    G, periods, coder = panel.G, panel.periods, panel.coder
    treated = np.unique(G[np.isfinite(G)])
    inside = treated[(treated > periods[0]) & (treated <= periods[-1])]
    off_grid = inside[~np.isin(inside, periods)]
    if len(off_grid):
        raise InputError(
            f"column '{cohort}': cohorts {_show(coder.decode(off_grid))} fall between the observed "
            "periods of time; a cohort must be one of the periods (its first treated period)"
        )
    keep = np.ones(panel.n, bool)
    early = np.isfinite(G) & (G <= periods[0])
    if early.any():
        warnings.warn(
            f"column '{cohort}': dropped {early.sum()} units already treated in the first period "
            f"(cohorts {_show(coder.decode(np.unique(G[early])))}); they have no pre-period (as R did)",
            UserWarning,
            stacklevel=4,
        )
        keep &= ~early
    late = np.isfinite(G) & (G > periods[-1])
    if late.any():
        warnings.warn(
            f"column '{cohort}': {late.sum()} units start after the last period (cohorts "
            f"{_show(coder.decode(np.unique(G[late])))}); they are treated as never treated (as R did)",
            UserWarning,
            stacklevel=4,
        )
        G = np.where(late, NEVER, G)
    G = G[keep]
    Y, units = panel.Y[keep], panel.units[keep]
    X = None if panel.X is None else panel.X[keep]
    cl = None if panel.cluster is None else pd.factorize(panel.cluster[keep], sort=True)[0]
    if not np.isfinite(G).any():
        raise NotEstimableError(f"column '{cohort}': no unit is treated within the observed periods")
    if not np.isinf(G).any():
        if control_group == "nevertreated":
            raise InputError(
                f"column '{cohort}': no never-treated units (cohort 0 or missing), so "
                "control_group='nevertreated' has no comparison group; use 'notyettreated'"
            )
        # As R did: the last cohort becomes the comparison group, periods from its start dropped.
        gmax = G.max()
        tkeep = periods < gmax - anticipation
        Y, periods = Y[:, tkeep], periods[tkeep]
        G = np.where(G == gmax, NEVER, G)
    cohorts, sizes = np.unique(G[np.isfinite(G)], return_counts=True)
    small = sizes < k_cov + 5
    if small.any():
        warnings.warn(
            f"small cohorts (fewer than {k_cov + 5} units): "
            + ", ".join(f"{coder.decode([g])[0]} ({n})" for g, n in zip(cohorts[small], sizes[small], strict=True))
            + "; their estimates are imprecise and inference may be unreliable",
            UserWarning,
            stacklevel=4,
        )
    return Panel(units=units, periods=periods, Y=Y, coder=coder, G=G, X=X, cluster=cl)


def _cells(G, periods, base_period, anticipation, coder):
    """(cohort, current index, base index) for every cell R reports."""
    glist = np.unique(G[np.isfinite(G)])
    start = 1 if base_period == "varying" else 0
    out = []
    for g in glist:
        pre = np.nonzero(periods + anticipation < g)[0]
        if len(pre) == 0:
            warnings.warn(
                f"no pre-treatment period for cohort {coder.decode([g])[0]}; cohort dropped", UserWarning, stacklevel=5
            )
            continue
        for ti in range(start, len(periods)):
            if g <= periods[ti] or base_period == "universal":
                bi = pre[-1]
            else:
                bi = ti - 1
            out.append((g, ti, bi))
    return np.array(out, dtype=float).reshape(-1, 3)


def _estimate_cells(panel: Panel, cells, control_group, method, anticipation):
    """ATT and n x K influence-function matrix for every cell (NaN cells warned)."""
    Y, G, periods, n = panel.Y, panel.G, panel.periods, panel.n
    g = cells[:, 0]
    ti, bi = cells[:, 1].astype(int), cells[:, 2].astype(int)
    DY = Y[:, ti] - Y[:, bi]
    Tm = G[:, None] == g[None, :]
    never = np.isinf(G)[:, None]
    if control_group == "nevertreated":
        Cm = np.broadcast_to(never, Tm.shape)
    else:
        thr = np.maximum(periods[ti], periods[bi]) + anticipation
        Cm = never | ((G[:, None] > thr[None, :]) & ~Tm)
    ref = ti == bi  # universal base period: the reference cell, 0 by construction
    n1, n0 = Tm.sum(0), Cm.sum(0)
    att = np.full(len(cells), np.nan)
    inf = np.zeros((n, len(cells)))
    problems: list[str] = []
    if panel.X is None:
        # Intercept-only DR, REG and IPW all reduce to a difference of mean changes (DRDID).
        with np.errstate(invalid="ignore", divide="ignore"):
            mu1 = np.einsum("ij,ij->j", DY, Tm) / n1
            mu0 = np.einsum("ij,ij->j", DY, Cm) / n0
            ps = n1 / (n1 + n0)
        bad = (n0 == 0) | ((ps >= 0.999) & (method != "reg"))
        ok = ~bad & ~ref
        att[ok] = (mu1 - mu0)[ok]
        inf[:, ok] = n * (Tm[:, ok] * (DY[:, ok] - mu1[ok]) / n1[ok] - Cm[:, ok] * (DY[:, ok] - mu0[ok]) / n0[ok])
        for k in np.nonzero(bad & ~ref)[0]:
            problems.append(
                f"cohort {_lab(panel, g[k])}, period {_lab(panel, periods[ti[k]])}: "
                + ("no comparison units" if n0[k] == 0 else "overlap condition violated")
            )
    else:
        est = ESTIMATORS[method]
        Xfull = np.column_stack([np.ones(n), panel.X])
        for k in np.nonzero(~ref)[0]:
            sub = Tm[:, k] | Cm[:, k]
            D = Tm[sub, k].astype(float)
            try:
                if n0[k] == 0:
                    raise CellFailure("no comparison units")
                a, f = est(DY[sub, k], D, Xfull[sub])
            except CellFailure as exc:
                problems.append(f"cohort {_lab(panel, g[k])}, period {_lab(panel, periods[ti[k]])}: {exc}")
                continue
            att[k] = a
            inf[sub, k] = f * n / sub.sum()
    att[ref] = 0.0
    return att, inf, problems


def _fit_cells(panel: Panel, cohort: str, control_group, method, base_period, anticipation, k_cov: int):
    """Every ATT(g,t) of a prepared panel: (cleaned panel, cells, att, influence, problems).

    The estimation step of :func:`att_gt` after the panel is checked; the robustness checks
    call it directly on panels they vary (start dates, units, outcomes) without re-reading a
    frame.
    """
    panel = _clean_cohorts(panel, cohort, control_group, anticipation, k_cov)
    cells = _cells(panel.G, panel.periods, base_period, anticipation, panel.coder)
    att, inf, problems = _estimate_cells(panel, cells, control_group, method, anticipation)
    return panel, cells, att, inf, problems


def att_gt(
    data: pd.DataFrame,
    outcome: str,
    unit: str,
    time: str,
    cohort: str,
    *,
    control_group: str = "notyettreated",
    covariates: list[str] | None = None,
    method: str = "dr",
    base_period: str = "varying",
    anticipation: int = 0,
    bootstrap: bool = True,
    n_boot: int = 999,
    cluster: str | None = None,
    alpha: float = 0.05,
    seed=None,
) -> GroupTimeATT:
    """Group-time average treatment effects under staggered adoption (Callaway & Sant'Anna 2021).

    Parameters
    ----------
    data : DataFrame
        Long balanced panel, one row per unit and period.
    outcome, unit, time, cohort : str
        Column names. ``time`` is numeric (integer periods, e.g. years) or month dates
        (month-start Timestamps; event time is then in months). ``cohort`` is each unit's first
        treated period in the units of ``time``; 0, NaN or NaT means never treated. Units first
        treated at or before the first period are dropped, and cohorts after the last period are
        treated as never treated (both with a warning, as R ``did``).
    control_group : {"notyettreated", "nevertreated"}
        Comparison units: never treated only, or never treated plus those not yet treated by the
        later of the current and base period (plus ``anticipation``). With no never-treated units
        and ``"notyettreated"``, the last cohort serves as comparison and periods from its start
        are dropped (as R).
    covariates : list of str, optional
        Time-invariant covariates for the propensity score / outcome regression.
    method : {"dr", "reg", "ipw"}
        Doubly robust (DRDID ``drdid_panel``), outcome regression or standardised IPW. Without
        covariates all three coincide.
    base_period : {"varying", "universal"}
        Pre-period cells compare consecutive periods ("varying"), or every cell uses the period
        before treatment ("universal"; that reference cell is reported as 0 with no SE).
    anticipation : int
        Number of periods before the cohort start that may already be affected.
    bootstrap : bool
        False: analytic influence-function SEs, identical to R ``att_gt(bstrap = FALSE,
        cband = FALSE)``; pointwise intervals. True: multiplier bootstrap with Rademacher weights
        (as R) and a simultaneous (uniform) band over all cells.
    n_boot : int
        Bootstrap draws.
    cluster : str, optional
        Column (constant within unit) to cluster at, e.g. provider when units are wards. Default:
        the unit. Applies to analytic and bootstrap SEs.
    alpha : float
        1 - confidence level.
    seed : int or numpy SeedSequence, optional
        Bootstrap seed (aggregations reuse it so they are reproducible).

    Returns
    -------
    GroupTimeATT
        ``table`` (cohort, time, att, se, ci_low, ci_high), ``pretrend_test()``,
        ``aggregate(kind)``, ``plot()``, ``summary()``.

    Notes
    -----
    A cell with no comparison units or violated overlap is NaN with a warning (as R). A cohort
    smaller than 5 + number of covariates units triggers a warning (as R); a one-unit cohort is
    estimated but its SEs rest on the comparison units alone, so treat it with great caution.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> units = np.repeat(np.arange(60), 6); t = np.tile(np.arange(1, 7), 60)
    >>> g = np.repeat(rng.choice([0, 3, 5], 60), 6)
    >>> y = rng.normal(scale=0.1, size=360) + 1.0 * ((g > 0) & (t >= g))
    >>> df = pd.DataFrame(dict(y=y, id=units, t=t, g=g))
    >>> res = att_gt(df, "y", "id", "t", "g", bootstrap=False)
    >>> round(res.aggregate("simple").overall.att, 1)
    1.0
    """
    _check_options(control_group, method, base_period, anticipation, n_boot, alpha)
    if cluster == unit:
        cluster = None
    panel = prepare_panel(data, outcome, unit, time, cohort=cohort, covariates=covariates, cluster=cluster)
    panel, cells, att, inf, problems = _fit_cells(
        panel, cohort, control_group, method, base_period, anticipation, len(covariates or [])
    )
    if problems:
        warnings.warn(
            "ATT(g,t) set to NaN where it cannot be estimated: "
            + "; ".join(problems[:10])
            + (f"; ... ({len(problems)} cells)" if len(problems) > 10 else ""),
            UserWarning,
            stacklevel=2,
        )
    if seed is None:
        seed = np.random.SeedSequence().entropy
    return GroupTimeATT(
        panel=panel,
        cohort_codes=cells[:, 0],
        time_codes=panel.periods[cells[:, 1].astype(int)].astype(float),
        att=att,
        inf=inf,
        options=ATTOptions(
            outcome=outcome,
            control_group=control_group,
            method=method,
            base_period=base_period,
            anticipation=anticipation,
            bootstrap=bootstrap,
            n_boot=n_boot,
            alpha=alpha,
            seed=seed,
            covariates=tuple(covariates or ()),
            cluster=cluster,
        ),
    )


class GroupTimeATT(ResultMixin):
    """Group-time ATTs from :func:`att_gt`.

    Attributes
    ----------
    table : DataFrame
        One row per cell: ``cohort``, ``time``, ``att``, ``se``, ``ci_low``, ``ci_high``
        (simultaneous band when bootstrapped, else pointwise).
    crit_val : float
        Critical value used for the intervals.
    influence : ndarray
        Units x cells influence functions (R ``inffunc``).
    """

    _table_attr = "table"

    def __init__(self, *, panel, cohort_codes, time_codes, att, inf, options: ATTOptions):
        self.panel, self.options = panel, options
        self.cohort_codes, self.time_codes = cohort_codes, time_codes
        self.att, self.influence = att, inf
        self.n = panel.n
        se, crit = standard_errors(inf, panel, options)
        self.se = se
        self.crit_val = crit if crit is not None else float(stats.norm.ppf(1 - options.alpha / 2))
        self.table = pd.DataFrame(
            {
                "cohort": panel.coder.decode(cohort_codes),
                "time": panel.coder.decode(time_codes),
                "att": att,
                "se": se,
                "ci_low": att - self.crit_val * se,
                "ci_high": att + self.crit_val * se,
            }
        )

    @property
    def settings(self) -> ATTOptions:
        """The options (old name; use :attr:`options`)."""
        return self.options

    @property
    def event_time(self) -> np.ndarray:
        """Periods since the cohort start (months with month dates) for each cell."""
        return (self.time_codes - self.cohort_codes).astype(int)

    def pretrend_test(self) -> dict:
        """Wald test that all pre-period ATT(g,t) are zero (R ``summary(att_gt)`` pre-test).

        Uses the analytic covariance of the influence functions (clustered as requested) even
        when bootstrapped, as R. NaN cells and the universal-base reference cells are left out.

        Returns
        -------
        dict with ``statistic``, ``df``, ``p_value``.
        """
        ant = self.options.anticipation
        pre = (self.cohort_codes - ant > self.time_codes) & np.isfinite(self.att) & ~np.isnan(self.se)
        return wald_zero(self.att[pre], self.influence[:, pre], self.panel.cluster, self.n)

    def aggregate(self, kind: str = "dynamic", *, min_e=None, max_e=None, balance_e=None):
        """Aggregate the cells as R ``aggte``; see :func:`cocEval.did.aggregate.aggregate`.

        Examples
        --------
        >>> from cocEval.did import att_gt
        >>> from cocEval.synthetic import example_panel
        >>> res = att_gt(example_panel(), "y", "id", "t", "g", bootstrap=False)
        >>> dyn = res.aggregate("dynamic")
        >>> dyn.table.index.name, round(dyn.overall.att, 1)
        ('event_time', 1.0)
        """
        return _aggregate(self, kind, min_e=min_e, max_e=max_e, balance_e=balance_e)

    def get_plot_data(self) -> pd.DataFrame:
        out = self.table.copy()
        out["event_time"] = self.event_time
        out["post"] = out["event_time"] >= 0
        return out

    def plot(self, *, ax=None):
        """ATT(g,t) by event time, one marker style per cohort, with intervals."""
        from ..style import PALETTE, new_axes

        fig, ax = new_axes(ax)
        d = self.get_plot_data()
        markers = ["o", "s", "^", "D", "v", "P", "X", "*"]
        for i, (c, sub) in enumerate(d.groupby("cohort", sort=True)):
            off = (i - d["cohort"].nunique() / 2) * 0.06
            ax.errorbar(
                sub["event_time"] + off,
                sub["att"],
                yerr=[sub["att"] - sub["ci_low"], sub["ci_high"] - sub["att"]],
                fmt=markers[i % len(markers)],
                color=PALETTE[i % len(PALETTE)],
                capsize=2,
                label=f"cohort {_fmt(c)}",
            )
        ax.axhline(0, color="black", lw=0.8)
        ax.axvline(-0.5, color=PALETTE[2], ls="--", lw=0.8)
        ax.set_xlabel(f"{self.panel.coder.unit_word.capitalize()} since the cohort started")
        ax.set_ylabel(f"ATT(g,t): {self.options.outcome}")
        ax.legend(frameon=False, fontsize=8)
        share = np.nanmean(d.loc[d["post"], "ci_high"] < 0) if d["post"].any() else np.nan
        ax.set_title(f"Effects by cohort and period ({pct_or_na(share)} of post-start intervals below zero)")
        return fig, ax

    def summary(self) -> str:
        d = self.get_plot_data()
        post = d[d["post"] & d["att"].notna()]
        pt = self.pretrend_test()
        band = "simultaneous bootstrap band" if self.options.bootstrap else "pointwise intervals"
        lvl = f"{100 * (1 - self.options.alpha):.0f}%"
        txt = (
            f"Across {len(post)} cohort-period cells after coaching began, the estimated effect on "
            f"{self.options.outcome} ranged from {post['att'].min():.3g} to {post['att'].max():.3g} "
            f"(average of cells {post['att'].mean():.3g}); {int((post['ci_low'] > 0).sum())} cells are clearly above "
            f"zero and {int((post['ci_high'] < 0).sum())} clearly below ({lvl} {band}). "
        )
        if np.isfinite(pt["p_value"]):
            verdict = "no clear evidence against" if pt["p_value"] >= 0.05 else "evidence against"
            txt += (
                f"Before coaching began, the cohorts moved like their comparison groups ({verdict} parallel "
                f"trends: Wald chi2 = {pt['statistic']:.2f} on {pt['df']} df, p = {pt['p_value']:.3f}). "
            )
        txt += (
            f"Comparison: {self.options.control_group.replace('yet', ' yet ').replace('never', 'never ')} units; "
            f"{self.options.method.upper()} estimator (Callaway & Sant'Anna 2021); {self.n} units."
        )
        return txt


def _lab(panel: Panel, code) -> str:
    return _fmt(panel.coder.decode([code])[0])


def pct_or_na(x) -> str:
    from .._results import pct

    return "n/a" if not np.isfinite(x) else pct(x)
