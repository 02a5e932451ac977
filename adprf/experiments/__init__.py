"""Registered experiments (one module each); importing this package registers them all."""

from . import (
    antagonism_potential as antagonism_potential,
    biomimetic_defence as biomimetic_defence,
    cerebellum_ablation as cerebellum_ablation,
    cerebellum_batch1 as cerebellum_batch1,
    cerebellum_cifar as cerebellum_cifar,
    cerebellum_dynamics as cerebellum_dynamics,
    cerebellum_sparsity as cerebellum_sparsity,
    cerebellum_width as cerebellum_width,
    digits_boundary_tilting as digits_boundary_tilting,
    immune_boundary_tilting as immune_boundary_tilting,
    ligand_boundary as ligand_boundary,
    loss_landscapes as loss_landscapes,
    mnist_baseline as mnist_baseline,
    mtl_to_ml as mtl_to_ml,
    ode_antagonism as ode_antagonism,
    two_regimes as two_regimes,
)
from .registry import (
    REGISTRY as REGISTRY,
    Experiment as Experiment,
    get as get,
    register as register,
    run_experiment as run_experiment,
)
