"""Batch rendering: one HTML report per provider plus the programme report.

``python -m cocEval reports`` validates the config and the data once, then runs the
parameterised notebooks with papermill (in-process, on the named ``cocEval`` kernel) in parallel
worker processes, or on an existing Dask cluster with ``--scheduler``, and exports each to a
self-contained HTML page with no code, prompts, warnings or stderr.

It is restartable: every report's inputs (data hash, config, notebook, package source) are
hashed, and a report whose hash matches the manifest and whose HTML exists is skipped unless
``--force``. Writes are atomic (a temporary file renamed over the old one), so a half-written
report never replaces a good one. One provider failing never stops the others; the exit status
is 1 when any report failed, and the index lists the reason.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import os
import platform
import random
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, version
from multiprocessing import get_context
from pathlib import Path

import cocEval

log = logging.getLogger(__name__)

PACKAGE_DIR = Path(cocEval.__file__).resolve().parent
ROOT = PACKAGE_DIR.parent
NOTEBOOKS = ROOT / "notebooks"
TEMPLATES = PACKAGE_DIR / "templates"
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

#: Errors raised while a kernel starts or dies: worth a retry (papermill/nbclient races for ZMQ
#: ports when several kernels start at once). Execution errors in a cell are not retried.
TRANSIENT = (
    "Kernel died",
    "Address already in use",
    "kernel_info",
    "DeadKernelError",
    "Timeout waiting for",
    "ZMQError",
)


@dataclass
class Task:
    """One notebook to render."""

    name: str  # provider id or "programme"
    notebook: str
    parameters: dict
    html_path: str
    executed_path: str
    key: str
    kernel: str = "cocEval"
    timeout: int = 600
    retries: int = 2


@dataclass
class Outcome:
    name: str
    status: str  # "ok", "skipped", "failed"
    seconds: float = 0.0
    attempts: int = 0
    reason: str = ""
    headline: dict = field(default_factory=dict)


# ----------------------------------------------------------------------------------------
# Rendering one notebook (runs in a worker process or a Dask worker)
# ----------------------------------------------------------------------------------------


def _atomic_write(path: Path, data: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = "wb" if isinstance(data, bytes) else "w"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **({} if mode == "wb" else {"encoding": "utf-8"})) as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def export_html(nb) -> str:
    """Export an executed notebook to self-contained report HTML.

    Code cells' inputs, prompts, stderr streams and cells tagged ``remove_cell`` are dropped;
    images are embedded; the template (``cocEval/templates/cocEval``) links no script, style
    or font from the internet (nbconvert's lab template links require.js, MathJax and mermaid
    from a CDN).

    Examples
    --------
    >>> import nbformat
    >>> nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Hello")])
    >>> "Hello" in export_html(nb) and "https://cdn" not in export_html(nb)
    True
    """
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor

    for cell in nb.cells:
        if cell.get("cell_type") == "code":
            cell["outputs"] = [
                o
                for o in cell.get("outputs", [])
                if not (o.get("output_type") == "stream" and o.get("name") == "stderr")
                and o.get("output_type") != "error"
            ]
    exporter = HTMLExporter(
        template_name="cocEval",
        extra_template_basedirs=[str(TEMPLATES)],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        embed_images=True,
    )
    exporter.register_preprocessor(
        TagRemovePreprocessor(remove_cell_tags={"remove_cell", "parameters", "injected-parameters"}), enabled=True
    )
    body, _ = exporter.from_notebook_node(nb)
    # The lab theme's CSS carries credits with web addresses in comments: drop CSS comments so
    # the page names no remote address at all.
    return re.sub(
        r"(<style[^>]*>)(.*?)(</style>)", lambda m: m[1] + _CSS_COMMENT.sub("", m[2]) + m[3], body, flags=re.S
    )


_CSS_COMMENT = re.compile(r"/\*.*?\*/", re.S)


def _ipc_kernel_manager():
    """A kernel manager whose kernels talk over IPC sockets in a private temporary path.

    Parallel kernels over TCP race for free ports ("Address already in use"), a known papermill
    problem; IPC sockets need no ports. Each kernel gets its own socket prefix.
    """
    import uuid

    from jupyter_client.manager import KernelManager
    from traitlets import default

    class IPCKernelManager(KernelManager):
        @default("transport")
        def _default_transport(self):
            return "ipc"

        @default("ip")
        def _default_ip(self):
            return str(Path(tempfile.gettempdir()) / f"coc-kernel-{uuid.uuid4().hex[:12]}")

        async def _async_launch_kernel(self, kernel_cmd, **kw):
            # The kernel process's own log lines (e.g. "KeyboardInterrupt caught in kernel" at
            # shutdown) are noise on the batch's terminal; cell output reaches the notebook over
            # the kernel's sockets, not this stream.
            kw.setdefault("stderr", subprocess.DEVNULL)
            return await super()._async_launch_kernel(kernel_cmd, **kw)

    return IPCKernelManager


def _is_transient(exc: BaseException) -> bool:
    text = f"{type(exc).__name__}: {exc}"
    return any(t in text for t in TRANSIENT)


def render(task: Task) -> Outcome:
    """Execute one notebook with papermill and export it to HTML (atomically).

    Never raises: a failure comes back as ``Outcome(status="failed", reason=...)``.
    """
    import nbformat
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    t0 = time.perf_counter()
    executed = Path(task.executed_path)
    executed.parent.mkdir(parents=True, exist_ok=True)
    tmp_nb = executed.with_name(f".{executed.name}.{os.getpid()}.running.ipynb")
    summary = Path(tempfile.mkdtemp(prefix="coc-summary-")) / "summary.json"
    params = dict(task.parameters, summary_path=str(summary))
    attempts = 0
    while True:
        attempts += 1
        try:
            pm.execute_notebook(
                task.notebook,
                str(tmp_nb),
                parameters=params,
                kernel_name=task.kernel,
                execution_timeout=task.timeout,
                progress_bar=False,
                log_output=False,
                request_save_on_cell_execute=False,
                cwd=str(ROOT),
                kernel_manager_class=_ipc_kernel_manager(),
            )
            break
        except PapermillExecutionError as exc:
            tmp_nb.unlink(missing_ok=True)
            return Outcome(task.name, "failed", time.perf_counter() - t0, attempts, f"{exc.ename}: {exc.evalue}"[:500])
        except Exception as exc:  # kernel start races and deaths are retried
            tmp_nb.unlink(missing_ok=True)
            if attempts <= task.retries and _is_transient(exc):
                time.sleep(0.5 + random.random() * 2 * attempts)
                continue
            return Outcome(
                task.name, "failed", time.perf_counter() - t0, attempts, f"{type(exc).__name__}: {exc}"[:500]
            )
    try:
        nb = nbformat.read(tmp_nb, as_version=4)
        _atomic_write(Path(task.html_path), export_html(nb))
        os.replace(tmp_nb, executed)
        headline = json.loads(summary.read_text()) if summary.is_file() else {}
    except Exception as exc:
        tmp_nb.unlink(missing_ok=True)
        return Outcome(
            task.name, "failed", time.perf_counter() - t0, attempts, f"export: {type(exc).__name__}: {exc}"[:500]
        )
    return Outcome(task.name, "ok", time.perf_counter() - t0, attempts, headline=headline)


# ----------------------------------------------------------------------------------------
# Planning and running the batch
# ----------------------------------------------------------------------------------------


def _sha256(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode() if isinstance(p, str) else p)
        h.update(b"\0")
    return h.hexdigest()


def source_hash() -> str:
    """Hash of the installed cocEval source, so a code change re-renders the reports."""
    files = sorted(PACKAGE_DIR.rglob("*.py")) + sorted(TEMPLATES.rglob("*.j2"))
    return _sha256(*(f.read_bytes() for f in files))


def versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "cocEval": cocEval.__version__}
    for d in DEPENDENCIES:
        try:
            out[d] = version(d)
        except PackageNotFoundError:
            out[d] = "not installed"
    return out


def _load_manifest(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def plan(args, cfg, prog, config_path: Path) -> list[Task]:
    """The tasks for this run: every requested provider plus the programme report."""
    participating = prog.participating["provider_id"].tolist()
    if args.providers:
        wanted = [p.strip() for p in args.providers.split(",") if p.strip()]
        unknown = sorted(set(wanted) - set(prog.participation["provider_id"]))
        if unknown:
            raise ValueError(f"--providers: unknown provider id(s) {', '.join(unknown)}")
        providers = wanted
    else:
        providers = participating
    out = Path(args.output).resolve()
    data_dir = str(Path(prog.source).resolve())
    common = _sha256(prog.data_hash, config_path.read_bytes(), cocEval.__version__, source_hash())
    rep = cfg.report
    tasks = []
    for pid in providers:
        nbp = NOTEBOOKS / "provider_report.ipynb"
        tasks.append(
            Task(
                name=pid,
                notebook=str(nbp),
                key=_sha256(common, nbp.read_bytes(), pid),
                parameters={"provider_id": pid, "data_dir": data_dir, "config": str(config_path.resolve())},
                html_path=str(out / "providers" / f"{pid}.html"),
                executed_path=str(out / "executed" / f"{pid}.ipynb"),
                kernel=rep.kernel,
                timeout=rep.timeout_seconds,
                retries=rep.retries,
            )
        )
    if not getattr(args, "no_programme", False):
        nbp = NOTEBOOKS / "programme_evaluation.ipynb"
        tasks.append(
            Task(
                name="programme",
                notebook=str(nbp),
                key=_sha256(common, nbp.read_bytes(), "programme"),
                parameters={"data_dir": data_dir, "config": str(config_path.resolve())},
                html_path=str(out / "programme.html"),
                executed_path=str(out / "executed" / "programme.ipynb"),
                kernel=rep.kernel,
                timeout=rep.timeout_seconds,
                retries=rep.retries,
            )
        )
    return tasks


def _run_local(tasks: list[Task], jobs: int, on_done) -> None:
    if jobs <= 1 or len(tasks) == 1:
        for t in tasks:
            on_done(render(t))
        return
    # Programme report first: it is the longest, so it should not start last.
    with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(render, t): t for t in sorted(tasks, key=lambda t: t.name != "programme")}
        for fut in as_completed(futures):
            try:
                on_done(fut.result())
            except Exception as exc:  # a worker process died
                on_done(Outcome(futures[fut].name, "failed", reason=f"worker: {type(exc).__name__}: {exc}"))


def _run_dask(tasks: list[Task], address: str, on_done) -> None:
    from distributed import Client
    from distributed import as_completed as dask_completed

    with Client(address) as client:
        futures = client.map(render, tasks, pure=False, key=[f"render-{t.name}-{t.key[:8]}" for t in tasks])
        names = {f.key: t.name for f, t in zip(futures, tasks)}
        for fut in dask_completed(futures):
            try:
                on_done(fut.result())
            except Exception as exc:
                on_done(Outcome(names[fut.key], "failed", reason=f"dask: {type(exc).__name__}: {exc}"))


def run_reports(args) -> int:
    """Render reports as ``python -m cocEval reports`` asks. Returns the exit status."""
    from cocEval.config import ConfigError, load_inputs
    from cocEval.data import DataValidationError

    try:
        # The same resolution as the notebooks: --data, else the config's data_dir; relative
        # paths from the working folder, else the project folder.
        cfg, prog, config_path = load_inputs(args.data, args.config)
        out = Path(args.output)
        tasks = plan(args, cfg, prog, config_path)
    except (ConfigError, DataValidationError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    out.mkdir(parents=True, exist_ok=True)
    handler = _add_file_log(out / "run.log")
    try:
        return _render_all(args, tasks, prog, config_path, out)
    finally:
        logging.getLogger("cocEval").removeHandler(handler)
        handler.close()


def _render_all(args, tasks: list[Task], prog, config_path: Path, out: Path) -> int:
    """Render what changed, keep the manifest current after every report, write the index."""
    from tqdm.auto import tqdm

    manifest_path = out / "manifest.json"
    manifest = _load_manifest(manifest_path)
    previous = manifest.get("reports", {})
    todo, results = [], {}
    for t in tasks:
        prev = previous.get(t.name, {})
        if not args.force and prev.get("key") == t.key and prev.get("status") == "ok" and Path(t.html_path).is_file():
            results[t.name] = dict(prev, status="ok", skipped=True)
        else:
            todo.append(t)
    log.info("%d report(s) to render, %d unchanged and skipped", len(todo), len(tasks) - len(todo))

    manifest = {
        "cocEval_version": cocEval.__version__,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "config": str(config_path),
        "data_dir": str(prog.source),
        "data_hash": prog.data_hash,
        "versions": versions(),
        "parameters": {
            "jobs": args.jobs,
            "force": args.force,
            "scheduler": args.scheduler,
            "providers": args.providers,
        },
        "reports": dict(previous, **results),
    }
    by_name = {t.name: t for t in tasks}
    bar = tqdm(total=len(todo), desc="reports", unit="report", disable=not todo)

    def on_done(o: Outcome) -> None:
        t = by_name[o.name]
        entry = asdict(o) | {"key": t.key, "html": os.path.relpath(t.html_path, out), "skipped": False}
        if o.status == "failed":
            log.error("%s failed: %s", o.name, o.reason)
            old = previous.get(o.name)
            entry["html"] = old.get("html") if old and Path(t.html_path).is_file() else None
        else:
            log.info("%s rendered in %.1f s", o.name, o.seconds)
        manifest["reports"][o.name] = entry
        _atomic_write(manifest_path, json.dumps(manifest, indent=2, default=str))
        bar.update(1)

    t0 = time.perf_counter()
    jobs = args.jobs or os.cpu_count() or 1
    if todo:
        if args.scheduler:
            _run_dask(todo, args.scheduler, on_done)
        else:
            _run_local(todo, jobs, on_done)
    bar.close()
    manifest["wall_seconds"] = round(time.perf_counter() - t0, 2)
    manifest["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    # Only this run's reports appear in the index; the manifest keeps older entries.
    current = {t.name: manifest["reports"][t.name] for t in tasks}
    _atomic_write(manifest_path, json.dumps(manifest, indent=2, default=str))
    _atomic_write(out / "index.html", index_html(current, prog, manifest))
    failed = [n for n, r in current.items() if r["status"] == "failed"]
    print(
        f"{len(current) - len(failed)} report(s) ok ({len(tasks) - len(todo)} unchanged), {len(failed)} failed; index: {out / 'index.html'}"
    )
    return 1 if failed else 0


def _add_file_log(path: Path) -> logging.Handler:
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger("cocEval").addHandler(handler)
    return handler


def index_html(reports: dict, prog, manifest: dict) -> str:
    """The run's index page: every report with status, headline effects and a link.

    Everything that comes from data (names, reasons) is HTML-escaped.
    """
    names = prog.participation.set_index("provider_id")["provider_name"].to_dict()
    cohorts = prog.participation.set_index("provider_id")["cohort"].to_dict()
    rows = []
    for name, r in sorted(reports.items(), key=lambda kv: (kv[0] != "programme", kv[0])):
        label = "Programme evaluation" if name == "programme" else f"{name} {names.get(name, '')}"
        link = (
            f'<a href="{html.escape(r["html"])}">{html.escape(label)}</a>'
            if r.get("status") == "ok" and r.get("html")
            else html.escape(label)
        )
        status = "ok (unchanged)" if r.get("skipped") else r.get("status", "")
        heads = "; ".join(f"{html.escape(str(k))}: {html.escape(str(v))}" for k, v in (r.get("headline") or {}).items())
        reason = html.escape(r.get("reason") or "")
        cohort = "" if name == "programme" else html.escape(str(cohorts.get(name) or ""))
        rows.append(
            f"<tr class='{html.escape(r.get('status', ''))}'><td>{link}</td><td>{cohort}</td><td>{html.escape(status)}</td><td>{heads}</td><td>{reason}</td></tr>"
        )
    ok = sum(r.get("status") == "ok" for r in reports.values())
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Culture of Care evaluation reports</title>
<style>
body {{ font-family: Arial, Helvetica, sans-serif; margin: 2em; color: #212b32; max-width: 70em; }}
h1 {{ color: #005EB8; }} table {{ border-collapse: collapse; width: 100%; }}
th, td {{ text-align: left; padding: 6px 10px; border-bottom: 1px solid #d8dde0; vertical-align: top; }}
th {{ background: #005EB8; color: white; }} tr.failed td {{ background: #fdeaea; }}
a {{ color: #005EB8; }}
</style></head><body>
<h1>Culture of Care evaluation reports</h1>
<p>{ok} of {len(reports)} reports rendered. Data hash {html.escape(manifest["data_hash"][:12])};
cocEval {html.escape(manifest["cocEval_version"])}; run finished {html.escape(manifest.get("finished", ""))}.
Details in <code>manifest.json</code> and <code>run.log</code>.</p>
<table><thead><tr><th>Report</th><th>Cohort</th><th>Status</th><th>Headline effects</th><th>Failure reason</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody></table></body></html>
"""
