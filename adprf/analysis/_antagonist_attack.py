"""Antagonism as an attack with a budget: the engine adds antagonists to a cell's agonists until it
stops responding (Rademaker et al. 2019, §II–III: antagonism as an adversarial perturbation of the
ligand distribution).

The attacker may add any amount of ligand at each candidate binding time, at most `budget` in
all (`attacks.add_ligands`); PGD on the added amounts pushes the output below the threshold
(`attacks.turn_off`). The smallest budget that works is the decision boundary L2* at the best
candidate, which `decision_boundary` computes independently: the attack should fail below it and
succeed above it.
"""

from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._ligands import Ligands
from .._types import ArrayLike, Float, PRNGKeyArray
from ..cells import AbstractCellModel


class AntagonistAttack(NamedTuple):
    """One budget's attack: whether the cell was `switched_off`, the candidate binding time that
    received the most ligand (`tau2_chosen`), the `amount_added` in all, and the output after."""

    budget: float
    switched_off: bool
    tau2_chosen: float
    amount_added: float
    output_after: float


def antagonist_attack(
    model: AbstractCellModel,
    agonists: Ligands,
    candidates: Sequence[float] | Float[ArrayLike, " candidates"],
    budgets: Sequence[float] | Float[ArrayLike, " budgets"],
    *,
    steps: int,
    key: PRNGKeyArray,
) -> list[AntagonistAttack]:
    """Add antagonists at the `candidates` binding times to the `agonists`, under each total
    amount in `budgets`, with PGD (`steps`, no random start) through the model's output.

    **Arguments:**
    - `model`: a cell model that responds to the agonists alone; it reads
      `len(agonists) + len(candidates)` ligand species.
    - `agonists`: one distribution (1-D).
    - `candidates`: binding times at which ligand may be added (amount 0 to start).
    - `budgets`: total amounts the attacker may add, one attack each.
    - `steps`, `key`: PGD's iterations; the engine's key.

    **Returns:** one `AntagonistAttack` per budget.
    """
    from ..attacks import PGD, add_ligands, attack, turn_off, with_candidates

    grid = np.asarray(candidates, dtype=float)
    clean = with_candidates(agonists, jnp.asarray(grid))
    batch = jax.tree.map(lambda a: a[None], clean)
    out = []
    for budget in np.asarray(budgets, dtype=float):
        result = attack(
            model,
            batch,
            None,
            method=PGD(steps=steps, random_start=False),
            threat=add_ligands(float(budget)),
            objective=turn_off(float(np.asarray(model.threshold))),
            key=key,
        )
        assert result.adversarial is not None  # `attack` keeps the adversarial inputs
        added = np.asarray(result.adversarial.amount[0, -grid.size :])
        out.append(
            AntagonistAttack(
                budget=float(budget),
                switched_off=bool(result.success[0]),
                tau2_chosen=float(grid[int(np.argmax(added))]),
                amount_added=float(added.sum()),
                output_after=float(model(jax.tree.map(lambda a: a[0], result.adversarial))),
            )
        )
    return out
