"""Cellular decision models: ligand distributions in, a scalar response out.

`AdaptiveProofreading` is the closed-form T_{N,m}; `KineticProofreading`, `SHP1Feedback` and
`KinaseFeedback` are ODE models read at their steady state (`steady_state`, float64: use them
inside `with jax.enable_x64(True):`).
"""

from ._adaptive import KinaseFeedback as KinaseFeedback
from ._base import AbstractCellModel as AbstractCellModel, AbstractSteadyStateModel as AbstractSteadyStateModel
from ._histogram_readout import HistogramReadout as HistogramReadout
from ._kpr import KineticProofreading as KineticProofreading
from ._one_of import OneOf as OneOf
from ._proofreading import AdaptiveProofreading as AdaptiveProofreading
from ._shp1 import SHP1Feedback as SHP1Feedback
from ._steady_state import (
    MESSAGES as MESSAGES,
    Solution as Solution,
    steady_state as steady_state,
    time_course as time_course,
)
