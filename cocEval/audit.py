"""Audit rendered reports: list every number that fails the active disclosure rule.

The gate (:mod:`cocEval.report.gate`) writes machine-checkable markers into the HTML it
renders: ``data-disclosure-rule`` on every table and figure, and ``data-disclosure`` on every
table cell holding a count, a rate (with ``data-per``, its scale) or a rate's denominator.
:func:`audit_html` reads them back and checks, cell by cell:

- a count is the marker, empty, or a whole number the rule allows (MHSDS: a multiple of 5 and
  at least 5);
- a rate is shown only when its denominator reaches the rule's minimum, and rate x denominator
  / scale is (within the precision shown) a rounded count the rule allows, i.e. the rate was
  computed from the rounded count and cannot be turned back into the exact one;
- every table passed the gate (a table without ``data-disclosure-rule`` did not), and no part
  was rendered under the ``"none"`` rule when the report is published under a controlled one;
- under ``"none"``, the page carries the not-for-circulation banner.

- prose (text outside tables): a number under the rule's threshold written next to a word for
  something counted ("3 restrictive interventions", "2 respondents") is a finding. Larger
  numbers in prose are not checked for rounding (years, months and ages look the same); sections
  quote counts through :meth:`Gate.count`, and the attacker test (``tests/test_attacker.py``)
  tries the whole text.

The batch calls :func:`audit_report` on each rendered report before publishing it and refuses
the report when the list is not empty; ``python -m cocEval audit REPORT_DIR`` does the same for
a folder.

Examples
--------
>>> html = '<table data-disclosure-rule="mhsds"><thead><tr><th>Month</th><th>Restraints</th></tr></thead>'
>>> html += '<tbody><tr><td>May</td><td data-disclosure="count">3</td></tr>'
>>> html += '<tr><td>June</td><td data-disclosure="count">15</td></tr></tbody></table>'
>>> [(f.number, f.where) for f in audit_html(html, "mhsds")]
[('3', "table 1, row 1, column 'Restraints'")]
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from cocEval.disclosure_rules import NOT_FOR_CIRCULATION, PRESETS, DisclosureRule, get_rule
from cocEval.errors import DisclosureError

__all__ = ["Finding", "assert_publishable", "audit_dir", "audit_html", "audit_report"]


@dataclass(frozen=True)
class Finding:
    """One number that fails the rule: what is shown, where, and why."""

    number: str
    where: str
    why: str

    def __str__(self) -> str:
        return f"{self.where}: {self.number!r} {self.why}"


@dataclass
class _Cell:
    text: str
    role: str | None
    per: float | None


@dataclass
class _Table:
    rule: str | None
    caption: str = ""
    headers: list[str] = field(default_factory=list)
    rows: list[list[_Cell]] = field(default_factory=list)


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[_Table] = []
        self.figures: list[str | None] = []
        self.text: list[str] = []
        self.prose: list[str] = []
        self._skip = 0  # inside <style>/<script>
        self._table: _Table | None = None
        self._row: list[_Cell] | None = None
        self._cell: _Cell | None = None
        self._th: list[str] | None = None
        self._in_caption = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in ("style", "script"):
            self._skip += 1
        if tag == "table":
            self._table = _Table(rule=a.get("data-disclosure-rule"))
            self.tables.append(self._table)
        elif tag == "figure":
            self.figures.append(a.get("data-disclosure-rule"))
        elif self._table is None:
            return
        elif tag == "caption":
            self._in_caption = True
        elif tag == "tr":
            self._row = []
        elif tag == "th":
            self._th = []
        elif tag == "td":
            per = a.get("data-per")
            try:
                per_f = float(per) if per else None
            except ValueError:
                per_f = None
            self._cell = _Cell("", a.get("data-disclosure"), per_f)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script"):
            self._skip = max(0, self._skip - 1)
        if tag == "table":
            self._table = None
        elif self._table is None:
            return
        elif tag == "caption":
            self._in_caption = False
        elif tag == "th" and self._th is not None:
            self._table.headers.append("".join(self._th).strip())
            self._th = None
        elif tag == "td" and self._cell is not None and self._row is not None:
            self._cell.text = self._cell.text.strip()
            self._row.append(self._cell)
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._row:
                self._table.rows.append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        self.text.append(data)
        if self._table is None:
            self.prose.append(data)
            return
        if self._in_caption:
            self._table.caption += data
        elif self._th is not None:
            self._th.append(data)
        elif self._cell is not None:
            self._cell.text += data


_COUNTED = (
    r"restrictive|restraints?|interventions?|seclusions?|segregations?|responses?|respondents?|"
    r"incidents?|patients?|people|episodes?"
)
#: Things a report counts that are not people or events ("3 wards reported restrictive practice"):
#: a number followed by one of these is not a small count of what the rule protects.
_NOT_COUNTED = r"wards?|months?|years?|weeks?|days?|providers?|cohorts?|outcomes?|tests?|models?|stretch(?:es)?"
_PROSE = re.compile(
    rf"(?<![\d.,£$%-])\b(\d+)\b(?![.,]\d)(?!\s+(?:{_NOT_COUNTED})\b)(?:\s+[A-Za-z-]+){{0,2}}?\s+(?:{_COUNTED})\b",
    re.I,
)
_NUM = re.compile(r"^[-+]?[\d,]*\.?\d+%?$")


def _number(text: str) -> float | None:
    t = text.replace("\u2212", "-").replace(" ", "")
    if not _NUM.match(t):
        return None
    return float(t.rstrip("%").replace(",", ""))


def _decimals(text: str) -> int:
    t = text.rstrip("%")
    return len(t.split(".")[1]) if "." in t else 0


def _allowed_count(x: float, r: DisclosureRule) -> str | None:
    if not r.controlled:
        return None
    if x < r.suppress_below and (r.suppress_zero or x != 0):
        return f"is a count under {r.suppress_below} ({r.name} rule: show {r.marker!r})"
    if r.rounding_base > 1 and not math.isclose(x % r.rounding_base, 0, abs_tol=1e-9):
        return f"is a count not rounded to a multiple of {r.rounding_base} ({r.name} rule)"
    return None


def _rule_of(name: str | None, active: DisclosureRule) -> DisclosureRule:
    if name and name in PRESETS:
        return PRESETS[name]
    return active


def audit_html(html_text: str, rule: str | DisclosureRule = "mhsds") -> list[Finding]:
    """Every number in a rendered report that fails ``rule``, with where it is and why.

    Parameters
    ----------
    html_text : str
        A rendered report (or a fragment rendered by :func:`cocEval.report.blocks.to_html`).
    rule : str or DisclosureRule
        The rule the report is to be published under.

    Returns
    -------
    list of Finding
        Empty when the report passes.

    Examples
    --------
    >>> page = '<table data-disclosure-rule="mhsds"><tr><th>Ward</th><th>Restraints</th></tr>'
    >>> page += '<tr><td>A</td><td data-disclosure="count">3</td></tr></table>'
    >>> [f.why for f in audit_html(page)]
    ["is a count under 5 (mhsds rule: show '*')"]
    >>> audit_html(page.replace(">3<", ">*<"))
    []
    """
    active = get_rule(rule)
    reader = _Reader()
    reader.feed(html_text)
    reader.close()
    findings: list[Finding] = []
    if not active.controlled:
        if NOT_FOR_CIRCULATION not in " ".join(reader.text):
            findings.append(
                Finding(
                    "", "page", f"was produced without disclosure control but lacks the banner {NOT_FOR_CIRCULATION!r}"
                )
            )
        return findings
    prose = re.sub(r"\s+", " ", " ".join(reader.prose))
    for m in _PROSE.finditer(prose):
        n = float(m.group(1))
        if n < active.suppress_below and (active.suppress_zero or n != 0):
            where = "text: '..." + prose[max(0, m.start() - 40) : m.end()] + "'"
            findings.append(Finding(m.group(1), where, f"is a count under {active.suppress_below} in prose"))
    for i, name in enumerate(reader.figures, 1):
        if name is not None and name in PRESETS and not PRESETS[name].controlled:
            findings.append(Finding("", f"figure {i}", f"was drawn under the {name!r} rule (no disclosure control)"))
    for ti, t in enumerate(reader.tables, 1):
        where_t = f"table {ti}" + (f" ({t.caption.strip()!r})" if t.caption.strip() else "")
        if t.rule is None:
            findings.append(Finding("", where_t, "did not pass the disclosure gate (no data-disclosure-rule marker)"))
            continue
        r = _rule_of(t.rule, active)
        if not r.controlled:
            findings.append(Finding("", where_t, f"was rendered under the {t.rule!r} rule (no disclosure control)"))
            continue
        for ri, row in enumerate(t.rows, 1):
            den = next((c for c in row if c.role == "denominator"), None)
            den_v = _number(den.text) if den is not None else None
            for ci, c in enumerate(row):
                col = t.headers[ci] if ci < len(t.headers) else str(ci + 1)
                where = f"{where_t}, row {ri}, column {col!r}"
                if c.role is None or c.text in ("", r.marker):
                    continue
                x = _number(c.text)
                if x is None:
                    findings.append(Finding(c.text, where, "is neither a number nor the marker in a checked cell"))
                    continue
                if c.role == "count":
                    why = _allowed_count(x, r)
                    if why:
                        findings.append(Finding(c.text, where, why))
                elif c.role == "rate" and den_v is not None:
                    if r.min_denominator is not None and den_v < r.min_denominator:
                        findings.append(
                            Finding(c.text, where, f"is a rate shown with a denominator under {r.min_denominator:g}")
                        )
                        continue
                    if c.per is None or r.rounding_base <= 1:
                        continue
                    implied = x * den_v / c.per
                    tol = 0.5 * 10 ** (-_decimals(c.text)) * den_v / c.per + 1e-9
                    near = round(implied / r.rounding_base) * r.rounding_base
                    if abs(implied - near) > tol:
                        findings.append(
                            Finding(
                                c.text,
                                where,
                                f"is a rate that gives {implied:.2f} events with its denominator: not computed "
                                "from a rounded count",
                            )
                        )
                    elif r.rate_numerator_rule and implied + tol < r.suppress_below:
                        findings.append(Finding(c.text, where, f"is a rate implying a count under {r.suppress_below}"))
    return findings


def audit_report(html: str | Path, rule: str | DisclosureRule = "mhsds") -> list[Finding]:
    """:func:`audit_html` of a report given as HTML text or as the path of an HTML file.

    This is what the batch calls before publishing a report: publish only when it returns an
    empty list, otherwise mark the report failed with ``"; ".join(map(str, findings))``.

    Examples
    --------
    >>> audit_report("<p>Restraint fell by 12% across 40 wards.</p>")
    []
    """
    if isinstance(html, Path) or ("<" not in html and Path(html).is_file()):
        text = Path(html).read_text(encoding="utf-8")
    else:
        text = html
    return audit_html(text, rule)


def assert_publishable(html: str | Path, rule: str | DisclosureRule = "mhsds") -> None:
    """Raise :class:`~cocEval.errors.DisclosureError` listing the findings, if there are any.

    Examples
    --------
    >>> assert_publishable("<p>2 patients were secluded.</p>")
    Traceback (most recent call last):
    ...
    cocEval.errors.DisclosureError: 1 number(s) fail the mhsds disclosure rule: ...
    """
    found = audit_report(html, rule)
    if found:
        shown = "; ".join(map(str, found[:10])) + (f"; and {len(found) - 10} more" if len(found) > 10 else "")
        raise DisclosureError(f"{len(found)} number(s) fail the {get_rule(rule).name} disclosure rule: {shown}")


def audit_dir(report_dir: str | Path, rule: str | DisclosureRule = "mhsds") -> dict[Path, list[Finding]]:
    """Audit every ``*.html`` file under ``report_dir``; returns ``{path: findings}`` for all.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "a.html").write_text("<p>2 patients were secluded.</p>")
    >>> {p.name: len(found) for p, found in audit_dir(folder).items()}
    {'a.html': 1}
    """
    root = Path(report_dir)
    return {p: audit_report(p, rule) for p in sorted(root.rglob("*.html"))}
