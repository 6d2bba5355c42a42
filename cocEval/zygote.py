"""Warm kernels: Jupyter kernels forked from a parent that has already imported the libraries.

A report kernel normally pays for a new Python interpreter, ipykernel, and then pandas,
statsmodels, matplotlib and cocEval (about 3 s on this project's machines) before it runs a
single line of the report. A :class:`ZygoteServer` pays that once: it is a fresh interpreter
(started with ``subprocess``, so it inherits no threads, locks or open files of its starter)
that imports the libraries (and may load the data and build one report ahead) and then, on
request over a Unix socket, forks a child that becomes an ordinary ipykernel on the connection
file the kernel manager wrote. The child shares the parent's imported modules copy-on-write, so
it is ready in milliseconds. The batch starts one for all its workers (imports, data and
warm-up are paid once per batch, not once per worker), which talk to it through
:class:`ZygoteClient`.

Every report still runs in its own kernel process: a crash or ``kill -9`` of one kernel kills
only that process. :class:`ZygoteProvisioner` is a jupyter_client provisioner whose ``poll``,
``wait``, ``kill`` and ``send_signal`` work through a Linux pidfd (the kernel is the parent's
child, not the manager's), so nbclient notices a dead kernel as quickly as with a normal one.
The parent dies with its starter (``PR_SET_PDEATHSIG``) and its kernels die with it, so a
killed batch leaves no orphans; if it dies, each report is retried once, as for any dead kernel,
and later kernels start cold. Each kernel also watches the process that asked for it (through a
pidfd) and dies with it, so a killed worker's kernel goes with it at once.

This is Linux-only (fork, pidfd); :func:`available` says whether it can be used, and the batch
falls back to ordinary kernels where it cannot (a kernel the parent cannot fork is started cold).

Examples
--------
>>> server = ZygoteServer(preload=("json",))
>>> server.warm(None)
>>> ZygoteClient(**server.address()).alive()
True
>>> server.close()
>>> server.alive()
False
"""

from __future__ import annotations

import ctypes
import gc
import importlib
import json
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterable

__all__ = ["ZygoteClient", "ZygoteProvisioner", "ZygoteServer", "available", "zygote_kernel_manager"]

log = logging.getLogger(__name__)

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


def _freeze_heap() -> None:
    """Before the first fork: move every object the parent holds (the imported libraries, the
    data, the warm-up report) out of the garbage collector's reach. They live as long as the
    kernels do; frozen, a kernel's collections no longer walk them, nor copy their pages out of
    the memory it shares with the parent (:func:`gc.freeze`)."""
    gc.collect()
    gc.freeze()


def _reap(signum: int, frame: object) -> None:
    """SIGCHLD handler of the zygote: wait for every kernel that has ended."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _request(connection_file: str, cwd: str | None, env: dict | None, owner: int | None, late: bool = False) -> str:
    """One request line: where the kernel listens, its folder, extra environment, its owner, and
    whether it must wait for the whole warm-up (``late``; see :meth:`ZygoteServer.warm`)."""
    request = {"connection_file": connection_file, "cwd": cwd, "env": env or {}, "owner": owner, "late": late}
    return json.dumps(request) + "\n"


def _die_with(pid: int) -> None:
    """Kill this process when process ``pid`` ends (a daemon thread waiting on its pidfd)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:  # already gone
        os._exit(0)

    def watch() -> None:
        select.select([fd], [], [])
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="owner-watch", daemon=True).start()


def _become_kernel(request: dict, zygote: int, close: Iterable[int] = ()) -> None:
    """In a fresh fork of the zygote: run an ipykernel on the requested connection file.

    It dies with the zygote (``PR_SET_PDEATHSIG``) and with the process that asked for it
    (``owner``), and closes the zygote's own descriptors (``close``).
    """
    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        _die_with_parent(signal.SIGKILL)
        if os.getppid() != zygote:
            os._exit(0)
        for fd in close:
            os.close(fd)
        os.setpgid(0, 0)
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):  # the kernel's own log lines are noise; cell output goes over its sockets
            os.dup2(devnull, fd)
        if request.get("owner"):  # after the dup2s: its pidfd must not be one of 0, 1, 2
            _die_with(int(request["owner"]))
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
# One warm parent shared by several processes
# --------------------------------------------------------------------------------------------


class ZygoteServer:
    """A warm parent shared by several processes, answering on a Unix socket.

    It is a fresh interpreter (``python -c``), so it inherits no thread, lock, signal handler or
    open file of the process that starts it (the batch holds the output folder's lock). It
    starts importing ``preload`` at once; :meth:`warm` then gives it a function to run once (for
    example: load the data and build one report) and, only after that, it forks kernels for
    :class:`ZygoteClient` requests. The socket is bound here, before the process starts, so a
    client that connects early simply waits for the answer. Closing its stdin (or its starter
    dying) ends it.

    Parameters
    ----------
    preload : iterable of str
        Modules to import once.

    Examples
    --------
    >>> server = ZygoteServer(preload=("json",))
    >>> server.warm(None)
    >>> ZygoteClient(**server.address()).alive()
    True
    >>> server.close()
    >>> server.alive()
    False
    """

    def __init__(self, preload: Iterable[str] = ()):
        if not available():
            from cocEval.errors import BatchError

            raise BatchError("warm kernels need Linux (fork and pidfd)")
        # a short folder: socket paths are limited to about 100 characters
        self.folder = tempfile.mkdtemp(prefix="coc-k-")
        self.path = os.path.join(self.folder, "zygote")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(self.path)
            listener.listen(64)
            code = "from cocEval.zygote import _server_main; _server_main()"
            args = [self.path, str(listener.fileno()), json.dumps(list(preload)), str(os.getpid())]
            self.proc = subprocess.Popen(
                [sys.executable, "-c", code, *args],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                pass_fds=(listener.fileno(),),
            )
        finally:
            listener.close()
        self.pid = self.proc.pid

    def address(self) -> dict:
        """What a :class:`ZygoteClient` needs (JSON-able): the socket and the server's pid."""
        return {"path": self.path, "pid": self.pid}

    def warm(self, func: str | None, args: dict | None = None, early: str | None = None) -> None:
        """Run ``func`` (``"module:function"``, called with ``args``) once in the server, then
        serve; ``None`` serves at once. A failure makes every request fail (kernels start cold).

        With ``early`` (another function, run first), the requests already waiting when the
        imports end are served before ``early`` runs, and those waiting when it ends before
        ``func`` runs, except those that ask to wait (``late``: a kernel that needs what ``func``
        builds): a core that would idle during ``early`` and ``func`` runs a kernel."""
        try:
            assert self.proc.stdin is not None
            line = json.dumps({"early": early, "warm": func, "args": args or {}}) + "\n"
            self.proc.stdin.write(line.encode())
            self.proc.stdin.flush()
        except OSError:  # it died: clients see that
            pass

    def alive(self) -> bool:
        """Whether the server process is running."""
        return self.proc.poll() is None

    def close(self) -> None:
        """Stop the server (a kernel still running dies with it) and remove its socket."""
        import shutil

        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        except OSError:
            pass
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()  # waited for, so its kernels' CPU time counts in the starter's children's
        shutil.rmtree(self.folder, ignore_errors=True)


class ZygoteClient:
    """Asks a :class:`ZygoteServer` for kernels; used by the batch's workers.

    Parameters
    ----------
    path : str
        The server's socket.
    pid : int
        The server's process id (to tell whether it is alive).
    timeout : float
        Seconds to wait for an answer (the server answers once it has warmed up).
    """

    def __init__(self, path: str, pid: int, timeout: float = 120.0):
        self.path, self.pid, self.timeout = path, int(pid), timeout
        try:
            self._pidfd: int | None = os.pidfd_open(self.pid)
        except ProcessLookupError:
            self._pidfd = None

    def alive(self) -> bool:
        """Whether the server process is running."""
        return self._pidfd is not None and not select.select([self._pidfd], [], [], 0)[0]

    def spawn(
        self,
        connection_file: str,
        cwd: str | None = None,
        env: dict | None = None,
        owner: int | None = None,
        late: bool = False,
    ) -> int:
        """Fork a kernel on ``connection_file``; returns its pid. With ``owner`` (a pid), the
        kernel dies when that process does; with ``late``, it is forked only once the server's
        whole warm-up is done (see :meth:`ZygoteServer.warm`).

        Raises
        ------
        BatchError
            When the server cannot be reached, does not answer in time, or could not warm up.
        """
        from cocEval.errors import BatchError

        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(self.timeout)
                s.connect(self.path)
                s.sendall(_request(connection_file, cwd, env, owner, late).encode())
                answer = s.makefile("r").readline()
        except OSError as exc:
            raise BatchError(f"the warm-kernel parent did not answer ({type(exc).__name__}: {exc})") from None
        if not answer.strip().isdigit():
            raise BatchError(f"the warm-kernel parent could not fork a kernel: {answer.strip() or 'it died'}")
        return int(answer)


def _server_main() -> None:
    """Entry point of a :class:`ZygoteServer` process (``argv``: socket path, listening fd,
    JSON list of modules, the starter's pid)."""
    fd, preload, starter = int(sys.argv[2]), json.loads(sys.argv[3]), int(sys.argv[4])
    _die_with_parent(signal.SIGKILL)
    if os.getppid() != starter:
        os._exit(0)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the batch decides what a Ctrl-C stops
    os.environ.setdefault("MPLBACKEND", "Agg")
    listener = socket.socket(fileno=fd)
    failure = None
    try:
        import ipykernel.kernelapp  # noqa: F401  (the kernel itself)

        for name in preload:
            importlib.import_module(name)
    except Exception as exc:  # every request is answered with it; kernels then start cold
        failure = f"failed: {type(exc).__name__}: {exc}"
    line = sys.stdin.buffer.readline()
    if not line:  # closed before any kernel was needed
        return
    spec = json.loads(line)
    me, held = os.getpid(), []

    def serve_waiting() -> None:
        # A core would idle while the warm-up runs: kernels that need not wait for it (a report
        # other than the warm-up's own) start now, and pay what it has not done yet themselves
        # (loading the data when forked before "early" ends, first-use costs before "warm" ends).
        _freeze_heap()
        while select.select([listener], [], [], 0)[0]:
            conn, _ = listener.accept()
            request = _read_request(conn)
            if request is not None and request.get("late"):
                held.append((conn, request))
            elif request is not None:
                _answer(conn, request, failure, me, listener, others=[c for c, _ in held])

    for step in ("early", "warm"):
        if step == "early" and spec.get("early") and failure is None:
            serve_waiting()  # the imports are done: requests made while they ran
        if failure is None and spec.get(step):
            try:
                module, func = spec[step].split(":")
                getattr(importlib.import_module(module), func)(spec.get("args") or {})
            except Exception as exc:
                failure = f"failed: {type(exc).__name__}: {exc}"
        if step == "early" and spec.get("early") and failure is None:
            serve_waiting()
    signal.signal(signal.SIGCHLD, _reap)  # after the warm-up: its own subprocesses are waited for by it
    _reap(0, None)  # kernels forked early that have already ended
    _freeze_heap()
    for conn, request in held:
        _answer(conn, request, failure, me, listener)
    _serve_socket(listener, failure)


def _read_request(conn: socket.socket) -> dict | None:
    """The request line a client sends as it connects (None, and the connection closed, when
    it sends none within 10 s or it is not JSON)."""
    conn.settimeout(10)
    try:
        return json.loads(conn.makefile("r").readline())
    except (json.JSONDecodeError, OSError):
        conn.close()
        return None


def _answer(
    conn: socket.socket, request: dict, failure: str | None, me: int, listener: socket.socket, others=()
) -> None:
    """Fork a kernel for ``request`` and send its pid (or send ``failure``), then close ``conn``;
    the kernel closes the server's sockets (``listener``, ``conn`` and the ``others`` held)."""
    with conn:
        if failure is not None:
            answer = failure
        else:
            pid = os.fork()
            if pid == 0:
                _become_kernel(request, me, close=(listener.fileno(), conn.fileno(), *(c.fileno() for c in others)))
            answer = str(pid)
        try:
            conn.sendall(f"{answer}\n".encode())
        except OSError:
            pass


def _serve_socket(listener: socket.socket, failure: str | None) -> None:
    """The server's loop: one kernel forked per connection, until stdin closes."""
    me = os.getpid()
    stdin = sys.stdin.buffer.fileno()
    while True:
        ready, _, _ = select.select([listener, stdin], [], [])
        if stdin in ready and not os.read(stdin, 4096):
            return
        if listener not in ready:
            continue
        conn, _ = listener.accept()
        request = _read_request(conn)
        if request is not None:
            _answer(conn, request, failure, me, listener)


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

    from cocEval.errors import CocEvalError

    class ZygoteProvisioner(LocalProvisioner):
        """Launches the kernel by asking the batch's warm parent (through the worker's
        :class:`ZygoteClient`) to fork it."""

        zygote: ZygoteClient | None = None
        late = False  # set per kernel manager by zygote_kernel_manager

        async def launch_kernel(self, cmd, **kwargs):
            z = type(self).zygote
            if z is None or not z.alive():
                return await super().launch_kernel(cmd, **kwargs)
            km = self.parent
            try:
                pid = z.spawn(
                    km.connection_file,
                    cwd=kwargs.get("cwd"),
                    env={"JPY_PARENT_PID": str(os.getpid())},
                    owner=os.getpid(),
                    late=self.late,
                )
            except CocEvalError as exc:  # the parent failed or died: this kernel starts cold
                log.warning("%s; starting the kernel cold", exc)
                return await super().launch_kernel(cmd, **kwargs)
            self.process = _PidfdProcess(pid)
            self.pid = pid
            self.pgid = pid
            return self.connection_info

    return ZygoteProvisioner


ZygoteProvisioner = None  # set lazily by zygote_kernel_manager (jupyter_client imported on demand)


def zygote_kernel_manager(base, zygote: ZygoteClient, late: bool = False):
    """A subclass of kernel manager class ``base`` whose kernels are forked from ``zygote``
    (once its whole warm-up is done, with ``late``: see :meth:`ZygoteServer.warm`)."""
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
                self.provisioner.late = late
            return await super()._async_pre_start_kernel(**kw)

    return ZygoteKernelManager
