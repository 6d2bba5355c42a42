"""Report rendering speed: the batch against a naive CLI loop, against the floor, and in full.

Everything is measured side by side in one run on this machine (ratios, not absolute goals):

1. naive: for each of N providers, the ``papermill`` CLI then the ``jupyter nbconvert`` CLI, one
   after the other (what a script would do);
2. batch: ``python -m cocEval reports`` on the same N providers (warm kernels, the default), and
   the same with ``--cold-kernels``;
3. floor: the same notebook code (build the report, render every section to HTML) in one warm
   Python process, per report: what a report costs with no kernel, no papermill and no export;
4. phases of one provider report: kernel start (cold and warm), imports, data load, model fits,
   sections and figures, HTML export, disclosure audit, write;
5. ``--full``: the whole synthetic programme (every provider plus the programme report) as
   ``make reports`` runs it, with its wall time and the peak memory of the whole process tree.

Goals (issue 16): naive / batch >= 5; per-report cost in the batch (wall x jobs / N) at most
1.3 x the floor; the full programme in <= 60 s.

Usage: ``python benchmarks/report_speed.py [--n 6] [--jobs 2] [--full]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
NOTEBOOK = ROOT / "notebooks" / "provider_report.ipynb"


def _timed(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def naive(providers: list[str], out: Path) -> None:
    for pid in providers:
        nb = out / f"{pid}.ipynb"
        subprocess.run(
            [str(BIN / "papermill"), str(NOTEBOOK), str(nb), "-p", "provider_id", pid, "-k", "coceval"]
            + ["--cwd", str(ROOT), "--no-progress-bar"],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [str(BIN / "jupyter"), "nbconvert", "--to", "html", "--no-input", str(nb)], check=True, capture_output=True
        )


class PeakMemory:
    """Peak resident memory of this process and all its descendants, sampled every 0.2 s."""

    def __init__(self):
        import psutil

        self.proc, self.peak, self._stop = psutil.Process(), 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        import psutil

        while not self._stop.is_set():
            total = 0
            for p in [self.proc, *self.proc.children(recursive=True)]:
                try:
                    total += p.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            self._stop.wait(0.2)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def batch(providers: list[str] | None, out: Path, jobs: int, *, cold: bool = False, programme: bool = False):
    """The batch CLI; returns the manifest."""
    cmd = [sys.executable, "-m", "cocEval", "reports", "--output", str(out), "--jobs", str(jobs), "--force"]
    if providers:
        cmd += ["--providers", ",".join(providers)]
    if not programme:
        cmd.append("--no-programme")
    if cold:
        cmd.append("--cold-kernels")
    subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
    return json.loads((out / "manifest.json").read_text())


def floor(providers: list[str]) -> list[float]:
    """The notebook's own work in one warm process: build the report and render its sections."""
    from cocEval.config import load_inputs
    from cocEval.report.blocks import to_html
    from cocEval.report.provider import ProviderReport

    load_inputs()  # imports and first-use costs paid before timing, as in a warm kernel
    times = []
    for pid in providers:
        t0 = time.perf_counter()
        rep = ProviderReport.build(pid)
        to_html(rep.sections())
        times.append(time.perf_counter() - t0)
    return times


def _kernel_start(cold: bool) -> float:
    """Seconds to start a kernel, run one trivial cell and shut it down (cold or warm)."""
    import nbformat
    import papermill as pm

    from cocEval import batch as b
    from cocEval import zygote

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")])
    nb.metadata["kernelspec"] = {"name": "coceval", "display_name": "Python (cocEval)", "language": "python"}
    with tempfile.TemporaryDirectory(prefix="coc-k-") as tmp:
        path = Path(tmp) / "t.ipynb"
        nbformat.write(nb, path)
        manager = b._kernel_manager_class(tmp, None)
        z = None
        if not cold:
            z = zygote.Zygote(preload=b.WARM_MODULES)
            manager = zygote.zygote_kernel_manager(manager, z)
        try:
            t0 = time.perf_counter()
            pm.execute_notebook(str(path), str(path), kernel_manager_class=manager, progress_bar=False, cwd=tmp)
            return time.perf_counter() - t0
        finally:
            if z is not None:
                z.close()


def phases(pid: str = "SYN001") -> dict[str, float]:
    """Seconds per phase of one provider report."""
    import nbformat

    out: dict[str, float] = {}
    out["kernel start, cold (interpreter + ipykernel)"] = _kernel_start(cold=True)
    out["kernel start, warm (fork from the pre-imported parent)"] = _kernel_start(cold=False)
    code = (
        "import time; t = time.perf_counter(); import pandas, statsmodels.api, matplotlib.pyplot, scipy.stats; "
        "import cocEval.report.provider, cocEval.report.programme; print(time.perf_counter() - t)"
    )
    t = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    out["imports (paid once per worker when warm)"] = float(t.stdout.strip())
    from cocEval.audit import audit_report
    from cocEval.batch import _atomic_write, export_html
    from cocEval.config import _uncache, load_inputs
    from cocEval.report.provider import ProviderReport

    _uncache()
    out["data load and validation (once per worker when warm)"], (cfg, _, _) = _timed(load_inputs)
    out["data load, validation and model fits (ProviderReport.build)"], rep = _timed(lambda: ProviderReport.build(pid))
    t_sec, sections = _timed(rep.sections)
    out["sections and figures"] = t_sec
    cells = [nbformat.v4.new_code_cell(outputs=[]) for _ in sections]
    for c, s in zip(cells, sections, strict=True):
        c.outputs = [nbformat.v4.new_output("display_data", data={"text/html": s._repr_html_()})]
    nb = nbformat.v4.new_notebook(cells=cells)
    out["HTML export (nbconvert)"], html = _timed(lambda: export_html(nb))
    out["disclosure audit"], _ = _timed(lambda: audit_report(html, cfg.disclosure.preset))
    with tempfile.TemporaryDirectory() as tmp:
        out["write"], _ = _timed(lambda: _atomic_write(Path(tmp) / "r.html", html))
    out["page size (KB)"] = len(html.encode()) / 1024
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=6)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--full", action="store_true", help="also render the whole programme (61 reports)")
    args = ap.parse_args()
    providers = [f"SYN{i:03d}" for i in range(1, args.n + 1)]
    n = len(providers)
    print(f"{n} provider reports, {args.jobs} jobs, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "naive").mkdir()
        t_naive, _ = _timed(lambda: naive(providers, tmp / "naive"))
        t_warm, _ = _timed(lambda: batch(providers, tmp / "warm", args.jobs))
        t_cold, _ = _timed(lambda: batch(providers, tmp / "cold", args.jobs, cold=True))
        r_floor = floor(providers)
        ph = phases(providers[0])
        full = None
        if args.full:
            with PeakMemory() as mem:
                t_full, manifest = _timed(lambda: batch(None, tmp / "full", args.jobs, programme=True))
            full = (t_full, mem.peak, manifest)
    floor_mean = sum(r_floor) / n
    per_report = t_warm * args.jobs / n
    print(f"{'way':<34}{'wall s':>9}{'s per report':>14}")
    print(f"{'naive papermill + nbconvert CLIs':<34}{t_naive:>9.1f}{t_naive / n:>14.2f}")
    print(f"{'batch, cold kernels':<34}{t_cold:>9.1f}{t_cold * args.jobs / n:>14.2f}")
    print(f"{'batch, warm kernels (default)':<34}{t_warm:>9.1f}{per_report:>14.2f}")
    print(f"{'floor (warm Python, no kernel)':<34}{sum(r_floor):>9.1f}{floor_mean:>14.2f}")
    print(
        f"naive / batch (wall)          = {t_naive / t_warm:.2f}x   (goal >= 5; cold kernels: {t_naive / t_cold:.2f}x)"
    )
    print(
        f"batch per report / floor      = {per_report / floor_mean:.2f}x   (goal <= 1.3; per-report cost = "
        f"wall x {args.jobs} jobs / {n}, floor = the notebook's code in a warm process)"
    )
    print("\nphases of one provider report (s)")
    for k, v in ph.items():
        print(f"  {k:<56}{v:>8.2f}")
    if full:
        t_full, peak, manifest = full
        reps = manifest["reports"]
        ok = sum(r["status"] == "ok" for r in reps.values())
        prog = reps.get("programme", {}).get("seconds", float("nan"))
        print(
            f"\nfull programme: {ok}/{len(reps)} reports ok in {t_full:.1f} s wall (goal <= 60 s), "
            f"programme report {prog:.1f} s, peak memory {peak / 2**20:.0f} MiB (process tree)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
