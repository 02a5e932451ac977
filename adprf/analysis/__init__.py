"""Analysis of cellular decisions: antagonism (fold change, decision boundary) and the
critical point of the gradient (the two regimes of Rademaker et al. 2019), the exact optimal attack on
T_{N,m}'s binding times, the v1 descent of a ligand distribution to the boundary, and loss landscapes."""

from ._antagonism import decision_boundary as decision_boundary, fold_change as fold_change
from ._antagonist_attack import AntagonistAttack as AntagonistAttack, antagonist_attack as antagonist_attack
from ._boundary_descent import BoundaryDescent as BoundaryDescent, boundary_descent as boundary_descent
from ._critical import (
    Regime as Regime,
    critical_point as critical_point,
    first_crossing as first_crossing,
    inflection_point as inflection_point,
    probe_gradient as probe_gradient,
    regime as regime,
)
from ._landscape import (
    Landscape as Landscape,
    loss_landscape as loss_landscape,
    plot_landscape_contour as plot_landscape_contour,
    plot_landscape_surface as plot_landscape_surface,
)
from ._minimal_attack import (
    best_excess as best_excess,
    minimal_radius as minimal_radius,
    optimal_binding_time as optimal_binding_time,
)
from ._mixtures import Mixtures as Mixtures, agonist_amount as agonist_amount, draw_mixtures as draw_mixtures
