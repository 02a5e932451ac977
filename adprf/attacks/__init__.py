"""The attack engine: objectives, threat models, step rules, one compiled loop."""

from .engine import AttackResult as AttackResult, attack as attack, run_attack as run_attack
from .evaluate import RobustAccuracy as RobustAccuracy, robust_accuracy as robust_accuracy
from .methods import (
    BIM as BIM,
    FGSM as FGSM,
    PGD as PGD,
    AbstractMethod as AbstractMethod,
    GradientDescent as GradientDescent,
    Minimal as Minimal,
)
from .objectives import (
    AbstractObjective as AbstractObjective,
    CrossEntropy as CrossEntropy,
    Margin as Margin,
    MSEOneHot as MSEOneHot,
    ScalarThreshold as ScalarThreshold,
)
from .straight_through import StraightThrough as StraightThrough, straight_through as straight_through
from .threats import (
    AbstractBall as AbstractBall,
    AbstractConstraint as AbstractConstraint,
    Box as Box,
    L2Ball as L2Ball,
    LinfBall as LinfBall,
    Mask as Mask,
    NonNegative as NonNegative,
    ThreatModel as ThreatModel,
    l2 as l2,
    linf as linf,
    unbounded as unbounded,
)
