"""Registered experiments (one module each); importing this package registers them all."""

from . import mnist_baseline as mnist_baseline
from . import antagonism_potential as antagonism_potential
from . import immune_boundary_tilting as immune_boundary_tilting
from . import ode_antagonism as ode_antagonism
from . import ligand_boundary as ligand_boundary
from . import mtl_to_ml as mtl_to_ml
from . import digits_boundary_tilting as digits_boundary_tilting
from . import biomimetic_defence as biomimetic_defence
from . import loss_landscapes as loss_landscapes
from . import two_regimes as two_regimes
from . import cerebellum_width as cerebellum_width
from . import cerebellum_sparsity as cerebellum_sparsity
from . import cerebellum_cifar as cerebellum_cifar
from . import cerebellum_ablation as cerebellum_ablation
from . import cerebellum_batch1 as cerebellum_batch1
from . import cerebellum_dynamics as cerebellum_dynamics
from .registry import REGISTRY as REGISTRY, Experiment as Experiment, get as get, register as register, run_experiment as run_experiment
