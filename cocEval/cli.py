"""Command line: ``python -m cocEval <command>`` (alias ``coc-eval``).

Exit status: 0 success; 1 some report failed (``reports``; the index gives the reasons); 2 bad
input, config or options, or an output folder that cannot be used: one line per broken rule
naming the file, column or option (``-v`` adds the traceback); 130/143 stopped by
SIGINT/SIGTERM. Anything else is a bug and shows its traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from pathlib import Path
from typing import NoReturn, TypeAlias

from cocEval.errors import CocEvalError

log = logging.getLogger("cocEval")

_Subparsers: TypeAlias = "argparse._SubParsersAction[_Parser]"


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors on one line (no usage block) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {self.prog}: {message} (see --help)\n")


def _cmd_synthesise(args: argparse.Namespace) -> int:
    from cocEval.synthetic import SyntheticConfig, write_synthetic

    cfg = SyntheticConfig(seed=args.seed)
    paths = write_synthetic(args.out, cfg)
    for p in paths:
        print(p)
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from cocEval.data import load_programme

    prog = load_programme(args.data, mapping=args.mapping)
    print(prog.describe())
    return 0


def _cmd_reports(args: argparse.Namespace) -> int:
    from cocEval.batch import BatchOptions, run_reports

    opts = BatchOptions(
        output=args.output,
        config=args.config,
        data=args.data,
        providers=BatchOptions.parse_providers(args.providers) if args.providers is not None else None,
        jobs=args.jobs,
        force=args.force,
        programme=not args.no_programme,
        scheduler=args.scheduler,
        wait=args.wait,
        warm_kernels=not args.cold_kernels,
    )
    return run_reports(opts)


# --- import subcommand (importers, issue 13): the code lives in cocEval.importers.cli ---
def _add_import(sub: _Subparsers) -> None:
    from cocEval.importers.cli import add_import_parser

    add_import_parser(sub)


# --- end import subcommand ---


# --- audit (disclosure; issue 11) ------------------------------------------------------------
def _add_audit(sub: _Subparsers) -> None:
    """``python -m cocEval audit REPORT_DIR [--rule RULE]``: list every number in the rendered
    reports that fails the disclosure rule; exit status 1 when there is any."""

    def run(args: argparse.Namespace) -> int:
        from cocEval.audit import audit_dir

        results = audit_dir(args.report_dir, args.rule)
        bad = 0
        for path, found in results.items():
            for f in found:
                print(f"{path.relative_to(args.report_dir)}: {f}")
            bad += bool(found)
        print(f"{len(results)} report(s) audited under the {args.rule} rule; {bad} with findings")
        return 1 if bad else 0

    a = sub.add_parser("audit", help="check rendered reports against the disclosure rule")
    a.add_argument("report_dir", type=Path, help="folder of rendered reports (searched recursively for *.html)")
    a.add_argument("--rule", default="mhsds", help="disclosure rule: mhsds (default), hes, staff-survey or none")
    a.set_defaults(func=run)


# --- end audit ----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser for ``python -m cocEval``.

    Examples
    --------
    >>> args = build_parser().parse_args(["synthesise", "--seed", "7"])
    >>> args.command, args.seed, str(args.out)
    ('synthesise', 7, 'data/synthetic')
    """
    p = _Parser(prog="python -m cocEval", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level; tracebacks with errors")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("synthesise", help="write synthetic programme data with known true effects")
    s.add_argument("--out", type=Path, default=Path("data/synthetic"), help="output folder")
    s.add_argument("--seed", type=int, default=20240401, help="random seed (default: the committed data's)")
    s.set_defaults(func=_cmd_synthesise)

    v = sub.add_parser("validate", help="load and validate a data folder against the data contract")
    v.add_argument("--data", type=Path, default=Path("data/synthetic"))
    v.add_argument("--mapping", type=Path, default=None, help="YAML column mapping for real data (see params/)")
    v.set_defaults(func=_cmd_validate)

    r = sub.add_parser("reports", help="render per-provider and programme reports")
    r.add_argument("--config", type=Path, default=None, help="programme config (default params/programme.yaml)")
    r.add_argument("--data", type=Path, default=None, help="data folder (default: the config's data_dir)")
    r.add_argument("--providers", default=None, help="comma-separated provider ids (default: all participating)")
    r.add_argument("--output", type=Path, default=Path("reports"))
    r.add_argument("--jobs", type=int, default=None, help="reports rendered at once (at least 1; default: CPUs)")
    r.add_argument("--force", action="store_true", help="re-render even when inputs are unchanged")
    r.add_argument("--no-programme", action="store_true", help="render provider reports only")
    r.add_argument("--scheduler", default=None, help="address of an existing Dask distributed scheduler")
    r.add_argument("--wait", action="store_true", help="wait for another batch using --output instead of refusing")
    r.add_argument(
        "--cold-kernels",
        action="store_true",
        help="start every report kernel from scratch (default: fork them from one pre-imported parent per batch)",
    )
    r.set_defaults(func=_cmd_reports)
    _add_import(sub)
    _add_audit(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point. Returns the process exit status.

    Errors cocEval raises on purpose (:mod:`cocEval.errors`) become ``error: <message>`` on
    stderr and their exit status (2); ``-v`` adds the traceback. Other exceptions propagate.

    Examples
    --------
    >>> main(["reports", "--jobs", "0"])
    2
    """
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        status: int = args.func(args)
        return status
    except CocEvalError as exc:
        if args.verbose:
            traceback.print_exc()
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
