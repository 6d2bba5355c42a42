"""Tables for the validation page, computed when the site is built.

Parity: cocEval is re-run on the R fixtures the test-suite uses (``tests/reference/*.csv`` and,
when present, the public reference sets in ``../shared/reference``) through the tests' own
helpers, and the largest differences from R are tabled with the tolerance the tests assert.
Coverage: the result blocks the benchmark scripts record (their docstrings, written from their
last full run) and any CSV they write into ``benchmarks/results/``.
Nothing here is typed by hand: change the code or a fixture and the tables change.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"
LOCAL_REFERENCE = TESTS / "reference"
BENCHMARKS = ROOT / "benchmarks"


def shared_reference() -> Path | None:
    """``../shared/reference`` beside the project (as ``tests/conftest.py``), or None when absent.

    Absent under CI is an error, as for the tests. ``COCEVAL_SHARED_REFERENCE`` overrides the
    location (for building the site from a checkout elsewhere).
    """
    path = Path(os.environ.get("COCEVAL_SHARED_REFERENCE", ROOT.parent / "shared" / "reference"))
    if path.is_dir():
        return path
    if os.environ.get("CI"):
        raise FileNotFoundError(f"shared reference data not found at {path} (required under CI)")
    return None


def _test_module(name: str):
    if str(TESTS) not in sys.path:
        sys.path.insert(0, str(TESTS))
    return importlib.import_module(name)


def _rel(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    ok = np.isfinite(a) & np.isfinite(b)
    if not ok.any():
        return np.nan
    return float(np.max(np.abs(a[ok] - b[ok]) / np.maximum(np.abs(b[ok]), 1e-300)))


def _abs(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    ok = np.isfinite(a) & np.isfinite(b)
    return float(np.max(np.abs(a[ok] - b[ok]))) if ok.any() else np.nan


# --------------------------------------------------------------------------------------------
def its_parity() -> pd.DataFrame:
    """Every (series, model) of ``tests/reference/its_reference.csv``: largest relative difference
    of cocEval's estimates and SEs from R's (lm, sandwich, nlme, glm, MASS)."""
    t = _test_module("test_its")
    series = pd.read_csv(LOCAL_REFERENCE / "its_series.csv", parse_dates=["date"])
    ref = pd.read_csv(LOCAL_REFERENCE / "its_reference.csv")
    rows = []
    for name, model in t._cases():
        d, time, start, kw = t._kwargs(series, name, model)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # short-series warnings are expected on these fixtures
            res = t.fit_its(d, "y", time, start, **kw)
        r = ref[(ref["series"] == name) & (ref["model"] == model)].set_index("term")
        coef = r[r["se"].notna()]
        ours = res.coefficients.loc[coef.index]
        ml = model.split()[-1] in ("ML", "REML") or "negbin" in model
        rows.append(
            {
                "series": name,
                "model": model,
                "R": r["packages"].iloc[0] if "packages" in r else "",
                "terms": len(coef),
                "estimates: max rel. diff.": _rel(ours["estimate"], coef["estimate"]),
                "tolerance (est.)": t.EST_RTOL_ML if ml else t.EST_RTOL,
                "SEs: max rel. diff.": _rel(ours["se"], coef["se"]),
                "tolerance (SE)": t.SE_RTOL_AR1 if "ar1" in model else t.SE_RTOL,
            }
        )
    out = pd.DataFrame(rows)
    out["within tolerance"] = (out["estimates: max rel. diff."] <= out["tolerance (est.)"]) & (
        out["SEs: max rel. diff."] <= out["tolerance (SE)"]
    )
    return out.drop(columns=["R"])


def meta_parity() -> pd.DataFrame:
    """Every case of ``tests/reference/meta_results.csv``: cocEval's random effects against
    ``metafor::rma()`` / ``predict()``."""
    t = _test_module("test_meta")
    inputs = pd.read_csv(LOCAL_REFERENCE / "meta_inputs.csv")
    ref = pd.read_csv(LOCAL_REFERENCE / "meta_results.csv")
    pairs = [
        ("estimate", "estimate"),
        ("se", "se"),
        ("ci_low", "ci_low"),
        ("ci_high", "ci_high"),
        ("pi_low", "pi_low"),
        ("pi_high", "pi_high"),
        ("i2", "i2"),
        ("q", "q"),
        ("pvalue", "pval"),
    ]
    rows = []
    for dataset, method, test in t._cases():
        r = ref[(ref["dataset"] == dataset) & (ref["method"] == method) & (ref["test"] == test)].iloc[0]
        res = t._fit(inputs, dataset, method, test)
        rows.append(
            {
                "dataset": dataset,
                "tau2 method": method,
                "test": "Hartung-Knapp" if test == "knha" else "z",
                "k": int(r["k"]),
                "max rel. diff. (estimate, SE, CI, PI, I2, Q, p)": max(
                    _rel(getattr(res, a), r[b]) for a, b in pairs if np.isfinite(r[b]) and abs(r[b]) > 1e-12
                ),
                "tau2 rel. diff.": _rel(res.tau2, r["tau2"]) if r["tau2"] > 1e-10 else abs(res.tau2 - r["tau2"]),
            }
        )
    out = pd.DataFrame(rows)
    out["tolerance"] = t.REF_RTOL
    return out


def did_parity(shared: Path) -> pd.DataFrame:
    """R ``did`` 2.5.1 analytic scenarios on ``mpdta``: every ATT(g,t), every aggregation."""
    t = _test_module("test_did")
    mpdta = pd.read_csv(shared / "mpdta" / "mpdta.csv")
    d = shared / "mpdta"
    attgt = pd.read_csv(d / "r_did251_analytic_attgt.csv")
    aggte = pd.read_csv(d / "r_did251_analytic_aggte.csv")
    rows = []
    for cls in t.CheckAttGtAnalytic.__subclasses__():
        res = t._fit_mpdta(mpdta, bootstrap=False, **cls.kwargs)
        r = attgt[attgt["scenario"] == cls.scenario].rename(columns={"group": "cohort", "t": "time"})
        m = res.table.merge(r, on=["cohort", "time"], suffixes=("", "_r"))
        att = [_abs(m["att"], m["att_r"])]
        se = [_rel(m["se"], m["se_r"])]
        for kind in t.KINDS:
            a = aggte[(aggte["scenario"] == cls.scenario) & (aggte["type"] == kind)]
            agg = res.aggregate(kind)
            att.append(_abs(agg.overall.att, a["overall_att"].iloc[0]))
            se.append(_rel(agg.overall.se, a["overall_se"].iloc[0]))
            if kind != "simple":
                lv = a.set_index("egt")
                att.append(_abs(agg.table["att"], lv["att_egt"]))
                se.append(_rel(agg.table["se"], lv["se_egt"]))
        rows.append(
            {
                "scenario": cls.scenario,
                "options": ", ".join(f"{k}={v}" for k, v in cls.kwargs.items()),
                "cells": len(m),
                "ATT: max abs. diff.": max(att),
                "tolerance (ATT)": t.ATT_ABS,
                "SE: max rel. diff.": max(se),
                "tolerance (SE)": t.SE_REL,
            }
        )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
def recorded_result(script: str) -> str:
    """The result block a benchmark script records in its docstring (from ``Result`` on), or ""."""
    path = BENCHMARKS / script
    if not path.is_file():
        return ""
    doc = re.match(r'\s*(?:#.*\n)*\s*[rRuU]?"""(.*?)"""', path.read_text(), re.S)
    text = doc.group(1) if doc else ""
    m = re.search(r"^Results?\b.*", text, re.M | re.S)
    return m.group(0).strip() if m else ""


def its_coverage_table(block: str) -> pd.DataFrame:
    """Parse the coverage rows of ``benchmarks/its_coverage.py``'s recorded result."""
    rows, scenario = [], None
    pat = re.compile(r"^\s{4}(\S.*?)?\s{2,}(\S.*?)\s+([+-]?\d+\.\d+)\s+(\d+\.\d)\s*/\s*(\d+\.\d)\s*$")
    for line in block.splitlines():
        m = pat.match(line)
        if not m:
            continue
        scenario = (m.group(1) or "").strip() or scenario
        errors = m.group(2).strip()
        rows.append(
            {
                "scenario": scenario,
                "errors": errors.rstrip(" *"),
                "default": errors.endswith("*"),
                "bias (level)": float(m.group(3)),
                "coverage level change (%)": float(m.group(4)),
                "coverage trend change (%)": float(m.group(5)),
            }
        )
    return pd.DataFrame(rows)


def benchmark_csvs() -> dict[str, pd.DataFrame]:
    """CSV files benchmarks wrote into ``benchmarks/results/`` (none yet is fine)."""
    folder = BENCHMARKS / "results"
    return {p.stem: pd.read_csv(p) for p in sorted(folder.glob("*.csv"))} if folder.is_dir() else {}
