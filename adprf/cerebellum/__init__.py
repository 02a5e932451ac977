"""The simulated cerebellum of Yuezhang et al. (2021): granule layer, LTD centring, Purkinje readout."""

from .conditioning import EyelidConditioning as EyelidConditioning
from .dynamics import (
    CerebellarDynamics as CerebellarDynamics,
    ResponseAt as ResponseAt,
    Trajectory as Trajectory,
    spread_time_constants as spread_time_constants,
)
from .granule import AbstractGranule as AbstractGranule, DenseGranule as DenseGranule, SparseGranule as SparseGranule
from .ltd import LTD as LTD
from .model import Cerebellum as Cerebellum
from .purkinje import Purkinje as Purkinje
from .train import delta_rule as delta_rule, encode as encode, rmsprop as rmsprop, train_cerebellum as train_cerebellum
