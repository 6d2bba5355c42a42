"""Provenance of a report: which code, which dependencies, which data, which config, which seeds.

Shared by the provider and programme reports (their last section) and by the batch manifest.
No machine paths: the data folder is named by its fingerprint, the config by its hash.

Examples
--------
>>> info = provenance(data_hash="ab" * 32, config_hash="cd" * 32, seeds={"did bootstrap": 1})
>>> info["Data fingerprint (SHA-256)"], info["Random seeds"]
('abababababababab', 'did bootstrap: 1')
"""

from __future__ import annotations

import platform
import subprocess
from datetime import datetime
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import cocEval

__all__ = ["DEPENDENCIES", "git_commit", "provenance", "versions"]

#: The libraries whose versions a report names.
DEPENDENCIES = (
    "numpy",
    "pandas",
    "scipy",
    "statsmodels",
    "matplotlib",
    "pandera",
    "papermill",
    "nbconvert",
    "ipykernel",
)


@lru_cache(maxsize=1)
def git_commit() -> str:
    """The git commit of the cocEval code (with '+changes' when the tree is dirty), or 'not a git checkout'.

    Examples
    --------
    >>> c = git_commit()
    >>> c == "not a git checkout" or len(c.split("+")[0]) == 12
    True
    """
    here = Path(cocEval.__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "."],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "not a git checkout"
    return sha[:12] + ("+changes" if dirty else "") if sha else "not a git checkout"


@lru_cache(maxsize=1)
def versions() -> dict[str, str]:
    """Python and key dependency versions.

    Examples
    --------
    >>> v = versions()
    >>> v["cocEval"] == cocEval.__version__ and "pandas" in v
    True
    """
    out = {"python": platform.python_version(), "cocEval": cocEval.__version__}
    for name in DEPENDENCIES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def provenance(*, data_hash: str, config_hash: str, seeds: dict[str, int] | None = None) -> dict[str, str]:
    """What a report's provenance section shows, as ``{item: value}`` (no machine paths).

    Examples
    --------
    >>> p = provenance(data_hash="ab" * 32, config_hash="cd" * 32, seeds={"bootstrap": 7})
    >>> p["Data fingerprint (SHA-256)"], p["Random seeds"]
    ('abababababababab', 'bootstrap: 7')
    """
    v = versions()
    return {
        "cocEval version": v["cocEval"],
        "Code commit": git_commit(),
        "Python": v["python"],
        "Dependencies": ", ".join(f"{k} {v[k]}" for k in DEPENDENCIES),
        "Data fingerprint (SHA-256)": data_hash[:16],
        "Configuration (SHA-256)": config_hash[:16],
        "Random seeds": ", ".join(f"{k}: {s}" for k, s in (seeds or {}).items()) or "none used",
        "Rendered": datetime.now().strftime("%Y-%m-%d %H:%M"),
    }
