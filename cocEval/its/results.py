"""The results object of :func:`cocEval.its.fit_its`.

The heavy parts live beside it: :mod:`~cocEval.its.effects` (effects table, EffectSummary),
:mod:`~cocEval.its.diagnostics`, :mod:`~cocEval.its.narrative` and :mod:`~cocEval.its.plot`;
the methods here delegate to them so the public API stays on :class:`ITSResult`.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from cocEval._results import ResultMixin
from cocEval.its import diagnostics as _diagnostics
from cocEval.its import effects as _effects
from cocEval.its import narrative as _narrative
from cocEval.its import plot as _plot
from cocEval.its.design import SeriesTime, design_columns, stack_control
from cocEval.its.engines import Fit
from cocEval.its.families import get_family

if TYPE_CHECKING:
    from cocEval.effects import EffectSummary

__all__ = ["ITSResult"]


class ITSResult(ResultMixin):
    """Results of :func:`fit_its`.

    Attributes
    ----------
    coefficients : DataFrame
        Indexed by term; ``estimate``, ``se``, ``ci_low``, ``ci_high``, ``p_value`` on the
        linear-predictor scale (log rate for counts, logit for binomial).
    effects : DataFrame
        Reader-facing table of the intervention terms: rate ratios (counts), odds ratios
        (binomial) or absolute changes (gaussian), with intervals and p-values.
    cov : DataFrame
        Covariance matrix of the coefficients.
    model_info : dict
        Family, errors, n, residual df and fitted extras (``phi``, ``sigma``, ``theta``,
        ``dispersion``, ``maxlags``).
    notes : list of str
        Warnings raised while fitting (kept for reports).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from cocEval.its import fit_its
    >>> df = pd.DataFrame({"t": range(1, 31), "y": np.r_[np.arange(15) * 0.1, 4.5 + np.arange(15) * 0.1]})
    >>> df["y"] += np.random.default_rng(0).normal(0, 0.2, 30)
    >>> res = fit_its(df, "y", "t", 16, errors="ols")
    >>> round(res.coefficients.loc["level_change", "estimate"])
    3
    """

    _table_attr = "effects"

    def __init__(
        self,
        *,
        fit: Fit,
        X: pd.DataFrame,
        frame: pd.DataFrame,
        effect_terms: list[str],
        family: str,
        errors: str,
        outcome: str,
        time: SeriesTime,
        start: int,
        end: int | None,
        alpha: float,
        exposure: str | None,
        trials: str | None,
        notes: list[str],
        controlled: bool,
        seasonality: int,
    ) -> None:
        self._fit, self._X, self._frame = fit, X, frame
        self.family, self.errors, self.outcome, self.alpha = family, errors, outcome, alpha
        self._time, self._start, self._end = time, start, end
        self.exposure, self.trials, self.notes = exposure, trials, list(notes)
        self.controlled, self.seasonality = controlled, seasonality
        self.effect_terms = list(effect_terms)
        terms = list(X.columns)
        self.params = pd.Series(fit.params, index=terms)
        self.cov = pd.DataFrame(fit.cov, index=terms, columns=terms)
        se = np.sqrt(np.diag(fit.cov))
        crit = self._crit()
        stat = fit.params / se
        p = 2 * (stats.t.sf(np.abs(stat), fit.df_resid) if fit.use_t else stats.norm.sf(np.abs(stat)))
        self.coefficients = pd.DataFrame(
            {
                "estimate": fit.params,
                "se": se,
                "ci_low": fit.params - crit * se,
                "ci_high": fit.params + crit * se,
                "p_value": p,
            },
            index=pd.Index(terms, name="term"),
        )
        self.model_info = {
            "family": family,
            "errors": errors,
            "n": int(frame["fitted_row"].sum()),
            "df_resid": float(fit.df_resid),
            "use_t": fit.use_t,
            **fit.info,
        }
        self.start = time.label([start])[0]
        self.end = None if end is None else time.label([end])[0]
        self.effects = _effects.effects_table(self)

    # -- basic helpers ------------------------------------------------------------------------
    def _crit(self) -> float:
        q = 1 - self.alpha / 2
        if q not in self._crits:  # by alpha: the quantile is asked for many times
            self._crits[q] = float(stats.t.ppf(q, self._fit.df_resid) if self._fit.use_t else stats.norm.ppf(q))
        return self._crits[q]

    @functools.cached_property
    def _crits(self) -> dict[float, float]:
        return {}

    @property
    def _log_link(self) -> bool:
        return get_family(self.family).is_count

    def _inv_link(self, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return get_family(self.family).inverse_link(eta)

    @property
    def _scale_name(self) -> str:
        return get_family(self.family).scale_name(bool(self.exposure))

    # -- design rows for arbitrary periods ------------------------------------------------------
    def _rows(self, t: np.ndarray, series: str = "treated") -> tuple[np.ndarray, np.ndarray]:
        """Design rows (fitted) and the effect rows E (fitted - counterfactual = E @ beta), with
        the fitted design's columns (a column the rows lack is 0)."""
        t = np.asarray(t, dtype=np.int64)
        month = None
        if self._time.kind == "month":
            month = self._time.coder.calendar_month(t)
        names = list(self._X.columns)
        cols = design_columns(t, month, self._t0, self._start, self._end, self.seasonality)
        cols = {c: v for c, v in cols.items() if c in names}
        E = np.zeros((len(t), len(names)), order="F")  # as a frame's: matrix products sum alike
        if self.controlled:
            is_c = np.full(len(t), series == "control")
            base = cols
            cols = stack_control(cols, is_c, ["intercept", "trend", *[c[5:] for c in self.effect_terms]])
            if series == "treated":
                for term in self.effect_terms:
                    E[:, names.index(term)] = base[term[5:]]
        else:
            for term in self.effect_terms:
                E[:, names.index(term)] = cols[term]
        X = np.zeros((len(t), len(names)), order="F")
        for j, c in enumerate(names):
            if c in cols:
                X[:, j] = cols[c]
        return X, E

    @functools.cached_property
    def _t0(self) -> int:
        return int(self._frame["t"].min())

    def _per(self, per: float | None) -> float:
        return (1000.0 if per is None else float(per)) if self.exposure else 1.0

    # -- public API ---------------------------------------------------------------------------
    @functools.cached_property
    def months_after_start(self) -> int:
        """How many periods from the start on were fitted (excluded ones do not count)."""
        fr = self._frame[(self._frame["series"] == "treated") & self._frame["fitted_row"]]
        return int((fr["t"] >= self._start).sum())

    def effect_at(self, h: Any = 0, *, per: float | None = None) -> pd.DataFrame:
        """Difference between fitted and counterfactual ``h`` periods after ``start``.

        Parameters
        ----------
        h : int or sequence of int
            Periods after the start (0 = the first intervention period).
        per : float, optional
            With an exposure, absolute differences are rates per ``per`` exposure units
            (default 1,000, e.g. per 1,000 occupied bed days).

        Returns
        -------
        DataFrame
            One row per ``h``: ``period``, ``fitted``, ``counterfactual``, ``absolute`` (fitted minus
            counterfactual on the outcome scale: rate, count, proportion or mean) and
            ``relative`` (fitted / counterfactual - 1), each with ``_se``, ``_low``, ``_high``.
            Intervals are delta-method; for log-link families the relative interval is the
            delta-method interval of the log ratio, transformed (so it stays above -100%).

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> from cocEval.its import fit_its
        >>> df = pd.DataFrame({"t": range(1, 31), "y": np.r_[np.full(15, 10.0), np.full(15, 8.0)]})
        >>> df["y"] += np.random.default_rng(0).normal(0, 0.3, 30)
        >>> eff = fit_its(df, "y", "t", 16, errors="ols").effect_at([0, 5])
        >>> bool((eff["relative"] < 0).all())
        True
        """
        hs = np.atleast_1d(np.asarray(h, dtype=np.int64))
        t = self._start + hs
        X, E = self._rows(t)
        Xc = X - E
        b, V = self.params.to_numpy(), self.cov.to_numpy()
        mf, df_ = self._inv_link(X @ b)
        mc, dc = self._inv_link(Xc @ b)
        per = self._per(per)
        crit = self._crit()
        abs_est = per * (mf - mc)
        g_abs = per * (df_[:, None] * X - dc[:, None] * Xc)
        abs_se = np.sqrt(np.einsum("ij,jk,ik->i", g_abs, V, g_abs))
        if self._log_link:
            d = E @ b
            d_se = np.sqrt(np.einsum("ij,jk,ik->i", E, V, E))
            rel, rel_se = np.expm1(d), np.exp(d) * d_se
            rel_lo, rel_hi = np.expm1(d - crit * d_se), np.expm1(d + crit * d_se)
        else:
            rel = mf / mc - 1
            g_rel = (df_[:, None] * X * mc[:, None] - mf[:, None] * dc[:, None] * Xc) / (mc**2)[:, None]
            rel_se = np.sqrt(np.einsum("ij,jk,ik->i", g_rel, V, g_rel))
            rel_lo, rel_hi = rel - crit * rel_se, rel + crit * rel_se
        return pd.DataFrame(
            {
                "period": self._time.label(t),
                "fitted": per * mf,
                "counterfactual": per * mc,
                "absolute": abs_est,
                "absolute_se": abs_se,
                "absolute_low": abs_est - crit * abs_se,
                "absolute_high": abs_est + crit * abs_se,
                "relative": rel,
                "relative_se": rel_se,
                "relative_low": rel_lo,
                "relative_high": rel_hi,
            },
            index=pd.Index(hs, name="h"),
        )

    def predict(self, *, per: float | None = None) -> pd.DataFrame:
        """Tidy frame behind every chart: observed, fitted and counterfactual with intervals.

        Values are on the outcome scale: rates per ``per`` exposure units (default 1,000) when an
        exposure was given, proportions for binomial families, otherwise the outcome itself.
        The counterfactual continues the pre-intervention segment (for a controlled ITS: the
        treated series with the control's changes); before ``start`` it equals the fitted line.

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> from cocEval.its import fit_its
        >>> df = pd.DataFrame({"t": range(1, 25), "y": np.r_[np.zeros(12), np.ones(12)]})
        >>> df["y"] += np.random.default_rng(0).normal(0, 0.1, 24)
        >>> list(fit_its(df, "y", "t", 13, errors="ols").predict().columns[:5])
        ['series', 'period', 'phase', 'excluded', 'observed']
        """
        per = self._per(per)
        out = []
        b, V = self.params.to_numpy(), self.cov.to_numpy()
        crit = self._crit()
        for series, fr in self._frame.groupby("series", sort=False):
            t = fr["t"].to_numpy()
            X, E = self._rows(t, series)
            Xc = X - E

            def band(M: np.ndarray) -> list[np.ndarray]:
                eta = M @ b
                se = np.sqrt(np.einsum("ij,jk,ik->i", M, V, M))
                return [self._inv_link(v)[0] * per for v in (eta, eta - crit * se, eta + crit * se)]

            f, flo, fhi = band(X)
            c, clo, chi = band(Xc)
            if self.exposure:
                obs = per * fr["y"].to_numpy() / fr["exposure"].to_numpy()
            elif self.trials:
                with np.errstate(invalid="ignore", divide="ignore"):
                    obs = fr["y"].to_numpy() / fr["trials"].to_numpy()
            else:
                obs = fr["y"].to_numpy()
            phase = np.where(t < self._start, "before", "during")
            if self._end is not None:
                phase = np.where(t >= self._end, "after", phase)
            out.append(
                pd.DataFrame(
                    {
                        "series": series,
                        "period": self._time.label(t),
                        "phase": phase,
                        "excluded": ~fr["fitted_row"].to_numpy(),
                        "observed": obs,
                        "fitted": f,
                        "fitted_low": flo,
                        "fitted_high": fhi,
                        "counterfactual": c,
                        "counterfactual_low": clo,
                        "counterfactual_high": chi,
                    }
                )
            )
        return pd.concat(out, ignore_index=True)

    def get_plot_data(self) -> pd.DataFrame:
        """The frame :meth:`plot` draws (same as :meth:`predict`)."""
        return self.predict()

    def summary(self) -> str:
        """Plain-English paragraph followed by the effects table.

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> from cocEval.its import fit_its
        >>> df = pd.DataFrame({"t": range(1, 31), "y": np.random.default_rng(3).normal(size=30)})
        >>> "level_change" in fit_its(df, "y", "t", 16, errors="ols").summary()
        True
        """
        table: str = self.effects.to_string(float_format=lambda v: f"{v:.4g}")
        return self.narrative() + "\n\n" + table

    def _repr_html_(self) -> str:
        import html

        table = self.effects.to_html(float_format=lambda v: f"{v:.4g}")
        return f"<div><p>{html.escape(self.narrative())}</p>{table}</div>"

    def __repr__(self) -> str:
        return f"<ITSResult {self._model_words()}>\n{self.coefficients.to_string(float_format=lambda v: f'{v:.4g}')}"

    # -- chart ------------------------------------------------------------------------------------
    # -- delegated to effects / diagnostics / narrative / plot ---------------------------------
    def effect_summary(
        self,
        month: int = 12,
        *,
        outcome: str | None = None,
        improvement: str | None = None,
        per: float | None = None,
    ) -> EffectSummary:
        """The effect in month ``month`` after the start (counted from 1), as an EffectSummary.

        Counts are stated as a percentage change (fitted against expected without the
        intervention), binomial outcomes in percentage points, gaussian ones as a difference.
        When fewer than ``month`` periods after the start were fitted, the last fitted one is
        used and a caveat says so; months left out of the fit are named in the caveats.

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> from cocEval.its import fit_its
        >>> df = pd.DataFrame({"t": range(1, 31), "y": np.r_[np.full(15, 10.0), np.full(15, 8.0)]})
        >>> df["y"] += np.random.default_rng(0).normal(0, 0.3, 30)
        >>> e = fit_its(df, "y", "t", 16, errors="ols").effect_summary(6, improvement="decrease")
        >>> e.scale, e.verdict, e.period
        ('difference', 'improvement', 'month 6 after the start (21)')
        """
        return _effects.effect_summary(self, month, outcome=outcome, improvement=improvement, per=per)

    def diagnostics(self, *, lags: int | None = None, warn: bool = True) -> pd.DataFrame:
        """Residual checks: autocorrelation tests and, for counts, overdispersion.

        Residuals are the model's: raw (OLS / Newey-West), normalised (AR(1): whitened, so a
        well-fitting AR(1) leaves none) or Pearson (GLMs), per series in time order.

        Returns
        -------
        DataFrame
            Rows ``durbin_watson``, ``ljung_box``, ``breusch_godfrey``, ``acf_lag1``..``acf_lag3``
            and for count/binomial families ``dispersion``; columns ``statistic``, ``p_value``,
            ``flag`` (True when the assumption looks broken) and ``note``. With ``warn`` each
            flag also raises a warning.

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> from cocEval.its import fit_its
        >>> df = pd.DataFrame({"t": range(1, 41), "y": np.random.default_rng(2).normal(size=40)})
        >>> d = fit_its(df, "y", "t", 21, errors="ols").diagnostics(warn=False)
        >>> "breusch_godfrey" in d.index
        True
        """
        return _diagnostics.diagnostics(self, lags=lags, warn=warn)

    def narrative(self) -> str:
        """The plain-English paragraph of :meth:`summary` (findings first, then certainty).

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> from cocEval.its import fit_its
        >>> df = pd.DataFrame({"t": range(1, 31), "y": np.r_[np.full(15, 10.0), np.full(15, 8.0)]})
        >>> df["y"] += np.random.default_rng(0).normal(0, 0.3, 30)
        >>> "fell" in fit_its(df, "y", "t", 16, errors="ols").narrative()
        True
        """
        return _narrative.narrative(self)

    def _model_words(self) -> str:
        return _narrative.model_words(self)

    def _outcome_words(self) -> str:
        return _narrative.outcome_words(self)

    def plot(
        self,
        *,
        ax: Any = None,
        per: float | None = None,
        title: str | None = None,
        data: Any = None,
        words: str = "model",
        zero: bool = False,
        legend: bool = True,
    ) -> tuple[Any, Any]:
        """Observed points, fitted segments, dashed counterfactual with its band, start/end lines.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Where to draw (default a new 8 x 4 inch figure).
        per : float, optional
            Rate multiplier, as in :meth:`predict`.
        title : str, optional
            Default: the change when the intervention started, in words.
        data : DataFrame, optional
            Draw this instead of ``self.predict(per=per)``: the treated series' rows in the
            shape of :meth:`predict`, such as the disclosed frame a report shows
            (:meth:`cocEval.report.gate.Gate.frame`: suppressed months are gaps, marked by a
            tick at the foot of the axes). The control series is drawn only from the model's
            own prediction.
        words : {"model", "report"}
            Legend words (:data:`cocEval.its.plot.WORDS`): statistical, or plain English.
        zero : bool
            Start the y axis at 0.
        legend : bool
            Draw the legend (False leaves it to the caller, e.g. one legend for several charts).

        Returns
        -------
        (Figure, Axes)

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> from cocEval.its import fit_its
        >>> df = pd.DataFrame({"t": range(1, 31), "y": np.random.default_rng(3).normal(size=30)})
        >>> res = fit_its(df, "y", "t", 16, errors="ols")
        >>> fig, ax = res.plot()
        >>> fig, ax = res.plot(data=res.predict().tail(20), words="report", title="The last 20 periods")
        >>> ax.get_title()
        'The last 20 periods'
        """
        return _plot.plot(self, ax=ax, per=per, title=title, data=data, words=words, zero=zero, legend=legend)
