"""``fit_its``: check the input, build the design, call the engine, return an :class:`ITSResult`."""

from __future__ import annotations

import numbers
import warnings
from typing import Any

import numpy as np
import pandas as pd

from cocEval.errors import InputError, NotEstimableError
from cocEval.its.design import (
    INTERVENTION_TERMS,
    MIN_PERIODS,
    RECOMMENDED_PERIODS,
    SeriesTime,
    convert_time,
    design,
    stack_control,
)
from cocEval.its.engines import AR1Profile, Fit, fit_glm, fit_ols
from cocEval.its.families import FAMILIES, MAX_SEASONALITY, Family, get_family
from cocEval.its.results import ITSResult

__all__ = ["fit_its", "MIN_PERIODS", "RECOMMENDED_PERIODS"]


# --------------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------------
def _require_columns(data: pd.DataFrame, cols: dict[str, str | None], what: str) -> None:
    missing = [f"{role}={c!r}" for role, c in cols.items() if c is not None and c not in data.columns]
    if missing:
        raise InputError(f"{what} lacks column(s) {', '.join(missing)}; columns are {list(data.columns)}")


def _numeric(data: pd.DataFrame, col: str, role: str, periods: Any) -> np.ndarray:
    s = data[col]
    if not (pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype)):
        try:
            s = pd.to_numeric(s)
        except (ValueError, TypeError) as err:
            raise InputError(f"{role} column {col!r} must be numeric: {err}") from err
    v: np.ndarray = s.to_numpy(dtype=float)
    if np.isnan(v).any():
        bad = list(np.asarray(periods)[np.isnan(v)][:8])
        raise InputError(
            f"{role} column {col!r} has missing values at periods {bad}; fill them or drop the rows "
            "(or pass those periods in exclude=) before fitting"
        )
    return v


def _check_counts(v: np.ndarray, col: str, family: str, periods: Any) -> None:
    bad = (v < 0) | ~np.isclose(v, np.round(v))
    if bad.any():
        ex = {str(p): x for p, x in zip(np.asarray(periods)[bad][:5], v[bad][:5])}
        raise InputError(f"family={family!r} needs non-negative whole counts in {col!r}; offending values {ex}")


def _check_options(
    family: str,
    errors: str | None,
    maxlags: int | None,
    alpha: float,
    seasonality: int,
    exposure: str | None,
    trials: str | None,
) -> tuple[Family, str]:
    """The family and the ``errors`` option, after checking every argument against the registry."""
    fam = get_family(family)
    errors = fam.default_errors if errors is None else errors
    if errors not in fam.errors:
        raise InputError(f"errors={errors!r} is not available for family={family!r}; choose one of {fam.errors}")
    if maxlags is not None and errors != "newey-west":
        raise InputError(f"maxlags={maxlags} only applies to errors='newey-west' (errors={errors!r})")
    if not (0 < alpha < 1):
        raise InputError(f"alpha={alpha} must lie strictly between 0 and 1")
    if not isinstance(seasonality, numbers.Integral) or not 0 <= seasonality <= MAX_SEASONALITY:
        raise InputError(
            f"seasonality={seasonality!r} must be an integer number of Fourier pairs from 0 to {MAX_SEASONALITY}"
        )
    if fam.needs == "trials" and trials is None:
        raise InputError(f"family={family!r} needs trials= (the column of denominators, e.g. responses)")
    if trials is not None and fam.needs != "trials":
        raise InputError(f"trials={trials!r} only applies to binomial families, not family={family!r}")
    if exposure is not None and fam.needs != "exposure":
        counts = tuple(n for n in FAMILIES if get_family(n).needs == "exposure")
        raise InputError(f"exposure={exposure!r} only applies to count families {counts}, not {family!r}")
    return fam, errors


def _read_series(
    df: Any,
    what: str,
    fam: Family,
    outcome: str,
    time: str,
    exposure: str | None,
    trials: str | None,
) -> dict[str, Any]:
    """One series (data or control) as arrays, with every per-row check."""
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{what} must be a pandas DataFrame, not {type(df).__name__}")
    _require_columns(df, {"outcome": outcome, "time": time, "exposure": exposure, "trials": trials}, what)
    tm = convert_time(df[time], time)
    dup = pd.Series(tm.index).duplicated(keep=False).to_numpy()
    if dup.any():
        raise InputError(
            f"{what}: time column {time!r} has duplicate periods {sorted(set(tm.label(tm.index[dup])))[:5]}; "
            "give one row per period (aggregate first)"
        )
    labels = tm.label(tm.index)
    y = _numeric(df, outcome, "outcome", labels)
    frame: dict[str, Any] = {"_time": tm, "t": tm.index, "month": tm.month, "y": y, "is_control": what == "control"}
    if fam.is_count:
        _check_counts(y, outcome, fam.name, labels)
    frame["exposure"] = _numeric(df, exposure, "exposure", labels) if exposure else None
    if exposure is not None and (frame["exposure"] <= 0).any():
        bad = frame["exposure"] <= 0
        raise InputError(
            f"exposure column {exposure!r} must be positive (log offset); periods "
            f"{list(np.asarray(labels)[bad][:5])} have {list(frame['exposure'][bad][:5])}"
        )
    if trials is not None:
        n_tr = _numeric(df, trials, "trials", labels)
        _check_counts(n_tr, trials, fam.name, labels)
        _check_counts(y, outcome, fam.name, labels)
        over = y > n_tr
        if over.any():
            raise InputError(
                f"outcome {outcome!r} exceeds trials {trials!r} at periods {list(np.asarray(labels)[over][:5])}"
            )
        frame["trials"] = n_tr
    return frame


def _excluded(exclude: Any, tm: SeriesTime, all_t: np.ndarray) -> set[int]:
    if exclude is None:
        return set()
    ex_list = [exclude] if isinstance(exclude, (str, numbers.Number, pd.Timestamp, pd.Period)) else list(exclude)
    excl = {tm.coder.point(v, "exclude") for v in ex_list}
    unknown = excl - set(all_t.tolist())
    if unknown:
        warnings.warn(f"exclude: periods {sorted(tm.label(sorted(unknown)))} are not in the data", stacklevel=4)
    return excl


def _check_support(
    f: dict[str, Any],
    s: int,
    excl: set[int],
    fam: Family,
    outcome: str,
    trials: str | None,
    min_before: int,
    min_after: int,
    notes: list[str],
) -> None:
    """Mark the fitted rows of one series; raise NotEstimableError when they cannot support a fit."""
    fitted = ~np.isin(f["t"], list(excl))
    f["fitted"] = fitted
    pre, post = int(np.sum(fitted & (f["t"] < s))), int(np.sum(fitted & (f["t"] >= s)))
    who = "control" if f["is_control"] else "data"
    if pre < min_before or post < min_after:
        need = (
            f"at least {min_before} are needed on each side"
            if min_before == min_after
            else f"at least {min_before} are needed before and {min_after} from the start on"
        )
        raise NotEstimableError(
            f"{who}: {pre} fitted period(s) before start and {post} from start on; {need} "
            f"(at least {RECOMMENDED_PERIODS} recommended)"
        )
    if pre < RECOMMENDED_PERIODS or post < RECOMMENDED_PERIODS:
        msg = (
            f"{who}: only {pre} period(s) before and {post} from the start; fewer than "
            f"{RECOMMENDED_PERIODS} on a side gives unstable trends and unreliable intervals"
        )
        warnings.warn(msg, stacklevel=3)
        notes.append(msg)
    if fam.is_count:
        yy = f["y"][fitted]
        if yy.sum() == 0:
            raise NotEstimableError(
                f"{who}: outcome {outcome!r} is zero in every fitted period; no rate or change can be estimated"
            )
        pre_sum, post_sum = yy[f["t"][fitted] < s].sum(), yy[f["t"][fitted] >= s].sum()
        if pre_sum == 0 or post_sum == 0:
            raise NotEstimableError(
                f"{who}: outcome {outcome!r} is zero in every period {'before' if pre_sum == 0 else 'from'} the "
                "start, so the level change is infinite on the log scale; no finite estimate exists"
            )
        if yy.sum() < 20:
            msg = f"{who}: only {int(yy.sum())} events in all; count models are unreliable with so few events"
            warnings.warn(msg, stacklevel=3)
            notes.append(msg)
    if trials is not None:
        zero = f["trials"] == 0
        if zero.any():
            msg = f"{who}: dropped {int(zero.sum())} period(s) with zero {trials!r} (they carry no information)"
            warnings.warn(msg, stacklevel=3)
            notes.append(msg)
            f["fitted"] = f["fitted"] & ~zero
        yy, nn = f["y"][f["fitted"]], f["trials"][f["fitted"]]
        if yy.sum() == 0 or yy.sum() == nn.sum():
            raise NotEstimableError(
                f"{who}: outcome {outcome!r} is 0% or 100% in every fitted period; the logit is infinite"
            )


def _stack(frames: list[dict[str, Any]]) -> pd.DataFrame:
    """The treated (and control) series stacked, one row per period, in (series, time) order."""
    rows = [
        pd.DataFrame(
            {
                "series": "control" if f["is_control"] else "treated",
                "t": f["t"],
                "month": f["month"] if f["month"] is not None else np.nan,
                "y": f["y"],
                "exposure": f["exposure"] if f["exposure"] is not None else np.nan,
                "trials": f.get("trials", np.nan),
                "fitted_row": f["fitted"],
                "group": gi,
            }
        )
        for gi, f in enumerate(frames)
    ]
    return pd.concat(rows, ignore_index=True).sort_values(["group", "t"], kind="stable").reset_index(drop=True)


def _estimate(
    frame: pd.DataFrame,
    Xf: np.ndarray,
    use: np.ndarray,
    fam: Family,
    errors: str,
    maxlags: int | None,
    alpha: float,
) -> Fit:
    """Call the engine for ``fam`` and ``errors`` on the fitted rows."""
    if errors == "newey-west" and maxlags is None:
        maxlags = int(np.floor(4 * (int(np.sum(use & (frame["group"].to_numpy() == 0))) / 100) ** (2 / 9)))
    yv = frame["y"].to_numpy()[use]
    groups = frame["group"].to_numpy()[use]
    if fam.name == "gaussian":
        if errors.startswith("ar1"):
            t = frame["t"].to_numpy()[use].astype(float)
            fit = AR1Profile(yv, Xf, t, groups, errors != "ar1").fit(adjust=errors == "ar1-reml-adj")
        else:
            fit = fit_ols(yv, Xf, errors, maxlags, groups)
    else:
        offset = np.log(frame["exposure"].to_numpy()[use]) if frame["exposure"].notna().all() else None
        tr = frame["trials"].to_numpy()[use] if fam.needs == "trials" else None
        fit = fit_glm(yv, Xf, offset, tr, fam.name, errors, maxlags, groups)
    if maxlags is not None:
        fit.info["maxlags"] = maxlags
    return fit


def _periods(
    frames: list[dict[str, Any]], tm: SeriesTime, start: Any, end: Any, exclude: Any, notes: list[str]
) -> tuple[int, int | None, int, set[int]]:
    """Codes of ``start`` and ``end`` (None when too few periods follow it), the first period
    and the excluded periods, checked against the series."""
    s = tm.coder.point(start, "start")
    all_t = np.concatenate([f["t"] for f in frames])
    t0 = int(all_t.min())
    for f in frames:
        lo, hi = f["t"].min(), f["t"].max()
        if not (lo < s <= hi):
            raise InputError(
                f"start={start!r} lies outside the {'control' if f['is_control'] else 'data'} periods "
                f"{tm.label([lo])[0]} to {tm.label([hi])[0]}: it must be after the first period and no later than the last"
            )

    excl = _excluded(exclude, tm, all_t)
    e = None
    if end is not None:
        e = tm.coder.point(end, "end")
        if e <= s:
            raise InputError(f"end={end!r} must come after start={start!r}")
        after = int(np.sum((frames[0]["t"] >= e) & ~np.isin(frames[0]["t"], list(excl))))
        if after < MIN_PERIODS:
            msg = (
                f"end={end!r}: only {after} fitted period(s) from the end of the intervention on (at least "
                f"{MIN_PERIODS} needed), so sustainability is not estimated and end is ignored"
            )
            warnings.warn(msg, stacklevel=3)
            notes.append(msg)
            e = None
    return s, e, t0, excl


# --------------------------------------------------------------------------------------------
# public entry point
# --------------------------------------------------------------------------------------------
def fit_its(
    data: pd.DataFrame,
    outcome: str,
    time: str,
    start: Any,
    *,
    family: str = "gaussian",
    exposure: str | None = None,
    trials: str | None = None,
    errors: str | None = None,
    maxlags: int | None = None,
    seasonality: int = 0,
    end: Any = None,
    exclude: Any = None,
    control: pd.DataFrame | None = None,
    slope_change: bool = True,
    alpha: float = 0.05,
    min_before: int = MIN_PERIODS,
    min_after: int = MIN_PERIODS,
) -> ITSResult:
    """Fit an interrupted time series (segmented regression) to one series.

    Parameters
    ----------
    data : DataFrame
        One row per period (any order).
    outcome : str
        Outcome column. Counts for count families; successes for binomial families.
    time : str
        Column of integer periods, month dates (Timestamps, any day of the month) or monthly
        ``Period`` values. Duplicate or missing times are errors.
    start : int, str, Timestamp or Period
        First period of the intervention (a value on the scale of ``time``, e.g. ``"2024-04"``).
        At least ``min_before`` fitted periods are needed before it and ``min_after`` from it
        on; fewer than :data:`RECOMMENDED_PERIODS` (8) on either side gives a warning.
    family : {"gaussian", "poisson", "quasipoisson", "negbin", "binomial", "quasibinomial"}
        See :data:`cocEval.its.families.REGISTRY`. ``quasi*`` scale SEs by the Pearson
        dispersion (as R); ``negbin`` estimates theta by maximum likelihood and reports SEs as
        ``MASS::glm.nb``. Binomial families use the logit link and need ``trials``.
    exposure : str, optional
        Column of exposures (e.g. occupied bed days) for count families, used as the offset
        ``log(exposure)`` so effects are rate ratios. Must be positive.
    trials : str, optional
        Binomial denominator column (e.g. responses). Periods with zero trials carry no
        information and are dropped with a warning.
    errors : str, optional
        Gaussian: "ols", "newey-west", "ar1" (AR(1) errors, ML as ``nlme::gls(corAR1(), "ML")``),
        "ar1-reml" or "ar1-reml-adj" (REML with a small-sample adjustment: the covariance at a
        bias-corrected phi and t intervals on Satterthwaite df). Other families: "model" or
        "newey-west"; negbin also "pearson" (glm.nb SEs scaled by the Pearson dispersion, t
        intervals). Default :data:`DEFAULT_ERRORS` [family] ("ar1-reml-adj" for gaussian,
        "pearson" for negbin, "model" otherwise), chosen by ``benchmarks/its_coverage.py``; the
        family's ``errors`` in the registry list them all.
    maxlags : int, optional
        Newey-West lag; default ``floor(4 (n/100)^(2/9))`` (3 for 60 periods). Lags count rows,
        so excluded periods close up.
    seasonality : int
        Number K (0-5) of Fourier pairs sin/cos(2 pi k m / 12) on calendar month m (needs month
        dates).
    end : optional
        First period after the intervention ended: adds ``sustain_level_change`` and
        ``sustain_trend_change``. If fewer than 3 fitted periods lie from ``end`` on (including
        an ``end`` after the data) it is ignored with a warning.
    exclude : list, optional
        Periods to drop from the fit (e.g. a transition window); they are still predicted.
    control : DataFrame, optional
        Comparison series with the same columns (controlled ITS). Adds ``diff_*`` terms: the
        treated series minus the control in intercept, trend and each intervention term; the
        headline effects are then the ``diff_`` terms. AR(1) errors are fitted within each series
        with a common phi; Newey-West meats are summed over the two series.
    slope_change : bool
        False drops ``trend_change`` (a level-change-only model, as Lopez Bernal et al. models 1-3).
    alpha : float
        1 - confidence level of every interval.
    min_before, min_after : int
        Fewest fitted periods before the start and from the start on (at least
        :data:`MIN_PERIODS`, 3); fewer raise :class:`~cocEval.errors.NotEstimableError`. The
        programme sets them from ``its.min_months_before`` / ``its.min_months_after``.

    Returns
    -------
    ITSResult

    Raises
    ------
    InputError
        A wrong argument or column (a ``ValueError`` too).
    NotEstimableError
        The data cannot support the model (too few periods, no events, 0% or 100% throughout).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from cocEval.its import fit_its
    >>> rng = np.random.default_rng(1)
    >>> df = pd.DataFrame({"month": pd.date_range("2021-04-01", periods=48, freq="MS")})
    >>> df["beds"] = 3000.0
    >>> df["restraints"] = rng.poisson(3 * np.where(df.month >= "2023-04-01", 0.7, 1.0) * 3)
    >>> res = fit_its(df, "restraints", "month", "2023-04", family="poisson", exposure="beds")
    >>> list(res.coefficients.index[:4])
    ['intercept', 'trend', 'level_change', 'trend_change']
    >>> bool(res.effects.loc["level_change", "estimate"] < 1)
    True
    """
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame, not {type(data).__name__}")
    fam, errors = _check_options(family, errors, maxlags, alpha, seasonality, exposure, trials)
    for name, value in (("min_before", min_before), ("min_after", min_after)):
        if not isinstance(value, numbers.Integral) or value < MIN_PERIODS:
            raise InputError(f"{name}={value!r} must be an integer of at least {MIN_PERIODS}")

    series = {"data": data} if control is None else {"data": data, "control": control}
    frames = [_read_series(df, what, fam, outcome, time, exposure, trials) for what, df in series.items()]
    tm = frames[0]["_time"]
    if any(f["_time"].kind != tm.kind for f in frames):
        raise InputError("control's time column must be of the same kind (integers or months) as data's")
    if seasonality and tm.kind != "month":
        raise InputError(f"seasonality={seasonality} needs month dates in {time!r}; it holds integer periods")
    notes: list[str] = []
    s, e, t0, excl = _periods(frames, tm, start, end, exclude, notes)
    for f in frames:
        _check_support(f, s, excl, fam, outcome, trials, min_before, min_after, notes)

    frame = _stack(frames)
    X = design(frame["t"].to_numpy(), frame["month"].to_numpy() if tm.kind == "month" else None, t0, s, e, seasonality)
    if not slope_change:
        X = X.drop(columns="trend_change")
    interventions = [c for c in INTERVENTION_TERMS if c in X.columns]
    effect_terms = interventions
    if control is not None:
        X = stack_control(X, frame["group"].to_numpy() == 1, ["intercept", "trend", *interventions])
        effect_terms = [f"diff_{c}" for c in interventions]
    use = frame["fitted_row"].to_numpy()
    Xf = X[use].to_numpy()
    if np.linalg.matrix_rank(Xf) < Xf.shape[1]:
        raise NotEstimableError(
            f"the design ({list(X.columns)}) is rank deficient on the fitted periods; "
            "check exclude=, end= and seasonality= against the data"
        )
    if Xf.shape[0] - Xf.shape[1] < 2:
        raise NotEstimableError(f"{Xf.shape[0]} fitted periods for {Xf.shape[1]} parameters: too few to fit")
    fit = _estimate(frame, Xf, use, fam, errors, maxlags, alpha)
    return ITSResult(
        fit=fit,
        X=X,
        frame=frame,
        effect_terms=effect_terms,
        family=fam.name,
        errors=errors,
        outcome=outcome,
        time=tm,
        start=s,
        end=e,
        alpha=alpha,
        exposure=exposure,
        trials=trials,
        notes=notes,
        controlled=control is not None,
        seasonality=seasonality,
    )
