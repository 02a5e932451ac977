"""Cellular decision models: ligand distributions in, a scalar response out."""

from ._base import AbstractCellModel as AbstractCellModel
from .proofreading import AdaptiveProofreading as AdaptiveProofreading
