"""Disclosure-control rules: what each named rule suppresses and rounds (:data:`PRESETS`), and
what a page must say about the rule it passed. Applying a rule to tables and numbers is
:mod:`cocEval.disclosure` (which re-exports these names; the sources behind each preset are in
its module notes).

This module imports no pandas or numpy: the batch's workers audit every page against a rule
(:mod:`cocEval.audit`) without paying for them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cocEval.errors import InputError

__all__ = ["DisclosureRule", "NOT_FOR_CIRCULATION", "PRESETS", "banner_text", "get_rule", "index_note"]

#: The banner every page of an uncontrolled (rule ``"none"``) run carries.
NOT_FOR_CIRCULATION = "Not for circulation: no disclosure control applied"


class DisclosureRule(BaseModel):
    """A disclosure-control rule.

    Parameters
    ----------
    name : str
        Shown in messages and written into rendered reports (the audit reads it back).
    suppress_below : int
        Counts strictly under this are suppressed (5 for MHSDS: 0-4; 8 for HES: 1-7).
    suppress_zero : bool
        Whether a zero count is suppressed too (MHSDS here: yes; HES: no).
    rounding_base : int
        Other counts are rounded to the nearest multiple of this (halves up); 1 = no rounding.
    min_denominator : float or None
        A rate or proportion whose denominator is under this is suppressed; None = no rule.
    rate_numerator_rule : bool
        Whether a rate is suppressed when its numerator is small (MHSDS, HES: yes; Staff
        Survey: no, only the number of respondents counts). When true, numerators are treated
        as counts as well (suppressed and rounded).
    controlled : bool
        False only for the ``"none"`` rule: nothing is suppressed or rounded, and reports must
        carry the :data:`NOT_FOR_CIRCULATION` banner.
    marker : str
        What a suppressed cell shows.
    source : str
        Where the rule comes from (one line).

    Examples
    --------
    >>> DisclosureRule(name="strict", suppress_below=10).rounding_base
    5
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = "custom"
    suppress_below: int = Field(5, ge=0)
    suppress_zero: bool = True
    rounding_base: int = Field(5, ge=1)
    min_denominator: float | None = Field(100.0, ge=0)
    rate_numerator_rule: bool = True
    controlled: bool = True
    marker: str = "*"
    source: str = ""


#: Named rules: ``"mhsds"`` (default), ``"staff-survey"``, ``"hes"`` and ``"none"`` (see the module).
PRESETS: dict[str, DisclosureRule] = {
    "mhsds": DisclosureRule(
        name="mhsds",
        source="NHS England MHSDS statistics: 1-4 suppressed, others rounded to the nearest 5; here 0 is suppressed too",
    ),
    "staff-survey": DisclosureRule(
        name="staff-survey",
        suppress_below=11,
        rounding_base=1,
        min_denominator=11,
        rate_numerator_rule=False,
        source="NHS Staff Survey: no results for groups of fewer than 11 responses",
    ),
    "hes": DisclosureRule(
        name="hes",
        suppress_below=8,
        suppress_zero=False,
        min_denominator=None,
        source="NHS Digital HES/ECDS disclosure control (September 2018): 1-7 suppressed, others to the nearest 5",
    ),
    "none": DisclosureRule(
        name="none",
        suppress_below=0,
        suppress_zero=False,
        rounding_base=1,
        min_denominator=None,
        rate_numerator_rule=False,
        controlled=False,
        source="no disclosure control: internal runs only",
    ),
}


def get_rule(rule: str | DisclosureRule = "mhsds", **overrides: Any) -> DisclosureRule:
    """Return a rule by preset name (or pass one through), optionally with fields changed.

    Examples
    --------
    >>> get_rule("hes").suppress_below
    8
    >>> get_rule("mhsds", min_denominator=50).min_denominator
    50.0
    >>> get_rule("staff_survey").name
    'staff-survey'
    """
    if isinstance(rule, DisclosureRule):
        base = rule
    elif isinstance(rule, str) and rule.lower().replace("_", "-") in PRESETS:
        base = PRESETS[rule.lower().replace("_", "-")]
    else:
        raise InputError(f"unknown disclosure rule {rule!r}; use one of {sorted(PRESETS)} or a DisclosureRule")
    # rebuild rather than model_copy(update=...) so that the overrides are validated
    return DisclosureRule(**{**base.model_dump(), **overrides}) if overrides else base


def banner_text(rule: str | DisclosureRule = "mhsds") -> str | None:
    """The banner a report page must carry under ``rule``: :data:`NOT_FOR_CIRCULATION` for an
    uncontrolled rule, else None.

    Examples
    --------
    >>> banner_text("none")
    'Not for circulation: no disclosure control applied'
    >>> banner_text("mhsds") is None
    True
    """
    return None if get_rule(rule).controlled else NOT_FOR_CIRCULATION


def index_note(rule: str | DisclosureRule = "mhsds") -> str:
    """One HTML block for the top of the batch's index page, saying which rule the reports
    passed (or, for ``"none"``, the not-for-circulation banner, prominently).

    Examples
    --------
    >>> "Not for circulation" in index_note("none")
    True
    >>> 'data-disclosure-rule="mhsds"' in index_note("mhsds")
    True
    """
    r = get_rule(rule)
    if not r.controlled:
        return (
            f'<div class="coc-callout coc-banner" role="alert" data-disclosure-rule="{r.name}">'
            f"<strong>{NOT_FOR_CIRCULATION}.</strong> These reports were produced for internal use; "
            "they contain exact small numbers and must not be shared.</div>"
        )
    return (
        f'<p class="coc-note" data-disclosure-rule="{r.name}">Every number in these reports passed '
        f"disclosure control: the {r.name} rule ({r.source}).</p>"
    )
