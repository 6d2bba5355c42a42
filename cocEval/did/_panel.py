"""Validate a long panel and turn it into unit x period arrays (shared by every DiD estimator).

Time is either numeric (integer periods such as years) or month dates (month-start
Timestamps, ``datetime64`` or a monthly ``Period``), coded by the shared
:class:`cocEval.timecode.TimeCoder` (months since year 0, so differences, i.e. event time, are
in months). Cohorts use the same units as time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cocEval.errors import InputError
from cocEval.timecode import NEVER, TimeCoder, _show

__all__ = ["NEVER", "Panel", "TimeCoder", "prepare_panel"]


def _require_columns(data: pd.DataFrame, columns) -> None:
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame, not {type(data).__name__}")
    missing = [c for c in columns if c is not None and c not in data.columns]
    if missing:
        raise InputError(f"columns not found in data: {missing}")


@dataclass
class Panel:
    """A balanced panel as arrays: ``Y`` is units x periods, one row per unit."""

    units: np.ndarray
    periods: np.ndarray  # sorted integer codes
    Y: np.ndarray
    coder: TimeCoder
    G: np.ndarray | None = None  # first treated period code per unit (NEVER if never)
    X: np.ndarray | None = None  # time-invariant covariates per unit (no intercept)
    cluster: np.ndarray | None = None  # integer cluster code per unit
    D: np.ndarray | None = None  # units x periods treatment indicator (twfe/bacon)
    W: np.ndarray | None = None  # unit weights (not used by att_gt)

    @property
    def n(self) -> int:
        return self.Y.shape[0]


def _per_unit_constant(df: pd.DataFrame, unit: str, col: str, what: str) -> pd.Series:
    """The single value of ``col`` for each unit; error naming units where it varies."""
    nun = df.groupby(unit, sort=True)[col].nunique(dropna=False)
    bad = nun.index[nun > 1]
    if len(bad):
        raise InputError(f"column '{col}' must be constant within each unit ({what}); it varies for units {_show(bad)}")
    return df.drop_duplicates(unit).set_index(unit)[col].sort_index()


def prepare_panel(
    data: pd.DataFrame,
    outcome: str,
    unit: str,
    time: str,
    *,
    cohort: str | None = None,
    treated: str | None = None,
    covariates: list[str] | None = None,
    cluster: str | None = None,
) -> Panel:
    """Check a long panel and return it as a balanced :class:`Panel`.

    Raises ``ValueError`` naming the column, rule and offending values for duplicate
    unit-time rows, non-numeric/non-month time, missing outcomes, an unbalanced panel,
    cohorts or covariates that vary within a unit.
    """
    covariates = list(covariates or [])
    cols = [outcome, unit, time, cohort, treated, cluster, *covariates]
    _require_columns(data, cols)
    df = data[[c for c in dict.fromkeys(cols) if c is not None]]
    if df[unit].isna().any():
        raise InputError(f"column '{unit}' has missing unit identifiers")
    coder = TimeCoder.from_series(df[time], time)
    tcode = coder.encode(df[time], time)
    dup = pd.DataFrame({"u": df[unit].to_numpy(), "t": tcode}).duplicated(keep=False).to_numpy()
    if dup.any():
        pairs = df.loc[dup, [unit, time]].drop_duplicates().itertuples(index=False, name=None)
        raise InputError(f"duplicate rows for the same ({unit}, {time}): {_show(pairs)}; keep one row per unit-period")
    y = pd.to_numeric(df[outcome], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    if not pd.api.types.is_numeric_dtype(df[outcome]):
        raise InputError(f"column '{outcome}' (outcome) must be numeric, got dtype {df[outcome].dtype}")
    if np.isnan(y).any():
        bad = pd.unique(df.loc[np.isnan(y), unit])
        raise InputError(
            f"column '{outcome}' has missing values (units {_show(bad)}); this estimator needs a "
            "balanced panel: drop those units or impute explicitly"
        )
    units, ui = np.unique(df[unit].to_numpy(), return_inverse=True)
    periods, ti = np.unique(tcode, return_inverse=True)
    n, T = len(units), len(periods)
    if len(df) != n * T:
        counts = np.bincount(ui, minlength=n)
        bad = units[counts < T]
        raise InputError(
            f"unbalanced panel: {len(bad)} of {n} units are not observed in all {T} periods of "
            f"'{time}' (units {_show(bad)}). Balanced panels only: drop or complete those units"
        )
    Y = np.empty((n, T))
    Y[ui, ti] = y
    panel = Panel(units=units, periods=periods.astype(np.int64), Y=Y, coder=coder)
    if cohort is not None:
        per_unit = _per_unit_constant(df, unit, cohort, "a unit cannot switch cohort")
        panel.G = coder.encode(per_unit, cohort, never_allowed=True)
    if treated is not None:
        d = pd.to_numeric(df[treated], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        if np.isnan(d).any() or not np.isin(d, (0.0, 1.0)).all():
            raise InputError(f"column '{treated}' (treatment indicator) must be 0/1 with no missing values")
        D = np.empty((n, T))
        D[ui, ti] = d
        panel.D = D
    if covariates:
        xs = []
        for c in covariates:
            if not pd.api.types.is_numeric_dtype(df[c]) or df[c].isna().any():
                raise InputError(f"covariate '{c}' must be numeric with no missing values")
            xs.append(_per_unit_constant(df, unit, c, "covariates must be time-invariant").to_numpy(float))
        panel.X = np.column_stack(xs)
    if cluster is not None:
        cl = _per_unit_constant(df, unit, cluster, "units must be nested in clusters")
        if cl.isna().any():
            raise InputError(f"column '{cluster}' (cluster) has missing values")
        panel.cluster = pd.factorize(cl, sort=True)[0]
    return panel
