"""Sphinx configuration for the cocEval documentation site.

Build with ``make docs`` (warnings are errors). Tutorials are MyST notebooks (``.md`` files
with a ``kernelspec``) executed at build time on the project's Jupyter kernel; reference pages
for the configuration and the data contract are generated from the code by ``_ext/cocdocs.py``.
The site is self-contained: no scripts, styles or fonts are loaded from the network.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS / "_ext"))
sys.path.insert(0, str(ROOT))

import cocEval  # noqa: E402

project = "cocEval"
author = "cocEval contributors"
copyright = "cocEval contributors"  # noqa: A001
release = cocEval.__version__
version = release

extensions = [
    "myst_nb",  # MyST markdown + executed notebooks (includes myst_parser)
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",  # numpy-style docstrings
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # a local copy of MathJax 3 (no CDN)
    "cocdocs",  # generated reference pages (CLI, config, data dictionary, API list)
]

# generated pieces that other pages include (the API pages under generated/api/ are documents)
exclude_patterns = [
    "_build",
    "**.ipynb_checkpoints",
    "reference/generated/*.md",
    "reference/generated/*.rst",
]

# -- MyST and notebooks ----------------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# Pages are executed when they or anything they run on changed: the cache is keyed by the package,
# its notebooks and templates, the data, configuration, test fixtures and helpers and benchmarks the
# pages read, so a change there re-executes every page (a broken example fails the build).
_INPUTS = [
    "cocEval/**/*",
    "notebooks/*.ipynb",
    "params/*",
    "data/synthetic/*",
    "tests/reference/*",
    "tests/test_its.py",
    "tests/test_meta.py",
    "tests/test_did.py",
    "benchmarks/*.py",
    "docs/_ext/*.py",
]
_src = hashlib.sha256()
for _p in sorted(
    {p for pattern in _INPUTS for p in ROOT.glob(pattern) if p.is_file() and "__pycache__" not in p.parts}
):
    _src.update(str(_p.relative_to(ROOT)).encode())
    _src.update(_p.read_bytes())
# The worked example on published data (tutorials/public-data.md) runs on ../shared/real beside
# the project; those third-party files are not shipped, so without them the page is shown with
# its code and no output rather than failing the build.
_REAL = next(
    (b / "shared" / "real" for b in (ROOT.parent, ROOT.parent.parent) if (b / "shared" / "real").is_dir()), None
)
_src.update(b"real data present" if _REAL is not None else b"real data absent")
nb_execution_excludepatterns = [] if _REAL is not None else ["tutorials/public-data.md"]
_CACHES = DOCS / "_build" / ".jupyter_cache"
nb_execution_mode = "cache"
nb_execution_cache_path = str(_CACHES / _src.hexdigest()[:16])
for _old in _CACHES.glob("*"):  # caches of earlier inputs are never used again
    if _old.is_dir() and str(_old) != nb_execution_cache_path:
        shutil.rmtree(_old, ignore_errors=True)
nb_execution_timeout = 600
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_execution_in_temp = False
nb_output_stderr = "warn"  # anything on stderr (warnings) is a build warning, hence an error
nb_merge_streams = True
nb_ipywidgets_js = {}  # no widget JavaScript from a CDN
# The project's kernel (`make setup` installs it into .venv); else the Python running Sphinx.
try:
    from jupyter_client.kernelspec import KernelSpecManager

    _kernels = KernelSpecManager().find_kernel_specs()
except Exception:  # pragma: no cover - jupyter_client is a dependency
    _kernels = {}
nb_kernel_rgx_aliases = {".*": "coceval" if "coceval" in _kernels else "python3"}

# -- API reference ---------------------------------------------------------------------------
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": False}
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False

# -- HTML ------------------------------------------------------------------------------------
html_theme = "furo"
html_title = f"cocEval {release}"
html_theme_options = {"navigation_with_keys": True}
html_show_sourcelink = False
html_last_updated_fmt = None
