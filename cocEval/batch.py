"""Batch rendering: one HTML report per provider plus the programme report.

``python -m cocEval reports`` (or :func:`run_reports` with a :class:`BatchOptions`) validates the
options, the config and the data once, then runs the parameterised notebooks with papermill on
the named ``cocEval`` kernel, one worker process per report (at most ``jobs`` at a time), or on
an existing Dask cluster with ``--scheduler``, and exports each to a self-contained HTML page with
no code, prompts, warnings or stderr.

How it stays correct when things go wrong:

- **Workers never write the output folder.** A worker returns the rendered HTML, the executed
  notebook and the small headline summary; the batch (the client) writes them. So a Dask worker
  on another machine needs no access to the client's paths (with ``--scheduler`` the data and the
  config travel with the task too).
- **Kernel faults.** Kernels run under the asynchronous kernel manager and client (the ones
  nbclient expects), so a dead kernel is noticed within about a second; the report is retried
  once with a fresh kernel, then marked failed with the reason. A report that runs past its hard
  deadline is killed with its kernel.
- **Worker faults.** One process per report: a killed worker costs only its own report.
- **Signals.** SIGTERM or SIGINT stops every worker and kernel of the batch, removes partial
  files, writes a consistent manifest and index (unfinished reports are marked "interrupted"),
  and exits 143 or 130. A re-run resumes: reports whose inputs are unchanged are skipped.
- **One batch per output folder.** A lock (``.coc-lock``, an ``flock`` released by the system
  when its holder dies, so a stale lock is taken over safely); a second batch refuses, naming the
  holder's pid, or waits with ``--wait``.
- **Outputs never lie about themselves.** When a report fails, its previous HTML (from older
  inputs) is moved to ``stale/`` and the manifest and index say so. Files are written atomically
  (temporary files in the output folder's own ``.coc-tmp/``, removed at the end) with mode 0644.
- **Safe names.** Report file names come from :func:`report_filename` only, which accepts only
  ids that pass the data layer's rule (:func:`cocEval.data.check_provider_id`).

It is restartable: every report's inputs (data hash, config, notebook, package source) are
hashed, and a report whose hash matches the manifest and whose HTML exists is skipped unless
``force``. Exit status: 0 all reports ok, 1 some report failed (the index gives the reason),
2 bad input or options (a one-line message), 130/143 interrupted.
"""

from __future__ import annotations

import fcntl
import hashlib
import html
import json
import logging
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from importlib.resources import files as _resource_files
from pathlib import Path

import cocEval
from cocEval.disclosure_rules import index_note
from cocEval.errors import BatchError, CocEvalError, DataError, InputError, UsageError
from cocEval.report.provenance import versions

log = logging.getLogger(__name__)

PACKAGE_DIR = Path(cocEval.__file__).resolve().parent

#: Name (without ``.html``) of the programme report; no provider may take it (see the data layer).
PROGRAMME = "programme"
#: Environment variable through which the batch tells a worker what its warm kernels preload.
WARM_ENV = "COCEVAL_WARM_KERNELS"
LOCK_NAME = ".coc-lock"
TMP_NAME = ".coc-tmp"
FILE_MODE = 0o644

#: Errors raised while a kernel starts: worth a retry (kernels starting at once can race).
#: Execution errors in a cell are not retried.
TRANSIENT = (
    "Address already in use",
    "kernel_info",
    "Timeout waiting for",
    "ZMQError",
)


def resource(*parts: str) -> Path:
    """A file shipped inside the package (notebooks, templates), found with importlib.resources.

    Works the same from a checkout, an editable install and a wheel (``pip install .``).

    Examples
    --------
    >>> resource("notebooks", "provider_report.ipynb").is_file()
    True
    """
    return Path(str(_resource_files("cocEval").joinpath(*parts)))


TEMPLATES = resource("templates")


# ----------------------------------------------------------------------------------------
# Options
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchOptions:
    """What a batch should do. The command line builds one; Python users build it directly.

    Parameters
    ----------
    output : Path
        Folder for the reports (created if absent; must not be a file).
    config : Path, optional
        Programme config (YAML); default ``params/programme.yaml``.
    data : Path, optional
        Data folder; default the config's ``data_dir``.
    providers : tuple of str, optional
        Provider ids to render; default every participating provider.
    jobs : int, optional
        Reports rendered at once (at least 1); default the number of CPUs.
    force : bool
        Re-render reports whose inputs are unchanged.
    programme : bool
        Also render the programme report.
    scheduler : str, optional
        Address of a Dask scheduler; workers return HTML to this process.
    wait : bool
        When another batch holds the output folder, wait for it instead of refusing.
    provider_notebook, programme_notebook : Path, optional
        Notebooks to run instead of the packaged ones (tests render tiny notebooks).
    hard_timeout : float, optional
        Seconds after which a report's worker is killed (default six cell timeouts, at least
        an hour): a backstop for hangs that the cell timeout cannot see.
    connect_timeout : float
        Seconds to wait for ``scheduler``.
    warm_kernels : bool
        Start report kernels warm: forked from one parent per batch, shared by the workers, that
        imported the libraries, loaded the data and built one report once (Linux;
        :mod:`cocEval.zygote`). Each report still runs in its own kernel process. False starts
        every kernel cold.

    Raises
    ------
    UsageError
        For an option that breaks its rule (``jobs`` below 1, an empty provider list).

    Examples
    --------
    >>> BatchOptions(output="reports", providers=("RX4",), jobs=2).jobs
    2
    >>> BatchOptions(jobs=0)
    Traceback (most recent call last):
    cocEval.errors.UsageError: --jobs 0: must be a whole number of at least 1
    """

    output: Path = Path("reports")
    config: Path | None = None
    data: Path | None = None
    providers: tuple[str, ...] | None = None
    jobs: int | None = None
    force: bool = False
    programme: bool = True
    scheduler: str | None = None
    wait: bool = False
    provider_notebook: Path | None = None
    programme_notebook: Path | None = None
    hard_timeout: float | None = None
    connect_timeout: float = 10.0
    warm_kernels: bool = True

    def __post_init__(self) -> None:
        # absolute from the start: kernels start in other folders, and their connection files live here
        object.__setattr__(self, "output", Path(self.output).absolute())
        for name in ("config", "data", "provider_notebook", "programme_notebook"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, Path(getattr(self, name)))
        if self.jobs is not None and (isinstance(self.jobs, bool) or not isinstance(self.jobs, int) or self.jobs < 1):
            raise UsageError(f"--jobs {self.jobs}: must be a whole number of at least 1")
        if self.providers is not None:
            ids = self.parse_providers(self.providers) if isinstance(self.providers, str) else tuple(self.providers)
            if not ids or any(not isinstance(p, str) or not p.strip() for p in ids):
                raise UsageError(f"--providers {ids!r}: needs at least one non-empty provider id")
            object.__setattr__(self, "providers", tuple(p.strip() for p in ids))
        if self.scheduler is not None and not str(self.scheduler).strip():
            raise UsageError("--scheduler: empty address (the rule: e.g. tcp://host:8786)")
        if self.hard_timeout is not None and self.hard_timeout <= 0:
            raise UsageError(f"hard_timeout {self.hard_timeout}: must be positive")

    @staticmethod
    def parse_providers(text: str) -> tuple[str, ...]:
        """Provider ids from a comma-separated option value.

        Examples
        --------
        >>> BatchOptions.parse_providers("RX4, TAJ")
        ('RX4', 'TAJ')
        >>> BatchOptions.parse_providers(",")
        Traceback (most recent call last):
        cocEval.errors.UsageError: --providers ',': no provider id given (the rule: comma-separated ids, e.g. SYN001,SYN002)
        """
        ids = tuple(p.strip() for p in str(text).split(","))
        if not any(ids):
            raise UsageError(
                f"--providers {text!r}: no provider id given (the rule: comma-separated ids, e.g. SYN001,SYN002)"
            )
        if not all(ids):
            raise UsageError(f"--providers {text!r}: an empty id between commas (the rule: comma-separated ids)")
        return ids


# ----------------------------------------------------------------------------------------
# Safe names
# ----------------------------------------------------------------------------------------


def report_filename(provider_id: str) -> str:
    """The report file name of a provider: ``<id>.html``, a plain name and nothing else.

    The only place file names are derived from ids. The id must pass the data layer's rule
    (:func:`cocEval.data.check_provider_id`: letters, digits, ``-`` and ``_``; not a reserved
    name such as ``programme`` or ``index``), so the name can hold no separator, no ``..``
    and cannot collide with the batch's own files.

    Raises
    ------
    InputError
        For an id that breaks the rule.

    Examples
    --------
    >>> report_filename("RX4")
    'RX4.html'
    >>> report_filename("../../evil")
    Traceback (most recent call last):
    cocEval.errors.InputError: provider id '../../evil' cannot name a report file: provider id pattern (1-40 letters, digits, - or _, starting with a letter or digit)
    """
    from cocEval.data import check_provider_id

    rule = check_provider_id(provider_id)
    name = f"{provider_id}.html"
    if rule is None and (Path(name).name != name or os.sep in name or (os.altsep and os.altsep in name)):
        rule = "a plain file name"  # unreachable with the pattern; kept as a second lock
    if rule is not None:
        raise InputError(f"provider id {provider_id!r} cannot name a report file: {rule}")
    return name


def _inside(folder: Path, rel: str) -> Path:
    """``folder / rel``, refusing anything that would resolve outside ``folder``."""
    path = (folder / rel).resolve()
    if not path.is_relative_to(folder.resolve()):
        raise InputError(f"{rel!r} would be written outside {folder}")
    return path


# ----------------------------------------------------------------------------------------
# Tasks and outcomes
# ----------------------------------------------------------------------------------------


@dataclass
class Task:
    """One notebook to render (picklable: it travels to a worker process or a Dask worker)."""

    name: str  # provider id or "programme"
    notebook_json: str  # the notebook itself, so a worker needs no path of the client
    parameters: dict
    html_name: str  # path inside the output folder, e.g. "providers/RX4.html"
    key: str
    kernel: str = "cocEval"
    timeout: int = 600
    retries: int = 2
    scratch: str | None = None  # where the worker keeps temporary files (None: its own temp)
    registry: str | None = None  # folder where the worker records its kernels' pids
    sockets: str | None = None  # short folder for kernel IPC sockets (None: the system temp)
    disclosure: str = "mhsds"  # the rule every number in the page must pass (the audit checks it)


@dataclass
class Outcome:
    """What a worker sends back: status, timing, headline and (when ok) the rendered files."""

    name: str
    status: str  # "ok", "failed", "interrupted"
    seconds: float = 0.0
    attempts: int = 0
    reason: str = ""
    headline: dict = field(default_factory=dict)
    #: a provider report's pooled quantities, handed to the programme report (see ProgrammeReport.build)
    effects: dict = field(default_factory=dict, repr=False)
    html: str | None = field(default=None, repr=False)
    notebook: str | None = field(default=None, repr=False)


# ----------------------------------------------------------------------------------------
# Rendering one notebook (runs in a worker process or on a Dask worker)
# ----------------------------------------------------------------------------------------


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
    for cell in nb.cells:
        if cell.get("cell_type") == "code":
            cell["outputs"] = [
                o
                for o in cell.get("outputs", [])
                if not (o.get("output_type") == "stream" and o.get("name") == "stderr")
                and o.get("output_type") != "error"
            ]
    body, _ = _html_exporter().from_notebook_node(nb)
    # The lab theme's CSS carries credits with web addresses in comments: drop CSS comments so
    # the page names no remote address at all.
    return re.sub(
        r"(<style[^>]*>)(.*?)(</style>)", lambda m: m[1] + _CSS_COMMENT.sub("", m[2]) + m[3], body, flags=re.S
    )


_CSS_COMMENT = re.compile(r"/\*.*?\*/", re.S)
_EXPORTERS = threading.local()


def _html_exporter():
    """This thread's HTML exporter, made once: its templates are compiled on first use (about
    0.07 s of CPU a report when made afresh each time). One per thread, as a Dask worker may
    render reports in several threads."""
    exporter = getattr(_EXPORTERS, "html", None)
    if exporter is None:
        from nbconvert import HTMLExporter
        from nbconvert.preprocessors import TagRemovePreprocessor

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
        _EXPORTERS.html = exporter
    return exporter


def _kernel_manager_class(socket_dir: str, registry: str | None):
    """An *asynchronous* kernel manager whose kernels talk over IPC sockets in ``socket_dir``
    (which also holds their connection files).

    Asynchronous, because nbclient is: under a synchronous manager its client blocks the event
    loop waiting for output, so the once-a-second liveness check never runs and a killed kernel
    hangs the report forever. IPC sockets need no TCP ports (parallel kernels race for ports).
    Each kernel's pid is recorded in ``registry`` so the batch can stop it on SIGTERM. Its
    clients wait for a new kernel with short polls (:func:`_quick_client_class`); a finished
    report's kernel is killed, and its end noticed within 5 ms rather than 100 ms.
    """
    import uuid

    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    quick_client = _quick_client_class()

    class CocKernelManager(AsyncKernelManager):
        @default("client_factory")
        def _default_client_factory(self):
            return quick_client

        async def shutdown_kernel(self, now=False, restart=False):
            # A report's kernel is stopped at once (SIGKILL) rather than asked to shut down:
            # its outputs are all in by then (nbclient waits for each cell's outputs) and the
            # notebook's files are written, and a graceful shutdown costs about 30 ms a report.
            await super().shutdown_kernel(now=True, restart=restart)

        async def _async_wait(self, pollinterval=0.1):
            await super()._async_wait(min(pollinterval, 0.005))

        @default("transport")
        def _default_transport(self):
            return "ipc"

        @default("ip")
        def _default_ip(self):
            return str(Path(socket_dir) / f"k{uuid.uuid4().hex[:8]}")

        @default("connection_file")
        def _default_connection_file(self):
            # beside the sockets (removed with them), not /tmp/tmpXXXX.json: a killed kernel's
            # connection file is never cleaned up by jupyter_client
            return str(Path(socket_dir) / f"k{uuid.uuid4().hex[:8]}.json")

        async def _async_launch_kernel(self, kernel_cmd, **kw):
            # The kernel's own log lines (e.g. "KeyboardInterrupt caught in kernel") are noise
            # on the batch's terminal; cell output reaches the notebook over the sockets.
            kw.setdefault("stderr", subprocess.DEVNULL)
            out = await super()._async_launch_kernel(kernel_cmd, **kw)
            pid = getattr(self.provisioner, "pid", None)
            if registry and pid:
                Path(registry, f"kernel-{pid}").write_text(str(os.getpid()))
            return out

    return CocKernelManager


def _quick_client_class():
    """An asynchronous kernel client whose ``wait_for_ready`` waits 50 ms, not 200 ms, for the
    IOPub message that proves the kernel's output channel is connected, and stops flushing
    IOPub after 2 ms of quiet, not 200 ms (about 0.4 s less per report). Its sockets retry a
    connection every 5 ms, not ZeroMQ's 100 ms: a client usually connects before the new kernel
    has bound its sockets, and waited about 75 ms a report for the retry. Everything else is
    jupyter_client's: the kernel is ready only when it has answered ``kernel_info`` and an IOPub
    message has arrived, and nbclient reads only outputs that answer its own requests.
    """
    from queue import Empty

    import zmq
    from jupyter_client.asynchronous import AsyncKernelClient

    class QuickKernelClient(AsyncKernelClient):
        def _create_connected_socket(self, channel, identity=None):
            self.context.setsockopt(zmq.RECONNECT_IVL, 5)  # the default for this client's sockets
            return super()._create_connected_socket(channel, identity)

        async def wait_for_ready(self, timeout: float | None = None) -> None:
            deadline = time.time() + (float("inf") if timeout is None else timeout)
            while True:
                self.kernel_info()
                try:
                    msg = await self.shell_channel.get_msg(timeout=1)
                except Empty:
                    pass
                else:
                    if msg["msg_type"] == "kernel_info_reply":
                        try:
                            await self.iopub_channel.get_msg(timeout=0.05)
                        except Empty:
                            pass  # IOPub not connected yet: ask again
                        else:
                            self._handle_kernel_info_reply(msg)
                            break
                if not await self._async_is_alive():
                    raise RuntimeError("Kernel died before replying to kernel_info")
                if time.time() > deadline:
                    raise RuntimeError(f"Kernel didn't respond in {timeout:.0f} seconds")
            while True:  # flush IOPub
                try:
                    await self.iopub_channel.get_msg(timeout=0.002)
                except Empty:
                    break

    return QuickKernelClient


def _is_transient(exc: BaseException) -> bool:
    text = f"{type(exc).__name__}: {exc}"
    return any(t in text for t in TRANSIENT)


def _is_dead_kernel(exc: BaseException) -> bool:
    return type(exc).__name__ == "DeadKernelError" or "Kernel died" in str(exc)


def _materialise(task: Task, files: dict[str, bytes], folder: Path) -> dict:
    """Write shipped inputs (data files, config) into ``folder``; the parameters that use them."""
    import yaml

    for rel, data in files.items():
        path = _inside(folder, rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    params = dict(task.parameters, data_dir=str(folder / "data"), config=str(folder / "config.yaml"))
    raw = yaml.safe_load((folder / "config.yaml").read_text(encoding="utf-8"))
    raw["data_dir"] = str(folder / "data")
    if "mapping.yaml" in files:
        raw["mapping"] = str(folder / "mapping.yaml")
    (folder / "config.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    return params


def render(task: Task, files: dict[str, bytes] | None = None) -> Outcome:
    """Execute one notebook with papermill and export it to HTML, in memory.

    Writes nothing but its own temporary files (removed before returning). A kernel that dies
    is replaced once; a second death, a cell error or an export error comes back as
    ``Outcome(status="failed", reason=...)``. Never raises for a report's own failure.
    """
    t0 = time.perf_counter()
    if task.scratch:
        Path(task.scratch).mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f"render-{task.name}-", dir=task.scratch))
    # IPC socket paths must stay short (about 100 characters); the batch gives a short folder
    # that it removes at the end, even when this worker is killed before its own clean-up.
    sockets = tempfile.mkdtemp(prefix="coc-k-", dir=task.sockets)
    try:
        params = _materialise(task, files, scratch / "inputs") if files else dict(task.parameters)
        nb_in = scratch / "in.ipynb"
        nb_in.write_text(task.notebook_json, encoding="utf-8")
        params["summary_path"] = str(scratch / "summary.json")
        if PROGRAMME != task.name:
            params["effects_path"] = str(scratch / "effects.json")
        done = _execute(task, nb_in, params, scratch, sockets, t0)
        if isinstance(done, Outcome):
            return done
        nb, attempts = done
        return _publish(task, nb, scratch, attempts=attempts, t0=t0)
    except Exception as exc:
        return Outcome(task.name, "failed", time.perf_counter() - t0, 1, f"export: {type(exc).__name__}: {exc}"[:500])
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.rmtree(sockets, ignore_errors=True)
        if task.registry:  # this worker's kernels are shut down: forget their pids
            for f in Path(task.registry).glob("kernel-*"):
                try:
                    if f.read_text() == str(os.getpid()):
                        f.unlink()
                except OSError:
                    pass


def _execute(task: Task, nb_in: Path, params: dict, scratch: Path, sockets: str, t0: float):
    """Run the notebook with papermill: the executed notebook and the number of attempts it
    took, or the failed Outcome. The executed notebook stays in memory (no output file is
    written and read back).

    A dead kernel is replaced once; kernel-start races (:data:`TRANSIENT`) are retried up to
    ``task.retries`` times; a cell error fails at once.
    """
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    attempts, deaths = 0, 0
    while True:
        attempts += 1
        try:
            nb = pm.execute_notebook(
                str(nb_in),
                None,
                parameters=params,
                kernel_name=task.kernel,
                execution_timeout=task.timeout,
                progress_bar=False,
                log_output=False,
                request_save_on_cell_execute=False,
                cwd=str(scratch),
                kernel_manager_class=_warm(_kernel_manager_class(sockets, task.registry), task.name),
            )
            return nb, attempts
        except PapermillExecutionError as exc:
            return Outcome(task.name, "failed", time.perf_counter() - t0, attempts, f"{exc.ename}: {exc.evalue}"[:500])
        except Exception as exc:
            if _is_dead_kernel(exc) and deaths == 0:
                deaths += 1
                log.warning("%s: the kernel died; retrying once with a fresh kernel", task.name)
                continue
            if not _is_dead_kernel(exc) and attempts <= task.retries and _is_transient(exc):
                time.sleep(0.5 + random.random() * 2 * attempts)
                continue
            reason = (
                "the kernel died twice (killed or out of memory); retried once with a fresh kernel"
                if _is_dead_kernel(exc)
                else f"{type(exc).__name__}: {exc}"
            )
            return Outcome(task.name, "failed", time.perf_counter() - t0, attempts, reason[:500])


def _publish(task: Task, nb, scratch: Path, *, attempts: int, t0: float) -> Outcome:
    """The executed notebook exported to HTML and audited: the ok Outcome, or a failed one when
    a number in the page breaks the disclosure rule (such a page is never published)."""
    import nbformat

    from cocEval.audit import audit_report

    html_text = export_html(nb)
    findings = audit_report(html_text, task.disclosure)
    if findings:
        reason = "failed the disclosure audit: " + "; ".join(map(str, findings[:5]))
        return Outcome(task.name, "failed", time.perf_counter() - t0, attempts, reason[:500])
    summary, effects = scratch / "summary.json", scratch / "effects.json"
    return Outcome(
        task.name,
        "ok",
        time.perf_counter() - t0,
        attempts,
        headline=json.loads(summary.read_text()) if summary.is_file() else {},
        effects=json.loads(effects.read_text()) if effects.is_file() else {},
        html=html_text,
        notebook=nbformat.writes(nb),
    )


#: This worker's client of the batch's warm-kernel parent (:mod:`cocEval.zygote`), when it has
#: one, and the reports whose kernels wait for the parent's whole warm-up (the one it builds ahead).
_ZYGOTE = None
_LATE: frozenset[str] = frozenset()

#: What a warm-kernel parent imports once, so that report kernels forked from it start ready:
#: the reports' code and what a kernel imports as it starts (its debugger, magics and the
#: inline backend of the notebooks' ``%matplotlib inline``).
WARM_MODULES = (
    "cocEval.report.provider",
    "cocEval.report.programme",
    "cocEval.report.robustness",
    "ipykernel.ipkernel",
    "ipykernel.debugger",
    "IPython.core.completerlib",
    "IPython.core.debugger",
    "IPython.core.magics",
    "IPython.core.pylabtools",
    "IPython.extensions.storemagic",
    "matplotlib_inline.backend_inline",
)


def _start_zygote(spec: str | None) -> None:
    """Connect this worker to the batch's warm-kernel parent: ``spec`` is JSON with its socket
    and pid (:meth:`cocEval.zygote.ZygoteServer.address`). Without one (not Linux, or warm
    kernels switched off) kernels start cold as usual, and so does any kernel the parent cannot
    fork."""
    global _ZYGOTE, _LATE
    from cocEval import zygote

    if not spec or not zygote.available():
        return
    address = json.loads(spec)
    _LATE = frozenset(address.pop("late", ()))
    _ZYGOTE = zygote.ZygoteClient(**address)


def _shared_zygote(opts: BatchOptions):
    """The batch's warm-kernel parent, started before the batch loads the data so that its
    imports (about 2 s) run beside the batch's own start; None when kernels start cold (Dask,
    ``warm_kernels=False``, not Linux). One parent serves every worker: imports, data and the
    warm-up report are paid once per batch, not once per worker."""
    from cocEval import zygote

    if opts.scheduler or not opts.warm_kernels or not zygote.available():
        return None
    try:
        return zygote.ZygoteServer(preload=WARM_MODULES)
    except (CocEvalError, OSError) as exc:
        log.warning("warm kernels unavailable, starting kernels cold: %s", exc)
        return None


def _warm_data(inputs: dict) -> None:
    """In the warm-kernel parent, first: load and validate the data once (kernels forked after
    this find them loaded), and read what the notebooks' ``%matplotlib inline`` would otherwise
    read in every kernel: the entry points of every installed distribution, which matplotlib's
    backend registry scans on first use (about 17 ms)."""
    from matplotlib.backends.registry import backend_registry

    from cocEval.config import preload_inputs

    backend_registry.list_all()
    preload_inputs(inputs.get("data_dir"), inputs.get("config"))


def _warm_up(inputs: dict) -> None:
    """In the warm-kernel parent, after :func:`_warm_data` (kernels for other reports may
    already have been forked): build the first provider's report ahead
    (:meth:`ProviderReport.prebuild`), so that what a report pays only the first time in a
    process (modules imported on first use, fonts, compiled formulas, the code commit) is paid
    here once rather than in every later kernel (about a quarter of a provider report's CPU
    time), and the kernel forked for that provider finds its report built.

    Nothing is rendered (so the page's element ids in every kernel still count from 1) and the
    report's figures are closed. A failure here is ignored: the report itself will fail and say
    why.
    """
    import gc

    _warm_data(inputs)  # loaded already: a cache hit
    if not inputs.get("provider"):
        return
    import matplotlib.pyplot as plt

    from cocEval.report.provider import ProviderReport

    try:
        ProviderReport.prebuild(inputs["provider"], inputs.get("data_dir"), inputs.get("config"))
    except Exception:  # noqa: BLE001 - best effort, see above
        pass
    finally:
        plt.close("all")
        gc.collect()


def _warm(manager_class, report: str):
    """``manager_class``, or its warm variant whose kernels fork from the batch's warm parent
    (once its whole warm-up is done, for the report it builds ahead)."""
    if _ZYGOTE is None or not _ZYGOTE.alive():
        return manager_class
    from cocEval.zygote import zygote_kernel_manager

    return zygote_kernel_manager(manager_class, _ZYGOTE, late=report in _LATE)


def _worker_loop() -> None:
    """Main loop of a local worker process: for each line ``<task file>\t<result file>`` on
    stdin, render the task and leave the pickled outcome in the result file (renamed into place
    when complete). Ends when stdin closes.

    Workers are fresh ``python -c`` processes (a multiprocessing child would re-import the
    caller's main script) and are reused for several reports, so papermill and nbconvert are
    imported once per worker, not once per report.
    """
    import pickle

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the batch decides what a Ctrl-C stops
    # jsonschema (imported by nbformat) imports rfc3987_syntax when installed, for its "iri"
    # format checker; that builds a parser at import, about 2 s of CPU per worker. Notebook
    # schemas use no such format, so the worker does without it.
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[assignment]
    _start_zygote(os.environ.get(WARM_ENV))
    for line in sys.stdin:
        task_file, result_file = line.rstrip("\n").split("\t")
        task = pickle.loads(Path(task_file).read_bytes())
        try:
            outcome = render(task)
        except Exception as exc:  # reported to the batch, never lost
            outcome = Outcome(task.name, "failed", reason=f"worker: {type(exc).__name__}: {exc}"[:500])
        tmp = Path(f"{result_file}.part")
        tmp.write_bytes(pickle.dumps(outcome))
        os.replace(tmp, result_file)


# ----------------------------------------------------------------------------------------
# Files, lock, signals
# ----------------------------------------------------------------------------------------


def _atomic_write(path: Path, data: str | bytes, tmp_dir: Path | None = None) -> None:
    """Write ``path`` all at once (a temporary file renamed over it), mode 0644."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = tmp_dir or path.parent
    tmp_dir.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=tmp_dir, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), FILE_MODE)
            fh.write(raw)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class OutputLock:
    """An exclusive lock on an output folder (``flock`` on ``.coc-lock``, holding the pid).

    The system releases an ``flock`` when its holder dies, so a lock left by a dead batch is
    taken over safely; the pid in the file is only for messages.

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> with OutputLock(d):
    ...     OutputLock(d).acquire()
    Traceback (most recent call last):
    cocEval.errors.BatchError: ...
    """

    def __init__(self, folder: Path, wait: bool = False, should_stop=lambda: False):
        self.path = Path(folder) / LOCK_NAME
        self.wait = wait
        self.should_stop = should_stop
        self.fd: int | None = None
        #: pid of a dead batch whose lock this one took over, if any
        self.stale_pid: int | None = None

    def _holder(self) -> str:
        try:
            return Path(self.path).read_text().strip() or "unknown"
        except OSError:
            return "unknown"

    def acquire(self) -> OutputLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, FILE_MODE)
        previous = self._holder()
        announced = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = self._holder()
                if not self.wait:
                    os.close(fd)
                    raise BatchError(
                        f"--output {self.path.parent}: in use by another batch (pid {holder}); "
                        "wait for it to finish or pass --wait"
                    ) from None
                if not announced:
                    log.warning("waiting for the batch with pid %s to release %s", holder, self.path.parent)
                    announced = True
                if self.should_stop():
                    os.close(fd)
                    raise BatchError(f"--output {self.path.parent}: stopped while waiting for pid {holder}") from None
                time.sleep(0.2)
        if previous.isdigit() and int(previous) != os.getpid() and not _pid_alive(int(previous)):
            self.stale_pid = int(previous)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


class _Stop:
    """SIGTERM/SIGINT handling for the batch: the handler records the signal; loops poll it."""

    def __init__(self):
        self.signum: int | None = None
        self._old: dict[int, object] = {}

    def __call__(self) -> bool:
        return self.signum is not None

    def _handler(self, signum, frame) -> None:
        if self.signum is None:
            log.warning("received %s: stopping workers and kernels", signal.Signals(signum).name)
        self.signum = signum

    def __enter__(self) -> _Stop:
        import threading

        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGTERM, signal.SIGINT):
                self._old[s] = signal.signal(s, self._handler)
        return self

    def __exit__(self, *exc) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)


def _kill_kernels(registry: Path, worker_pid: int | None = None) -> None:
    """Kill the kernels recorded in ``registry`` (all, or those of one worker)."""
    for f in registry.glob("kernel-*"):
        try:
            owner = int(f.read_text() or 0)
        except (OSError, ValueError):
            owner = 0
        if worker_pid is not None and owner != worker_pid:
            continue
        pid = int(f.name.split("-", 1)[1])
        try:  # the kernel leads its own session: kill its whole group
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        f.unlink(missing_ok=True)


# ----------------------------------------------------------------------------------------
# Planning
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


def _load_manifest(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return {}


def plan(opts: BatchOptions, cfg, prog, config_path: Path) -> list[Task]:
    """The tasks for this run: every requested provider plus the programme report."""
    participating = prog.participating["provider_id"].tolist()
    if opts.providers:
        providers = list(dict.fromkeys(opts.providers))
        unknown = sorted(set(providers) - set(prog.participation["provider_id"]))
        if unknown:
            raise UsageError(
                f"--providers: unknown provider id(s) {', '.join(map(repr, unknown))} "
                "(the rule: ids from the participation table)"
            )
    else:
        providers = participating
        if not providers:
            raise DataError(
                f"{prog.source}: participation, column 'start_month': empty on every row (the rule: reports "
                "need at least one provider that started coaching)"
            )
    data_dir = str(Path(prog.source).resolve())
    common = _sha256(prog.data_hash, config_path.read_bytes(), cocEval.__version__, source_hash())
    rep = cfg.report
    base = {
        "kernel": rep.kernel,
        "timeout": rep.timeout_seconds,
        "retries": rep.retries,
        "disclosure": cfg.disclosure.preset,
    }
    tasks = []
    prov_nb = (opts.provider_notebook or resource("notebooks", "provider_report.ipynb")).read_text(encoding="utf-8")
    for pid in providers:
        tasks.append(
            Task(
                name=pid,
                notebook_json=prov_nb,
                key=_sha256(common, prov_nb, pid),
                parameters={"provider_id": pid, "data_dir": data_dir, "config": str(config_path.resolve())},
                html_name=f"providers/{report_filename(pid)}",
                **base,
            )
        )
    if opts.programme:
        nb = (opts.programme_notebook or resource("notebooks", "programme_evaluation.ipynb")).read_text(
            encoding="utf-8"
        )
        tasks.append(
            Task(
                name=PROGRAMME,
                notebook_json=nb,
                key=_sha256(common, nb, PROGRAMME),
                parameters={"data_dir": data_dir, "config": str(config_path.resolve())},
                html_name=f"{PROGRAMME}.html",
                **base,
            )
        )
    return tasks


def _check_output(out: Path) -> None:
    """Refuse an output path that is a file, sits under a file, or cannot be written."""
    if out.exists() and not out.is_dir():
        raise BatchError(f"--output {out}: is a file, not a folder (the rule: reports go into a folder)")
    parent = out
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise BatchError(f"--output {out}: {parent} is a file, so the folder cannot be created")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise BatchError(f"--output {out}: not writable ({parent} does not allow writing)")


def _prepare_output(out: Path) -> None:
    """Create the output folder and prove it can be written (root ignores permission bits, so
    a read-only mount shows only when writing)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=out, prefix=".coc-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise BatchError(f"--output {out}: not writable ({exc.strerror or exc})") from None


def _shipped_files(prog, config_path: Path, cfg) -> dict[str, bytes]:
    """The data folder's files and the config, to send to Dask workers with the tasks."""
    files = {f"data/{p.name}": p.read_bytes() for p in sorted(Path(prog.source).iterdir()) if p.is_file()}
    files["config.yaml"] = config_path.read_bytes()
    if cfg.mapping is not None:
        from cocEval.config import project_path

        files["mapping.yaml"] = project_path(cfg.mapping, cfg.mapping).read_bytes()
    return files


# ----------------------------------------------------------------------------------------
# Running
# ----------------------------------------------------------------------------------------


def _signal_name(code: int | None) -> str:
    """Words for a process's exit: a negative code is the signal that killed it."""
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


class _Worker:
    """A local worker process and the task it is rendering (if any)."""

    CODE = "from cocEval.batch import _worker_loop; _worker_loop()"

    def __init__(self, tmp: Path, n: int, warm: dict | None = None):
        self.log = open(tmp / f"worker-{n}.log", "wb")  # noqa: SIM115 - closed in close()
        env = dict(os.environ)
        env.pop(WARM_ENV, None)
        if warm is not None:
            env[WARM_ENV] = json.dumps(warm)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", self.CODE],
            env=env,
            stdin=subprocess.PIPE,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.task: Task | None = None
        self.result: Path | None = None
        self.t0 = 0.0

    def give(self, task: Task, tmp: Path) -> None:
        import pickle

        stem = f"{task.name}-{random.getrandbits(32):08x}"
        task_file, self.result = tmp / f"{stem}.task", tmp / f"{stem}.result"
        task_file.write_bytes(pickle.dumps(task))
        self.task, self.t0 = task, time.monotonic()
        try:
            self.proc.stdin.write(f"{task_file}\t{self.result}\n".encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass  # it died: seen by the caller's poll

    def take(self) -> Outcome | None:
        """The finished task's outcome, or None while it runs."""
        import pickle

        if self.result is None or not self.result.is_file():
            return None
        try:
            outcome = pickle.loads(self.result.read_bytes())
        except Exception as exc:  # a truncated result is a failed report, not a crash
            outcome = Outcome(self.task.name, "failed", reason=f"unreadable worker result: {exc}")
        self.result.unlink(missing_ok=True)
        self.task, self.result = None, None
        return outcome

    def died(self) -> Outcome:
        """The outcome of the task a dead worker was rendering."""
        code = self.proc.returncode
        tail = []
        if code is not None and code > 0:
            self.log.flush()
            tail = Path(self.log.name).read_text(errors="replace").strip().splitlines()[-1:]
        reason = f"the worker process died ({_signal_name(code)}){': ' + tail[0] if tail else ''}"
        task, self.task = self.task, None
        return Outcome(task.name, "failed", reason=reason[:500])

    def close(self, kill: bool = False) -> None:
        if kill and self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


#: Provider reports still to be given out when the programme report starts: it takes about as
#: long as this many provider reports, so the other workers finish them while it runs (starting
#: it last leaves them idle; first, it would find none of the providers' effects to reuse).
PROGRAMME_LEAD = 8


def _schedule(tasks: list[Task], jobs: int) -> list[Task]:
    """The order to give tasks out: providers, with the programme report placed so that about
    ``PROGRAMME_LEAD`` provider reports per other worker remain after it.

    Examples
    --------
    >>> ts = [Task(n, "{}", {}, f"{n}.html", "k") for n in ["programme", *"ABCDEFGHIJ"]]
    >>> [t.name for t in _schedule(ts, 2)]
    ['A', 'B', 'programme', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J']
    >>> [t.name for t in _schedule(ts, 1)][-1]
    'programme'
    """
    others = [t for t in tasks if t.name != PROGRAMME]
    prog = [t for t in tasks if t.name == PROGRAMME]
    if not prog:
        return others
    at = len(others) if jobs <= 1 else max(0, len(others) - PROGRAMME_LEAD * (jobs - 1))
    return others[:at] + prog + others[at:]


def _run_local(
    tasks: list[Task],
    jobs: int,
    on_done,
    stop,
    registry: Path,
    hard_timeout: float,
    tmp: Path,
    warm: dict | None = None,
) -> list[Task]:
    """Run the tasks on at most ``jobs`` local worker processes.

    A worker that dies costs only the report it was rendering; a new worker takes the rest.
    Returns the tasks not finished because of ``stop`` (their workers and kernels are killed).
    """
    pending = list(tasks)
    workers: list[_Worker] = []
    made = 0
    try:
        while pending or any(w.task for w in workers):
            if stop():
                break
            for w in workers:
                if w.task is None and pending:
                    w.give(pending.pop(0), tmp)
            while pending and len(workers) < min(jobs, len(tasks)):
                made += 1
                workers.append(_Worker(tmp, made, warm))
                workers[-1].give(pending.pop(0), tmp)
            time.sleep(0.02)  # a finished report is seen (and its worker given the next) within 20 ms
            for w in list(workers):
                if w.task is None:
                    continue
                outcome = w.take()
                if outcome is not None:
                    on_done(outcome)
                elif w.proc.poll() is not None:
                    outcome = w.take() or w.died()  # it may have finished just before dying
                    _kill_kernels(registry, w.proc.pid)  # its kernel must not linger
                    w.close()
                    workers.remove(w)
                    on_done(outcome)
                elif time.monotonic() - w.t0 > hard_timeout:
                    task = w.task
                    w.close(kill=True)
                    _kill_kernels(registry, w.proc.pid)
                    workers.remove(w)
                    on_done(Outcome(task.name, "failed", reason=f"stopped after {hard_timeout:.0f} s (hard deadline)"))
    finally:
        # On a stop (or an unexpected error) nothing may keep running: kernels first (they lead
        # their own sessions), then workers. Idle workers just see their stdin close.
        busy = [w for w in workers if w.task is not None]
        _kill_kernels(registry)
        for w in workers:
            w.close(kill=w.task is not None)
        _kill_kernels(registry)  # a kernel that started while we were stopping
    return pending + [w.task for w in busy]


def _connect(opts: BatchOptions):
    """A Dask client for ``opts.scheduler``; BatchError when it cannot be reached."""
    try:
        from distributed import Client
    except ImportError as exc:
        raise BatchError(f"--scheduler needs the 'distributed' package ({exc})") from None
    try:
        return Client(opts.scheduler, timeout=opts.connect_timeout, set_as_default=False)
    except Exception as exc:  # OSError, TimeoutError, ValueError for a malformed address
        raise BatchError(
            f"--scheduler {opts.scheduler}: cannot connect within {opts.connect_timeout:.0f} s "
            f"({type(exc).__name__}: {' '.join(str(exc).split())[:200]})"
        ) from None


def _run_dask(tasks: list[Task], client, files: dict[str, bytes], on_done, stop) -> list[Task]:
    """Run the tasks on a Dask cluster; workers return the HTML, this process writes it.

    The data files and the config travel with the tasks (scattered once), so a worker on
    another machine needs none of this machine's paths.
    """
    [shipped] = client.scatter([files], broadcast=False) if files else [None]
    left = {
        client.submit(render, t, shipped, pure=False, key=f"render-{t.name}-{t.key[:8]}-{random.getrandbits(32):x}"): t
        for t in tasks
    }
    while left and not stop():
        time.sleep(0.2)
        for fut in [f for f in left if f.done()]:
            t = left.pop(fut)
            try:
                on_done(fut.result())
            except Exception as exc:  # the task itself raised or its worker was lost
                on_done(Outcome(t.name, "failed", reason=f"dask: {type(exc).__name__}: {exc}"[:500]))
    if left:
        client.cancel(list(left))
    return list(left.values())


def run_reports(opts: BatchOptions) -> int:
    """Render reports as ``python -m cocEval reports`` asks.

    Parameters
    ----------
    opts : BatchOptions

    Returns
    -------
    int
        Exit status: 0 every report ok, 1 some report failed, 130/143 stopped by SIGINT/SIGTERM.

    Raises
    ------
    CocEvalError
        Before anything is written, for bad options, config or data (``UsageError``,
        ``ConfigError``, ``DataError``), and ``BatchError`` for an output folder that cannot be
        used (a file, not writable, locked by another batch) or an unreachable scheduler.

    Examples
    --------
    >>> run_reports(BatchOptions(output="/dev/null/reports"))
    Traceback (most recent call last):
    cocEval.errors.BatchError: --output /dev/null/reports: /dev/null is a file, so the folder cannot be created
    """
    if not isinstance(opts, BatchOptions):
        raise InputError(f"run_reports takes a BatchOptions, got {type(opts).__name__}")
    _check_output(opts.output)
    for name, nb in (("provider_notebook", opts.provider_notebook), ("programme_notebook", opts.programme_notebook)):
        if nb is not None and not nb.is_file():
            raise UsageError(f"{name} {nb}: not a file")
    server = _shared_zygote(opts)  # first: it imports while this process loads the config and data
    try:
        return _run_reports(opts, server)
    finally:
        if server is not None:
            server.close()


def _run_reports(opts: BatchOptions, server) -> int:
    """:func:`run_reports` once the options are checked (``server``: the warm-kernel parent)."""
    from cocEval.config import DEFAULT_CONFIG, load_inputs, project_path

    out = opts.output
    config_path = project_path(opts.config, DEFAULT_CONFIG)
    # The same resolution as the notebooks: data, else the config's data_dir; relative paths
    # from the working folder, else the project folder.
    cfg, prog, config_path = load_inputs(opts.data, config_path)
    tasks = plan(opts, cfg, prog, config_path)
    client = _connect(opts) if opts.scheduler else None
    try:
        _prepare_output(out)
        with _Stop() as stop:
            with OutputLock(out, wait=opts.wait, should_stop=stop) as lock:
                handler = _add_file_log(out / "run.log")
                if lock.stale_pid:
                    log.info("took over a stale lock on %s left by pid %s (no longer running)", out, lock.stale_pid)
                try:
                    return _render_all(opts, tasks, cfg, prog, config_path, out, stop, client, server)
                finally:
                    logging.getLogger("cocEval").removeHandler(handler)
                    handler.close()
                    os.chmod(out / "run.log", FILE_MODE)
    finally:
        if client is not None:
            client.close()


def _render_all(
    opts: BatchOptions, tasks: list[Task], cfg, prog, config_path: Path, out: Path, stop, client, server=None
) -> int:
    """Render what changed, keep the manifest current after every report, write the index."""
    from tqdm.auto import tqdm

    # We hold the lock: temporary files found now were left by a batch that died.
    shutil.rmtree(out / TMP_NAME, ignore_errors=True)
    run_tmp = out / TMP_NAME / f"run-{os.getpid()}"
    registry = run_tmp / "kernels"
    registry.mkdir(parents=True)
    # kernel sockets need a short path: inside the output folder when it is short enough
    sockets = run_tmp / "k" if len(str(run_tmp.resolve())) < 60 else Path(tempfile.mkdtemp(prefix="coc-k-"))
    sockets.mkdir(exist_ok=True)
    for t in tasks:
        t.scratch, t.registry, t.sockets = str(run_tmp), str(registry), str(sockets)
    try:
        return _render_all_in(opts, tasks, prog, config_path, out, stop, run_tmp, registry, cfg, tqdm, client, server)
    finally:
        # A kernel killed a moment ago may still be tearing down its sockets while we remove the
        # folders, so removal is retried briefly until they are gone.
        for _ in range(20):
            shutil.rmtree(out / TMP_NAME, ignore_errors=True)
            shutil.rmtree(sockets, ignore_errors=True)
            if not (out / TMP_NAME).exists() and not sockets.exists():
                break
            time.sleep(0.1)


def _render_all_in(opts, tasks, prog, config_path, out, stop, run_tmp, registry, cfg, tqdm, client, server) -> int:
    manifest_path = out / "manifest.json"
    manifest = _load_manifest(manifest_path)
    previous = manifest.get("reports", {}) if isinstance(manifest.get("reports"), dict) else {}
    todo, results = _unchanged(opts, tasks, previous, out)
    log.info("%d report(s) to render, %d unchanged and skipped", len(todo), len(tasks) - len(todo))
    manifest = _new_manifest(opts, cfg, prog, config_path, dict(previous, **results))
    by_name = {t.name: t for t in tasks}
    # Provider reports hand the programme report what it pools (it refits only what is missing);
    # unchanged reports' entries hold theirs. The programme task is given out after most
    # providers (see _schedule), so it carries every provider finished by then.
    effects: dict = {}
    for name, r in manifest["reports"].items():
        if name in results:
            effects.update(r.get("effects") or {})
    if PROGRAMME in by_name:
        by_name[PROGRAMME].parameters["provider_effects"] = effects
    bar = tqdm(total=len(todo), desc="reports", unit="report", disable=not todo or not sys.stderr.isatty())
    on_done = _Recorder(out, run_tmp, manifest_path, manifest, by_name, effects, bar)

    t0 = time.perf_counter()
    unfinished = (
        _dispatch(opts, todo, cfg, prog, config_path, client, on_done, stop, registry, run_tmp, server) if todo else []
    )
    for t in unfinished:
        on_done(Outcome(t.name, "interrupted", reason="the batch was stopped before this report finished"))
    bar.close()
    manifest["wall_seconds"] = round(time.perf_counter() - t0, 2)
    manifest["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    if stop():
        manifest["interrupted"] = signal.Signals(stop.signum).name
    # Only this run's reports appear in the index; the manifest keeps older entries.
    current = {t.name: manifest["reports"][t.name] for t in tasks}
    on_done.write_manifest()
    _atomic_write(out / "index.html", index_html(current, prog, manifest), run_tmp)
    failed = [n for n, r in current.items() if r["status"] != "ok"]
    print(
        f"{len(current) - len(failed)} report(s) ok ({len(tasks) - len(todo)} unchanged), {len(failed)} not; "
        f"index: {out / 'index.html'}"
    )
    if stop():
        return 128 + stop.signum
    return 1 if failed else 0


def _unchanged(opts: BatchOptions, tasks: list[Task], previous: dict, out: Path) -> tuple[list[Task], dict]:
    """The tasks to render, and the manifest entries of those skipped (their inputs are
    unchanged since an ok render whose HTML is still there; ``force`` skips none)."""
    todo, results = [], {}
    for t in tasks:
        prev = previous.get(t.name, {})
        if (
            not opts.force
            and prev.get("key") == t.key
            and prev.get("status") == "ok"
            and prev.get("html") == t.html_name
            and (out / t.html_name).is_file()
        ):
            results[t.name] = dict(prev, status="ok", skipped=True)
        else:
            todo.append(t)
    return todo, results


def _new_manifest(opts: BatchOptions, cfg, prog, config_path: Path, reports: dict) -> dict:
    """The manifest of this run, before any report is rendered."""
    return {
        "cocEval_version": cocEval.__version__,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "config": str(config_path),
        "data_dir": str(prog.source),
        "data_hash": prog.data_hash,
        "disclosure": cfg.disclosure.preset,
        "versions": versions(),
        "parameters": {
            "jobs": opts.jobs,
            "force": opts.force,
            "scheduler": opts.scheduler,
            "providers": list(opts.providers) if opts.providers else None,
        },
        "reports": reports,
    }


class _Recorder:
    """Called with each report's Outcome: writes its files (atomically), sets aside a failed
    report's previous HTML, keeps the manifest current and the providers' effects for the
    programme report."""

    def __init__(self, out: Path, run_tmp: Path, manifest_path: Path, manifest: dict, by_name, effects, bar):
        self.out, self.run_tmp, self.manifest_path, self.manifest = out, run_tmp, manifest_path, manifest
        self.by_name, self.effects, self.bar = by_name, effects, bar

    def write_manifest(self) -> None:
        _atomic_write(self.manifest_path, json.dumps(self.manifest, indent=2, default=str), self.run_tmp)

    def __call__(self, o: Outcome) -> None:
        out, t = self.out, self.by_name[o.name]
        entry = {k: v for k, v in asdict(o).items() if k not in ("html", "notebook")}
        entry |= {"key": t.key, "html": None, "skipped": False}
        if o.status == "ok":
            self.effects.update(o.effects)
            try:
                _atomic_write(_inside(out, t.html_name), o.html or "", self.run_tmp)
                _atomic_write(_inside(out, f"executed/{o.name}.ipynb"), o.notebook or "", self.run_tmp)
                entry["html"] = t.html_name
                (out / "stale" / t.html_name).unlink(missing_ok=True)  # superseded
                log.info("%s rendered in %.1f s", o.name, o.seconds)
            except OSError as exc:
                entry |= {"status": "failed", "reason": f"writing the report: {exc}"}
        if entry["status"] != "ok":
            log.error("%s %s: %s", o.name, entry["status"], entry["reason"])
            entry |= _set_aside(out, t, self.run_tmp)
        self.manifest["reports"][o.name] = entry
        self.write_manifest()
        self.bar.update(1)


def _dispatch(
    opts: BatchOptions, todo, cfg, prog, config_path, client, on_done, stop, registry, run_tmp, server=None
) -> list[Task]:
    """Run the tasks on local workers (kernels forked from the warm-kernel parent ``server``
    when there is one) or on a Dask cluster; returns those left unfinished by a stop."""
    if opts.scheduler:  # remote workers use their own temporary folders
        for t in todo:
            t.scratch = t.registry = t.sockets = None
        return _run_dask(todo, client, _shipped_files(prog, config_path, cfg), on_done, stop)
    jobs = opts.jobs or os.cpu_count() or 1
    hard = opts.hard_timeout or max(3600.0, 6.0 * cfg.report.timeout_seconds)
    warm = None
    if server is not None:
        first = todo[0].parameters
        inputs = {"data_dir": first.get("data_dir"), "config": first.get("config")}
        if opts.provider_notebook is None:  # warm up the packaged provider report
            inputs["provider"] = next((t.name for t in todo if t.name != PROGRAMME), None)
        server.warm("cocEval.batch:_warm_up", inputs, early="cocEval.batch:_warm_data")
        warm = {**server.address(), "late": [inputs["provider"]] if inputs.get("provider") else []}
    return _run_local(_schedule(todo, jobs), jobs, on_done, stop, registry, hard, run_tmp, warm)


def _set_aside(out: Path, task: Task, tmp: Path) -> dict:
    """Move a failed report's previous HTML (from older inputs) to ``stale/``, so nothing in the
    output folder presents it as current. Returns the manifest fields that say so."""
    fields: dict = {}
    for rel, key in ((task.html_name, "stale_html"), (f"executed/{task.name}.ipynb", None)):
        src = out / rel
        if src.is_file():
            dst = _inside(out, f"stale/{rel}")
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dst)
            if key:
                fields[key] = f"stale/{rel}"
    return fields


def _add_file_log(path: Path) -> logging.Handler:
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    logger = logging.getLogger("cocEval")
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    return handler


def index_html(reports: dict, prog, manifest: dict) -> str:
    """The run's index page: every report with status, headline effects and a link.

    Everything that comes from data (names, reasons) is HTML-escaped. A failed report's
    previous version is named as out of date and not linked.
    """
    names = prog.participation.set_index("provider_id")["provider_name"].to_dict()
    cohorts = prog.participation.set_index("provider_id")["cohort"].to_dict()
    rows = []
    for name, r in sorted(reports.items(), key=lambda kv: (kv[0] != PROGRAMME, kv[0])):
        label = "Programme evaluation" if name == PROGRAMME else f"{name} {names.get(name, '')}"
        link = (
            f'<a href="{html.escape(r["html"])}">{html.escape(label)}</a>'
            if r.get("status") == "ok" and r.get("html")
            else html.escape(label)
        )
        status = "ok (unchanged)" if r.get("skipped") else r.get("status", "")
        heads = "; ".join(f"{html.escape(str(k))}: {html.escape(str(v))}" for k, v in (r.get("headline") or {}).items())
        reason = html.escape(r.get("reason") or "")
        if r.get("stale_html"):
            reason += (
                f" The previous report, from older inputs, is out of date and was moved to "
                f"<code>{html.escape(r['stale_html'])}</code>."
            )
        cohort = "" if name == PROGRAMME else html.escape(str(cohorts.get(name) or ""))
        rows.append(
            f"<tr class='{html.escape(r.get('status', ''))}'><td>{link}</td><td>{cohort}</td><td>{html.escape(status)}</td><td>{heads}</td><td>{reason}</td></tr>"
        )
    ok = sum(r.get("status") == "ok" for r in reports.values())
    stopped = (
        f"<p><strong>This batch was stopped ({html.escape(manifest['interrupted'])}) before it finished; "
        "run it again to render the rest.</strong></p>"
        if manifest.get("interrupted")
        else ""
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Culture of Care evaluation reports</title>
<style>
body {{ font-family: Arial, Helvetica, sans-serif; margin: 2em; color: #212b32; max-width: 70em; }}
h1 {{ color: #005EB8; }} table {{ border-collapse: collapse; width: 100%; }}
th, td {{ text-align: left; padding: 6px 10px; border-bottom: 1px solid #d8dde0; vertical-align: top; }}
th {{ background: #005EB8; color: white; }} tr.failed td, tr.interrupted td {{ background: #fdeaea; }}
a {{ color: #005EB8; }} .wrap {{ overflow-x: auto; }}
</style></head><body>
<h1>Culture of Care evaluation reports</h1>
{index_note(manifest.get("disclosure", "mhsds"))}
{stopped}<p>{ok} of {len(reports)} reports rendered. Data hash {html.escape(manifest["data_hash"][:12])};
cocEval {html.escape(manifest["cocEval_version"])}; run finished {html.escape(manifest.get("finished", ""))}.
Details in <code>manifest.json</code> and <code>run.log</code>.</p>
<div class="wrap"><table data-disclosure-rule="{html.escape(manifest.get("disclosure", "mhsds"))}"><thead><tr><th>Report</th><th>Cohort</th><th>Status</th><th>Headline effects</th><th>Failure reason</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody></table></div></body></html>
"""
