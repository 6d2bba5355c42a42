"""One time coder for every estimator: integer periods or month dates to integer codes and back.

Month dates (Timestamps, ``datetime64`` or monthly ``Period`` values) are coded as months since
January of year 0 (``year * 12 + month - 1``), so differences are in months and the calendar
month is ``code % 12 + 1``. Integer periods (e.g. years) are kept as they are. The DiD panel
(:mod:`cocEval.did._panel`) and the interrupted time series (:mod:`cocEval.its`) both use
:class:`TimeCoder`; the DiD insists on month-start dates (cohort columns must line up with the
time column), the ITS accepts any day of the month and date strings.

Examples
--------
>>> import pandas as pd
>>> s = pd.Series(pd.date_range("2024-01-01", periods=3, freq="MS"))
>>> coder = TimeCoder.from_series(s, "month")
>>> codes = coder.encode(s, "month")
>>> [int(c) for c in codes], coder.calendar_month(codes).tolist()
([24288, 24289, 24290], [1, 2, 3])
>>> coder.decode(codes[:1])
[Timestamp('2024-01-01 00:00:00')]
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from cocEval.errors import InputError

__all__ = ["NEVER", "TimeCoder"]

NEVER = np.inf  # code for "never treated" (DiD cohorts)
_YEAR0 = 1970 * 12  # pandas month ordinals count from January 1970


def _show(values: Any, k: int = 5) -> str:
    values = [v.item() if isinstance(v, np.generic) else v for v in values]
    head = ", ".join(str(v) if not isinstance(v, str) else repr(v) for v in values[:k])
    return head + (f", ... ({len(values)} in all)" if len(values) > k else "")


@dataclass(frozen=True)
class TimeCoder:
    """Maps a time column to integer codes and back (``kind`` is 'numeric' or 'month')."""

    kind: Literal["numeric", "month"]

    @staticmethod
    def from_series(s: pd.Series, name: str, *, parse_strings: bool = False) -> TimeCoder:
        """The coder for a column: 'month' for dates/periods, 'numeric' for numbers.

        With ``parse_strings`` text that reads as dates (``"2024-04"``) is month dates too.
        """
        if isinstance(s.dtype, pd.PeriodDtype):
            if not s.dtype.freq.freqstr.startswith("M"):
                raise InputError(f"column '{name}': Period time must be monthly, got {s.dtype}")
            return TimeCoder("month")
        if pd.api.types.is_datetime64_any_dtype(s):
            return TimeCoder("month")
        if pd.api.types.is_bool_dtype(s):
            raise InputError(f"time column '{name}' is boolean; give integer periods or month dates")
        if pd.api.types.is_numeric_dtype(s):
            return TimeCoder("numeric")
        if parse_strings:
            return TimeCoder("month")
        raise InputError(
            f"column '{name}' must be numeric (integer periods, e.g. years) or month dates "
            f"(month-start Timestamps); got dtype {s.dtype} with values like {_show(s.head(3))}"
        )

    def encode(self, s: pd.Series, name: str, *, never_allowed: bool = False, month_start: bool = True) -> np.ndarray:
        """Integer codes as float (``NEVER`` where missing or 0 when ``never_allowed``).

        ``month_start=False`` accepts any day of the month (and date strings) for month dates.
        """
        if self.kind == "month":
            if isinstance(s.dtype, pd.PeriodDtype):
                out = np.where(s.isna(), np.nan, s.dt.year * 12.0 + s.dt.month - 1)
            elif not month_start and not pd.api.types.is_datetime64_any_dtype(s):
                try:
                    per = pd.PeriodIndex(pd.to_datetime(s.astype(str), format="mixed"), freq="M")
                except (ValueError, TypeError) as err:
                    raise InputError(
                        f"time column {name!r} is neither integer periods nor month dates and cannot be "
                        f"sorted as time (examples {list(s[:3])}): {err}"
                    ) from err
                out = np.asarray(per.asi8, dtype=float) + _YEAR0
            else:
                if not pd.api.types.is_datetime64_any_dtype(s):
                    if never_allowed and pd.api.types.is_numeric_dtype(s) and not (s.fillna(0) != 0).any():
                        return np.full(len(s), NEVER)
                    raise InputError(
                        f"column '{name}' must hold month dates like the time column (NaT = never "
                        f"treated); got dtype {s.dtype}"
                    )
                if getattr(s.dtype, "tz", None) is not None:
                    s = s.dt.tz_localize(None)
                s = pd.to_datetime(s)
                if month_start:
                    bad = s.notna() & ((s.dt.day != 1) | (s.dt.normalize() != s))
                    if bad.any():
                        raise InputError(
                            f"column '{name}' must hold month-start dates (day 1, midnight); offending "
                            f"values: {_show(pd.unique(s[bad]))}"
                        )
                out = np.where(s.isna(), np.nan, s.dt.year * 12.0 + s.dt.month - 1)
            out = np.asarray(out, dtype=float)
            if np.isnan(out).any():
                if not never_allowed:
                    raise InputError(f"column '{name}' has missing values")
                out[np.isnan(out)] = NEVER
            return out
        vals = pd.to_numeric(s, errors="raise").to_numpy(dtype=float, na_value=np.nan)
        if never_allowed:
            vals = np.where(np.isnan(vals) | (vals == 0), NEVER, vals)
        elif np.isnan(vals).any():
            raise InputError(f"column '{name}' has missing values")
        finite = vals[np.isfinite(vals)]
        whole = np.isclose(finite, np.round(finite))
        if not whole.all():
            raise InputError(
                f"column '{name}' must hold whole-number periods; offending values: {_show(np.unique(finite[~whole]))}"
            )
        codes: np.ndarray = np.where(np.isfinite(vals), np.round(vals), vals)
        return codes

    def decode(self, codes: Any) -> list:
        """Codes back to the user's units (Timestamps for months, ints for numeric)."""
        codes = np.asarray(codes, dtype=float)
        if self.kind == "month":
            return [
                pd.NaT if not np.isfinite(c) else pd.Timestamp(year=int(c) // 12, month=int(c) % 12 + 1, day=1)
                for c in codes
            ]
        return [int(c) if np.isfinite(c) else c for c in codes]

    def label(self, codes: Any) -> Any:
        """Codes as an index: month-start ``DatetimeIndex`` for months, an int array otherwise."""
        idx = np.asarray(codes, dtype=np.int64)
        if self.kind == "month":
            return pd.PeriodIndex.from_ordinals(idx - _YEAR0, freq="M").to_timestamp()
        return idx

    def point(self, value: Any, what: str) -> int:
        """Code of one value given as an argument (``start="2024-04"``, ``start=25``)."""
        if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
            raise InputError(f"{what} is missing; give a period like those in the time column")
        if self.kind == "month":
            if isinstance(value, numbers.Integral) and not isinstance(value, bool):
                raise InputError(f"{what}={value!r} is an integer but the time column holds month dates; give a month")
            try:
                return int(pd.Period(value, freq="M").ordinal) + _YEAR0
            except (ValueError, TypeError) as err:
                raise InputError(f"{what}={value!r} is not a month: {err}") from err
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not float(value).is_integer():
            raise InputError(f"{what}={value!r} must be an integer period like the time column")
        return int(float(value))

    @staticmethod
    def calendar_month(codes: Any) -> np.ndarray:
        """Calendar month (1-12) of month codes."""
        return np.asarray(codes, dtype=np.int64) % 12 + 1

    @property
    def unit_word(self) -> str:
        return "months" if self.kind == "month" else "periods"
