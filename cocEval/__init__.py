"""cocEval: evaluation toolkit for NHS England's Culture of Care programme.

Data flows one way: :mod:`cocEval.data` (load, validate, aggregate) -> estimators
(:mod:`cocEval.its`, :mod:`cocEval.did`, :mod:`cocEval.meta`, :mod:`cocEval.spc`,
:mod:`cocEval.funnel`) -> report helpers (:mod:`cocEval.disclosure`, :mod:`cocEval.style`) ->
thin notebooks -> the batch runner and CLI (:mod:`cocEval.cli`).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cocEval")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
