"""The simulated cerebellum of Yuezhang et al. (2021): granule layer, LTD centring, Purkinje readout."""

from ._conditioning import EyelidConditioning as EyelidConditioning
from ._dynamics import (
    CerebellarDynamics as CerebellarDynamics,
    ResponseAt as ResponseAt,
    Trajectory as Trajectory,
    spread_time_constants as spread_time_constants,
)
from ._granule import AbstractGranule as AbstractGranule, DenseGranule as DenseGranule, SparseGranule as SparseGranule
from ._ltd import LTD as LTD
from ._model import Cerebellum as Cerebellum
from ._purkinje import Purkinje as Purkinje
from ._train import delta_rule as delta_rule, encode as encode, rmsprop as rmsprop, train_cerebellum as train_cerebellum
