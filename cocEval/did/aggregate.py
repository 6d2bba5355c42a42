"""Aggregations of ATT(g,t) into summary effects (R ``did::aggte``).

``simple``: post-period cells weighted by cohort size; ``dynamic``: event-study effects by time
since the cohort started, overall = mean over e >= 0; ``group``: effect per cohort (mean of its
post cells), overall weighted by cohort size; ``calendar``: effect per period, overall = mean.
Influence functions include the estimation of the cohort-size weights (R's ``wif``) so SEs match R.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats

from cocEval.errors import InputError, NotEstimableError

from .._results import ResultMixin
from ._inference import wald_zero
from ._options import fmt_level as _fmt
from ._options import standard_errors

if TYPE_CHECKING:
    from .attgt import GroupTimeATT

KINDS = ("simple", "dynamic", "group", "calendar")
_LEVEL_NAME = {"simple": "level", "dynamic": "event_time", "group": "cohort", "calendar": "time"}


@dataclass(frozen=True)
class Estimate:
    """One summary effect with its SE and (pointwise) confidence interval."""

    att: float
    se: float
    ci_low: float
    ci_high: float


def _wif(ind: np.ndarray, pg: np.ndarray) -> np.ndarray:
    """Influence function of the weights pg_k / sum(pg) (R ``did:::wif``); ind = 1{G == g_k}."""
    s = pg.sum()
    a = ind - pg[None, :]
    return a / s - a.sum(axis=1, keepdims=True) * (pg / s**2)[None, :]


@dataclass(frozen=True)
class _Cells:
    """The estimable cells of a fit, as arrays: what every aggregation combines.

    ``g``, ``t``, ``att``: cohort, period and effect of each finite cell; ``inf`` its influence
    function (units x cells); ``G`` each unit's cohort; ``pg`` the cohort share of each cell's
    cohort (``pgg`` per cohort of ``glist``); ``ind`` 1{G == g} (units x cells).
    """

    g: np.ndarray
    t: np.ndarray
    att: np.ndarray
    inf: np.ndarray
    G: np.ndarray
    glist: np.ndarray
    pgg: np.ndarray
    pg: np.ndarray
    ind: np.ndarray

    @classmethod
    def of(cls, cohort_codes, time_codes, att, inf, G) -> _Cells:
        ok = np.isfinite(att)
        if not ok.all():
            warnings.warn(
                f"{(~ok).sum()} ATT(g,t) cells are NaN and are left out of the aggregation", UserWarning, stacklevel=4
            )
        g, t = cohort_codes[ok], time_codes[ok]
        glist = np.unique(g)
        pgg = np.array([np.mean(G == x) for x in glist])
        pg = pgg[np.searchsorted(glist, g)]
        ind = (G[:, None] == g[None, :]).astype(float)
        return cls(g, t, att[ok], inf[:, ok], G, glist, pgg, pg, ind)

    @property
    def n(self) -> int:
        return self.inf.shape[0]

    def combine(self, mask, weights, with_wif=True) -> np.ndarray:
        """Influence function of the weighted average of the cells in ``mask``."""
        out = self.inf[:, mask] @ weights
        if with_wif:
            out = out + _wif(self.ind[:, mask], self.pg[mask]) @ self.att[mask]
        return out


#: (levels, their effects, their influence functions, overall effect, its influence function)
_Parts = tuple[list, np.ndarray, list, float, np.ndarray]


def _simple(c: _Cells, hi: float) -> _Parts:
    keep = (c.g <= c.t) & (c.t <= c.g + hi)
    w = c.pg[keep] / c.pg[keep].sum()
    return [], np.array([]), [], float(w @ c.att[keep]), c.combine(keep, w)


def _group(c: _Cells, hi: float) -> _Parts:
    levels, l_att, l_if = [], [], []
    for x in c.glist:
        m = (c.g == x) & (x <= c.t) & (c.t <= c.g + hi)
        levels.append(x)
        l_att.append(c.att[m].mean() if m.any() else np.nan)
        l_if.append(c.inf[:, m] @ np.full(m.sum(), 1 / m.sum()) if m.any() else np.full(c.n, np.nan))
    att = np.array(l_att)
    has = np.isfinite(att)
    w = c.pgg[has] / c.pgg[has].sum()
    o_att = float(w @ att[has])
    o_if = (
        np.column_stack(l_if)[:, has] @ w
        + _wif((c.G[:, None] == c.glist[has][None, :]).astype(float), c.pgg[has]) @ att[has]
    )
    return levels, att, l_if, o_att, o_if


def _event_times(c: _Cells, periods: np.ndarray, lo: float, hi: float, balance_e) -> tuple[np.ndarray, np.ndarray]:
    """The event times of the dynamic aggregation and the cells it may use."""
    e = c.t - c.g
    incl = np.ones(len(c.g), bool)
    eseq = np.unique(e)
    if balance_e is not None:
        tmax, tmin = periods.max(), periods.min()
        incl = (tmax - c.g) >= balance_e
        eseq = np.unique(e[incl])
        eseq = eseq[(eseq <= balance_e) & (eseq >= balance_e - tmax + tmin)]
    eseq = eseq[(eseq >= lo) & (eseq <= hi)]
    if len(eseq) == 0:
        raise NotEstimableError("no event times left after min_e / max_e / balance_e")
    return eseq, incl


def _dynamic(c: _Cells, periods: np.ndarray, lo: float, hi: float, balance_e) -> _Parts:
    eseq, incl = _event_times(c, periods, lo, hi, balance_e)
    e = c.t - c.g
    levels, l_att, l_if = [], [], []
    for x in eseq:
        m = (e == x) & incl
        w = c.pg[m] / c.pg[m].sum()
        levels.append(int(x))
        l_att.append(float(w @ c.att[m]))
        l_if.append(c.combine(m, w))
    att = np.array(l_att)
    pos = eseq >= 0
    if not pos.any():
        return levels, att, l_if, np.nan, np.full(c.n, np.nan)
    return levels, att, l_if, float(att[pos].mean()), np.column_stack(l_if)[:, pos].mean(axis=1)


def _calendar(c: _Cells) -> _Parts:
    levels, l_att, l_if = [], [], []
    for x in np.unique(c.t[c.t >= c.g.min()]):
        m = (c.t == x) & (c.g <= c.t)
        w = c.pg[m] / c.pg[m].sum()
        levels.append(x)
        l_att.append(float(w @ c.att[m]))
        l_if.append(c.combine(m, w))
    att = np.array(l_att)
    return levels, att, l_if, float(att.mean()), np.column_stack(l_if).mean(axis=1)


def _check_kind(kind: str, balance_e) -> None:
    if kind not in KINDS:
        raise InputError(f"kind must be one of {KINDS}, got {kind!r}")
    if balance_e is not None and kind != "dynamic":
        raise InputError("balance_e applies to kind='dynamic' only")


def _aggregate_parts(c: _Cells, kind: str, periods: np.ndarray, *, min_e=None, max_e=None, balance_e=None) -> _Parts:
    """The levels and the overall effect of one aggregation, with influence functions (no SEs).

    The arithmetic of :func:`aggregate`, on the cells alone: the robustness checks call it for
    the overall effect of many refits without building tables.
    """
    _check_kind(kind, balance_e)
    hi = np.inf if max_e is None else max_e
    lo = -np.inf if min_e is None else min_e
    if kind == "simple":
        return _simple(c, hi)
    if kind == "group":
        return _group(c, hi)
    if kind == "dynamic":
        return _dynamic(c, periods, lo, hi, balance_e)
    return _calendar(c)


def aggregate(res: GroupTimeATT, kind: str, *, min_e=None, max_e=None, balance_e=None) -> AggregatedATT:
    """Aggregate group-time effects as R ``aggte``.

    Parameters
    ----------
    res : GroupTimeATT
    kind : {"simple", "dynamic", "group", "calendar"}
    min_e, max_e : int, optional
        Event-time window (in periods, months with month dates). ``max_e`` also limits the
        cells used by "simple" and "group" (as R); ``min_e`` applies to "dynamic".
    balance_e : int, optional
        "dynamic" only: keep cohorts observed for at least ``balance_e`` periods after starting,
        so the event-study composition does not change over e (as R).

    Returns
    -------
    AggregatedATT

    Examples
    --------
    >>> from cocEval.did import att_gt
    >>> from cocEval.synthetic import example_panel
    >>> res = att_gt(example_panel(), "y", "id", "t", "g", bootstrap=False)
    >>> agg = aggregate(res, "dynamic", min_e=-2, max_e=2)
    >>> agg.table.index.tolist(), round(agg.overall.att, 1)
    ([-2, -1, 0, 1, 2], 1.0)
    """
    _check_kind(kind, balance_e)
    cells = _Cells.of(res.cohort_codes, res.time_codes, res.att, res.influence, res.panel.G)
    levels, l_att, l_if, o_att, o_if = _aggregate_parts(
        cells, kind, res.panel.periods, min_e=min_e, max_e=max_e, balance_e=balance_e
    )
    options = res.options
    z = float(stats.norm.ppf(1 - options.alpha / 2))
    o_se = (
        float(standard_errors(np.asarray(o_if).reshape(-1, 1), res.panel, options)[0][0])
        if np.isfinite(o_att)
        else np.nan
    )
    overall = Estimate(o_att, o_se, o_att - z * o_se, o_att + z * o_se)
    if kind == "simple":
        table = pd.DataFrame(
            {"att": [o_att], "se": [o_se], "ci_low": [overall.ci_low], "ci_high": [overall.ci_high]},
            index=pd.Index(["overall"], name="level"),
        )
        crit = z
    else:
        IF = np.column_stack(l_if)
        good = np.isfinite(l_att)
        se = np.full(len(l_att), np.nan)
        crit = z
        if good.any():
            se_g, c = standard_errors(IF[:, good], res.panel, options)
            se[good] = se_g
            if c is not None and np.isfinite(c):
                crit = c
        idx = levels if kind == "dynamic" else res.panel.coder.decode(levels)
        table = pd.DataFrame(
            {"att": l_att, "se": se, "ci_low": l_att - crit * se, "ci_high": l_att + crit * se},
            index=pd.Index(idx, name=_LEVEL_NAME[kind]),
        )
    return AggregatedATT(
        kind=kind,
        overall=overall,
        table=table,
        crit_val=crit,
        source=res,
        influence=None if kind == "simple" else np.column_stack(l_if),
    )


class AggregatedATT(ResultMixin):
    """A summary of ATT(g,t) from :meth:`GroupTimeATT.aggregate`.

    Attributes
    ----------
    kind : str
    overall : Estimate
        ``att``, ``se``, ``ci_low``, ``ci_high`` (pointwise interval).
    table : DataFrame
        Indexed by event time, cohort or period; ``att``, ``se``, ``ci_low``, ``ci_high``
        (simultaneous band when bootstrapped).
    crit_val : float
        Critical value of the band in ``table``.
    """

    _table_attr = "table"

    def __init__(self, *, kind, overall, table, crit_val, source, influence=None):
        self.kind, self.overall, self.table, self.crit_val = kind, overall, table, crit_val
        self._source = source
        self.influence = influence  # units x levels, for tests across levels

    def pretrend_test(self) -> dict:
        """Wald test that the event-study effects before the start (e < 0) are jointly zero.

        A usable parallel-trends check when the cell-level pre-test of
        :meth:`GroupTimeATT.pretrend_test` is singular (more pre-period cells than units, as with
        monthly data): it tests the few aggregated pre-period event times instead. Analytic
        (clustered) covariance of their influence functions; dynamic aggregation only.

        Examples
        --------
        >>> from cocEval.did import att_gt
        >>> from cocEval.synthetic import example_panel
        >>> res = att_gt(example_panel(), "y", "id", "t", "g", bootstrap=False)
        >>> 0 <= res.aggregate("dynamic").pretrend_test()["p_value"] <= 1
        True
        """
        if self.kind != "dynamic":
            raise InputError("pretrend_test needs the dynamic aggregation")
        pre = (self.table.index.to_numpy() < 0) & np.isfinite(self.table["att"].to_numpy())
        src = self._source
        return wald_zero(self.table["att"].to_numpy()[pre], self.influence[:, pre], src.panel.cluster, src.n)

    def honest_did(self, *, restriction: str, m, e: int = 0, l_vec=None, alpha: float = 0.05) -> pd.DataFrame:
        """Robust intervals under violations of parallel trends (Rambachan & Roth 2023).

        Thin wrapper of :func:`cocEval.did.honest.honest_did_event_study` (dynamic aggregation,
        universal base period).

        Examples
        --------
        >>> from cocEval.did import att_gt
        >>> from cocEval.synthetic import example_panel
        >>> res = att_gt(example_panel(), "y", "id", "t", "g", base_period="universal", bootstrap=False)
        >>> out = res.aggregate("dynamic", min_e=-3, max_e=1).honest_did(restriction="smoothness", m=[0, 0.05])
        >>> out["method"].tolist()
        ['Original', 'FLCI', 'FLCI']
        """
        from .honest import honest_did_event_study

        return honest_did_event_study(self, restriction=restriction, m=m, e=e, l_vec=l_vec, alpha=alpha)

    # --- effect_summary (issue 10) -------------------------------------------------------
    def effect_summary(
        self,
        *,
        outcome: str | None = None,
        scale: str = "difference",
        improvement: str | None = None,
        event_time: int | None = None,
        unit_name: str = "units",
        caveats=(),
    ):
        """The aggregated effect as an :class:`cocEval.effects.EffectSummary`.

        Which number: the overall effect of this aggregation; for ``dynamic``, the average of
        the event-study effects from the start (event time 0, i.e. month 1 of coaching) to the
        last event time kept, or the effect at ``event_time`` when given (pointwise interval).
        Estimates are on the outcome's own units, stated by ``scale`` (a key of
        :data:`cocEval.wording.SCALES`; shares must be fractions for "percentage points").

        Examples
        --------
        >>> from cocEval.did import att_gt
        >>> rng = np.random.default_rng(1)
        >>> rows = [(u, t, g) for u, g in zip(range(30), [3] * 10 + [5] * 10 + [0] * 10) for t in range(1, 7)]
        >>> df = pd.DataFrame(rows, columns=["id", "t", "g"])
        >>> df["y"] = rng.normal(0, 0.1, len(df)) - 1.0 * ((df.g > 0) & (df.t >= df.g))
        >>> agg = att_gt(df, "y", "id", "t", "g", bootstrap=False).aggregate("dynamic")
        >>> e = agg.effect_summary(outcome="y", improvement="decrease", unit_name="providers")
        >>> e.verdict, e.period, e.n_label
        ('improvement', 'periods 1 to 4 from the start, on average (event times 0 to 3)', '30 providers')
        """
        from cocEval.effects import EffectSummary

        s = self._source.options
        name = outcome or s.outcome
        z = float(stats.norm.ppf(1 - s.alpha / 2))
        unit_word = self._source.panel.coder.unit_word  # "months" or "periods"
        if event_time is not None:
            if self.kind != "dynamic":
                from cocEval.errors import InputError

                raise InputError("event_time applies to the dynamic aggregation only")
            if event_time not in self.table.index:
                return EffectSummary.not_estimable(name, f"no estimate at event time {event_time}", scale=scale)
            row = self.table.loc[event_time]
            est, se = float(row["att"]), float(row["se"])
            period = f"{unit_word[:-1]} {event_time + 1} from the start (event time {event_time})"
            what = "effect at one event time, pointwise interval"
        else:
            est, se = self.overall.att, self.overall.se
            if self.kind == "dynamic":
                post = self.table.index[self.table.index >= 0]
                hi = int(post.max()) if len(post) else 0
                word = "months" if unit_word == "months" else "periods"
                period = f"{word} 1 to {hi + 1} from the start, on average (event times 0 to {hi})"
            else:
                period = {
                    "simple": "averaged over all periods after the start, weighted by cohort size",
                    "group": "averaged over cohorts, weighted by cohort size",
                    "calendar": "averaged over calendar periods after the first start",
                }[self.kind]
            what = f"{self.kind} aggregation"
        method = (
            f"staggered difference-in-differences (Callaway & Sant'Anna; "
            f"{s['control_group'].replace('yet', ' yet ').replace('never', 'never ')} controls; {what})"
        )
        if not (np.isfinite(est) and np.isfinite(se)):
            return EffectSummary.not_estimable(name, "the aggregation has no estimate", method=method, scale=scale)
        p = float(2 * stats.norm.sf(abs(est / se))) if se > 0 else None
        return EffectSummary(
            outcome=name,
            comparison="coached against comparison providers not yet coached"
            if s.control_group == "notyettreated"
            else "coached against never-coached comparison providers",
            scale=scale,
            estimate=est,
            ci_low=est - z * se,
            ci_high=est + z * se,
            period=period,
            method=method,
            p_value=p,
            n=int(self._source.n),
            n_label=f"{int(self._source.n)} {unit_name}",
            improvement=improvement,
            caveats=tuple(caveats),
            level=int(round(100 * (1 - s.alpha))),
        )

    def get_plot_data(self) -> pd.DataFrame:
        d = self.table.reset_index()
        if self.kind == "dynamic":
            d["period"] = np.where(d["event_time"] < 0, "before start", "after start")
        return d

    def plot(self, *, ax=None):
        """Event-study (or cohort / calendar) chart with its band; dashed line at e = -1."""
        from ..style import NHS_BLUE, NHS_GREY, new_axes

        fig, ax = new_axes(ax)
        d = self.get_plot_data()
        x_name = d.columns[0]
        x = np.arange(len(d)) if self.kind in ("group", "simple") else d[x_name]
        if self.kind == "dynamic":
            for label, colour, marker in (("before start", NHS_GREY, "s"), ("after start", NHS_BLUE, "o")):
                s = d[d["period"] == label]
                ax.fill_between(s.event_time, s.ci_low, s.ci_high, color=colour, alpha=0.2, lw=0)
                ax.plot(
                    s.event_time,
                    s.att,
                    marker=marker,
                    color=colour,
                    ls="-" if label == "after start" else ":",
                    label=label,
                )
            ax.axvline(-1, color=NHS_GREY, ls="--", lw=1)
            ax.annotate(
                "last period before start",
                xy=(-1, 1),
                xycoords=("data", "axes fraction"),
                ha="right",
                va="top",
                fontsize=8,
            )
            ax.set_xlabel(f"{self._source.panel.coder.unit_word.capitalize()} since the cohort started (e)")
            ax.legend(frameon=False)
        else:
            ax.errorbar(
                x, d["att"], yerr=[d["att"] - d["ci_low"], d["ci_high"] - d["att"]], fmt="o", color=NHS_BLUE, capsize=3
            )
            if self.kind in ("group", "simple"):
                ax.set_xticks(x, [_fmt(v) for v in d[x_name]])
            ax.set_xlabel({"group": "Cohort (first coaching period)", "calendar": "Period", "simple": ""}[self.kind])
        ax.axhline(0, color="black", lw=0.8)
        ax.set_ylabel(f"Effect on {self._source.options.outcome}")
        o = self.overall
        ax.set_title(f"Average effect after start {o.att:.3g} ({o.ci_low:.3g} to {o.ci_high:.3g})")
        return fig, ax

    def summary(self) -> str:
        s = self._source.options
        o = self.overall
        lvl = f"{100 * (1 - s.alpha):.0f}%"
        what = {
            "simple": "averaged over all cohort-periods after coaching began (weighted by cohort size)",
            "dynamic": "averaged over the event times since coaching began",
            "group": "averaged over cohorts (weighted by cohort size)",
            "calendar": "averaged over calendar periods",
        }[self.kind]
        if not np.isfinite(o.att):
            return f"No {self.kind} aggregate could be estimated for {s.outcome}."
        direction = "rose" if o.att > 0 else "fell"
        sure = (
            "the interval excludes zero"
            if (o.ci_low > 0 or o.ci_high < 0)
            else "the interval includes zero, so no change cannot be ruled out"
        )
        txt = (
            f"Coaching is estimated to have changed {s.outcome} by {o.att:.3g} ({direction}), {what}; "
            f"{lvl} CI {o.ci_low:.3g} to {o.ci_high:.3g}, SE {o.se:.3g}; {sure}."
        )
        if self.kind == "dynamic":
            pre = self.table[self.table.index < 0]
            if len(pre):
                n_out = int(((pre["ci_low"] > 0) | (pre["ci_high"] < 0)).sum())
                txt += f" Before the start, {n_out} of {len(pre)} event-time estimates lie clearly away from zero" + (
                    " (a warning sign for parallel trends)." if n_out else " (consistent with parallel trends)."
                )
        band = "simultaneous bootstrap band" if s.bootstrap else "pointwise intervals"
        txt += f" Estimates by level use {band} (critical value {self.crit_val:.2f})."
        return txt
