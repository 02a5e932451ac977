"""Classifiers (equinox modules of one example), biomimetic input filters, and training."""

from .adversarial_training import AdversarialLoss as AdversarialLoss, madry_loss as madry_loss
from .cnn import MadryCNN as MadryCNN
from .filters import (
    Filtered as Filtered,
    HardThreshold as HardThreshold,
    Hill as Hill,
    PowerLaw as PowerLaw,
    ProofreadingLayer as ProofreadingLayer,
)
from .mlp import MLP as MLP
from .train import (
    accuracy as accuracy,
    cross_entropy_loss as cross_entropy_loss,
    predict as predict,
    train_classifier as train_classifier,
)
from .vgg import VGGClassifier as VGGClassifier, VGGEncoder as VGGEncoder
