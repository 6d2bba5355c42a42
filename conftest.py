"""Doctest set-up for the examples in ``cocEval/`` (pytest runs them with ``--doctest-modules``).

Every doctest runs from the project folder (so ``"data/synthetic"`` and
``"params/programme.yaml"`` resolve) and finds ``prog``, the synthetic programme
(``load_programme("data/synthetic")``), already loaded in its namespace. When
``data/synthetic`` is absent (a fresh clone before ``make data``) it is generated into a
temporary folder with the committed seed. Test fixtures live in ``tests/conftest.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``data/synthetic``, generated into a temporary folder when it is absent."""
    folder = ROOT / "data" / "synthetic"
    if not (folder / "participation.csv").is_file():
        from cocEval.synthetic import write_synthetic

        folder = tmp_path_factory.mktemp("synthetic")
        write_synthetic(folder)
    return folder


@pytest.fixture(autouse=True)
def _doctest_namespace(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if type(request.node).__name__ != "DoctestItem":
        return
    monkeypatch.chdir(ROOT)
    folder = request.getfixturevalue("synthetic_dir")
    namespace = request.getfixturevalue("doctest_namespace")
    if "prog" not in namespace:
        from cocEval.data import load_programme

        namespace["prog"] = load_programme(folder)
