"""The simulated cerebellum of Yuezhang et al. (2021): granule layer, LTD centring, Purkinje readout."""

from ._conditioning import EyelidConditioning as EyelidConditioning
from ._dynamics import (
    CerebellarDynamics as CerebellarDynamics,
    ResponseAt as ResponseAt,
    Trajectory as Trajectory,
    spread_time_constants as spread_time_constants,
)
from ._granule import AbstractGranule as AbstractGranule, DenseGranule as DenseGranule, SparseGranule as SparseGranule
from ._ltd import LTD as LTD
from ._model import Cerebellum as Cerebellum, evaluation_batch as evaluation_batch
from ._paper_values import (
    PAPER_ABLATION_BASE as PAPER_ABLATION_BASE,
    PAPER_ABLATION_CNN as PAPER_ABLATION_CNN,
    PAPER_BATCH1_LTD_PGD as PAPER_BATCH1_LTD_PGD,
    PAPER_BATCH1_NO_LTD_PGD as PAPER_BATCH1_NO_LTD_PGD,
    PAPER_EPSILONS as PAPER_EPSILONS,
    PAPER_SPARSITY as PAPER_SPARSITY,
    PAPER_WIDTH as PAPER_WIDTH,
    SYNAPSE_BUDGET as SYNAPSE_BUDGET,
    TABLE_COLUMNS as TABLE_COLUMNS,
    PaperPair as PaperPair,
    PaperRow as PaperRow,
)
from ._protocol import (
    AttackProtocol as AttackProtocol,
    CerebellumSpec as CerebellumSpec,
    FittedCerebellum as FittedCerebellum,
    RobustnessCurves as RobustnessCurves,
    SplitData as SplitData,
    SweepEntry as SweepEntry,
    TrainingSchedule as TrainingSchedule,
    attack_batch as attack_batch,
    build_cerebellum as build_cerebellum,
    column_difference as column_difference,
    epsilon_index as epsilon_index,
    evaluate_cerebellum as evaluate_cerebellum,
    evaluate_seeds as evaluate_seeds,
    fit_cerebellum as fit_cerebellum,
    load_split_data as load_split_data,
    mean_curves as mean_curves,
    paper_cell as paper_cell,
    robustness_curves_figure as robustness_curves_figure,
    sparsity_width as sparsity_width,
    spec_label as spec_label,
    summarise_seeds as summarise_seeds,
    sweep_cerebellums as sweep_cerebellums,
    table_columns as table_columns,
)
from ._purkinje import Purkinje as Purkinje
from ._train import delta_rule as delta_rule, encode as encode, rmsprop as rmsprop, train_cerebellum as train_cerebellum
