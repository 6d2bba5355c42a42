"""Shared pieces of the importers: reading CSV text, dates, values, bounds, atomic output."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from cocEval.errors import ImportDataError

#: Marker of a suppressed cell in NHS England publications.
SUPPRESSION_MARKERS = frozenset({"*"})

#: Counts below this are suppressed in MHSDS publications.
SUPPRESSION_THRESHOLD = 5

#: Half-width of the interval a value rounded to the nearest 5 stands for.
ROUNDING_HALF_WIDTH = 2


def fail(file: str | Path, line: int | None, rule: str, detail: str) -> ImportDataError:
    """Build the one error an importer raises: file, line, rule and what was found.

    Examples
    --------
    >>> print(fail("a.csv", 3, "month is a date", "'13/13/2021' is not a date"))
    a.csv, line 3: rule 'month is a date' broken: '13/13/2021' is not a date
    """
    where = f"{Path(file).name}, line {line}" if line is not None else f"{Path(file).name}"
    return ImportDataError(f"{where}: rule '{rule}' broken: {detail}")


def read_rows(path: Path) -> list[tuple[int, list[str]]]:
    """Read a CSV file as (line number, fields) pairs, skipping blank lines.

    UTF-8 (with or without BOM) is tried first, then cp1252 (what analysts read NHS files as).
    Fields are stripped of surrounding spaces.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.csv"
    >>> _ = p.write_bytes(b'a, b\\n\\n"c, d",e\\n')
    >>> read_rows(p)
    [(1, ['a', 'b']), (3, ['c, d', 'e'])]
    """
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")
    out = []
    reader = csv.reader(io.StringIO(text, newline=""))
    for fields in reader:
        if not any(f.strip() for f in fields):
            continue
        out.append((reader.line_num, [f.strip() for f in fields]))
    return out


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes (recorded in the import log)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


_DATE_PATTERNS: tuple[tuple[re.Pattern, Callable[[re.Match], tuple[int, int, int]]], ...] = (
    (re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]00:00(?::00)?)?$"), lambda m: (int(m[1]), int(m[2]), int(m[3]))),
    (
        re.compile(r"^(\d{1,2})[/-](\d{1,2})[/-](\d{4})(?: 00:00(?::00)?)?$"),
        lambda m: (int(m[3]), int(m[2]), int(m[1])),
    ),
    (re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{2})$"), lambda m: (2000 + int(m[3]), int(m[2]), int(m[1]))),
)


def parse_month(text: str, *, file: str | Path, line: int, first_day: bool = True) -> str:
    """Month ``YYYY-MM`` of a reporting-period date in any format NHS files have used.

    Accepted: ``yyyy-mm-dd``, ``dd/mm/yyyy``, ``dd-mm-yyyy``, ``dd/mm/yy`` (UK day-first). A
    reporting period *start* must be the first day of a month, which also catches US-style
    month-first dates.

    Raises
    ------
    ImportDataError
        Naming the file, line and rule when the text is not such a date.

    Examples
    --------
    >>> parse_month("01/09/2021", file="f.csv", line=1), parse_month("2022-02-01", file="f.csv", line=2)
    ('2021-09', '2022-02')
    >>> parse_month("09/01/2021", file="f.csv", line=5)
    Traceback (most recent call last):
    ...
    cocEval.errors.ImportDataError: f.csv, line 5: rule 'reporting period start is the first day of a month' broken: '09/01/2021' is day 9
    """
    t = text.strip()
    for pattern, parts in _DATE_PATTERNS:
        m = pattern.match(t)
        if m:
            y, mo, d = parts(m)
            if not (1 <= mo <= 12 and 1 <= d <= 31 and 1900 <= y <= 2200):
                break
            if first_day and d != 1:
                raise fail(file, line, "reporting period start is the first day of a month", f"{text!r} is day {d}")
            return f"{y:04d}-{mo:02d}"
    raise fail(
        file, line, "date as dd/mm/yyyy, yyyy-mm-dd, dd-mm-yyyy or dd/mm/yy", f"{text!r} is not a date in those formats"
    )


@dataclass(frozen=True)
class Cell:
    """One published count as an interval.

    ``value`` is the published number (None when suppressed); ``lower``/``upper`` bound the true
    count. ``kind`` is ``"exact"``, ``"rounded"`` or ``"suppressed"``.
    """

    value: int | None
    lower: int
    upper: int
    kind: str

    def __add__(self, other: Cell) -> Cell:
        value = None if self.value is None or other.value is None else self.value + other.value
        kinds = {self.kind, other.kind}
        kind = "suppressed" if "suppressed" in kinds else "rounded" if "rounded" in kinds else "exact"
        if kind == "suppressed" and value is not None:  # pragma: no cover - value None when suppressed
            value = None
        return Cell(value, self.lower + other.lower, self.upper + other.upper, kind)


_INT_RE = re.compile(r"^(\d{1,3}(?:,\d{3})+|\d+)(?:\.0+)?$")


def parse_count(
    text: str,
    *,
    file: str | Path,
    line: int,
    rounded_to: int = 5,
    suppressed_lower: int = 0,
) -> Cell:
    """A published count as a :class:`Cell` (interval).

    ``*`` is suppressed: the true count lies in ``suppressed_lower``..4. A multiple of
    ``rounded_to`` is taken as rounded to the nearest 5: true count within +/-2, and never below
    the suppression threshold 5 (values under 5 are suppressed, not rounded). Any other whole
    number is exact.

    Raises
    ------
    ImportDataError
        When the text is neither a whole number nor a suppression marker.

    Examples
    --------
    >>> parse_count("*", file="f", line=1)
    Cell(value=None, lower=0, upper=4, kind='suppressed')
    >>> parse_count("5", file="f", line=1), parse_count("1,235", file="f", line=1)
    (Cell(value=5, lower=5, upper=7, kind='rounded'), Cell(value=1235, lower=1233, upper=1237, kind='rounded'))
    >>> parse_count("747923", file="f", line=1)
    Cell(value=747923, lower=747923, upper=747923, kind='exact')
    """
    t = text.strip()
    if t in SUPPRESSION_MARKERS:
        return Cell(None, suppressed_lower, SUPPRESSION_THRESHOLD - 1, "suppressed")
    m = _INT_RE.match(t)
    if not m:
        raise fail(file, line, "value is a whole number or a suppression marker (*)", f"{text!r} is neither")
    v = int(m[1].replace(",", ""))
    if rounded_to and v > 0 and v % rounded_to == 0:
        return Cell(v, max(v - ROUNDING_HALF_WIDTH, SUPPRESSION_THRESHOLD), v + ROUNDING_HALF_WIDTH, "rounded")
    return Cell(v, v, v, "exact")


def normalise_name(name: str) -> str:
    """Key for matching organisation names across files and sources.

    Upper case; ``&`` -> ``AND``; ``LTD`` -> ``LIMITED``; ``CO`` -> ``COMPANY``; punctuation
    (apostrophes, full stops, commas, hyphens, brackets) removed or turned into spaces; runs of
    spaces collapsed.

    Examples
    --------
    >>> normalise_name("Sheffield Health & Social Care NHS Foundation Trust")
    'SHEFFIELD HEALTH AND SOCIAL CARE NHS FOUNDATION TRUST'
    >>> normalise_name("St Andrew's Healthcare") == normalise_name("ST ANDREWS HEALTHCARE")
    True
    >>> normalise_name("Newbridge Care Systems Ltd.")
    'NEWBRIDGE CARE SYSTEMS LIMITED'
    """
    s = name.upper().replace("&", " AND ")
    s = re.sub(r"['\u2019`]", "", s)
    s = re.sub(r"[^A-Z0-9]+", " ", s)
    s = re.sub(r"\bLTD\b", "LIMITED", s)
    s = re.sub(r"\bCO\b", "COMPANY", s)
    return " ".join(s.split())


def derived_id(name: str, prefix: str = "N") -> str:
    """Stable id for an organisation known only by name: a hash of its normalised name.

    Examples
    --------
    >>> derived_id("Ellern Mede") == derived_id("ELLERN  MEDE")
    True
    >>> derived_id("Ellern Mede")[:2]
    'N-'
    """
    return f"{prefix}-" + hashlib.sha1(normalise_name(name).encode()).hexdigest()[:8].upper()


def expand_paths(paths: Iterable[str | Path], pattern: str = "*.csv") -> list[Path]:
    """Files given directly, plus the matching files inside given folders (sorted by name)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob(pattern) if q.is_file()))
        elif p.is_file():
            out.append(p)
        else:
            raise ImportDataError(f"{p}: rule 'input exists' broken: no such file or folder")
    if not out:
        raise ImportDataError("rule 'at least one input file' broken: no CSV files found in the given paths")
    return out


def write_atomically(out: Path, files: dict[str, Callable[[Path], None]]) -> list[Path]:
    """Write files into ``out`` all or nothing.

    Every writer runs into a temporary folder inside ``out``'s parent; only when all succeed are
    the files moved into ``out`` (created if needed). A failure leaves ``out`` untouched.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.import-", dir=out.parent))
    try:
        for name, writer in files.items():
            writer(tmp / name)
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for name in files:
            (tmp / name).replace(out / name)
            written.append(out / name)
        return written
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def merge_report(out: Path, key: str, report: dict) -> Callable[[Path], None]:
    """Writer for ``import_report.json`` that keeps other importers' sections already in ``out``."""

    def write(target: Path) -> None:
        existing = {}
        prev = Path(out) / "import_report.json"
        if prev.is_file():
            try:
                existing = json.loads(prev.read_text())
            except json.JSONDecodeError:
                existing = {}
        existing[key] = report
        target.write_text(json.dumps(existing, indent=2, sort_keys=False) + "\n")

    return write


def merge_participation(out: Path, new: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Participation template: rows already in ``out/participation.csv`` (perhaps filled in by the
    user) are kept unchanged; providers not yet listed are appended with empty cohort and dates.

    Returns the merged frame and how many rows came from the existing file.
    """
    prev = Path(out) / "participation.csv"
    if not prev.is_file():
        return new, 0
    old = pd.read_csv(prev, dtype="string", keep_default_na=False, na_values=[""])
    if "provider_id" not in old.columns:
        raise fail(prev, 1, "existing participation.csv has a provider_id column", f"columns: {list(old.columns)}")
    add = new[~new["provider_id"].isin(set(old["provider_id"]))]
    return pd.concat([old, add], ignore_index=True), len(old)
