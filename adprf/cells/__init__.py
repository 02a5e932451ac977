"""Cellular decision models: ligand distributions in, a scalar response out.

`AdaptiveProofreading` is the closed-form T_{N,m}; `KineticProofreading`, `SHP1Feedback` and
`KinaseFeedback` are ODE models read at their steady state (`steady_state`, float64: use them
inside `with jax.enable_x64(True):`); a `Solution` says how its solve ended with an item of
`adprf.RESULTS`.

Any network written in SBML or Antimony becomes a cell model too (`from_sbml`, `from_antimony`:
an `SBMLCell` whose ligands set named quantities; `SBMLResponse` for attacks on parameters), and
the ODE models are written to SBML by `to_sbml`, for libRoadRunner, COPASI or Tellurium.
"""

import importlib
from typing import TYPE_CHECKING

from ._adaptive import KinaseFeedback as KinaseFeedback
from ._base import AbstractCellModel as AbstractCellModel, AbstractSteadyStateModel as AbstractSteadyStateModel
from ._histogram_readout import HistogramReadout as HistogramReadout
from ._kpr import KineticProofreading as KineticProofreading
from ._one_of import OneOf as OneOf
from ._proofreading import AdaptiveProofreading as AdaptiveProofreading, proofreading_grid as proofreading_grid
from ._shp1 import SHP1Feedback as SHP1Feedback
from ._steady_state import Solution as Solution, steady_state as steady_state, time_course as time_course

if TYPE_CHECKING:
    from ._sbml import (
        LigandSlot as LigandSlot,
        SBMLCell as SBMLCell,
        SBMLResponse as SBMLResponse,
        from_antimony as from_antimony,
        from_sbml as from_sbml,
        read_antimony as read_antimony,
        read_sbml as read_sbml,
    )
    from ._sbml_export import to_sbml as to_sbml
    from ._sbml_math import SBMLError as SBMLError
    from ._sbml_network import SBMLNetwork as SBMLNetwork

_SBML_NAMES = {
    **dict.fromkeys(
        ("LigandSlot", "SBMLCell", "SBMLResponse", "from_antimony", "from_sbml", "read_antimony", "read_sbml"), "_sbml"
    ),
    "to_sbml": "_sbml_export",
    "SBMLError": "_sbml_math",
    "SBMLNetwork": "_sbml_network",
}
"""The SBML half, imported on first use: libsbml, sbmlmath and sympy take 0.7 s to import,
which every process that never reads SBML (the command line, its workers) would pay."""


def __getattr__(name: str):
    if name in _SBML_NAMES:
        value = getattr(importlib.import_module(f".{_SBML_NAMES[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_SBML_NAMES})
