"""Soak test of the batch: repeated small batches, with a random kernel killed (SIGKILL) in each.

Each batch renders ``--providers`` reports (default 3) with ``--jobs`` workers into the same
output folder (``--force``), as a separate process, while a killer waits for the kernels to
start and kills one at random after a random delay. Afterwards it counts:

- reports lost: reports of the batch not "ok" in the manifest (a killed kernel must be replaced
  and its report rendered);
- hangs: batches that did not finish within ``--limit`` seconds (then killed);
- orphans left: kernels and worker processes of the batch still alive after it exited, plus
  temporary files left in the output folder (``.coc-tmp``, which also holds the kernels' IPC
  socket folders when its path is short, as here).

All three must be 0. By default the reports are a tiny notebook (kernel start, a few seconds of
work, a summary), which exercises the same machinery in seconds; ``--real`` renders the real
provider report instead.

Usage: ``python benchmarks/batch_soak.py [--batches 10] [--providers 3] [--jobs 2] [--real]``
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "synthetic"


def tiny_notebook(path: Path, pids: Path, work: float) -> Path:
    nb = nbformat.v4.new_notebook(
        metadata={"kernelspec": {"name": "cocEval", "display_name": "cocEval", "language": "python"}}
    )
    params = nbformat.v4.new_code_cell("provider_id = None\ndata_dir = None\nconfig = None\nsummary_path = None")
    params.metadata["tags"] = ["parameters"]
    code = (
        "import os, json, time\n"
        f"with open(os.path.join({str(pids)!r}, provider_id), 'a') as f: f.write(f'{{os.getpid()}}\\n')\n"
        "import pandas, matplotlib.pyplot as plt\n"
        f"time.sleep({work})\n"
        "fig, ax = plt.subplots(); ax.plot([1, 2, 3]); plt.show()\n"
        "json.dump({'provider': provider_id}, open(summary_path, 'w'))\n"
    )
    nb.cells = [params, nbformat.v4.new_code_cell(code), nbformat.v4.new_markdown_cell("# Soak report")]
    nbformat.write(nb, path)
    return path


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except (ProcessLookupError, OSError):
        return False


def children(pid: int) -> set[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return {int(p) for p in out}


def pids_in(folder: Path) -> dict[str, list[int]]:
    return {f.name: [int(x) for x in f.read_text().split()] for f in folder.glob("*") if f.is_file()}


def one_batch(i: int, args, work: Path, providers: list[str], rng: random.Random) -> dict:
    pids = work / f"pids-{i}"
    pids.mkdir()
    out = work / "out"
    nb = None if args.real else tiny_notebook(work / f"soak-{i}.ipynb", pids, args.work)
    opts = (
        f"output={str(out)!r}, data={str(DATA)!r}, providers={tuple(providers)!r}, jobs={args.jobs}, "
        f"programme=False, force=True" + (f", provider_notebook={str(nb)!r}" if nb else "")
    )
    script = (
        f"import sys; from cocEval.batch import BatchOptions, run_reports; sys.exit(run_reports(BatchOptions({opts})))"
    )
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    workers: set[int] = set()
    killed: list[int] = []
    victim = rng.choice(providers)
    delay = rng.uniform(0.2, args.work * 0.8) if not args.real else rng.uniform(1, 20)
    kill_at = None
    hang = False
    while proc.poll() is None:
        workers |= children(proc.pid)
        seen = pids_in(pids) if not args.real else {}
        if not killed:
            if args.real:  # real reports: kill a kernel that is a grandchild of the batch
                kernels = [k for w in children(proc.pid) for k in children(w)]
                if kernels and kill_at is None:
                    kill_at = time.monotonic() + delay
                if kernels and kill_at and time.monotonic() >= kill_at:
                    k = rng.choice(kernels)
                    os.kill(k, signal.SIGKILL)
                    killed.append(k)
            elif victim in seen:
                kill_at = kill_at or time.monotonic() + delay
                if time.monotonic() >= kill_at:
                    k = seen[victim][0]
                    try:
                        os.kill(k, signal.SIGKILL)
                        killed.append(k)
                    except ProcessLookupError:
                        pass
        if time.monotonic() - t0 > args.limit:
            hang = True
            proc.kill()
            break
        time.sleep(0.05)
    proc.wait()
    wall = time.monotonic() - t0
    time.sleep(2)  # kernels watch their parent once a second
    kernels = [p for ps in pids_in(pids).values() for p in ps] + killed
    orphans = [p for p in set(kernels) | workers if alive(p)]
    for p in orphans:  # leave the machine clean for the next batch
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    manifest = json.loads((out / "manifest.json").read_text()) if (out / "manifest.json").is_file() else {}
    reports = manifest.get("reports", {})
    lost = [p for p in providers if reports.get(p, {}).get("status") != "ok"]
    temp_left = list((out / ".coc-tmp").glob("*")) if (out / ".coc-tmp").exists() else []
    return {
        "wall": wall,
        "killed": len(killed),
        "lost": lost,
        "hang": hang,
        "orphans": len(orphans) + len(temp_left),
        "orphan_detail": [f"process {p}" for p in orphans] + [f"temp {p.name}" for p in temp_left],
        "retried": sum(reports.get(p, {}).get("attempts", 0) > 1 for p in providers),
        "status": proc.returncode,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, default=10)
    ap.add_argument("--providers", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--work", type=float, default=4.0, help="seconds of work in the tiny notebook")
    ap.add_argument("--limit", type=float, default=300.0, help="seconds after which a batch counts as hung")
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--real", action="store_true", help="render the real provider report")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    providers = [f"SYN{i:03d}" for i in range(1, args.providers + 1)]
    rows = []
    with tempfile.TemporaryDirectory(prefix="batch-soak-") as tmp:
        for i in range(args.batches):
            r = one_batch(i, args, Path(tmp), providers, rng)
            rows.append(r)
            print(
                f"batch {i + 1:>3}: {r['wall']:6.1f} s, kernels killed {r['killed']}, retried {r['retried']}, "
                f"lost {len(r['lost'])}, hang {int(r['hang'])}, orphans {r['orphans']}, exit {r['status']}"
                + (f" ({', '.join(r['orphan_detail'])})" if r["orphan_detail"] else ""),
                flush=True,
            )
    print()
    print(f"batches run      {len(rows)}")
    print(f"reports rendered {sum(len(providers) - len(r['lost']) for r in rows)} of {len(rows) * len(providers)}")
    print(f"kernels killed   {sum(r['killed'] for r in rows)}")
    print(f"reports retried  {sum(r['retried'] for r in rows)}")
    print(f"reports lost     {sum(len(r['lost']) for r in rows)}")
    print(f"hangs            {sum(r['hang'] for r in rows)}")
    print(f"orphans left     {sum(r['orphans'] for r in rows)}")
    print(f"mean batch wall  {sum(r['wall'] for r in rows) / max(len(rows), 1):.1f} s")
    bad = sum(len(r["lost"]) + r["hang"] + r["orphans"] for r in rows)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
