"""Report rendering speed: cocEval's batch against a naive CLI loop and against the floor.

Runs the same N provider reports (default 6) three ways, in one run on this machine:

1. naive: for each provider, the ``papermill`` CLI then the ``jupyter nbconvert`` CLI, one after
   the other (what a script would do);
2. batch: ``python -m cocEval reports --providers ... --force --no-programme`` (parallel workers,
   in-process papermill, one HTML export per report);
3. floor: the same batch machinery running a notebook that only starts a kernel and imports the
   libraries a report needs, so the difference to (2) is the report's own work.

Prints wall times, per-report costs and the ratios naive / batch (goal >= 3) and
batch / floor per report (goal <= 1.5).

Usage: ``python benchmarks/report_speed.py [--n 6] [--jobs 2]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
NOTEBOOK = ROOT / "cocEval" / "notebooks" / "provider_report.ipynb"


def _timed(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def naive(providers: list[str], out: Path) -> None:
    for pid in providers:
        nb = out / f"{pid}.ipynb"
        subprocess.run(
            [
                str(BIN / "papermill"),
                str(NOTEBOOK),
                str(nb),
                "-p",
                "provider_id",
                pid,
                "-k",
                "cocEval",
                "--cwd",
                str(ROOT),
                "--no-progress-bar",
            ],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [str(BIN / "jupyter"), "nbconvert", "--to", "html", "--no-input", str(nb)], check=True, capture_output=True
        )


def batch(providers: list[str], out: Path, jobs: int) -> list[float]:
    """Run the batch CLI; return each report's render time (worker side) from the manifest."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "cocEval",
            "reports",
            "--providers",
            ",".join(providers),
            "--output",
            str(out),
            "--jobs",
            str(jobs),
            "--force",
            "--no-programme",
        ],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    manifest = json.loads((out / "manifest.json").read_text())
    return [manifest["reports"][p]["seconds"] for p in providers]


def floor(providers: list[str], out: Path, jobs: int) -> list[float]:
    """Kernel start plus library imports through the same batch machinery."""
    from cocEval.batch import BatchOptions, run_reports

    nb = nbformat.v4.new_notebook(
        metadata={"kernelspec": {"name": "cocEval", "display_name": "cocEval", "language": "python"}}
    )
    params = nbformat.v4.new_code_cell("provider_id = None\ndata_dir = None\nconfig = None\nsummary_path = None")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [
        params,
        nbformat.v4.new_code_cell("%matplotlib inline\nfrom cocEval.report.provider import ProviderReport"),
    ]
    path = out.parent / "floor.ipynb"
    nbformat.write(nb, path)
    opts = BatchOptions(
        output=out, providers=tuple(providers), jobs=jobs, force=True, programme=False, provider_notebook=path
    )
    if run_reports(opts) != 0:
        raise RuntimeError("floor notebook failed: see the manifest")
    manifest = json.loads((out / "manifest.json").read_text())
    return [manifest["reports"][p]["seconds"] for p in providers]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=6)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    providers = [f"SYN{i:03d}" for i in range(1, args.n + 1)]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for d in ("naive", "batch", "floor"):
            (tmp / d).mkdir()
        t_naive, _ = _timed(lambda: naive(providers, tmp / "naive"))
        t_batch, r_batch = _timed(lambda: batch(providers, tmp / "batch", args.jobs))
        t_floor, r_floor = _timed(lambda: floor(providers, tmp / "floor", args.jobs))
    n = len(providers)
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    print(f"{n} provider reports, {args.jobs} jobs, {os.cpu_count()} cores")
    print(f"{'way':<8}{'wall s':>9}{'wall s/report':>15}{'render s/report':>17}")
    print(f"{'naive':<8}{t_naive:>9.1f}{t_naive / n:>15.2f}{'':>17}")
    print(f"{'batch':<8}{t_batch:>9.1f}{t_batch / n:>15.2f}{mean(r_batch):>17.2f}")
    print(f"{'floor':<8}{t_floor:>9.1f}{t_floor / n:>15.2f}{mean(r_floor):>17.2f}")
    print(f"naive / batch (wall) = {t_naive / t_batch:.2f}x   (goal >= 3)")
    print(
        f"batch / floor per report (render time in the workers) = {mean(r_batch) / mean(r_floor):.2f}x   "
        "(goal <= 1.5; the floor is kernel start + imports + export, through the same machinery)"
    )
    print(f"batch / floor (wall, incl. the CLI's own start-up and validation) = {t_batch / t_floor:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
