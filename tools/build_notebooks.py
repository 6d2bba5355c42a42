"""Write the two report notebooks (thin: every cell calls cocEval.report). Run: python tools/build_notebooks.py"""

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

# The kernel `make setup` installs: `ipykernel install --name cocEval` stores it as "coceval" (kernel
# names are lower-cased), so the notebooks ask for "coceval" and JupyterLab opens without a dialog.
KERNEL = "coceval"
META = {
    "kernelspec": {"name": KERNEL, "display_name": "Python (cocEval)", "language": "python"},
    "language_info": {"name": "python"},
}


def code(src, *tags):
    c = new_code_cell(src)
    if tags:
        c.metadata["tags"] = list(tags)
    return c


provider = new_notebook(
    metadata=dict(META, title="Culture of Care provider report"),
    cells=[
        code(
            "# Parameters (papermill injects values after this cell)\n"
            'provider_id = "SYN001"\n'
            "data_dir = None  # default: the synthetic data in data/synthetic\n"
            "config = None  # default: params/programme.yaml\n"
            "summary_path = None  # where the batch runner collects headline effects\n"
            "effects_path = None  # where the batch collects what the programme report pools",
            "parameters",
        ),
        code(
            "%matplotlib inline\n"
            "from cocEval.report.provider import ProviderReport\n\n"
            "rep = ProviderReport.build(provider_id, data_dir, config)",
            "remove_cell",
        ),
        code("rep.title()"),
        new_markdown_cell(
            "This report compares this provider's restrictive practice, patient experience and staff experience before "
            "and after Culture of Care coaching started. It leads with what changed, by how much and how sure we can be; "
            "charts follow; methods and data provenance come last. Small counts are suppressed (shown as \\*)."
        ),
        code("rep.at_a_glance()"),
        code("rep.data_quality()"),
        code("rep.restrictive_practice()"),
        code("rep.patient_experience()"),
        code("rep.staff_experience()"),
        code("rep.peers()"),
        code("rep.methods()"),
        code("rep.provenance()"),
        code("rep.write_summary(summary_path, effects_path)", "remove_cell"),
    ],
)


def write(nb, path: str) -> None:
    """Write with stable cell ids (ids follow the cell's position), so a rebuild changes nothing it need not."""
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:02d}"
    nbformat.write(nb, path)


write(provider, "notebooks/provider_report.ipynb")

programme = new_notebook(
    metadata=dict(META, title="Culture of Care programme evaluation"),
    cells=[
        code(
            "# Parameters (papermill injects values after this cell)\n"
            "data_dir = None  # default: the synthetic data in data/synthetic\n"
            "config = None  # default: params/programme.yaml\n"
            "summary_path = None  # where the batch runner collects headline effects\n"
            "provider_effects = None  # what provider reports of the same inputs pooled (the batch hands it over)",
            "parameters",
        ),
        code(
            "%matplotlib inline\n"
            "from cocEval.report.programme import ProgrammeReport\n\n"
            "rep = ProgrammeReport.build(data_dir, config, provider_effects=provider_effects)",
            "remove_cell",
        ),
        # Each cell shows one Section (report data, rendered by its _repr_html_); no display calls.
        code("rep.title()"),
        code("rep.verdict()"),
        code("rep.participation()"),
        code("rep.staggered_did()"),
        code("rep.twfe_and_bacon()"),
        code("rep.pooled_its()"),
        code("rep.cohorts()"),
        code("rep.staff_experience()"),
        code("rep.truth()"),
        code("rep.robustness()"),
        code("rep.methods()"),
        code("rep.provenance()"),
        code("rep.write_summary(summary_path)", "remove_cell"),
    ],
)
write(programme, "notebooks/programme_evaluation.ipynb")
