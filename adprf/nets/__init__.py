"""Classifiers (equinox modules of one example), biomimetic input filters, and training."""

from ._adversarial_training import AdversarialLoss as AdversarialLoss, madry_loss as madry_loss
from ._augmentation import augmented_cross_entropy as augmented_cross_entropy, flip_and_crop as flip_and_crop
from ._cnn import MadryCNN as MadryCNN
from ._defences import (
    CNN_CLASSIFIER as CNN_CLASSIFIER,
    DEFENCES as DEFENCES,
    MLP_CLASSIFIER as MLP_CLASSIFIER,
    build_classifier as build_classifier,
    build_filter as build_filter,
    describe_defence as describe_defence,
    train_defence as train_defence,
    train_defences as train_defences,
)
from ._filters import (
    Filtered as Filtered,
    HardThreshold as HardThreshold,
    Hill as Hill,
    PowerLaw as PowerLaw,
    ProofreadingLayer as ProofreadingLayer,
)
from ._frozen_encoder import (
    FrozenFeatures as FrozenFeatures,
    ScaledEncoder as ScaledEncoder,
    encode_images as encode_images,
    frozen_features as frozen_features,
)
from ._mlp import MLP as MLP
from ._train import (
    accuracy as accuracy,
    cross_entropy_loss as cross_entropy_loss,
    predict as predict,
    train_classifier as train_classifier,
)
from ._vgg import VGGClassifier as VGGClassifier, VGGEncoder as VGGEncoder
from ._vgg_training import TrainedVGG as TrainedVGG, train_vgg as train_vgg, vgg_optimizer as vgg_optimizer
