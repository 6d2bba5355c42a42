"""Test helper: a copy of the synthetic data with one provider whose every count is 0-4.

:func:`write_tiny_count_data` copies ``data/synthetic`` into a folder and rewrites one
participating provider's rows, deterministically, so that each provider-month count (every
restrictive-practice count, patient-experience responses and positive responses) is between 0
and 4, and its staff survey has fewer than 11 respondents per year. The shipped data are never
changed. It returns the exact provider-month counts, which the attacker test tries to recover
from what a report shows.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from cocEval.data import RESTRICTIVE_COUNTS, RESTRICTIVE_TYPES

ROOT = Path(__file__).resolve().parents[1]
SYNTHETIC = ROOT / "data" / "synthetic"


@dataclass
class TinyData:
    """Where the copy is, which provider is tiny, and its exact counts."""

    path: Path
    provider_id: str
    #: provider-month exact counts: columns month (Timestamp), outcome, count
    counts: pd.DataFrame
    #: provider-month occupied bed days and patient-experience responses (denominators)
    denominators: pd.DataFrame
    #: staff survey rows of the tiny provider
    staff: pd.DataFrame

    def small(self) -> pd.DataFrame:
        """The exact counts from 1 to 4 (what must not be recoverable)."""
        return self.counts[self.counts["count"].between(1, 4)]


def _tiny_restrictive(i: int) -> dict[str, int]:
    k = (3 * i + 1) % 5  # 1, 4, 2, 0, 3, 1, ... every value 0-4, no pattern by year
    physical = k - k // 2
    row = {c: 0 for c in RESTRICTIVE_COUNTS}
    row["physical_restraint"] = physical
    row["seclusion"] = k // 2
    row["prone_restraint"] = min(physical, i % 2)
    row["restrictive_interventions"] = sum(row[c] for c in RESTRICTIVE_TYPES)
    row["people_restricted"] = min(k, 1 + i % 3) if k else 0
    return row


def write_tiny_count_data(dst: Path, provider_id: str | None = None) -> TinyData:
    """Copy the synthetic data to ``dst`` with one participating provider's counts set to 0-4.

    ``provider_id``: which provider (default: the first participating provider by id).
    """
    dst = Path(dst)
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(SYNTHETIC, dst)
    part = pd.read_csv(dst / "participation.csv", dtype=str)
    if provider_id is None:
        provider_id = sorted(part.loc[part["start_month"].notna(), "provider_id"])[0]

    rp = pd.read_csv(dst / "restrictive_practice.csv", dtype={"month": str})
    mine = rp["provider_id"] == provider_id
    months = sorted(rp.loc[mine, "month"].unique())
    first_ward = sorted(rp.loc[mine, "ward_id"].unique())[0]
    for c in RESTRICTIVE_COUNTS:
        rp.loc[mine, c] = 0
    for i, m in enumerate(months):
        at = mine & (rp["month"] == m) & (rp["ward_id"] == first_ward)
        for c, v in _tiny_restrictive(i).items():
            rp.loc[at, c] = v
    rp.to_csv(dst / "restrictive_practice.csv", index=False)

    pe = pd.read_csv(dst / "patient_experience.csv", dtype={"month": str})
    pmine = pe["provider_id"] == provider_id
    pe.loc[pmine, ["responses", "positive_responses"]] = 0
    pmonths = sorted(pe.loc[pmine, "month"].unique())
    pward = sorted(pe.loc[pmine, "ward_id"].unique())[0]
    for i, m in enumerate(pmonths):
        at = pmine & (pe["month"] == m) & (pe["ward_id"] == pward)
        n = (2 * i + 3) % 5
        pe.loc[at, "responses"] = n
        pe.loc[at, "positive_responses"] = (n + 1) // 2
    pe.to_csv(dst / "patient_experience.csv", index=False)

    ss = pd.read_csv(dst / "staff_survey.csv")
    smine = ss["provider_id"] == provider_id
    count_cols = [
        c for c in ss.columns if c not in ("provider_id", "survey_year", "respondents", "engagement", "morale")
    ]
    for j, idx in enumerate(ss.index[smine]):
        n = 4 + j % 6  # 4-9 respondents: under the survey's minimum of 11
        ss.loc[idx, "respondents"] = n
        for k, c in enumerate(count_cols):
            if pd.notna(ss.loc[idx, c]):
                ss.loc[idx, c] = (j + k) % 5 if (j + k) % 5 <= n else n
    ss.to_csv(dst / "staff_survey.csv", index=False)

    # the exact provider-month counts a reader must not recover
    rp_m = rp[mine].assign(month=lambda d: pd.to_datetime(d["month"]))
    pe_m = pe[pmine].assign(month=lambda d: pd.to_datetime(d["month"]))
    counts = pd.concat(
        [
            rp_m.groupby("month")[list(RESTRICTIVE_COUNTS)].sum().reset_index().melt("month", var_name="outcome"),
            pe_m.groupby("month")[["responses", "positive_responses"]]
            .sum()
            .reset_index()
            .melt("month", var_name="outcome"),
        ]
    ).rename(columns={"value": "count"})
    den = (
        rp_m.groupby("month")["occupied_bed_days"]
        .sum()
        .to_frame()
        .join(pe_m.groupby("month")["responses"].sum(), how="outer")
        .reset_index()
    )
    return TinyData(dst, provider_id, counts.reset_index(drop=True), den, ss[smine].reset_index(drop=True))
