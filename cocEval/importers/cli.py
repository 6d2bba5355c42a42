"""The ``import`` subcommand (wired into :mod:`cocEval.cli` by :func:`add_import_parser`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cocEval.errors import ImportDataError


def _run(args: argparse.Namespace) -> int:
    from cocEval.importers import import_mhsds, import_staff_survey

    try:
        if args.source == "mhsds":
            log = import_mhsds(args.paths, args.out, crosswalk=args.crosswalk)
            nm = log["name_matching"]
            print(
                f"{args.out}: {log['providers']} providers, {log['provider_months']} provider-months "
                f"({', '.join(log['months'][:1] + log['months'][-1:])}); suppressed cells "
                f"{log['suppressed_cells_by_measure']}; names matched to codes {nm['matched_names']} of {nm['names']}; "
                "see import_report.json"
            )
        else:
            log = import_staff_survey(args.paths, args.out)
            print(
                f"{args.out}: {log['rows_written']} organisation-years, {log['organisations']} organisations, "
                f"years {log['survey_years']}; see import_report.json"
            )
    except ImportDataError as exc:
        print(f"import failed (nothing written): {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


def add_import_parser(sub) -> None:
    """Add ``import mhsds`` and ``import staff-survey`` to the command line's subparsers.

    Examples
    --------
    >>> import argparse
    >>> p = argparse.ArgumentParser(); sub = p.add_subparsers(dest="command")
    >>> add_import_parser(sub)
    >>> p.parse_args(["import", "mhsds", "--out", "x", "a.csv"]).source
    'mhsds'
    """
    imp = sub.add_parser("import", help="import published NHS data (MHSDS, NHS Staff Survey) into the data contract")
    src = imp.add_subparsers(dest="source", required=True)
    m = src.add_parser("mhsds", help="MHSDS monthly statistics (provider x month) -> restrictive_practice.csv")
    m.add_argument("--out", type=Path, required=True, help="output data folder")
    m.add_argument(
        "--crosswalk",
        type=Path,
        default=None,
        help="name -> ODS code: a staff survey organisational results file or a two-column name,code CSV",
    )
    m.add_argument("paths", nargs="+", type=Path, help="files or folders of CSV files")
    m.set_defaults(func=_run)
    s = src.add_parser("staff-survey", help="NHS Staff Survey organisational results -> staff_survey.csv")
    s.add_argument("--out", type=Path, required=True, help="output data folder")
    s.add_argument("paths", nargs="+", type=Path, help="files or folders of CSV files")
    s.set_defaults(func=_run)
