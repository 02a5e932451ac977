"""The attack engine: objectives, threat models, step rules, one compiled loop."""

from ._apgd import APGD as APGD
from ._audit import Audit as Audit, audit as audit
from ._checks import Check as Check
from ._engine import (
    AttackResult as AttackResult,
    as_targets as as_targets,
    attack as attack,
    perturb as perturb,
    run_attack as run_attack,
    validate_batch as validate_batch,
)
from ._ensemble import Ensemble as Ensemble
from ._evaluate import RobustAccuracy as RobustAccuracy, robust_accuracy as robust_accuracy
from ._ligand_threats import (
    add_ligands as add_ligands,
    move_binding_times as move_binding_times,
    turn_off as turn_off,
    turn_on as turn_on,
    v1_descent as v1_descent,
    with_candidates as with_candidates,
)
from ._methods import (
    BIM as BIM,
    FGSM as FGSM,
    PGD as PGD,
    AbstractMethod as AbstractMethod,
    GradientDescent as GradientDescent,
    Minimal as Minimal,
)
from ._objectives import (
    DLR as DLR,
    AbstractObjective as AbstractObjective,
    CrossEntropy as CrossEntropy,
    Margin as Margin,
    MSEOneHot as MSEOneHot,
    ScalarThreshold as ScalarThreshold,
    TargetedDLR as TargetedDLR,
    as_objective as as_objective,
)
from ._square import Square as Square
from ._straight_through import StraightThrough as StraightThrough, straight_through as straight_through
from ._suite import (
    RobustnessEvaluation as RobustnessEvaluation,
    SuiteAttack as SuiteAttack,
    evaluate_robustness as evaluate_robustness,
    suite_attacks as suite_attacks,
)
from ._threats import (
    AbstractBall as AbstractBall,
    AbstractConstraint as AbstractConstraint,
    Box as Box,
    Budget as Budget,
    L1Ball as L1Ball,
    L2Ball as L2Ball,
    LinfBall as LinfBall,
    Mask as Mask,
    NonNegative as NonNegative,
    ThreatModel as ThreatModel,
    budget as budget,
    l1 as l1,
    l2 as l2,
    linf as linf,
    unbounded as unbounded,
)
