"""Classifiers (equinox modules of one example) and their training."""

from .cnn import MadryCNN as MadryCNN
from .mlp import MLP as MLP
from .train import (
    accuracy as accuracy,
    cross_entropy_loss as cross_entropy_loss,
    predict as predict,
    train_classifier as train_classifier,
)
