"""Importers: published NHS data (MHSDS monthly statistics, NHS Staff Survey) -> the data contract.

``python -m cocEval import mhsds --out DIR [--crosswalk FILE] PATH...`` and
``python -m cocEval import staff-survey --out DIR PATH...`` write ``restrictive_practice.csv``,
``participation.csv``, ``staff_survey.csv`` and ``import_report.json`` into ``DIR``. Layouts are
recognised from file content; bad input raises one :class:`~cocEval.errors.ImportDataError`
naming the file, line and rule, and nothing is written.

Examples
--------
>>> from cocEval.importers import normalise_name
>>> normalise_name("Lancashire & South Cumbria NHS Foundation Trust")
'LANCASHIRE AND SOUTH CUMBRIA NHS FOUNDATION TRUST'
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from cocEval.errors import ImportDataError

if TYPE_CHECKING:
    from cocEval.importers._common import Cell, derived_id, normalise_name, parse_count, parse_month
    from cocEval.importers.crosswalk import Crosswalk, read_crosswalk
    from cocEval.importers.mhsds import MEASURES, import_mhsds, read_mhsds_file
    from cocEval.importers.staff_survey import import_staff_survey

#: Where each public name lives (imported on first use, see ``__getattr__``).
_HOME = {
    "Cell": "_common",
    "derived_id": "_common",
    "normalise_name": "_common",
    "parse_count": "_common",
    "parse_month": "_common",
    "Crosswalk": "crosswalk",
    "read_crosswalk": "crosswalk",
    "MEASURES": "mhsds",
    "import_mhsds": "mhsds",
    "read_mhsds_file": "mhsds",
    "import_staff_survey": "staff_survey",
}

__all__ = [
    "MEASURES",
    "Cell",
    "Crosswalk",
    "ImportDataError",
    "derived_id",
    "import_mhsds",
    "import_staff_survey",
    "normalise_name",
    "parse_count",
    "parse_month",
    "read_crosswalk",
    "read_mhsds_file",
]


def __getattr__(name: str) -> Any:
    """The importers are imported on first use (PEP 562): they need pandas and the data contract
    (about 0.8 s to import), which the command line, that only lists the import subcommands
    beside the others (``cocEval reports`` among them), does not."""
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"cocEval.importers.{home}"), name)
