"""Warm kernels: Jupyter kernels forked from a parent that has already imported the libraries.

A report kernel normally pays for a new Python interpreter, ipykernel, and then pandas,
statsmodels, matplotlib and cocEval (about 3 s on this project's machines) before it runs a
single line of the report. A :class:`Zygote` pays that once: it is a small single-threaded
process, forked from the batch worker before the worker starts any thread or event loop, that
imports the libraries (and may load the data) and then, on request, forks a child that becomes
an ordinary ipykernel on the connection file the kernel manager wrote. The child shares the
parent's imported modules copy-on-write, so it is ready in milliseconds.

Every report still runs in its own kernel process: a crash or ``kill -9`` of one kernel kills
only that process. :class:`ZygoteProvisioner` is a jupyter_client provisioner whose ``poll``,
``wait``, ``kill`` and ``send_signal`` work through a Linux pidfd (the kernel is the zygote's
child, not the manager's), so nbclient notices a dead kernel as quickly as with a normal one.
The zygote dies with its parent (``PR_SET_PDEATHSIG``) and its kernels die with it, so a killed
batch leaves no orphans.

This is Linux-only (fork, pidfd); :func:`available` says whether it can be used, and the batch
falls back to ordinary kernels where it cannot.

Examples
--------
>>> z = Zygote(preload=("json",))
>>> z.alive()
True
>>> z.close()
>>> z.alive()
False
"""

from __future__ import annotations

import ctypes
import importlib
import json
import os
import select
import signal
import sys
import uuid
from collections.abc import Callable, Iterable

__all__ = ["Zygote", "ZygoteProvisioner", "available", "zygote_kernel_manager"]

_PR_SET_PDEATHSIG = 1


def available() -> bool:
    """Whether warm kernels can be used here (Linux with fork and pidfd)."""
    return sys.platform.startswith("linux") and hasattr(os, "pidfd_open") and hasattr(os, "fork")


def _die_with_parent(sig: int = signal.SIGKILL) -> None:
    """Ask Linux to send ``sig`` to this process when its parent dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the ipykernel parent poller still applies
        pass


class Zygote:
    """A pre-imported process that forks kernels on request.

    Parameters
    ----------
    preload : iterable of str
        Modules to import once in the zygote (e.g. ``"cocEval.report.provider"``).
    warm : callable, optional
        Called once in the zygote after the imports (e.g. to fill a data cache).

    Notes
    -----
    Create it before the calling process starts threads or event loops (fork copies only the
    calling thread). Requests travel over a pipe as one JSON line: the connection file, the
    working folder and extra environment; the answer is the kernel's pid.
    """

    def __init__(self, preload: Iterable[str] = (), warm: Callable[[], None] | None = None):
        if not available():
            from cocEval.errors import BatchError

            raise BatchError("warm kernels need Linux (fork and pidfd)")
        req_r, req_w = os.pipe()
        rep_r, rep_w = os.pipe()
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the zygote
            try:
                os.close(req_w)
                os.close(rep_r)
                _die_with_parent(signal.SIGKILL)
                if os.getppid() != parent:  # the parent died before prctl took effect
                    os._exit(0)
                _serve(req_r, rep_w, tuple(preload), warm)
            finally:
                os._exit(0)
        os.close(req_r)
        os.close(rep_w)
        self.pid = pid
        self._pidfd: int | None = os.pidfd_open(pid)
        self._req = os.fdopen(req_w, "w", buffering=1)
        self._rep = os.fdopen(rep_r, "r")
        ready = self._rep.readline()
        if not ready.startswith("ready"):
            self.close()
            from cocEval.errors import BatchError

            raise BatchError(f"the warm-kernel parent failed to start: {ready.strip() or 'no answer'}")

    def alive(self) -> bool:
        """Whether the zygote process is running."""
        return self._pidfd is not None and not select.select([self._pidfd], [], [], 0)[0]

    def spawn(self, connection_file: str, cwd: str | None = None, env: dict | None = None) -> int:
        """Fork a kernel on ``connection_file``; returns its pid."""
        self._req.write(json.dumps({"connection_file": connection_file, "cwd": cwd, "env": env or {}}) + "\n")
        answer = self._rep.readline()
        if not answer.strip().isdigit():
            from cocEval.errors import BatchError

            raise BatchError(f"the warm-kernel parent could not fork a kernel: {answer.strip() or 'it died'}")
        return int(answer)

    def close(self) -> None:
        """Stop the zygote (its kernels die with it)."""
        for f in (getattr(self, "_req", None), getattr(self, "_rep", None)):
            try:
                if f is not None:
                    f.close()
            except OSError:
                pass
        if self._pidfd is not None:
            try:
                signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                os.waitpid(self.pid, 0)
            except ChildProcessError:
                pass
            os.close(self._pidfd)
            self._pidfd = None


def _serve(req_r: int, rep_w: int, preload: tuple[str, ...], warm) -> None:
    """The zygote's loop: import, warm, then fork one kernel per request."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    rep = os.fdopen(rep_w, "w", buffering=1)
    try:
        import ipykernel.kernelapp  # noqa: F401  (the kernel itself)

        for name in preload:
            importlib.import_module(name)
        if warm is not None:
            warm()
    except Exception as exc:  # reported to the parent, which raises BatchError
        rep.write(f"failed: {type(exc).__name__}: {exc}\n")
        return
    # Reap kernels as they end (waited for, not ignored, so that their CPU time counts in this
    # process's children's and so in the batch's: ``time`` and the benchmark see it).
    signal.signal(signal.SIGCHLD, _reap)
    rep.write("ready\n")
    me = os.getpid()
    with os.fdopen(req_r, "r") as req:
        for line in req:
            try:
                request = json.loads(line)
            except json.JSONDecodeError:
                rep.write("bad request\n")
                continue
            pid = os.fork()
            if pid == 0:
                _become_kernel(request, me)
            rep.write(f"{pid}\n")


def _reap(signum: int, frame: object) -> None:
    """SIGCHLD handler of the zygote: wait for every kernel that has ended."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _become_kernel(request: dict, zygote: int) -> None:
    """In a fresh fork of the zygote: run an ipykernel on the requested connection file."""
    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        _die_with_parent(signal.SIGKILL)
        if os.getppid() != zygote:
            os._exit(0)
        os.setpgid(0, 0)
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):  # the kernel's own log lines are noise; cell output goes over its sockets
            os.dup2(devnull, fd)
        if request.get("cwd"):
            os.chdir(request["cwd"])
        os.environ.update({k: str(v) for k, v in request.get("env", {}).items()})
        from ipykernel.kernelapp import IPKernelApp

        app = IPKernelApp.instance()
        app.initialize(["-f", request["connection_file"], "--HistoryManager.enabled=False"])
        app.start()
        code = 0
    finally:
        os._exit(code)


# --------------------------------------------------------------------------------------------
# jupyter_client integration
# --------------------------------------------------------------------------------------------


class _PidfdProcess:
    """The part of ``subprocess.Popen`` a provisioner uses, for a process that is not our child."""

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: int | None = None
        self.stdin = self.stdout = self.stderr = None  # the kernel's streams go to /dev/null
        self._fd: int | None = os.pidfd_open(pid)

    def poll(self) -> int | None:
        if self.returncode is None and self._fd is not None and select.select([self._fd], [], [], 0)[0]:
            self.returncode = -signal.SIGKILL  # the zygote reaped it; the exact status is not known
            os.close(self._fd)
            self._fd = None
        return self.returncode

    def wait(self, timeout: float | None = None) -> int | None:
        if self.returncode is None and self._fd is not None:
            select.select([self._fd], [], [], timeout)
        return self.poll()

    def send_signal(self, sig: int) -> None:
        if self.poll() is None and self._fd is not None:
            try:
                signal.pidfd_send_signal(self._fd, sig)
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


def _provisioner_class():
    from jupyter_client.provisioning import LocalProvisioner

    class ZygoteProvisioner(LocalProvisioner):
        """Launches the kernel by asking the worker's :class:`Zygote` to fork it."""

        zygote: Zygote | None = None

        async def launch_kernel(self, cmd, **kwargs):
            z = type(self).zygote
            if z is None or not z.alive():
                return await super().launch_kernel(cmd, **kwargs)
            km = self.parent
            pid = z.spawn(km.connection_file, cwd=kwargs.get("cwd"), env={"JPY_PARENT_PID": str(os.getpid())})
            self.process = _PidfdProcess(pid)
            self.pid = pid
            self.pgid = pid
            return self.connection_info

    return ZygoteProvisioner


ZygoteProvisioner = None  # set lazily by zygote_kernel_manager (jupyter_client imported on demand)


def zygote_kernel_manager(base, zygote: Zygote):
    """A subclass of kernel manager class ``base`` whose kernels are forked from ``zygote``."""
    global ZygoteProvisioner
    if ZygoteProvisioner is None:
        ZygoteProvisioner = _provisioner_class()
    ZygoteProvisioner.zygote = zygote
    prov_cls = ZygoteProvisioner

    class ZygoteKernelManager(base):
        async def _async_pre_start_kernel(self, **kw):
            if self.provisioner is None:
                self.kernel_id = self.kernel_id or kw.pop("kernel_id", str(uuid.uuid4()))
                self.provisioner = prov_cls(kernel_id=self.kernel_id, kernel_spec=self.kernel_spec, parent=self)
            return await super()._async_pre_start_kernel(**kw)

    return ZygoteKernelManager
