"""The options of a Callaway-Sant'Anna fit, as one frozen dataclass, and the SEs they imply.

:func:`cocEval.did.att_gt` records its choices in :class:`ATTOptions`; the group-time result and
every aggregation read them from there (``res.options.alpha``), so ``attgt`` and ``aggregate``
share this module instead of importing each other.

Examples
--------
>>> opts = ATTOptions(outcome="y", alpha=0.1)
>>> opts.alpha, opts.control_group
(0.1, 'notyettreated')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ._inference import analytic_se, multiplier_bootstrap

if TYPE_CHECKING:
    from ._panel import Panel

__all__ = ["ATTOptions", "standard_errors", "fmt_level"]


@dataclass(frozen=True)
class ATTOptions:
    """Choices made in :func:`cocEval.did.att_gt` (see its parameters)."""

    outcome: str
    control_group: str = "notyettreated"
    method: str = "dr"
    base_period: str = "varying"
    anticipation: int = 0
    bootstrap: bool = True
    n_boot: int = 999
    alpha: float = 0.05
    seed: int | None = None
    covariates: tuple[str, ...] = ()
    cluster: str | None = None

    def __getitem__(self, key: str) -> Any:
        """Read access by name (``options["alpha"]``), as the settings dict it replaces."""
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        """``options.get("alpha")``, as the settings dict it replaces."""
        return getattr(self, key, default)


def standard_errors(inf: np.ndarray, panel: Panel, options: ATTOptions) -> tuple[np.ndarray, float | None]:
    """SEs for the columns of an influence-function matrix, and the uniform critical value
    when bootstrapping (None when analytic)."""
    if options.bootstrap:
        return multiplier_bootstrap(inf, panel.cluster, options.n_boot, options.seed, options.alpha)
    return analytic_se(inf, panel.cluster), None


def fmt_level(v: Any) -> str:
    """A cohort or period for labels: 'Apr 2024' for month dates, the value otherwise."""
    return v.strftime("%b %Y") if isinstance(v, pd.Timestamp) else str(v)
