"""A non-editable install renders a report: notebooks and templates are package data.

Builds a wheel, installs it (without dependencies) into a fresh virtual environment in a
temporary folder whose dependencies come from the project's environment, installs the kernel
there, and renders one provider report from outside the checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.slow, pytest.mark.reports]

ROOT = Path(__file__).resolve().parents[1]


def _run(cmd, **kw) -> subprocess.CompletedProcess:
    run = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=900, **kw)
    assert run.returncode == 0, f"{cmd}\n{run.stdout[-2000:]}\n{run.stderr[-3000:]}"
    return run


def test_wheel_install_renders_a_report_outside_the_checkout(tmp_path):
    wheels = tmp_path / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", wheels, ROOT])
    [wheel] = [w for w in wheels.iterdir() if w.name.lower().startswith("coceval-") and w.suffix == ".whl"]
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    assert "cocEval/notebooks/provider_report.ipynb" in names
    assert "cocEval/notebooks/programme_evaluation.ipynb" in names
    assert any(n.startswith("cocEval/templates/cocEval/") for n in names)

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv])
    py = venv / "bin" / "python"
    site = Path(_run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    # dependencies from the project's environment (a plain path: its editable cocEval is not seen)
    (site / "_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([sys.executable, "-m", "pip", "--python", py, "install", "--no-deps", "--quiet", wheel])
    # nbconvert's templates are data files of its own install: give the venv what pip would
    shutil.copytree(Path(sys.prefix) / "share" / "jupyter" / "nbconvert", venv / "share" / "jupyter" / "nbconvert")
    _run([py, "-m", "ipykernel", "install", "--sys-prefix", "--name", "cocEval"])

    away = tmp_path / "elsewhere"
    away.mkdir()
    where = _run([py, "-c", "import cocEval, cocEval.batch as b; print(cocEval.__file__)"], cwd=away).stdout
    assert where.startswith(str(site)), where

    raw = yaml.safe_load((ROOT / "params" / "programme.yaml").read_text())
    raw["outcomes"] = {k: raw["outcomes"][k] for k in ("restrictive_interventions", "positive_experience")}
    raw["staff_indicators"] = {k: raw["staff_indicators"][k] for k in ("engagement",)}
    raw["did"]["n_boot"] = 199
    raw["data_dir"] = str(ROOT / "data" / "synthetic")
    config = away / "programme.yaml"
    config.write_text(yaml.safe_dump(raw))
    out = away / "reports"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "JUPYTER_PATH")}
    run = subprocess.run(
        [py, "-m", "cocEval", "reports", "--config", config, "--providers", "SYN001", "--no-programme"]
        + ["--output", out, "--jobs", "1"],
        capture_output=True,
        text=True,
        cwd=away,
        env=env,
        timeout=900,
    )
    assert run.returncode == 0, run.stderr[-3000:] + (out / "manifest.json").read_text()
    html = (out / "providers" / "SYN001.html").read_text()
    assert "SYN001" in html and "data:image/png;base64" in html
    assert json.loads((out / "manifest.json").read_text())["reports"]["SYN001"]["status"] == "ok"
