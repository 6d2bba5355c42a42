"""Organisation name -> ODS code crosswalk (names are the only key in the reduced MHSDS files)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cocEval.errors import ImportDataError
from cocEval.importers._common import derived_id, fail, normalise_name, read_rows

#: Header names (normalised to upper case) of a staff-survey organisational results file.
SURVEY_CODE_COLUMNS = ("ODS CODE", "ORGANISATION CODE", "ORG CODE", "TRUST CODE")
SURVEY_NAME_COLUMNS = ("ORGANISATION NAME", "ORG NAME", "TRUST NAME", "NAME")


@dataclass
class Crosswalk:
    """Normalised name -> code, with the names that were ambiguous (one name, several codes).

    Examples
    --------
    >>> cw = Crosswalk.from_pairs([("East London NHS Foundation Trust", "RWK")])
    >>> cw.lookup("EAST LONDON NHS FOUNDATION TRUST")
    'RWK'
    >>> cw.lookup("Nowhere Trust") is None
    True
    """

    codes: dict[str, str] = field(default_factory=dict)
    ambiguous: dict[str, list[str]] = field(default_factory=dict)
    source: str = ""

    @classmethod
    def from_pairs(cls, pairs, source: str = "") -> Crosswalk:
        """Build from (name, code) pairs; a name with two different codes is ambiguous (not used)."""
        seen: dict[str, set[str]] = {}
        for name, code in pairs:
            if not name or not code:
                continue
            seen.setdefault(normalise_name(name), set()).add(code.strip())
        codes = {k: next(iter(v)) for k, v in seen.items() if len(v) == 1}
        ambiguous = {k: sorted(v) for k, v in seen.items() if len(v) > 1}
        return cls(codes=codes, ambiguous=ambiguous, source=source)

    def lookup(self, name: str) -> str | None:
        """Code for a name after normalisation, or None."""
        return self.codes.get(normalise_name(name))


def read_crosswalk(path: str | Path) -> Crosswalk:
    """Read a crosswalk: a staff-survey organisational results file or a two-column name,code CSV.

    The kind is recognised from the header: a survey file has an ODS code column and an
    organisation name column (any other columns are ignored); otherwise the file must have
    exactly two columns, name then code (a header row ``name,code`` is optional).

    Raises
    ------
    ImportDataError
        When the file is neither.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "cw.csv"
    >>> _ = p.write_text("name,code\\nSheffield Health & Social Care NHS FT,TAH\\n")
    >>> read_crosswalk(p).lookup("SHEFFIELD HEALTH AND SOCIAL CARE NHS FT")
    'TAH'
    """
    path = Path(path)
    rows = read_rows(path)
    if not rows:
        raise fail(path, None, "crosswalk has rows", "the file is empty")
    header = [h.upper() for h in rows[0][1]]
    code_col = next((header.index(c) for c in SURVEY_CODE_COLUMNS if c in header), None)
    name_col = next((header.index(c) for c in SURVEY_NAME_COLUMNS if c in header), None)
    if code_col is not None and name_col is not None and len(header) > 2:
        pairs = [(f[name_col], f[code_col]) for _, f in rows[1:] if len(f) > max(code_col, name_col)]
        return Crosswalk.from_pairs(pairs, source=f"{path.name} (staff survey organisations)")
    if all(len(f) == 2 for _, f in rows):
        body = rows[1:] if header in (["NAME", "CODE"], ["PROVIDER_NAME", "PROVIDER_ID"]) else rows
        return Crosswalk.from_pairs([(f[0], f[1]) for _, f in body], source=f"{path.name} (name,code)")
    bad = next((ln for ln, f in rows if len(f) != 2), rows[0][0])
    raise ImportDataError(
        f"{path.name}, line {bad}: rule 'crosswalk layout' broken: expected a staff survey organisational "
        "results file (columns 'ODS code' and 'Organisation name') or a two-column name,code CSV"
    )


def assign_ids(names: list[str], crosswalk: Crosswalk | None) -> tuple[dict[str, str], dict]:
    """Provider id for every raw name, and the matching log.

    A name the crosswalk knows gets its code; any other keeps a stable id derived from its
    normalised name (:func:`~cocEval.importers._common.derived_id`). Raw spellings that share an
    id are reported as merges.

    Examples
    --------
    >>> ids, log = assign_ids(["A & B TRUST", "A AND B TRUST", "C LTD"], Crosswalk.from_pairs([("A and B Trust", "R1")]))
    >>> ids["A & B TRUST"], ids["A AND B TRUST"], log["matched_names"], log["unmatched_names"]
    ('R1', 'R1', 2, 1)
    """
    ids: dict[str, str] = {}
    matched, unmatched = [], []
    for name in sorted(set(names)):
        code = crosswalk.lookup(name) if crosswalk else None
        if code:
            ids[name] = code
            matched.append({"name": name, "provider_id": code})
        else:
            ids[name] = derived_id(name)
            unmatched.append({"name": name, "provider_id": ids[name]})
    by_id: dict[str, list[str]] = {}
    for name, pid in ids.items():
        by_id.setdefault(pid, []).append(name)
    merges = [{"provider_id": k, "names": sorted(v)} for k, v in sorted(by_id.items()) if len(v) > 1]
    ambiguous = []
    if crosswalk:
        ambiguous = [
            {"name": n, "codes": crosswalk.ambiguous[normalise_name(n)]}
            for n in sorted(set(names))
            if normalise_name(n) in crosswalk.ambiguous
        ]
    log = {
        "crosswalk": crosswalk.source if crosswalk else None,
        "names": len(ids),
        "matched_names": len(matched),
        "unmatched_names": len(unmatched),
        "providers": len(by_id),
        "matched": matched,
        "unmatched": unmatched,
        "merges": merges,
        "ambiguous_in_crosswalk": ambiguous,
    }
    return ids, log
