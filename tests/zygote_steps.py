"""Warm-up steps for the warm-kernel parent in tests/test_zygote.py: ``early`` and ``warm``
wait for a file the test creates, so the test decides when a step ends; ``mark`` records which
process ran it."""

from __future__ import annotations

import os
import time
from pathlib import Path


def _wait_for(path: str) -> None:
    deadline = time.monotonic() + 60
    while not Path(path).exists() and time.monotonic() < deadline:
        time.sleep(0.02)


def early(args: dict) -> None:
    _wait_for(args["early_done"])


def warm(args: dict) -> None:
    _wait_for(args["warm_done"])


def mark(args: dict) -> None:
    Path(args["marker"]).write_text(str(os.getpid()))
