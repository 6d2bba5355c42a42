"""The segmented-regression design matrix (one function for fitting and for prediction).

With ``t`` the integer period (months for month dates, coded by the shared
:class:`cocEval.timecode.TimeCoder`), ``t0`` the first period in the data, ``s`` the first
intervention period and ``e`` the optional end of the intervention::

    g(E[y_t]) = b0 + trend * (t - t0 + 1) + level_change * [t >= s] + trend_change * (t - s) [t >= s]
                + sustain_level_change * [t >= e] + sustain_trend_change * (t - e) [t >= e]
                + sum_k (sin_k sin(2 pi k m_t / 12) + cos_k cos(2 pi k m_t / 12)) + log(exposure_t)

Examples
--------
>>> import numpy as np
>>> X = design(np.arange(1, 7), None, 1, 4, None, 0)
>>> X["trend_change"].tolist() == [0, 0, 0, 0, 1, 2]
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from cocEval.errors import InputError
from cocEval.timecode import TimeCoder

#: Hard minimum of (non-excluded) periods before ``start`` and from ``start`` on: fewer is an error.
MIN_PERIODS = 3
#: Fewer periods than this on either side of ``start`` gives a warning (Wagner et al. 2002
#: recommend about 12; the Cochrane EPOC criteria ask for at least 3).
RECOMMENDED_PERIODS = 8

__all__ = [
    "INTERVENTION_TERMS",
    "MIN_PERIODS",
    "RECOMMENDED_PERIODS",
    "SeriesTime",
    "convert_time",
    "design",
    "design_columns",
    "stack_control",
]

#: A design: a frame, or its columns by name (:func:`design_columns`).
_Design = TypeVar("_Design", pd.DataFrame, dict[str, np.ndarray])

INTERVENTION_TERMS = ("level_change", "trend_change", "sustain_level_change", "sustain_trend_change")


@dataclass
class SeriesTime:
    """A series' time column as integer codes, with its coder and calendar months."""

    coder: TimeCoder
    index: np.ndarray  # integer period codes (months since year 0 for month dates)
    month: np.ndarray | None  # calendar month 1..12 (month dates only)

    @property
    def kind(self) -> str:
        return self.coder.kind

    def label(self, idx: Any) -> Any:
        return self.coder.label(idx)


def convert_time(values: pd.Series, column: str) -> SeriesTime:
    """Turn a time column into integer periods; month dates keep their calendar month.

    Examples
    --------
    >>> import pandas as pd
    >>> tm = convert_time(pd.Series(["2024-01-15", "2024-02-03"]), "month")
    >>> tm.kind, tm.month.tolist()
    ('month', [1, 2])
    """
    if values.isna().any():
        rows = list(values.index[values.isna()][:5])
        raise InputError(f"time column {column!r} has missing values (rows {rows}); every period needs a time")
    coder = TimeCoder.from_series(values, column, parse_strings=True)
    codes = coder.encode(values, column, month_start=False).astype(np.int64)
    month = coder.calendar_month(codes) if coder.kind == "month" else None
    return SeriesTime(coder, codes, month)


def design(
    t: np.ndarray, month: np.ndarray | None, t0: int, start: int, end: int | None, seasonality: int
) -> pd.DataFrame:
    """Segmented-regression design (see the module docstring)."""
    return pd.DataFrame(design_columns(t, month, t0, start, end, seasonality))


def design_columns(
    t: np.ndarray, month: np.ndarray | None, t0: int, start: int, end: int | None, seasonality: int
) -> dict[str, np.ndarray]:
    """The columns of :func:`design` as arrays by name (what prediction needs, without a frame).

    Examples
    --------
    >>> cols = design_columns(np.arange(1, 7), None, 1, 4, None, 0)
    >>> list(cols), cols["level_change"].tolist()
    (['intercept', 'trend', 'level_change', 'trend_change'], [0.0, 0.0, 0.0, 1.0, 1.0, 1.0])
    """
    t = np.asarray(t, dtype=float)
    post = (t >= start).astype(float)
    cols = {
        "intercept": np.ones_like(t),
        "trend": t - t0 + 1,
        "level_change": post,
        "trend_change": (t - start) * post,
    }
    if end is not None:
        post2 = (t >= end).astype(float)
        cols["sustain_level_change"] = post2
        cols["sustain_trend_change"] = (t - end) * post2
    for k in range(1, seasonality + 1):
        ang = 2 * np.pi * k * np.asarray(month, dtype=float) / 12
        cols[f"sin{k}"] = np.sin(ang)
        cols[f"cos{k}"] = np.cos(ang)
    return cols


def stack_control(X: _Design, is_control: np.ndarray, terms: list[str]) -> _Design:
    """Controlled ITS: add ``diff_<term>`` = -(1 - g) * term, so ``diff_*`` is treated minus control.

    ``X`` is a design frame or its columns by name (:func:`design_columns`); the result is of
    the same kind.
    """
    out = X.copy()
    for term in terms:
        out[f"diff_{term}"] = -is_control.astype(float) * np.asarray(X[term])
    return out
