"""pyproject.toml is the single source of dependencies; environment.yml must agree with it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[\s<>=!~\[;]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_agrees_with_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    conda = [d for d in deps if isinstance(d, str)]
    pip = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)

    python = next(d for d in conda if _name(d) == "python")
    assert python.replace(" ", "") == "python" + project["requires-python"].replace(" ", "")
    assert "pip" in conda
    # the package itself, with the dev and docs extras, is installed from pyproject
    editable = next(p for p in pip if p.startswith("-e ."))
    extras = set(re.findall(r"\[(.*)\]", editable)[0].split(","))
    assert {"dev", "docs"} <= extras, editable
    assert extras <= set(project["optional-dependencies"]), editable
    declared = {_name(r) for r in project["dependencies"]} | {
        _name(r) for extra in project["optional-dependencies"].values() for r in extra
    }
    others = {_name(d) for d in conda if _name(d) not in ("python", "pip")} | {
        _name(p) for p in pip if not p.startswith("-e")
    }
    assert others <= declared, f"environment.yml lists packages missing from pyproject: {others - declared}"


def test_kernel_and_console_script_declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["coc-eval"] == "cocEval.cli:main"
    assert any(_name(d) == "ipykernel" for d in project["dependencies"])
