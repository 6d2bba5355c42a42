"""One exception hierarchy for cocEval.

Every error that cocEval raises on purpose derives from :class:`CocEvalError`. Each class says
what went wrong in terms a user can act on; the command line maps them to exit status 2 and a
one-line message (``-v`` shows the traceback). Anything else that escapes is a bug and is never
swallowed: reports catch :class:`NotEstimableError` (shown as a reason, in words), never a bare
``ValueError``.

The classes also derive from ``ValueError`` where that is what Python code would have expected
before (bad values passed in), so ``except ValueError`` in user code keeps working.

=========================  =========================================================
class                      raised when
=========================  =========================================================
``ConfigError``            ``params/programme.yaml`` (or a config object) breaks a rule
``DataError``              input data break the data contract (file, column, rule, rows)
``DataValidationError``    the data layer's collected validation failures (a DataError)
``ImportDataError``        a published file cannot be imported (unknown layout, bad value)
``InputError``             an argument to a public function is wrong (type, range, option)
``NotEstimableError``      the data cannot support the estimate (too few events, no controls)
``DisclosureError``        a number would reach a report without passing disclosure control
``BatchError``             the batch cannot run (output folder locked, not writable)
``UsageError``             a command-line option is wrong
=========================  =========================================================

Examples
--------
>>> from cocEval.errors import CocEvalError, NotEstimableError
>>> issubclass(NotEstimableError, CocEvalError) and issubclass(NotEstimableError, ValueError)
True
>>> try:
...     raise NotEstimableError("only 2 months after the start")
... except CocEvalError as exc:
...     print(exc)
only 2 months after the start
"""

from __future__ import annotations

__all__ = [
    "BatchError",
    "CocEvalError",
    "ConfigError",
    "DataError",
    "DisclosureError",
    "ImportDataError",
    "InputError",
    "NotEstimableError",
    "UsageError",
]


class CocEvalError(Exception):
    """Base class of every error cocEval raises on purpose."""

    #: exit status the command line returns for this error
    exit_code: int = 2


class ConfigError(CocEvalError, ValueError):
    """The configuration breaks a rule; the message names the file, key path and rule."""


class DataError(CocEvalError, ValueError):
    """Input data break the data contract; the message names the file, column, rule and rows."""


class ImportDataError(DataError):
    """A published file cannot be imported: unknown layout, mixed geographies, a bad value."""


class InputError(CocEvalError, ValueError):
    """An argument to a public function is wrong (missing column, bad option, out of range)."""


class NotEstimableError(CocEvalError, ValueError):
    """The data cannot support the estimate (too few months or events, no comparison units).

    Reports show the message as the reason an estimate is missing.
    """


class DisclosureError(CocEvalError):
    """A number would reach a report without passing disclosure control, or fails the audit."""


class BatchError(CocEvalError):
    """The batch cannot run: the output folder is locked by another batch or is not writable."""


class UsageError(CocEvalError, ValueError):
    """A command-line option is wrong (e.g. ``--jobs 0``)."""
