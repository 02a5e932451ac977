"""Cellular decision models: ligand distributions in, a scalar response out.

`AdaptiveProofreading` is the closed-form T_{N,m}; `KineticProofreading`, `SHP1Feedback` and
`KinaseFeedback` are ODE models read at their steady state (`steady_state`, float64: use them
inside `with jax.enable_x64(True):`).
"""

from ._base import AbstractCellModel as AbstractCellModel, AbstractSteadyStateModel as AbstractSteadyStateModel
from .adaptive import KinaseFeedback as KinaseFeedback
from .kpr import KineticProofreading as KineticProofreading
from .proofreading import AdaptiveProofreading as AdaptiveProofreading
from .shp1 import SHP1Feedback as SHP1Feedback
from .steady_state import (
    MESSAGES as MESSAGES,
    Solution as Solution,
    steady_state as steady_state,
    time_course as time_course,
)
