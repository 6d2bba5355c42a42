"""Warm kernels forked from a pre-imported parent (cocEval.zygote)."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import nbformat
import pytest

from cocEval import zygote

pytestmark = pytest.mark.skipif(not zygote.available(), reason="warm kernels need Linux fork and pidfd")


def _notebook(path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def _manager(z):
    from jupyter_client.manager import AsyncKernelManager

    return zygote.zygote_kernel_manager(AsyncKernelManager, z)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); read its state
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture
def warm(tmp_path, monkeypatch):
    # the warm-up ("module:function") runs once in the parent, before any kernel is forked
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent))
    marker = tmp_path / "warmed"
    s = zygote.ZygoteServer(preload=("colorsys",))
    s.warm("zygote_steps:mark", {"marker": str(marker)})
    yield s, marker
    s.close()


def test_kernel_is_forked_from_the_warm_parent(warm, tmp_path):
    import papermill as pm

    s, marker = warm
    nb = _notebook(
        tmp_path / "a.ipynb",
        "import os, sys\nparent = os.getppid()\nalready = 'colorsys' in sys.modules",
        "print(parent, already, os.getpid())",
    )
    out = pm.execute_notebook(
        str(nb),
        str(tmp_path / "out.ipynb"),
        kernel_manager_class=_manager(zygote.ZygoteClient(**s.address())),
        progress_bar=False,
    )
    parent, already, kernel_pid = out.cells[1].outputs[0]["text"].split()
    assert int(parent) == s.pid == int(marker.read_text())  # forked by the parent, which ran the warm-up
    assert already == "True"  # the preloaded module was imported before the kernel existed
    assert int(kernel_pid) != s.pid
    assert not _alive(int(kernel_pid))  # stopped after the run


def test_killed_kernel_is_detected_within_seconds(warm, tmp_path):
    import papermill as pm
    from nbclient.exceptions import DeadKernelError

    s, _ = warm
    pidfile = tmp_path / "pid"
    nb = _notebook(
        tmp_path / "sleep.ipynb",
        f"import os, time\nopen({str(pidfile)!r}, 'w').write(str(os.getpid()))\ntime.sleep(120)",
    )

    def kill_when_running():
        for _ in range(300):
            time.sleep(0.05)
            if pidfile.exists() and pidfile.read_text():
                os.kill(int(pidfile.read_text()), signal.SIGKILL)
                return

    threading.Thread(target=kill_when_running, daemon=True).start()
    t0 = time.perf_counter()
    with pytest.raises(DeadKernelError):
        pm.execute_notebook(
            str(nb),
            str(tmp_path / "out.ipynb"),
            kernel_manager_class=_manager(zygote.ZygoteClient(**s.address())),
            progress_bar=False,
            execution_timeout=100,
        )
    assert time.perf_counter() - t0 < 30  # not the 100 s execution timeout: the death is noticed
    assert s.alive()  # one kernel's death does not take the parent down


def test_failed_preload_is_a_batch_error(tmp_path):
    from cocEval.errors import BatchError

    s = zygote.ZygoteServer(preload=("no_such_module_xyz",))
    try:
        s.warm(None)
        with pytest.raises(BatchError, match="no_such_module_xyz"):
            zygote.ZygoteClient(**s.address()).spawn(_connection_file(tmp_path))
    finally:
        s.close()


def _connection_file(tmp_path: Path, name: str = "k") -> str:
    from jupyter_client.connect import write_connection_file

    conn = tmp_path / f"{name}.json"
    write_connection_file(str(conn), transport="ipc", ip=str(tmp_path / name))
    return str(conn)


def _wait(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


@pytest.fixture
def server():
    s = zygote.ZygoteServer(preload=("colorsys",))
    yield s
    s.close()


def test_shared_parent_serves_kernels_to_two_clients(server, tmp_path):
    import papermill as pm

    server.warm(None)
    outs = []
    for n in range(2):  # two workers: each its own client, one parent
        z = zygote.ZygoteClient(**server.address())
        nb = _notebook(tmp_path / f"a{n}.ipynb", "import os, sys\nprint(os.getppid(), 'colorsys' in sys.modules)")
        out = pm.execute_notebook(
            str(nb), str(tmp_path / f"o{n}.ipynb"), kernel_manager_class=_manager(z), progress_bar=False
        )
        outs.append(out.cells[0].outputs[0]["text"].split())
    assert outs[0] == outs[1] == [str(server.pid), "True"]


def test_kernel_dies_with_the_process_that_asked_for_it(server, tmp_path):
    import subprocess
    import sys

    server.warm(None)
    # a stand-in worker: asks for a kernel, prints its pid, then waits to be killed
    code = (
        "import json, sys, time; from cocEval.zygote import ZygoteClient\n"
        f"z = ZygoteClient(**json.loads({json.dumps(server.address())!r}))\n"
        f"print(z.spawn({_connection_file(tmp_path)!r}, owner=__import__('os').getpid()), flush=True)\n"
        "time.sleep(120)\n"
    )
    worker = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    kernel = int(worker.stdout.readline())
    assert _wait(lambda: _alive(kernel))
    worker.kill()
    worker.wait()
    assert _wait(lambda: not _alive(kernel))  # gone with its worker, not left to the batch
    assert server.alive()


def test_closing_the_server_leaves_no_kernels_and_no_socket(tmp_path):
    s = zygote.ZygoteServer()
    s.warm(None)
    pid = zygote.ZygoteClient(**s.address()).spawn(_connection_file(tmp_path))
    assert _wait(lambda: _alive(pid))
    s.close()
    assert _wait(lambda: not _alive(pid)) and not s.alive()
    assert not Path(s.folder).exists()


def test_a_parent_that_failed_to_warm_up_refuses_kernels(tmp_path):
    from cocEval.errors import BatchError

    s = zygote.ZygoteServer()
    try:
        s.warm("no_such_module_xyz:warm")
        with pytest.raises(BatchError, match="no_such_module_xyz"):
            zygote.ZygoteClient(**s.address()).spawn(_connection_file(tmp_path))
    finally:
        s.close()


def test_a_dead_parent_is_a_batch_error(tmp_path):
    from cocEval.errors import BatchError

    s = zygote.ZygoteServer()
    address = s.address()
    s.close()
    z = zygote.ZygoteClient(**address)
    assert not z.alive()
    with pytest.raises(BatchError, match="did not answer"):
        z.spawn(_connection_file(tmp_path))


def test_a_kernel_the_parent_cannot_fork_starts_cold(tmp_path):
    import papermill as pm

    s = zygote.ZygoteServer()
    try:
        s.warm("no_such_module_xyz:warm")  # every request is refused
        nb = _notebook(tmp_path / "c.ipynb", "import os\nprint(os.getppid())")
        out = pm.execute_notebook(
            str(nb),
            str(tmp_path / "o.ipynb"),
            kernel_manager_class=_manager(zygote.ZygoteClient(**s.address())),
            progress_bar=False,
        )
        assert int(out.cells[0].outputs[0]["text"]) == os.getpid()  # started by this process: cold
    finally:
        s.close()


def test_kernels_that_need_not_wait_start_before_the_warm_up_ends(tmp_path, monkeypatch):
    # The batch's parent loads the data ("early"), then builds the first report ahead ("warm"):
    # a kernel for another report is forked in between, so the second core does not idle; the
    # kernel for the report built ahead ("late") waits for it.
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent))
    steps = {"early_done": str(tmp_path / "early-done"), "warm_done": str(tmp_path / "warm-done")}
    s = zygote.ZygoteServer()
    answers: dict[str, int] = {}

    def ask(name: str, late: bool) -> None:
        answers[name] = zygote.ZygoteClient(**s.address()).spawn(_connection_file(tmp_path, name), late=late)

    try:
        s.warm("zygote_steps:warm", steps, early="zygote_steps:early")
        threads = [threading.Thread(target=ask, args=(n, n == "late"), daemon=True) for n in ("late", "other")]
        for t in threads:
            t.start()
        time.sleep(0.5)  # both requests are waiting
        Path(steps["early_done"]).touch()
        assert _wait(lambda: "other" in answers)  # forked while the warm-up still runs
        time.sleep(0.5)
        assert "late" not in answers
        Path(steps["warm_done"]).touch()
        assert _wait(lambda: "late" in answers)
        assert all(_wait(lambda p=p: _alive(p)) for p in answers.values())
    finally:
        Path(steps["early_done"]).touch()
        Path(steps["warm_done"]).touch()
        s.close()
    assert _wait(lambda: not any(_alive(p) for p in answers.values()))
