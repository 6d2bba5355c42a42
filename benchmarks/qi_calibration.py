"""Calibration of the QI analytics by simulation: funnel-plot false alarms and meta-analysis coverage.

1. Funnel plots: 60 providers with bed days between 5,000 and 40,000 and a common rate of 17 per
   1,000 (Poisson), or shares around 0.8 from 200-1,500 responses (binomial). Under this null,
   about 5% of providers should fall outside the 95% limits and 0.2% outside the 99.8% limits.
   With 30% between-provider variation (gamma-Poisson), unadjusted limits flag far more; the
   over-dispersion adjustments should bring that down.
2. Random-effects pooling: k = 10 studies, tau2 = 0.05, within-study variances 0.01-0.1; coverage of
   the 95% confidence and prediction intervals for DL and REML, with and without Hartung-Knapp.

Usage: ``python benchmarks/qi_calibration.py [--reps 300]``
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import pandas as pd

from cocEval.funnel import funnel_proportions, funnel_rates
from cocEval.meta import random_effects


def funnel_study(reps: int, rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    labels = [f"P{i}" for i in range(60)]
    for scenario in ("poisson", "binomial", "gamma-poisson"):
        for adj in (None,) if scenario != "gamma-poisson" else (None, "multiplicative", "additive"):
            out95 = out998 = 0
            for _ in range(reps):
                if scenario == "binomial":
                    n = rng.integers(200, 1500, 60)
                    res = funnel_proportions(rng.binomial(n, 0.8), n, labels=labels, overdispersion=adj)
                else:
                    obd = rng.integers(5000, 40000, 60)
                    rate = 0.017 * (rng.gamma(1 / 0.09, 0.09, 60) if scenario == "gamma-poisson" else 1.0)
                    res = funnel_rates(rng.poisson(rate * obd), obd, labels=labels, overdispersion=adj)
                pos = res.table["position"]
                out95 += (pos != "within").sum()
                out998 += pos.str.contains("99.8").sum()
            rows.append(
                {
                    "scenario": scenario,
                    "adjustment": adj or "none",
                    "outside 95% (%)": 100 * out95 / (60 * reps),
                    "outside 99.8% (%)": 100 * out998 / (60 * reps),
                }
            )
    return pd.DataFrame(rows)


def meta_study(reps: int, rng: np.random.Generator, k: int = 10, tau2: float = 0.05) -> pd.DataFrame:
    rows = []
    for method in ("DL", "REML"):
        for hk in (False, True):
            ci = pi = 0
            for _ in range(reps):
                v = rng.uniform(0.01, 0.1, k)
                theta = rng.normal(0.0, np.sqrt(tau2), k)
                y = rng.normal(theta, np.sqrt(v))
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    r = random_effects(y, np.sqrt(v), method=method, hartung_knapp=hk)
                new = rng.normal(0.0, np.sqrt(tau2))
                ci += r.ci_low <= 0.0 <= r.ci_high
                pi += r.pi_low <= new <= r.pi_high
            rows.append(
                {
                    "method": method,
                    "hartung_knapp": hk,
                    "CI coverage (%)": 100 * ci / reps,
                    "PI coverage (%)": 100 * pi / reps,
                }
            )
    return pd.DataFrame(rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=300)
    ap.add_argument("--seed", type=int, default=20240401)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    print(f"Funnel plots, {args.reps} programmes of 60 providers (nominal: 5% and 0.2% outside)")
    print(funnel_study(args.reps, rng).to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    print(f"\nRandom-effects pooling, k = 10, tau2 = 0.05, {3 * args.reps} replications (nominal 95%)")
    print(meta_study(3 * args.reps, rng).to_string(index=False, float_format=lambda v: f"{v:.1f}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
