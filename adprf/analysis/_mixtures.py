"""Ligand distributions just above the decision boundary of T_{N,m}: agonists plus sub-threshold
ligands (antagonists and self), with the agonists' amount set so that every model T_{N,m}
starts at the same response T_0 (the set-up of the two-regimes experiment; agonists and self
ligands as in Rademaker et al. 2019, v1, antagonists as in its v1 figure "MTL → ML").
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._ligands import agonists, antagonists, self_ligands
from .._types import PRNGKeyArray
from ..cells import AdaptiveProofreading


class Mixtures(NamedTuple):
    """Binding times of a batch of distributions (`draw_mixtures`).

    - `tau`: (D, R) binding times, the agonists first;
    - `antagonist`: (D, R − n_agonists) bool, which sub-threshold ligands are antagonists;
    - `target`: (D,) the response T_0 each distribution is to start at.
    """

    tau: np.ndarray
    antagonist: np.ndarray
    target: np.ndarray


def draw_mixtures(
    key: PRNGKeyArray,
    n_distributions: int,
    *,
    n_agonists: int,
    n_others: int,
    tau_c: float = 3.0,
    agonist_mean: float = 3.5,
    agonist_std: float = 0.1,
    self_scale: float = 1 / 3,
    antagonist_scale: float = 0.5,
    antagonist_fraction: tuple[float, float] = (0.2, 0.6),
    target_range: tuple[float, float] = (1.02, 1.1),
) -> Mixtures:
    """Draw `n_distributions` distributions of `n_agonists` agonists (τ ~ `agonist_mean` +
    N(0, `agonist_std`)) and `n_others` sub-threshold ligands, each an antagonist (τ = τ_c −
    |N(0, `antagonist_scale`)|) with probability f ~ U(`antagonist_fraction`) drawn per
    distribution, else a self ligand (τ = |N(0, `self_scale`)|); and a target T_0 ~
    U(`target_range`) per distribution. Distribution d uses `jax.random.split(key, D)[d]`.

    **Arguments:**
    - `key`: PRNG key.
    - `n_distributions`: D.
    - the keyword arguments: the sizes and laws above.

    **Returns:** `Mixtures` of NumPy arrays (float64 inside `jax.enable_x64(True)`). The amounts
    are not drawn: the sub-threshold ligands have amount 1, the agonists the amount
    `agonist_amount` gives for a model.
    """
    f_lo, f_hi = antagonist_fraction
    t_lo, t_hi = target_range
    if not 1.0 < t_lo <= t_hi:
        raise ValueError(
            f"target_range must be a range (lo, hi) with 1 < lo ≤ hi (the response starts ON), got {target_range!r}"
        )

    def one(key):
        k_ag, k_self, k_ant, k_frac, k_pick, k_target = jax.random.split(key, 6)
        ag = agonists(k_ag, n_agonists, agonist_mean, agonist_std)
        own = self_ligands(k_self, n_others, self_scale)
        ant = antagonists(k_ant, n_others, tau_c, antagonist_scale)
        fraction = jax.random.uniform(k_frac, (), minval=f_lo, maxval=f_hi)
        pick = jax.random.uniform(k_pick, (n_others,)) < fraction
        target = jax.random.uniform(k_target, (), minval=t_lo, maxval=t_hi)
        return jnp.concatenate([ag.tau, jnp.where(pick, ant.tau, own.tau)]), pick, target

    tau, pick, target = jax.jit(jax.vmap(one))(jax.random.split(key, n_distributions))
    return Mixtures(np.asarray(tau), np.asarray(pick), np.asarray(target))


def agonist_amount(model: AdaptiveProofreading, tau, n_agonists: int, target) -> np.ndarray:
    """The common amount a of the agonists (the first `n_agonists` ligands) that gives T_{N,m} =
    `target`, the other ligands having amount 1: the solution of a A_N + s_N = T_0 τ_c^(N−m)
    (a A_m + s_m), with A_k, s_k the k-th moments of the agonists and of the others.

    **Arguments:**
    - `model`: T_{N,m}.
    - `tau`: (D, R) binding times, the agonists first (NumPy).
    - `n_agonists`: how many leading ligands are agonists.
    - `target`: (D,) the response T_0 per distribution.

    **Returns:** the amount per distribution (D,). Raises if some target cannot be reached (T_0
    above the agonists' own T, or below the other ligands').
    """
    N, m = model.N, model.m
    c = float(model.tau_c) ** (N - m)  # NumPy float64
    ag, others = tau[:, :n_agonists], tau[:, n_agonists:]
    amount = (target * c * np.sum(others**m, 1) - np.sum(others**N, 1)) / (
        np.sum(ag**N, 1) - target * c * np.sum(ag**m, 1)
    )
    if not np.all(np.isfinite(amount) & (amount > 0)):
        bad = int(np.flatnonzero(~(np.isfinite(amount) & (amount > 0)))[0])
        raise ValueError(
            f"T_{{{N},{m}}} = {target[bad]:.4g} cannot be reached by scaling the agonists of "
            f"distribution {bad} (it must lie between the T of the other ligands and the agonists' "
            f"own T): lower the target or raise the agonists' binding times"
        )
    return amount
