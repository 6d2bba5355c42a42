"""The worked example on real published data renders end to end (needs ../shared/real)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "public_data_example.ipynb"


def test_committed_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in nb.cells if c.cell_type == "code")


@pytest.mark.slow
@pytest.mark.reports
def test_public_data_example_renders(real, tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nb.cells[1].source += f"\nout_dir = {str(tmp_path)!r}"
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    ).execute()
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    assert "DEMONSTRATION: provider" in text and "hypothetical start" in text
    assert not any(o.get("name") == "stderr" for c in nb.cells for o in c.get("outputs", []))
    assert (tmp_path / "imported" / "import_report.json").is_file()
