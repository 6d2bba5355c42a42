"""Report rendering speed: the batch against a naive CLI loop, against the floor, and in full.

Everything is measured side by side in one run on this machine (ratios, not absolute goals):

1. naive: for each of N providers, the ``papermill`` CLI then the ``jupyter nbconvert`` CLI, one
   after the other (what a script would do); it and the warm batch run in alternation
   ``--repeat`` times, and the table shows the median of each (the ratio printed is the median
   of the pairs' ratios, with every pair's ratio beside it), since the machine's speed drifts
   between one run and the next;
2. batch: ``python -m cocEval reports`` on the same N providers (warm kernels, the default), and
   the same with ``--cold-kernels``; wall time, and the CPU time of the whole process tree
   (workers, the warm-kernel parent and kernels are all waited for, so ``getrusage`` counts them);
3. floor: the same notebook code (build the report, render every section to HTML) in one warm
   Python process that has imported the libraries and loaded the data once (as the batch's
   warm-kernel parent does), per report: what a report costs with no kernel, papermill or export;
4. phases of one provider report, CPU and wall seconds: kernel start (cold and warm), imports,
   data load, model fits, figures (drawing and PNG), the rest of the sections (words, tables,
   chart set-up), HTML export, disclosure audit, write; and the page size;
5. ``--full``: the whole synthetic programme (every provider plus the programme report) as
   ``make reports`` runs it, ``--full-repeat`` times (3), with the wall and CPU time of the
   fastest run and every run's wall time: as with ``timeit``, the fastest run is the code's own
   time and a slower one is other load on the machine; then once more for the peak memory of
   the process tree (sampling every process's memory five times a second costs the batch CPU
   time, so the timed runs are not sampled). The per-report goal is also checked at this scale:
   the fastest run's wall time x jobs against the floors of all its reports (the programme
   report's floor is its code in this process, given every provider's effects from that run).

This machine's speed varies: the report code's CPU time (the floor) has been seen to double
within a day, while a tight pure-Python loop barely changed (the slowdown is in memory-heavy
code, as if other tenants of the host were filling its caches), so a loop is no yardstick. The
floor, measured in the same run, is: the full programme's wall time is also printed scaled to a
floor of :data:`REFERENCE_FLOOR` (the floor on a quiet day here), assuming both scale alike.

Goals (issue 16): naive / batch >= 5; per-report cost in the batch (wall x jobs / N) at most
1.3 x the floor; the full programme in <= 60 s. CPU ratios are printed beside the wall ones: on
a shared machine they are the steadier measure.

Usage: ``python benchmarks/report_speed.py [--n 6] [--jobs 2] [--repeat 3] [--full [--full-repeat 3]]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
NOTEBOOK = ROOT / "notebooks" / "provider_report.ipynb"

#: The floor (CPU seconds per provider report, in a warm process) on a quiet day on this kind
#: of machine. It measures the report code as well as the machine, so it must be measured again
#: whenever the report code's CPU time changes: 1.2 s until 2026-12-07 (the median of that
#: day's readings, 1.57, 1.20, 1.14 and 1.24 s); 1.1 s since whole-programme results are computed
#: once per batch (that evening's readings: 1.12 s here, and 1.07 to 1.22 s from the same code
#: in a plain loop over 20 providers).
REFERENCE_FLOOR = 1.1


def _children_cpu() -> float:
    """CPU seconds of this process's finished (waited-for) descendants so far."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _tree(fn) -> tuple[float, float, object]:
    """``(wall, cpu, result)`` of ``fn``, which runs subprocesses: CPU of the whole process tree."""
    c0, t0 = _children_cpu(), time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, _children_cpu() - c0, out


def _both(fn) -> tuple[float, float, object]:
    """``(cpu, wall, result)`` of ``fn`` run in this process."""
    c0, t0 = time.process_time(), time.perf_counter()
    out = fn()
    return time.process_time() - c0, time.perf_counter() - t0, out


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
    """Peak memory of this process and all its descendants, sampled every 0.2 s: the sum of
    resident sizes (``peak``; counts pages that forked kernels share with their parent once per
    process) and the sum of proportional set sizes (``peak_pss``; shared pages split between
    the processes sharing them: the memory the tree really holds)."""

    def __init__(self):
        import psutil

        self.proc, self.peak, self.peak_pss, self._stop = psutil.Process(), 0, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        import psutil

        while not self._stop.is_set():
            rss = pss = 0
            for p in [self.proc, *self.proc.children(recursive=True)]:
                try:
                    m = p.memory_full_info()
                    rss, pss = rss + m.rss, pss + getattr(m, "pss", m.rss)
                except psutil.Error:
                    pass
            self.peak, self.peak_pss = max(self.peak, rss), max(self.peak_pss, pss)
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


def floor(providers: list[str]) -> list[tuple[float, float]]:
    """The notebook's own work in one warm process: build the report and render its sections.

    Imports, the data and first-use costs are paid before timing (the data cache is on, as in
    the batch's warm-kernel parent). Returns ``(cpu, wall)`` per report.
    """
    from cocEval.config import preload_inputs
    from cocEval.report.blocks import to_html
    from cocEval.report.provider import ProviderReport

    preload_inputs()
    ProviderReport.build(providers[-1]).sections()  # first-use costs, as a warm-kernel parent pays them
    times = []
    for pid in providers:
        cpu, wall, _ = _both(lambda pid=pid: to_html(ProviderReport.build(pid).sections()))
        times.append((cpu, wall))
    return times


def programme_floor(manifest: dict) -> float:
    """CPU seconds of the programme report's code in this warm process, given every provider's
    pooled effects from a full run's manifest (as the batch hands them over), so nothing is
    refitted: the least it can cost. Run twice, the second timed (the first pays imports and
    first-use costs, as the batch's warm parent pays them for its kernels)."""
    from cocEval.report.blocks import to_html
    from cocEval.report.programme import ProgrammeReport

    effects: dict = {}
    for name, r in manifest["reports"].items():
        if name != "programme":
            effects.update(r.get("effects") or {})
    to_html(ProgrammeReport.build(provider_effects=effects).sections())
    cpu, _, _ = _both(lambda: to_html(ProgrammeReport.build(provider_effects=effects).sections()))
    return cpu


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
        if not cold:  # the batch's own warm parent (a fresh interpreter)
            z = zygote.ZygoteServer(preload=b.WARM_MODULES)
            z.warm(None)
            manager = zygote.zygote_kernel_manager(manager, zygote.ZygoteClient(**z.address()))
        try:
            if z is not None:  # the parent imports in the background: time a kernel once it is ready
                pm.execute_notebook(str(path), str(path), kernel_manager_class=manager, progress_bar=False, cwd=tmp)
            t0 = time.perf_counter()
            pm.execute_notebook(str(path), str(path), kernel_manager_class=manager, progress_bar=False, cwd=tmp)
            return time.perf_counter() - t0
        finally:
            if z is not None:
                z.close()


def phases(pid: str = "SYN001") -> dict[str, tuple[float | None, float]]:
    """``(cpu, wall)`` seconds per phase of one provider report (cpu None: not measured)."""
    import nbformat

    import cocEval.report.gate as gate

    out: dict[str, tuple[float | None, float]] = {}
    out["kernel start, cold (interpreter + ipykernel)"] = (None, _kernel_start(cold=True))
    out["kernel start, warm (fork from the pre-imported parent)"] = (None, _kernel_start(cold=False))
    code = (
        "import time; c, t = time.process_time(), time.perf_counter(); "
        "import pandas, statsmodels.api, matplotlib.pyplot, scipy.stats; "
        "import cocEval.report.provider, cocEval.report.programme; "
        "print(time.process_time() - c, time.perf_counter() - t)"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    cpu, wall = map(float, res.stdout.split())
    out["imports (paid once per batch when warm)"] = (cpu, wall)
    from cocEval.audit import audit_report
    from cocEval.batch import _atomic_write, export_html
    from cocEval.config import _uncache, load_inputs, preload_inputs
    from cocEval.report.provider import ProviderReport

    _uncache()
    cpu, wall, _ = _both(preload_inputs)
    out["data load and validation (once per batch when warm)"] = (cpu, wall)
    cfg, _, _ = load_inputs()
    ProviderReport.build(pid).sections()  # first-use costs, paid once by the warm-kernel parent
    cpu, wall, rep = _both(lambda: ProviderReport.build(pid))
    out["model fits (ProviderReport.build, data cached)"] = (cpu, wall)
    spent = [0.0, 0.0]
    png = gate.figure_png

    def timed_png(fig, **kw):
        c, w, data = _both(lambda: png(fig, **kw))
        spent[0] += c
        spent[1] += w
        return data

    gate.figure_png = timed_png
    try:
        cpu, wall, sections = _both(rep.sections)
    finally:
        gate.figure_png = png
    out["figures: drawing and PNG (figure_png)"] = (spent[0], spent[1])
    out["sections: words, tables, chart set-up"] = (cpu - spent[0], wall - spent[1])
    cells = [nbformat.v4.new_code_cell(outputs=[]) for _ in sections]
    for c, s in zip(cells, sections, strict=True):
        c.outputs = [nbformat.v4.new_output("display_data", data={"text/html": s._repr_html_()})]
    nb = nbformat.v4.new_notebook(cells=cells)
    export_html(nb)  # nbconvert's template is compiled once per worker
    cpu, wall, html = _both(lambda: export_html(nb))
    out["HTML export (nbconvert, in the worker)"] = (cpu, wall)
    cpu, wall, _ = _both(lambda: audit_report(html, cfg.disclosure.preset))
    out["disclosure audit"] = (cpu, wall)
    with tempfile.TemporaryDirectory() as tmp:
        cpu, wall, _ = _both(lambda: _atomic_write(Path(tmp) / "r.html", html))
    out["write"] = (cpu, wall)
    out["page size (KB)"] = (None, len(html.encode()) / 1024)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=6)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--repeat", type=int, default=3, help="naive loop and batch, alternated this many times")
    ap.add_argument("--full", action="store_true", help="also render the whole programme (61 reports)")
    ap.add_argument("--full-repeat", type=int, default=3, help="timed runs of the whole programme (with --full)")
    args = ap.parse_args()
    providers = [f"SYN{i:03d}" for i in range(1, args.n + 1)]
    n = len(providers)
    import compileall  # as `make reports` does: no process compiles cocEval from source

    compileall.compile_dir(ROOT / "cocEval", quiet=1)
    print(f"{n} provider reports, {args.jobs} jobs, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        pairs = []  # (naive wall, naive CPU, batch wall, batch CPU), alternated
        for r in range(max(1, args.repeat)):
            (tmp / f"naive{r}").mkdir()
            nw, nc, _ = _tree(lambda r=r: naive(providers, tmp / f"naive{r}"))
            ww, wc, _ = _tree(lambda r=r: batch(providers, tmp / f"warm{r}", args.jobs))
            pairs.append((nw, nc, ww, wc))
        naive_wall, naive_cpu, warm_wall, warm_cpu = (statistics.median(col) for col in zip(*pairs))
        cold_wall, cold_cpu, _ = _tree(lambda: batch(providers, tmp / "cold", args.jobs, cold=True))
        r_floor = floor(providers)
        ph = phases(providers[0])
        full = None
        if args.full:
            # timed without the memory sampler: it reads every process's page tables five times a
            # second (a few ms a process each time, in the kernel), which slowed the batch
            runs = [
                _tree(lambda r=r: batch(None, tmp / f"full{r}", args.jobs, programme=True))
                for r in range(max(1, args.full_repeat))
            ]
            with PeakMemory() as mem:
                t_mem, _, _ = _tree(lambda: batch(None, tmp / "full_mem", args.jobs, programme=True))
            full = (runs, mem.peak, mem.peak_pss, t_mem, programme_floor(min(runs, key=lambda run: run[0])[2]))
    floor_cpu = sum(c for c, _ in r_floor) / n
    floor_wall = sum(w for _, w in r_floor) / n
    per_report = warm_wall * args.jobs / n
    print(f"{'way':<34}{'wall s':>9}{'s per report':>14}{'CPU s':>9}{'CPU per report':>16}")
    for name, wall, cpu, jobs in (
        ("naive papermill + nbconvert CLIs", naive_wall, naive_cpu, 1),
        ("batch, cold kernels", cold_wall, cold_cpu, args.jobs),
        ("batch, warm kernels (default)", warm_wall, warm_cpu, args.jobs),
        ("floor (warm Python, no kernel)", floor_wall * n, floor_cpu * n, 1),
    ):
        print(f"{name:<34}{wall:>9.1f}{wall * jobs / n:>14.2f}{cpu:>9.1f}{cpu / n:>16.2f}")
    ratios = [nw / ww for nw, _, ww, _ in pairs]
    print(
        f"naive / batch (wall)          = {statistics.median(ratios):.2f}x   (goal >= 5; median of {len(pairs)} "
        f"alternated pairs: {', '.join(f'{x:.2f}' for x in ratios)}; cold kernels: "
        f"{naive_wall / cold_wall:.2f}x; CPU: {naive_cpu / warm_cpu:.2f}x)"
    )
    print(
        f"batch per report / floor      = {per_report / floor_wall:.2f}x   (goal <= 1.3; per-report cost = "
        f"wall x {args.jobs} jobs / {n}, floor = the notebook's code in a warm process; "
        f"CPU: {warm_cpu / n / floor_cpu:.2f}x, each worker's start-up included)"
    )
    print("\nphases of one provider report (s)")
    print(f"  {'phase':<56}{'CPU':>8}{'wall':>8}")
    for k, (cpu, wall) in ph.items():
        print(f"  {k:<56}{'' if cpu is None else f'{cpu:.2f}':>8}{wall:>8.2f}")
    if full:
        runs, peak, peak_pss, t_mem, prog_floor = full
        t_full, c_full, manifest = min(runs, key=lambda run: run[0])
        reps = manifest["reports"]
        ok = sum(r["status"] == "ok" for r in reps.values())
        n_prov = sum(name != "programme" for name in reps)
        floors = n_prov * floor_cpu + prog_floor
        prog = reps.get("programme", {}).get("seconds", float("nan"))
        scale = REFERENCE_FLOOR / floor_cpu
        print(
            f"\nfull programme: {ok}/{len(reps)} reports ok in {t_full:.1f} s wall (goal <= 60 s), {c_full:.1f} s CPU, "
            f"programme report {prog:.1f} s: the fastest of {len(runs)} runs "
            f"({', '.join(f'{w:.1f}' for w, _, _ in runs)} s wall; median {statistics.median(w for w, _, _ in runs):.1f} s"
            "; a slower run is other load on the machine, as timeit's minimum assumes)\n"
            f"  peak memory of the process tree {peak_pss / 2**20:.0f} MiB (proportional set sizes; "
            f"{peak / 2**20:.0f} MiB summing resident sizes; from one more run, {t_mem:.1f} s wall with the sampling)\n"
            f"  = {t_full / floor_cpu:.1f} floors; at the quiet-day floor of {REFERENCE_FLOOR} s CPU "
            f"(today's {floor_cpu:.2f} s x {scale:.2f}): about {t_full * scale:.0f} s wall\n"
            f"  per report against the floor at full scale = {t_full * args.jobs / floors:.2f}x   (goal <= 1.3; "
            f"wall x {args.jobs} jobs over the floors of {n_prov} provider reports, {floor_cpu:.2f} s each, and of "
            f"the programme report, {prog_floor:.1f} s with every provider's effects handed over; start-up included)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
