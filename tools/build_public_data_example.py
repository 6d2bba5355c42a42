"""Write notebooks/public_data_example.ipynb (committed without outputs).

Run: .venv/bin/python tools/build_public_data_example.py
"""

import subprocess
import sys

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

META = {
    "kernelspec": {"name": "cocEval", "display_name": "Python (cocEval)", "language": "python"},
    "language_info": {"name": "python"},
}


def code(src, *tags):
    c = new_code_cell(src)
    if tags:
        c.metadata["tags"] = list(tags)
    return c


cells = [
    new_markdown_cell(
        "# Worked example: published NHS data into cocEval\n\n"
        "This notebook imports the real, published files in `../shared/real/` (beside the project; see its README):\n\n"
        "- **MHSDS** monthly statistics, provider x month: people subject to restrictive intervention (MHS76), "
        "occupied bed days (MHS24), people detained / subject to the Mental Health Act (MHS09 / MHS08). "
        "Published counts are disclosure-controlled: `*` means fewer than 5, every other value is rounded to the nearest 5.\n"
        "- **NHS Staff Survey** organisation-level results: weighted percentages and their question bases.\n\n"
        "It shows the national picture (a statistical process control chart and a funnel plot), staff-survey violence "
        "and discrimination from patients across mental health trusts, and, **as a demonstration only**, an "
        "interrupted time series on one provider with a *hypothetical* start date: the Culture of Care programme "
        "started after these data.\n\n"
        "*Contains public sector information licensed under the Open Government Licence v3.0.*"
    ),
    code(
        "# Parameters\n"
        "real_dir = None  # default: ../shared/real beside the project root\n"
        "out_dir = None   # default: a new temporary folder",
        "parameters",
    ),
    code(
        "%matplotlib inline\n"
        "import tempfile\n"
        "import warnings\n"
        "from pathlib import Path\n\n"
        "import matplotlib.pyplot as plt\n"
        "import pandas as pd\n\n"
        "from cocEval.censored import fit_its_bounds\n"
        "from cocEval.data import load_programme\n"
        "from cocEval.funnel import funnel_rates\n"
        "from cocEval.importers import import_mhsds, import_staff_survey\n"
        "from cocEval.spc import xmr\n\n"
        'root = next(p for p in [Path.cwd(), *Path.cwd().parents] if (p / "pyproject.toml").is_file())\n'
        "if real_dir is None:\n"
        "    candidates = [b / 'shared' / 'real' for b in (root.parent, root.parent.parent)]\n"
        "    real_dir = next((c for c in candidates if c.is_dir()), None)\n"
        "    if real_dir is None:\n"
        "        raise FileNotFoundError('../shared/real (the published data) was not found beside the project')\n"
        "real_dir = Path(real_dir)\n"
        "work = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix='coc-public-'))",
        "remove_cell",
    ),
    new_markdown_cell(
        "## 1. Import\n\n"
        "`python -m cocEval import mhsds --out DIR --crosswalk SURVEY_FILE PATH...` does the same from the command line. "
        "The staff survey file doubles as the name -> ODS code crosswalk (MHSDS extracts carry provider names only)."
    ),
    code(
        "survey_file = sorted((real_dir / 'staff_survey').glob('*.csv'))[0]\n"
        "data_dir = work / 'imported'\n"
        "mh = import_mhsds([real_dir / 'mhsds' / 'prod-alert-2'], data_dir, crosswalk=survey_file)\n"
        "ss_log = import_staff_survey([survey_file], data_dir)\n"
        "nm = mh['name_matching']\n"
        "pd.Series({\n"
        "    'providers': mh['providers'],\n"
        "    'provider-months': mh['provider_months'],\n"
        "    'months': f\"{mh['months'][0]} to {mh['months'][-1]}\",\n"
        "    'names matched to ODS codes': f\"{nm['matched_names']} of {nm['names']}\",\n"
        "    **{f'suppressed cells, {k}': v for k, v in mh['suppressed_cells_by_measure'].items()},\n"
        "    'measure switches': '; '.join(f\"{c['from'][0]} -> {c['to'][0]} in {c['month']}\" for s in mh['measure_switches'] for c in s['changes']),\n"
        "    'staff survey organisation-years kept': ss_log['rows_written'],\n"
        "}, name='import log').to_frame()"
    ),
    code("prog = load_programme(data_dir)\nprint(prog.describe())"),
    new_markdown_cell(
        "## 2. National picture: people restricted per 1,000 occupied bed days\n\n"
        "Summed over the providers that published both counts in a month. Providers appear only in months in which they "
        "submitted restrictive-intervention records (absent is *not* zero), so the set of providers changes from month "
        "to month. The shaded band is what the published bounds allow (suppressed and rounded counts as intervals)."
    ),
    code(
        "rp = prog.restrictive_practice\n"
        "shown = rp.dropna(subset=['people_restricted', 'occupied_bed_days'])\n"
        "nat = shown.groupby('month').agg(people=('people_restricted', 'sum'), beds=('occupied_bed_days', 'sum'),\n"
        "                                 providers=('provider_id', 'nunique'))\n"
        "nat['per_1000'] = nat['people'] / nat['beds'] * 1000\n"
        "rep = rp.dropna(subset=['people_restricted_upper', 'occupied_bed_days_upper'])\n"
        "band = rep.groupby('month').apply(lambda g: pd.Series({\n"
        "    'low': g['people_restricted_lower'].sum() / g['occupied_bed_days_upper'].sum() * 1000,\n"
        "    'high': g['people_restricted_upper'].sum() / g['occupied_bed_days_lower'].clip(lower=1).sum() * 1000}))\n"
        "nat.join(band).round(3)"
    ),
    code(
        "with warnings.catch_warnings():\n"
        "    warnings.simplefilter('ignore')  # 'trial limits' (fewer than 12 points): said in the summary below\n"
        "    chart = xmr(nat['per_1000'], improvement='decrease')\n"
        "ax = chart.plot(title='People subject to restrictive intervention per 1,000 occupied bed days (England, providers reporting)',\n"
        "                ylabel='per 1,000 occupied bed days')\n"
        "ax = ax if hasattr(ax, 'fill_between') else plt.gca()\n"
        "b = band.reindex(nat.index)\n"
        "ax.fill_between(nat.index, b['low'], b['high'], alpha=0.15, color='grey', label='range the bounds allow')\n"
        "plt.show()\n"
        "print(chart.summary())\n"
        "print(f'Only {len(nat)} months: too few for stable limits (at least 12-15 points are usually wanted).')"
    ),
    new_markdown_cell(
        "## 3. Providers compared: funnel plot\n\n"
        "Each provider's people restricted per 1,000 occupied bed days over the months it published both counts. "
        "Providers with fewer than 1,000 bed days in those months are left out. Counts are summed across months, so "
        "a provider restricting the same person in two months counts them twice."
    ),
    code(
        "per_prov = shown.groupby('provider_id')[['people_restricted', 'occupied_bed_days']].sum()\n"
        "per_prov = per_prov[per_prov['occupied_bed_days'] >= 1000]\n"
        "fun = funnel_rates(per_prov['people_restricted'].round().astype(int), per_prov['occupied_bed_days'],\n"
        "                   labels=per_prov.index.tolist(), per=1000, overdispersion='multiplicative',\n"
        "                   numerator_name='people restricted')\n"
        "fun.plot(title='People restricted per 1,000 occupied bed days, by provider')\n"
        "plt.show()\n"
        "print(fun.summary())"
    ),
    new_markdown_cell(
        "## 4. Staff survey: violence and discrimination from patients, mental health trusts\n\n"
        "Published percentages (weighted by occupation group) for the mental health and learning disability "
        "benchmarking group, imported on their own (all such trusts, not only those matched to MHSDS names). "
        "Counts are not derived: weighted percentages times bases are not counts of staff."
    ),
    code(
        "survey_dir = work / 'survey_only'\n"
        "import_staff_survey([survey_file], survey_dir)\n"
        "nss = pd.read_csv(survey_dir / 'staff_survey.csv')\n"
        "mh_trusts = nss[nss['benchmarking_group'].str.contains('Mental Health', na=False)\n"
        "                & ~nss['benchmarking_group'].str.contains('Social Enterprise', na=False)]\n"
        "cols = {'violence_from_patients_pct': 'physical violence from patients or the public (%)',\n"
        "        'harassment_from_patients_pct': 'harassment, bullying or abuse from patients or the public (%)',\n"
        "        'discrimination_from_patients_pct': 'discrimination from patients or the public (%)'}\n"
        "summary = mh_trusts.groupby('survey_year')[list(cols)].describe(percentiles=[0.25, 0.5, 0.75])\n"
        "summary = summary.loc[:, (slice(None), ['count', '25%', '50%', '75%'])].round(1)\n"
        "summary"
    ),
    code(
        "fig, axes = plt.subplots(1, 3, figsize=(12, 4), sharey=False)\n"
        "for ax, (c, label) in zip(axes, cols.items()):\n"
        "    years = sorted(mh_trusts['survey_year'].unique())\n"
        "    ax.boxplot([mh_trusts.loc[mh_trusts['survey_year'] == y, c].dropna() for y in years])\n"
        "    ax.set_xticks(range(1, len(years) + 1), [str(y) for y in years])\n"
        "    ax.set_title(label, fontsize=9)\n"
        "    ax.set_ylabel('% of staff')\n"
        "fig.suptitle('NHS Staff Survey, mental health and learning disability trusts')\n"
        "plt.show()"
    ),
    new_markdown_cell(
        "## 5. DEMONSTRATION ONLY: interrupted time series on one provider\n\n"
        "> **This is not an evaluation.** The Culture of Care programme started after these data. The start month "
        "below is *hypothetical*, chosen only to show the mechanics: the middle month of the data. With a handful of "
        "months on each side no real conclusion could be drawn.\n\n"
        "The provider is the one with the most bed days among those that published people restricted (not suppressed) "
        "in every month. Two fits are shown: the **naive** one (rounded counts as exact, suppressed months dropped) and "
        "the **bounds-aware** one (multiple imputation within the published bounds)."
    ),
    code(
        "months = sorted(rp['month'].unique())\n"
        "complete = shown.groupby('provider_id').filter(lambda g: len(g) == len(months))\n"
        "demo_id = complete.groupby('provider_id')['occupied_bed_days'].sum().idxmax()\n"
        "hypothetical_start = pd.Timestamp(months[len(months) // 2]).strftime('%Y-%m')\n"
        "series = rp[rp['provider_id'] == demo_id].sort_values('month')\n"
        "with warnings.catch_warnings():\n"
        "    warnings.simplefilter('ignore')  # the short series warns (fewer than 8 months a side); said above\n"
        "    demo = fit_its_bounds(series, 'people_restricted', 'month', hypothetical_start,\n"
        "                          exposure='occupied_bed_days', family='poisson', slope_change=False, m=20, seed=1)\n"
        "print(f'DEMONSTRATION: provider {demo_id}, hypothetical start {hypothetical_start}, {demo.n_rows} months, '\n"
        "      f'{demo.n_censored} counts known only as intervals ({demo.n_suppressed} suppressed)')\n"
        "demo.comparison().round(3)"
    ),
    code(
        "fig, ax = plt.subplots(figsize=(7, 3.5))\n"
        "rate = series['people_restricted'] / series['occupied_bed_days'] * 1000\n"
        "lo = series['people_restricted_lower'] / series['occupied_bed_days_upper'] * 1000\n"
        "hi = series['people_restricted_upper'] / series['occupied_bed_days_lower'] * 1000\n"
        "ax.errorbar(series['month'], rate, yerr=[rate - lo, hi - rate], fmt='o', capsize=3, label='published (with bounds)')\n"
        "ax.axvline(pd.Timestamp(hypothetical_start), ls='--', color='grey')\n"
        "ax.text(pd.Timestamp(hypothetical_start), ax.get_ylim()[1], ' hypothetical start\\n (demonstration)', va='top', fontsize=8)\n"
        "ax.set_ylabel('people restricted per 1,000 bed days')\n"
        "ax.set_title('DEMONSTRATION: one provider, hypothetical start')\n"
        "plt.show()"
    ),
    new_markdown_cell(
        "## What the import log records\n\n"
        "`import_report.json` in the data folder lists every file read (with its SHA-256), the layout detected, rows "
        "kept and dropped with the reason, the name -> code matches and the names left unmatched (with their stable "
        "derived ids), name merges, the measure switch (MHS09 -> MHS08, kept as two measures) and the suppressed "
        "cells per measure."
    ),
]

nb = new_notebook(metadata=dict(META, title="Published NHS data in cocEval: a worked example"), cells=cells)
nbformat.write(nb, "notebooks/public_data_example.ipynb")
# the project's formatter also checks notebooks: format the generated cells the same way
subprocess.run([sys.executable, "-m", "ruff", "format", "notebooks/public_data_example.ipynb"], check=False)
