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

from cocEval.errors import ImportDataError
from cocEval.importers._common import Cell, derived_id, normalise_name, parse_count, parse_month
from cocEval.importers.crosswalk import Crosswalk, read_crosswalk
from cocEval.importers.mhsds import MEASURES, import_mhsds, read_mhsds_file
from cocEval.importers.staff_survey import import_staff_survey

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
