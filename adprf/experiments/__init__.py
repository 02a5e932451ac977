"""Registered experiments (one module each); importing this package registers them all."""

from .._report import write_report as write_report
from .._results import Run as Run
from . import (  # noqa: F401 - importing an experiment registers it
    _antagonism_potential,
    _biomimetic_defence,
    _cerebellum_ablation,
    _cerebellum_batch1,
    _cerebellum_cifar,
    _cerebellum_dynamics,
    _cerebellum_sparsity,
    _cerebellum_width,
    _digits_boundary_tilting,
    _immune_boundary_tilting,
    _ligand_boundary,
    _loss_landscapes,
    _mnist_baseline,
    _mtl_to_ml,
    _ode_antagonism,
    _sbml_antagonism,
    _two_regimes,
)
from ._experiment import (
    AbstractConfig as AbstractConfig,
    Experiment as Experiment,
    Rendered as Rendered,
    Table as Table,
)
from ._registry import (
    OPTIONAL_PRESETS as OPTIONAL_PRESETS,
    PRESET_HELP as PRESET_HELP,
    PRESETS as PRESETS,
    REGISTRY as REGISTRY,
    get as get,
    register as register,
    run_experiment as run_experiment,
)
