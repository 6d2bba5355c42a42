"""Goodman-Bacon (2021) decomposition of the two-way fixed-effects DiD estimate.

With staggered starts, the TWFE coefficient is a weighted average of every 2x2 DiD between
timing groups: treated vs never treated, earlier vs later treated (later group still untreated)
and later vs earlier treated (the earlier group, already treated, as the comparison: the
"forbidden" comparison that biases TWFE when effects change over time). The weights
(Goodman-Bacon 2021, eq. 10a-c) depend on group sizes and on the variance of treatment within
each pair; they sum to one and the weighted sum of the 2x2 estimates reproduces TWFE exactly.
Implemented here (no maintained Python package offers it) following R ``bacondecomp``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cocEval.errors import InputError, NotEstimableError

from .._results import ResultMixin, pct
from ._panel import _show, prepare_panel
from .twfe import _fe_ols

__all__ = ["bacon_decomposition", "BaconDecomposition"]

TYPES = ("Earlier vs Later Treated", "Later vs Earlier Treated", "Treated vs Untreated")


class BaconDecomposition(ResultMixin):
    """Every 2x2 comparison behind a TWFE estimate.

    Attributes
    ----------
    table : DataFrame
        ``type``, ``treated``, ``control`` (cohort of the comparison group; NaN/NaT for never
        treated), ``estimate``, ``weight``.
    twfe_estimate : float
        The TWFE coefficient the rows add up to.
    """

    _table_attr = "table"

    def __init__(self, table: pd.DataFrame, twfe_estimate: float, outcome: str):
        self.table, self.twfe_estimate, self.outcome = table, twfe_estimate, outcome

    def summary_by_type(self) -> pd.DataFrame:
        """Total weight and weighted-average estimate by comparison type (R ``bacon()`` print)."""
        g = self.table.groupby("type")
        out = pd.DataFrame(
            {
                "weight": g["weight"].sum(),
                "estimate": g.apply(lambda d: np.average(d["estimate"], weights=d["weight"]), include_groups=False),
            }
        )
        return out[["estimate", "weight"]]

    def get_plot_data(self) -> pd.DataFrame:
        return self.table.copy()

    def plot(self, *, ax=None):
        """Scatter of 2x2 estimates against their weights, one marker per comparison type."""
        from ..style import PALETTE, new_axes

        fig, ax = new_axes(ax)
        for i, (typ, marker) in enumerate(zip(TYPES, ("o", "^", "s"))):
            d = self.table[self.table["type"] == typ]
            if len(d):
                ax.scatter(d["weight"], d["estimate"], marker=marker, color=PALETTE[i], label=typ, s=40)
        ax.axhline(self.twfe_estimate, color="black", ls="--", lw=1)
        ax.annotate(
            f"TWFE = {self.twfe_estimate:.3g}",
            xy=(1, self.twfe_estimate),
            xycoords=("axes fraction", "data"),
            ha="right",
            va="bottom",
            fontsize=8,
        )
        ax.set_xlabel("Weight in the TWFE estimate")
        ax.set_ylabel(f"2x2 DiD estimate ({self.outcome})")
        ax.legend(frameon=False, fontsize=8)
        bad = self.summary_by_type().get("weight", pd.Series(dtype=float)).get("Later vs Earlier Treated", 0.0)
        ax.set_title(f"{pct(bad)} of the TWFE weight comes from comparisons with already-treated groups")
        return fig, ax

    def summary(self) -> str:
        s = self.summary_by_type()
        parts = [f"{t.lower()}: weight {pct(r.weight)}, average {r.estimate:.3g}" for t, r in s.iterrows()]
        bad = s["weight"].get("Later vs Earlier Treated", 0.0)
        return (
            f"The two-way fixed-effects estimate for {self.outcome} ({self.twfe_estimate:.3g}) averages "
            f"{len(self.table)} two-group comparisons ({'; '.join(parts)}). {pct(bad)} of the weight uses groups that "
            "were already treated as the comparison; if effects grow or fade over time those comparisons are biased, "
            "which is why att_gt() is the primary estimate."
        )


def bacon_decomposition(data: pd.DataFrame, outcome: str, unit: str, time: str, treated: str) -> BaconDecomposition:
    """Goodman-Bacon decomposition of ``outcome ~ treated | unit + time``.

    Parameters
    ----------
    data : DataFrame
        Balanced long panel.
    outcome, unit, time, treated : str
        ``treated`` is 0/1 and absorbing (once 1, stays 1). Units treated from the first period
        ("always treated") are not supported and raise ``ValueError``: drop them first.

    Returns
    -------
    BaconDecomposition
        ``table`` with ``type``, ``treated``, ``control``, ``estimate``, ``weight`` (weights sum
        to 1 and ``(estimate * weight).sum()`` equals the TWFE estimate), ``summary_by_type()``,
        ``plot()``.

    Examples
    --------
    >>> from cocEval.synthetic import example_panel
    >>> df = example_panel()
    >>> bd = bacon_decomposition(df[df["g"] > 0], "y", "id", "t", "post")
    >>> round(float((bd.table["estimate"] * bd.table["weight"]).sum()), 1)
    1.0
    """
    panel = prepare_panel(data, outcome, unit, time, treated=treated)
    D, Y, periods = panel.D, panel.Y, panel.periods
    if (np.diff(D, axis=1) < 0).any():
        bad = panel.units[(np.diff(D, axis=1) < 0).any(axis=1)]
        raise InputError(
            f"column '{treated}' must be absorbing (never switch back from 1 to 0); it does for units {_show(bad)}"
        )
    always = D[:, 0] == 1
    if always.any():
        raise InputError(
            f"column '{treated}': units {_show(panel.units[always])} are treated in the first period "
            "(always treated); the decomposition here needs them dropped"
        )
    T = len(periods)
    first = np.where(D.any(axis=1), D.argmax(axis=1), T)  # index of first treated period; T = never
    groups = np.unique(first)
    timing = [k for k in groups if k < T]
    if not timing:
        raise NotEstimableError(f"column '{treated}': no unit is ever treated")
    n_all = panel.n
    share = {k: np.mean(first == k) for k in groups}
    dbar = {k: (T - k) / T for k in groups}  # share of periods treated (0 for never)
    means = {k: Y[first == k].mean(axis=0) for k in groups}  # mean path per group
    idx = np.arange(T)

    def dd(a, b, win_pre, win_post):
        ya, yb = means[a], means[b]
        return (ya[win_post].mean() - ya[win_pre].mean()) - (yb[win_post].mean() - yb[win_pre].mean())

    rows = []
    for k in timing:
        if T in share:  # never-treated group exists
            nk, nu = share[k], share[T]
            nku = nk / (nk + nu)
            w = (nk + nu) ** 2 * nku * (1 - nku) * dbar[k] * (1 - dbar[k])
            rows.append((TYPES[2], k, T, dd(k, T, idx < k, idx >= k), w))
        for l in timing:
            if l <= k:
                continue
            nk, nl = share[k], share[l]
            nkl = nk / (nk + nl)
            dk, dl = dbar[k], dbar[l]
            w_early = ((nk + nl) * (1 - dl)) ** 2 * nkl * (1 - nkl) * (dk - dl) / (1 - dl) * (1 - dk) / (1 - dl)
            win = idx < l
            rows.append((TYPES[0], k, l, dd(k, l, win & (idx < k), win & (idx >= k)), w_early))
            w_late = ((nk + nl) * dk) ** 2 * nkl * (1 - nkl) * (dl / dk) * (dk - dl) / dk
            win = idx >= k
            rows.append((TYPES[1], l, k, dd(l, k, win & (idx < l), win & (idx >= l)), w_late))
    tab = pd.DataFrame(rows, columns=["type", "treated", "control", "estimate", "weight"])
    tab["weight"] = tab["weight"] / tab["weight"].sum()
    label = lambda i: panel.coder.decode([periods[i] if i < T else np.nan])[0]  # noqa: E731
    tab["treated"] = [label(i) for i in tab["treated"]]
    tab["control"] = [label(i) for i in tab["control"]]
    beta, _, _ = _fe_ols(Y, D[:, :, None], np.arange(n_all))
    return BaconDecomposition(tab, float(beta[0]), outcome)
