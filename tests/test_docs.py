"""The documentation site: generated reference pages follow the code, and the built site is
self-contained (no scripts, styles, fonts or frames from the network).

The generators in ``docs/_ext/cocdocs.py`` are tested directly (fast); the built site
(``docs/_build/html``, as ``make docs`` writes it, rebuilt here when older than its sources) is
tested under the ``slow`` marker.
"""

from __future__ import annotations

import html
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import Field, create_model

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
HTML = DOCS / "_build" / "html"
sys.path.insert(0, str(DOCS / "_ext"))

import cocdocs  # noqa: E402


# --------------------------------------------------------------------------------------------
# generated reference pages follow the code
# --------------------------------------------------------------------------------------------
def _fields(model, seen=None) -> set[str]:
    """Every field name of a pydantic model and the models nested in it."""
    seen = set() if seen is None else seen
    names = set()
    for name, f in model.model_fields.items():
        names.add(name)
        for sub in _nested_models(f.annotation):
            if sub not in seen:
                seen.add(sub)
                names |= _fields(sub, seen)
    return names


def _nested_models(annotation):
    from typing import get_args

    from pydantic import BaseModel

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for a in get_args(annotation) for m in _nested_models(a)]


def _subcommands(parser):
    import argparse

    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return subs[0].choices if subs else {}


def _options(parser):
    import argparse

    return [o for a in parser._actions if not isinstance(a, argparse._HelpAction) for o in a.option_strings]


def test_cli_reference_lists_every_command_and_option():
    from cocEval.cli import build_parser

    parser = build_parser()
    page = cocdocs.cli_reference(parser)
    for name, sub in _subcommands(parser).items():
        assert f"## `{name}`" in page
        for opt in _options(sub):
            assert f"`{opt}" in page or f", {opt}" in page, (name, opt)


def test_cli_reference_changes_with_the_parser_and_escapes_help():
    from cocEval.cli import build_parser

    parser = build_parser()
    before = cocdocs.cli_reference(parser)
    sub = _subcommands(parser)["validate"]
    sub.add_argument("--strict-ids", action="store_true", help="reject ids matching *_TEST_*")
    after = cocdocs.cli_reference(parser)
    assert "--strict-ids" in after and "--strict-ids" not in before
    assert r"reject ids matching \*\_TEST\_\*" in after  # Markdown must not read it as emphasis


def test_config_reference_lists_every_key():
    from cocEval.config import ProgrammeConfig

    page = cocdocs.config_reference(ProgrammeConfig)
    missing = sorted(n for n in _fields(ProgrammeConfig) if f"`{n}`" not in page)
    assert not missing, f"config keys missing from the generated page: {missing}"


def test_config_reference_changes_with_the_schema():
    from cocEval.config import ProgrammeConfig, ReportOptions

    before = cocdocs.config_reference(ProgrammeConfig)
    new_report = create_model(
        "ReportOptions",
        __base__=ReportOptions,
        dpi=(int, Field(123, ge=7)),
        brand_new_option=(bool, Field(False, description="a key added to the schema")),
    )
    changed = create_model("ProgrammeConfig", __base__=ProgrammeConfig, report=(new_report, new_report()))
    after = cocdocs.config_reference(changed)
    assert after != before
    assert "`brand_new_option`" in after and "a key added to the schema" in after
    assert "`brand_new_option`" not in before
    dpi_row = next(line for line in after.splitlines() if line.startswith("| `dpi`"))
    assert "`123`" in dpi_row and ">= 7" in dpi_row


def test_data_dictionary_lists_every_column_and_rule():
    from cocEval import data

    page = cocdocs.data_dictionary()
    for table, schema in data.SCHEMAS.items():
        assert f"`{table}`" in page
        for column, col in schema.columns.items():
            assert f"`{column}`" in page, (table, column)
            for check in col.checks:
                assert str(check.name) in page, (table, column, check.name)
        for check in schema.checks:
            assert str(check.name) in page, (table, check.name)


def test_data_dictionary_changes_with_the_schema():
    import pandera.pandas as pa

    from cocEval import data

    schemas = dict(data.SCHEMAS)
    schemas["staff_survey"] = schemas["staff_survey"].add_columns(
        {
            "wellbeing_score": pa.Column(
                float, checks=[pa.Check.ge(0, name="at least zero")], nullable=True, description="wellbeing in points"
            )
        }
    )
    page = cocdocs.data_dictionary(schemas, data.KEYS)
    row = next(line for line in page.splitlines() if line.startswith("| `wellbeing_score`"))
    assert "at least zero" in row and "| yes | yes |" in row and "wellbeing in points" in row
    assert "wellbeing_score" not in cocdocs.data_dictionary()


def test_api_pages_cover_public_modules_by_import_path():
    import importlib
    import pkgutil

    import cocEval

    modules = cocdocs.public_modules()
    assert modules[0] == "cocEval"
    assert not [m for m in modules if any(part.startswith("_") for part in m.split("."))]
    # every top-level public module or package is documented under its import path
    top = {f"cocEval.{m.name}" for m in pkgutil.iter_modules(cocEval.__path__) if not m.name.startswith("_")}
    assert top <= set(modules), top - set(modules)
    pages = cocdocs.api_pages()
    for m in modules:
        assert f".. automodule:: {m}" in pages[f"api/{m}.rst"]
        assert f"generated/api/{m}" in pages["api_index.rst"]
    # a package with __all__ is one page of the names it exports (e.g. cocEval.did, cocEval.its)
    import cocEval.did

    assert ":imported-members:" in pages["api/cocEval.did.rst"]
    assert set(cocEval.did.__all__) >= {"att_gt", "bacon_decomposition"}
    for m in modules:  # a submodule of such a package has a page only for names it does not export
        parent = m.rsplit(".", 1)[0]
        pkg = importlib.import_module(parent)
        if parent != "cocEval" and hasattr(pkg, "__all__"):
            mod = importlib.import_module(m)
            exported = {id(getattr(pkg, n, None)) for n in pkg.__all__}
            assert not any(id(getattr(mod, n, None)) in exported for n in mod.__all__), m
    assert "cocEval.did.attgt" not in modules  # att_gt is documented as cocEval.did.att_gt


# --------------------------------------------------------------------------------------------
# no remote assets
# --------------------------------------------------------------------------------------------
_ASSET_TAG = re.compile(
    r"<(script|link|img|iframe|frame|source|video|audio|embed|object|track|image|use)\b[^>]*?"
    r"\b(src|href|data|xlink:href|srcset|poster)\s*=\s*[\"']?\s*((?:https?:)?//[^\"'\s>]+)",
    re.I,
)
_CSS_URL = re.compile(r"(?:url\(\s*[\"']?|@import\s+[\"'])\s*((?:https?:)?//[^\"')\s]+)", re.I)


def remote_assets(text: str) -> list[str]:
    """URLs of scripts, styles, fonts, images or frames a page or stylesheet loads from the
    network. Links a reader may follow (``<a href>``) are not assets. Embedded documents
    (``iframe srcdoc``) are checked too, by unescaping the text first."""
    found = []
    for t in (text, html.unescape(text)):
        found += [m.group(3) for m in _ASSET_TAG.finditer(t)]
        found += [m.group(1) for m in _CSS_URL.finditer(t)]
    return sorted(set(found))


@pytest.mark.parametrize(
    ("text", "remote"),
    [
        ('<script src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml.js"></script>', True),
        ("<link rel='stylesheet' href='//fonts.googleapis.com/css?family=Roboto'>", True),
        ("<style>@font-face { src: url(https://example.org/f.woff2) }</style>", True),
        ('<iframe srcdoc="&lt;img src=&quot;http://example.org/x.png&quot;&gt;"></iframe>', True),
        ('<script src="_static/mathjax/tex-chtml.js"></script><link href="_static/furo.css">', False),
        ('<a href="https://www.england.nhs.uk/">a link to read</a>', False),
        ('<img src="data:image/png;base64,iVBOR">', False),
    ],
)
def test_remote_asset_check_can_fail(text, remote):
    assert bool(remote_assets(text)) is remote


# --------------------------------------------------------------------------------------------
# the built site
# --------------------------------------------------------------------------------------------
def _newest_source() -> float:
    paths = [ROOT / "CHANGELOG.md", *(ROOT / "params").glob("*.yaml"), *(ROOT / "tests" / "reference").glob("*")]
    paths += [p for p in DOCS.rglob("*") if "_build" not in p.parts and "generated" not in p.parts]
    paths += list((ROOT / "cocEval").rglob("*.py"))
    return max(p.stat().st_mtime for p in paths if p.is_file())


@pytest.fixture(scope="module")
def site() -> Path:
    """``docs/_build/html``, rebuilt (as ``make docs`` does) when older than its sources."""
    index = HTML / "index.html"
    if not index.is_file() or index.stat().st_mtime < _newest_source():
        cmd = [sys.executable, "-m", "sphinx", "-E", "-W", "--keep-going", "-q", "-b", "html", str(DOCS), str(HTML)]
        run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        assert run.returncode == 0, f"docs build failed:\n{run.stderr[-5000:]}"
    return HTML


@pytest.mark.slow
def test_site_has_no_remote_assets(site):
    pages = [p for p in site.rglob("*") if p.suffix in (".html", ".css") and p.is_file()]
    assert len(pages) > 20
    offenders = {
        str(p.relative_to(site)): urls for p in pages if (urls := remote_assets(p.read_text(errors="replace")))
    }
    assert not offenders, f"remote assets in the built site: {offenders}"
    # MathJax is served from the site itself
    its = (site / "methods" / "its.html").read_text()
    assert re.search(r'<script[^>]+src="[./]*_static/mathjax/tex-chtml\.js(\?[^"]*)?"', its)
    assert (site / "_static" / "mathjax" / "tex-chtml.js").is_file()


@pytest.mark.slow
def test_site_pages_and_generated_reference(site):
    from cocEval.cli import build_parser
    from cocEval.config import ProgrammeConfig

    for page in [
        "getting-started",
        "tutorials/your-data",
        "tutorials/public-data",
        "methods/its",
        "methods/did",
        "methods/monitoring",
        "reports/provider-report",
        "reports/disclosure",
        "validation/index",
        "reference/api",
        "reference/cli",
        "reference/config",
        "reference/data",
        "reference/changelog",
    ]:
        assert (site / f"{page}.html").is_file(), page
    text = {p: html.unescape((site / f"reference/{p}.html").read_text()) for p in ("cli", "config", "data")}
    # CLI: every option of every sub-command, from argparse
    for name, sub in _subcommands(build_parser()).items():
        assert name in text["cli"]
        for opt in _options(sub):
            assert opt in text["cli"], (name, opt)
    # configuration: every key; data dictionary: every rule name
    for key in _fields(ProgrammeConfig):
        assert key in text["config"], key
    assert "score within 0-10" in text["data"]


@pytest.mark.slow
def test_tutorials_were_executed(site):
    tutorial = html.unescape((site / "tutorials" / "your-data.html").read_text())
    assert "Data validation failed for broken" in tutorial  # the real DataValidationError
    assert "score within 0-10" in tutorial and "exit status 0" in tutorial  # the provider rendered
    assert "providers/SYN001.html" in tutorial  # one provider rendered
    validation = html.unescape((site / "validation" / "index.html").read_text())
    assert "all within tolerance: True" in validation
    assert "ar1-reml" in validation
