"""Speed and memory of cocEval.did.att_gt against the ``csdid`` Python package.

Workload (as the issue asks): ``att_gt`` with not-yet-treated comparisons, doubly robust, 999
multiplier-bootstrap draws, then the dynamic (event-study) aggregation, on

1. mpdta (500 counties x 5 years; from ../shared/reference/mpdta when present),
2. a synthetic 2,000-unit x 120-period panel with 6 cohorts plus never treated,
3. programme scale: 75 providers x 60 months (month-start dates; cocEval only).

Each run happens in a fresh subprocess so its peak resident memory (ru_maxrss, including the
interpreter and imports) is measured in isolation; tracemalloc's peak of Python/numpy
allocations is printed for cocEval too. csdid is installed into a throwaway venv
``benchmarks/_env`` (git-ignored, never a project dependency); if it cannot be installed the
script says so and times cocEval alone.

Run:  .venv/bin/python benchmarks/did_speed.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ENV = HERE / "_env"
ENV_PY = ENV / "bin" / "python"
MPDTA = ROOT.parent / "shared" / "reference" / "mpdta" / "mpdta.csv"

WORKER_COCEVAL = r"""
import json, resource, sys, time, tracemalloc
import pandas as pd
from cocEval.did import att_gt
path, y, i, t, g, months = sys.argv[1:7]
df = pd.read_csv(path, parse_dates=[t, g] if months == "1" else None)
tracemalloc.start()
t0 = time.perf_counter()
res = att_gt(df, y, i, t, g, control_group="notyettreated", method="dr", n_boot=999, seed=1)
dyn = res.aggregate("dynamic")
secs = time.perf_counter() - t0
peak_traced = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
print(json.dumps({
    "seconds": secs, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "peak_traced_mb": peak_traced / 2**20,
    "cells": [[str(a), str(b), float(c)] for a, b, c in res.table[["cohort", "time", "att"]].itertuples(index=False)],
    "dynamic": {str(k): float(v) for k, v in dyn.table["att"].items()}, "dynamic_overall": dyn.overall.att,
}))
"""

WORKER_CSDID = r"""
import json, resource, sys, time, warnings
import pandas as pd
warnings.simplefilter("ignore")
from csdid.att_gt import ATTgt
path, y, i, t, g = sys.argv[1:6]
df = pd.read_csv(path)
t0 = time.perf_counter()
m = ATTgt(yname=y, tname=t, idname=i, gname=g, data=df, control_group="notyettreated", biters=999, cband=True)
m.fit(est_method="dr", bstrap=True)
m.aggte(typec="dynamic")
secs = time.perf_counter() - t0
r, a = m.results, m.atte
print(json.dumps({
    "seconds": secs, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "cells": [[str(int(x)), str(int(z)), float(v)] for x, z, v in zip(r["group"], r["year"], r["att"])],
    "dynamic": {str(int(k)): float(v) for k, v in zip(a["egt"], a["att_egt"])}, "dynamic_overall": float(a["overall_att"]),
}))
"""


def synthetic(n_units=2000, periods=120, n_cohorts=6, seed=0, months=False) -> pd.DataFrame:
    """Staggered panel: unit and period effects, effects growing with time since start."""
    rng = np.random.default_rng(seed)
    starts = np.linspace(periods // 6, periods - periods // 8, n_cohorts).astype(int)
    g = rng.choice(np.r_[starts, 0], size=n_units)
    t = np.arange(1, periods + 1)
    e = t[None, :] - g[:, None]
    eff = np.where((g[:, None] > 0) & (e >= 0), 0.5 + 0.02 * e, 0.0)
    y = (
        rng.normal(0, 1, (n_units, 1))
        + np.cumsum(rng.normal(0, 0.1, periods))[None, :]
        + eff
        + rng.normal(0, 1, (n_units, periods))
    )
    df = pd.DataFrame(
        {
            "id": np.repeat(np.arange(n_units), periods),
            "t": np.tile(t, n_units),
            "g": np.repeat(g, periods),
            "y": y.ravel(),
        }
    )
    if months:
        base = pd.Timestamp("2021-01-01")
        month = pd.DatetimeIndex([base + pd.DateOffset(months=k - 1) for k in range(1, periods + 1)])
        df["t"] = month[df["t"].to_numpy() - 1]
        df["g"] = pd.Series(month[np.maximum(df["g"].to_numpy(), 1) - 1]).where(df["g"].to_numpy() > 0)
    return df


def ensure_csdid() -> bool:
    """Create benchmarks/_env with csdid if needed; False (with a note) if that fails."""
    if ENV_PY.exists() and subprocess.run([ENV_PY, "-c", "import csdid"], capture_output=True).returncode == 0:
        return True
    print("Installing csdid into the throwaway venv benchmarks/_env (benchmark only) ...", flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", ENV], check=True, capture_output=True)
        subprocess.run([ENV_PY, "-m", "pip", "install", "-q", "csdid"], check=True, capture_output=True, timeout=900)
        return True
    except (subprocess.SubprocessError, OSError) as exc:
        print(f"NOTE: csdid could not be installed ({exc.__class__.__name__}); timing cocEval alone.")
        return False


def run_worker(python, code, df, cols) -> dict | None:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "panel.csv")
        df.to_csv(path, index=False)
        env = dict(os.environ, PYTHONWARNINGS="ignore")
        out = subprocess.run([python, "-c", code, path, *cols], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        print(f"NOTE: worker {python} failed:\n{out.stderr[-1500:]}")
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def best_of(python, code, df, cols, repeat) -> dict | None:
    runs = [run_worker(python, code, df, cols) for _ in range(repeat)]
    runs = [r for r in runs if r]
    if not runs:
        return None
    best = min(runs, key=lambda r: r["seconds"])
    best["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)
    return best


def compare(a: dict, b: dict) -> tuple[float, float]:
    ca = {(x, y): v for x, y, v in a["cells"]}
    cb = {(x, y): v for x, y, v in b["cells"]}
    common = [k for k in ca if k in cb and np.isfinite(ca[k]) and np.isfinite(cb[k])]
    cell = max(abs(ca[k] - cb[k]) for k in common) if common else np.nan
    dyn = max(abs(a["dynamic"][k] - b["dynamic"][k]) for k in a["dynamic"] if k in b["dynamic"])
    return cell, dyn


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="runs per case (best time reported)")
    args = ap.parse_args()
    have_csdid = ensure_csdid()
    cases = []
    if MPDTA.exists():
        m = pd.read_csv(MPDTA)
        cases.append(("mpdta (500 x 5)", m, ["lemp", "countyreal", "year", "first.treat"], True))
    else:
        print(f"NOTE: {MPDTA} not found; skipping mpdta")
    cases.append(("synthetic (2000 x 120, 6 cohorts)", synthetic(), ["y", "id", "t", "g"], True))
    cases.append(
        ("programme scale (75 x 60 months)", synthetic(75, 60, 5, seed=1, months=True), ["y", "id", "t", "g"], False)
    )
    months_flag = {c[0]: ("1" if c[0].startswith("programme") else "0") for c in cases}

    rows = []
    for name, df, cols, vs_csdid in cases:
        print(f"-- {name}", flush=True)
        ours = best_of(sys.executable, WORKER_COCEVAL, df, cols + [months_flag[name]], args.repeat)
        theirs = (
            best_of(ENV_PY, WORKER_CSDID, df, cols, 1 if args.repeat > 1 and len(df) > 100_000 else args.repeat)
            if (have_csdid and vs_csdid)
            else None
        )
        row = {
            "case": name,
            "cocEval_s": ours["seconds"],
            "cocEval_peak_rss_MiB": ours["peak_rss_mb"],
            "cocEval_traced_peak_MiB": ours["peak_traced_mb"],
        }
        if theirs:
            cell, dyn = compare(ours, theirs)
            row.update(
                {
                    "csdid_s": theirs["seconds"],
                    "csdid_peak_rss_MiB": theirs["peak_rss_mb"],
                    "speed-up": theirs["seconds"] / ours["seconds"],
                    "max|dATT(g,t)|": cell,
                    "max|d dynamic|": dyn,
                }
            )
        rows.append(row)
    table = pd.DataFrame(rows).set_index("case")
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.float_format", "{:.4g}".format):
        print("\natt_gt(not-yet-treated, DR, 999 bootstrap draws) + dynamic aggregation; best of", args.repeat, "runs")
        print(table.T)
    print(
        "\nGoals: >= 3x faster than csdid on the large panel with identical estimates; peak < 2 GiB; programme scale well under 1 s."
    )


if __name__ == "__main__":
    main()
