"""Test helper: a reader who tries to recover a provider's exact small counts from a report.

Given everything a rendered report exposes (its HTML text and tables, and the data behind each
chart, ``Figure.data``) and the exact counts of one provider (:mod:`tinycount`), :func:`attack`
tries, for every month and outcome whose exact count is 1-4:

- **reading**: a table column or chart series that reproduces the exact monthly counts;
- **rounding back**: a shown count is read as the interval the rule's rounding allows (a shown
  5 under MHSDS is 5-7, because 3 and 4 would have been suppressed);
- **rate x denominator**: every shown rate or share times the provider's exact occupied bed
  days or responses that month (a reader who knows them), at every usual scale;
- **subtraction**: in every table row and column and every chart row, each shown count taken
  as the total of any subset of the others containing exactly one suppressed cell, with
  interval arithmetic on the rounded values; a suppressed cell pinned to a single value 1-4
  is recovered;
- **prose**: a number 1-4 written beside a word for something counted.

It returns one line per recovery; the attacker fails when the list is empty.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cocEval.audit import _Reader
from cocEval.disclosure import DisclosureRule, get_rule

PERS = (1.0, 100.0, 1000.0, 10000.0, 100000.0)
COUNT_WORDS = (
    r"restrictive|restraints?|interventions?|seclusions?|segregations?|responses?|respondents?|events?|"
    r"incidents?|people|patients?|staff|times|episodes?"
)
PROSE = re.compile(rf"(?<![\d.,£$%-])\b([1-4])\b(?![.,]\d)(?:\s+\w+){{0,2}}?\s+(?:{COUNT_WORDS})\b", re.I)


@dataclass
class Shown:
    """A shown value as an interval of what the exact value can be (None = suppressed)."""

    lo: float
    hi: float


def _month(text: str) -> pd.Timestamp | None:
    t = text.strip()
    if not re.search(r"(19|20)\d\d", t) or len(t) > 20:
        return None
    try:
        ts = pd.to_datetime(t, format="mixed")
    except (ValueError, TypeError):
        return None
    return pd.Timestamp(ts.year, ts.month, 1)


def _num(text: str) -> float | None:
    t = text.strip().replace(",", "").replace("\u2212", "-").rstrip("%")
    try:
        return float(t)
    except ValueError:
        return None


def _decimals(text: str) -> int:
    t = text.strip().rstrip("%")
    return len(t.split(".")[1]) if "." in t else 0


def _interval(v: float, rule: DisclosureRule, rounded: bool) -> Shown:
    if not rounded or not rule.controlled or rule.rounding_base <= 1:
        return Shown(v, v)
    h = rule.rounding_base / 2
    lo = v - h
    if v >= rule.suppress_below:
        lo = max(lo, rule.suppress_below)  # smaller values would have been suppressed
    return Shown(lo, v + h - 1e-9)


def _pins(cells: list[Shown | None], rule: DisclosureRule, where: str, total: int | None = None) -> list[str]:
    """Subtraction with intervals: each shown cell as the total of any subset of the others
    (a reader who does not know the table's structure), or, with ``total``, that cell as the
    total of all the others (one who does)."""
    out = []
    lo_marker = 0.0 if (rule.suppress_zero or not rule.controlled) else 1.0
    idx = list(range(len(cells)))
    if len(cells) > 12 and total is None:
        return out
    for t in idx if total is None else [total]:
        if cells[t] is None:
            continue
        others = [i for i in idx if i != t]
        sizes = range(1, len(others) + 1) if total is None else [len(others)]
        for k in sizes:
            for sub in itertools.combinations(others, k):
                markers = [i for i in sub if cells[i] is None]
                if len(markers) != 1:
                    continue
                parts = [cells[i] for i in sub if cells[i] is not None]
                lo = cells[t].lo - sum(p.hi for p in parts)
                hi = cells[t].hi - sum(p.lo for p in parts)
                lo, hi = max(lo, lo_marker), hi
                ints = [x for x in range(math.ceil(lo - 1e-9), math.floor(hi + 1e-9) + 1)]
                if len(ints) == 1 and 1 <= ints[0] <= 4:
                    out.append(f"subtraction: {where}: cell {markers[0]} = {ints[0]} (total cell {t}, parts {sub})")
    return out


def _secret_table(tiny) -> pd.DataFrame:
    return tiny.counts.pivot(index="month", columns="outcome", values="count")


def _read_series(values: dict[pd.Timestamp, float], secret: pd.DataFrame, where: str) -> list[str]:
    out = []
    small = secret.where((secret >= 1) & (secret <= 4))
    for o in small.columns:
        s = small[o].dropna()
        months = [m for m in s.index if m in values and values[m] is not None and not np.isnan(values[m])]
        hits = [m for m in months if abs(values[m] - s[m]) < 1e-9]
        if len(hits) >= 2 and len(hits) >= 0.5 * max(len(months), 1):
            out.append(f"reading: {where} reproduces {o} in {len(hits)} months with counts 1-4")
    return out


def _rates(values: dict[pd.Timestamp, float], tiny, secret: pd.DataFrame, where: str, decimals: dict | None) -> list:
    out = []
    den = tiny.denominators.set_index("month")
    for m, v in values.items():
        if v is None or np.isnan(v) or m not in den.index or m not in secret.index:
            continue
        small = {o: c for o, c in secret.loc[m].items() if 1 <= c <= 4}
        if not small:
            continue
        for dname in den.columns:
            d = den.loc[m, dname]
            if not d or np.isnan(d):
                continue
            for per in PERS:
                implied = v * d / per
                tol = (0.5 * 10 ** (-decimals[m]) * d / per) if decimals else 1e-6
                ints = list(range(math.ceil(implied - tol - 1e-9), math.floor(implied + tol + 1e-9) + 1))
                if len(ints) == 1 and ints[0] in small.values():
                    who = [o for o, c in small.items() if c == ints[0]]
                    out.append(f"rate x {dname}/{per:g}: {where}, {m:%Y-%m} gives {ints[0]} ({', '.join(who)})")
    return out


def attack_frame(df: pd.DataFrame, tiny, rule, where: str) -> list[str]:
    """Every attack on one chart's data (or a table's disclosed frame)."""
    rule = get_rule(rule)
    secret = _secret_table(tiny)
    out: list[str] = []
    mcol = next((c for c in df.columns if pd.api.types.is_datetime64_any_dtype(df[c])), None)
    numeric = [c for c in df.columns if c != mcol and pd.api.types.is_numeric_dtype(df[c]) and df[c].dtype != bool]
    if mcol is not None:
        months = pd.to_datetime(df[mcol]).dt.to_period("M").dt.to_timestamp()
        for c in numeric:
            values = {m: (float(v) if pd.notna(v) else np.nan) for m, v in zip(months, df[c], strict=True)}
            out += _read_series(values, secret, f"{where} column {c!r}")
            if not df[c].dropna().map(lambda v: float(v).is_integer()).all():  # counts are read, not divided
                out += _rates(values, tiny, secret, f"{where} column {c!r}", None)
    counts = [c for c in numeric if df[c].dropna().map(lambda v: float(v).is_integer()).all() and df[c].notna().any()]
    for i, row in df.iterrows():
        cells = [None if pd.isna(row[c]) else _interval(float(row[c]), rule, True) for c in counts]
        if any(x is None for x in cells):
            out += _pins(cells, rule, f"{where} row {i}")
    return out


def attack_html(html: str, tiny, rule, where: str = "report") -> list[str]:
    """Every attack on a rendered page: its tables (as shown) and its prose."""
    rule = get_rule(rule)
    secret = _secret_table(tiny)
    reader = _Reader()
    reader.feed(html)
    reader.close()
    out: list[str] = []
    for ti, t in enumerate(reader.tables, 1):
        tw = f"{where} table {ti}"
        rows = t.rows
        if not rows:
            continue
        width = max(len(r) for r in rows)
        grid = [[(r[j] if j < len(r) else None) for j in range(width)] for r in rows]
        mcol = next(
            (j for j in range(width) if sum(_month(c.text) is not None for c in (r[j] for r in grid) if c) >= 2), None
        )
        for j in range(width):
            if j == mcol:
                continue
            col = [r[j] for r in grid]
            if mcol is not None:
                values, dec, rates = {}, {}, {}
                for r, c in zip(grid, col, strict=True):
                    m = _month(r[mcol].text) if r[mcol] else None
                    if m is not None and c is not None:
                        values[m] = _num(c.text) if _num(c.text) is not None else np.nan
                        dec[m] = _decimals(c.text)
                        if "." in c.text or "%" in c.text:  # a rate or share is written with decimals
                            rates[m] = values[m]
                out += _read_series(values, secret, f"{tw} column {j}")
                out += _rates(rates, tiny, secret, f"{tw} column {j}", dec)

        def cell(c):
            if c is None or c.role not in (None, "count"):
                return "skip"
            if c.text.strip() == rule.marker:
                return None
            v = _num(c.text)
            if v is None or not float(v).is_integer() or (c.role is None and _month(c.text)):
                return "skip"
            return _interval(v, rule, c.role == "count")

        for i, r in enumerate(grid):
            cells = [x for x in map(cell, r) if x != "skip"]
            if any(x is None for x in cells):
                out += _pins(cells, rule, f"{tw} row {i + 1}")
        for j in range(width):
            cells = [x for x in (cell(r[j]) for r in grid) if x != "skip"]
            if any(x is None for x in cells):
                out += _pins(cells, rule, f"{tw} column {j}")
    text = re.sub(r"\s+", " ", " ".join(reader.text))
    for m in PROSE.finditer(text):
        out.append(f"prose: {where}: {text[max(0, m.start() - 60) : m.end() + 20]!r}")
    return out


def attack(html_pages: list[str], frames: list[pd.DataFrame], tiny, rule="mhsds") -> list[str]:
    """All attacks on everything a report exposes; empty when the attacker fails."""
    out: list[str] = []
    for i, h in enumerate(html_pages):
        out += attack_html(h, tiny, rule, f"page {i + 1}")
    for i, f in enumerate(frames):
        out += attack_frame(f, tiny, rule, f"chart data {i + 1}")
    return out
