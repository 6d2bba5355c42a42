"""Difference-in-differences for staggered adoption (Callaway & Sant'Anna 2021) and diagnostics.

- :func:`att_gt` group-time ATTs -> :class:`GroupTimeATT` (``aggregate``, ``pretrend_test``);
- :func:`did_2x2` the canonical two-group, two-period comparison;
- :func:`twfe`, :func:`event_study_twfe` two-way fixed effects (fixest conventions);
- :func:`bacon_decomposition` Goodman-Bacon (2021) decomposition of the TWFE estimate.
"""

from .aggregate import AggregatedATT, Estimate, aggregate
from .attgt import GroupTimeATT, att_gt
from .bacon import BaconDecomposition, bacon_decomposition
from .honest import breakdown_value, honest_did
from .twfe import DiD2x2, EventStudyTWFE, TWFEResult, did_2x2, event_study_twfe, twfe

__all__ = [
    "att_gt",
    "GroupTimeATT",
    "aggregate",
    "AggregatedATT",
    "Estimate",
    "twfe",
    "TWFEResult",
    "event_study_twfe",
    "EventStudyTWFE",
    "did_2x2",
    "DiD2x2",
    "bacon_decomposition",
    "BaconDecomposition",
    "honest_did",
    "breakdown_value",
]
