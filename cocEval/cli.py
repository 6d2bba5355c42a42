"""Command line: ``python -m cocEval <command>`` (alias ``coc-eval``)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

log = logging.getLogger("cocEval")


def _cmd_synthesise(args: argparse.Namespace) -> int:
    from cocEval.synthetic import SyntheticConfig, write_synthetic

    cfg = SyntheticConfig(seed=args.seed)
    paths = write_synthetic(args.out, cfg)
    for p in paths:
        print(p)
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from cocEval.data import DataValidationError, load_programme

    try:
        prog = load_programme(args.data, mapping=args.mapping)
    except DataValidationError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(prog.describe())
    return 0


def _cmd_reports(args: argparse.Namespace) -> int:
    try:
        from cocEval.batch import run_reports
    except ImportError:
        print("Data validated. Report rendering is not built yet (see the reports issue).")
        return 0
    return run_reports(args)


# --- audit (disclosure; issue 11) ------------------------------------------------------------
def _add_audit(sub) -> None:
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
    """Return the argument parser for ``python -m cocEval``."""
    p = argparse.ArgumentParser(prog="python -m cocEval", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
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
    r.add_argument("--config", type=Path, default=Path("params/programme.yaml"))
    r.add_argument("--data", type=Path, default=None)
    r.add_argument("--providers", default=None, help="comma-separated provider ids (default: all participating)")
    r.add_argument("--output", type=Path, default=Path("reports"))
    r.add_argument("--jobs", type=int, default=None)
    r.add_argument("--force", action="store_true", help="re-render even when inputs are unchanged")
    r.add_argument("--no-programme", action="store_true", help="render provider reports only")
    r.add_argument("--scheduler", default=None, help="address of an existing Dask distributed scheduler")
    r.set_defaults(func=_cmd_reports)
    _add_audit(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point. Returns the process exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return args.func(args)
