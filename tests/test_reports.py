"""Batch reports end to end on a reduced config: HTML safety, failures, skipping, Dask."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from cocEval.batch import export_html
from cocEval.cli import main
from cocEval.data import RESTRICTIVE_COUNTS

pytestmark = [pytest.mark.reports, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
SYNTHETIC = ROOT / "data" / "synthetic"
PROVIDERS = ["SYN001", "SYN035"]
REMOTE = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?(?:https?:)?//|@import""", re.I)


@pytest.fixture(scope="module")
def reduced_config(tmp_path_factory) -> Path:
    """The programme config cut down so the suite stays quick: two outcomes, fewer draws."""
    raw = yaml.safe_load((ROOT / "params" / "programme.yaml").read_text())
    raw["outcomes"] = {k: raw["outcomes"][k] for k in ("restrictive_interventions", "positive_experience")}
    raw["staff_indicators"] = {k: raw["staff_indicators"][k] for k in ("engagement", "violence")}
    raw["did"]["n_boot"] = 199
    raw["data_dir"] = str(SYNTHETIC)
    path = tmp_path_factory.mktemp("config") / "programme.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture(scope="module")
def batch(tmp_path_factory, reduced_config):
    out = tmp_path_factory.mktemp("reports")
    (out / "providers").mkdir()
    (out / "providers" / "SYN101.html").write_text("an earlier good report")  # must be set aside on failure
    status = main(
        [
            "reports",
            "--config",
            str(reduced_config),
            "--providers",
            ",".join([*PROVIDERS, "SYN101"]),
            "--output",
            str(out),
            "--jobs",
            "2",
        ]
    )
    return out, status


def _text(html: str) -> str:
    body = re.sub(r"<style.*?</style>", "", html, flags=re.S)
    body = re.sub(r"<img[^>]*>", "", body)
    return re.sub(r"<[^>]+>", " ", body)


def test_batch_renders_reports_and_reports_failure(batch):
    out, status = batch
    assert status == 1  # SYN101 never joined: its report fails, the others do not
    for pid in PROVIDERS:
        assert (out / "providers" / f"{pid}.html").is_file()
        assert (out / "executed" / f"{pid}.ipynb").is_file()
    assert (out / "programme.html").is_file()
    manifest = json.loads((out / "manifest.json").read_text())
    reps = manifest["reports"]
    assert {reps[p]["status"] for p in PROVIDERS} == {"ok"} and reps["programme"]["status"] == "ok"
    assert reps["SYN101"]["status"] == "failed" and "never started coaching" in reps["SYN101"]["reason"]
    assert manifest["data_hash"] and manifest["versions"]["pandas"]
    index = (out / "index.html").read_text()
    assert "never started coaching" in index and 'href="providers/SYN001.html"' in index
    assert "Restrictive interventions" in index  # headline effects collected from the notebooks
    # a failed render never leaves an earlier report presented as current: it is moved aside
    assert not (out / "providers" / "SYN101.html").exists()
    assert (out / "stale" / "providers" / "SYN101.html").read_text() == "an earlier good report"
    assert reps["SYN101"]["stale_html"] == "stale/providers/SYN101.html" and "out of date" in index


@pytest.mark.parametrize("name", [*PROVIDERS, "programme"])
def test_html_is_safe_to_send(batch, name):
    out, _ = batch
    path = out / ("programme.html" if name == "programme" else f"providers/{name}.html")
    html = path.read_text()
    text = _text(html)
    assert not REMOTE.search(html), REMOTE.search(html)
    assert "http://" not in html and "https://" not in html
    assert "<script" not in html.lower()
    assert len(re.findall(r"<img[^>]+data:image/png;base64", html)) >= 4  # figures embedded
    for leak in (
        "ProviderReport",
        "ProgrammeReport",
        "import ",
        "rep.",
        "Traceback",
        "Warning",
        "warnings.warn",
        "In&nbsp;[",
        "jp-InputPrompt",
    ):
        assert leak not in text, leak
    assert not re.search(r'class="[^"]*(jp-CodeMirrorEditor|highlight hl-ipython3)', html)
    code_cells = re.findall(r'class="jp-Cell jp-CodeCell[^"]*"', html)
    assert code_cells and all("jp-mod-noInput" in c for c in code_cells)


@pytest.mark.parametrize("pid", PROVIDERS)
def test_provider_report_names_no_other_provider(batch, pid):
    out, _ = batch
    html = (out / "providers" / f"{pid}.html").read_text()
    part = pd.read_csv(SYNTHETIC / "participation.csv")
    others = part[part.provider_id != pid]
    assert pid in html
    assert not [i for i in others.provider_id if i in html]
    assert not [n for n in others.provider_name if n in html]


def test_unchanged_reports_are_skipped_and_force_rerenders(batch, reduced_config):
    out, _ = batch
    html = out / "providers" / "SYN001.html"
    before = html.stat().st_mtime_ns
    args = ["reports", "--config", str(reduced_config), "--providers", "SYN001", "--output", str(out), "--no-programme"]
    assert main(args) == 0
    assert html.stat().st_mtime_ns == before
    assert json.loads((out / "manifest.json").read_text())["reports"]["SYN001"]["skipped"] is True
    assert main([*args, "--force"]) == 0
    assert html.stat().st_mtime_ns > before


def _tiny_counts_data(folder: Path) -> Path:
    """Synthetic data in which SYN002 has tiny counts and a name containing markup."""
    shutil.copytree(SYNTHETIC, folder)
    (folder / "truth.csv").unlink()
    part = pd.read_csv(folder / "participation.csv", dtype=str, keep_default_na=False)
    part.loc[part.provider_id == "SYN002", "provider_name"] = "<b>Bold & Co</b> <script>alert(1)</script>"
    part.to_csv(folder / "participation.csv", index=False)
    rp = pd.read_csv(folder / "restrictive_practice.csv", dtype={"month": str})
    counts = list(RESTRICTIVE_COUNTS)
    mine = rp.provider_id == "SYN002"
    rp.loc[mine, counts] = 0
    # a handful of single events scattered over five years
    few = rp[mine].index[::37]
    rp.loc[few, ["restrictive_interventions", "seclusion", "people_restricted"]] = 1
    rp.to_csv(folder / "restrictive_practice.csv", index=False)
    return folder


def test_tiny_counts_suppressed_and_markup_escaped(tmp_path, reduced_config):
    data = _tiny_counts_data(tmp_path / "tiny")
    out = tmp_path / "out"
    status = main(
        [
            "reports",
            "--config",
            str(reduced_config),
            "--data",
            str(data),
            "--providers",
            "SYN002",
            "--output",
            str(out),
            "--no-programme",
        ]
    )
    assert status == 0, (out / "manifest.json").read_text()
    html = (out / "providers" / "SYN002.html").read_text()
    assert "<script>alert" not in html and "<b>Bold" not in html
    assert "&lt;b&gt;Bold &amp; Co&lt;/b&gt;" in html
    # the at-a-glance rates rest on fewer than 5 events: suppressed
    row = re.search(r"<td[^>]*>Restrictive interventions</td>(.*?)</tr>", html, flags=re.S).group(1)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
    assert cells[0] == "per 1,000 occupied bed days", cells  # the unit, then the two rates
    assert cells[1] == "*" and cells[2] == "*", cells
    assert "not modelled" in _text(html) or "No interrupted time series model" in _text(html)


def test_dask_scheduler_runs_the_same_tasks(tmp_path, reduced_config):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        out = tmp_path / "dask"
        status = main(
            [
                "reports",
                "--config",
                str(reduced_config),
                "--providers",
                "SYN001",
                "--output",
                str(out),
                "--no-programme",
                "--scheduler",
                cluster.scheduler_address,
            ]
        )
    assert status == 0
    assert (out / "providers" / "SYN001.html").is_file()


def test_export_html_drops_code_stderr_and_remote_links():
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

    nb = new_notebook(
        cells=[
            new_markdown_cell("# Title"),
            new_code_cell(
                "secret_code = 1",
                outputs=[
                    new_output("stream", name="stderr", text="UserWarning: noisy"),
                    new_output("stream", name="stdout", text="shown"),
                ],
            ),
        ]
    )
    html = export_html(nbformat.from_dict(nb))
    assert "secret_code" not in html and "noisy" not in html and "shown" in html
    assert not REMOTE.search(html) and "https://" not in html


@pytest.mark.parametrize("pid", PROVIDERS)
def test_provider_page_has_its_own_title_alt_text_and_no_paths(batch, pid):
    out, _ = batch
    html = (out / "providers" / f"{pid}.html").read_text()
    name = pd.read_csv(SYNTHETIC / "participation.csv").set_index("provider_id").at[pid, "provider_name"]
    assert re.search(r"<title>(.*?)</title>", html).group(1) == f"Culture of Care evaluation: {name}"
    imgs = re.findall(r"<img[^>]*>", html)
    assert imgs and all(re.search(r'alt="[^"]{20,}"', i) for i in imgs)
    text = _text(html)
    for path in ("/work", "/tmp", "data/synthetic", "programme.yaml"):
        assert path not in text, path
    assert "coc-table-wrap" in html and ".coc-table-wrap" in html  # tables scroll in their own box


CHROMIUM = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if Path(p).is_file()), None)
_WIDE_TEXT = (
    "Array.from(document.querySelectorAll('p, li, h1, h2, h3, figcaption, .coc-callout'))"
    ".filter(e => !e.closest('.coc-table-wrap, table')"
    " && e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)"
    ".map(e => e.textContent.slice(0, 60))"
)
_BROKEN_IMAGES = (
    "Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)"
    " || i.getBoundingClientRect().right > document.documentElement.clientWidth + 1).length"
)


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    if CHROMIUM is None:
        pytest.skip("no Chromium installed (apt-get install -y chromium)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


@pytest.mark.parametrize(
    "name",
    [
        "index.html",
        "providers/SYN001.html",
        "programme.html",
    ],
)
def test_reports_work_in_a_real_browser(batch, browser, name):
    """Headless Chromium (Debian's) opens the page at 1200 and 400 px: no console errors, every
    image loads and fits, every index link resolves, and nothing but a table's own box scrolls
    sideways (text wraps to the page)."""
    out, _ = batch
    path = out / name
    for width in (1200, 400):
        page = browser.new_page(viewport={"width": width, "height": 900})
        errors: list[str] = []
        page.on("console", lambda m, errors=errors: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
        page.goto(path.as_uri())
        try:
            assert not errors, (width, errors)
            assert page.evaluate(_BROKEN_IMAGES) == 0, width
            if name != "index.html":
                assert page.evaluate("document.images.length") >= 4
            assert not page.evaluate(_WIDE_TEXT), width
            scroll = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert scroll <= 1, (width, scroll)  # the page itself never scrolls sideways
        finally:
            page.close()


def test_every_index_link_resolves_in_a_browser(batch, browser):
    out, _ = batch
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto((out / "index.html").as_uri())
    hrefs = page.evaluate("Array.from(document.links).map(a => a.getAttribute('href'))")
    page.close()
    local = [h for h in hrefs if h and not h.startswith(("#", "mailto:"))]
    assert not errors and local and all((out / h).is_file() for h in local), (errors, local)
    assert "providers/SYN001.html" in local
