"""Kinetic proofreading (McKeithan 1995): the baseline without adaptation or antagonism."""

import equinox as eqx
import jax.numpy as jnp

from .._ligands import Ligands
from .._types import Array, Bool, Float
from ._base import (
    AbstractSteadyStateModel,
    check_integer,
    check_rate,
    check_steady_state_fields,
    integer,
    parameter,
)
from ._cascade import (
    binding_flux,
    bound_at_equilibrium,
    bound_estimate,
    cascade_vector_field,
    irreversible_cascade,
    is_physical,
    output_complex,
)


class KineticProofreading(AbstractSteadyStateModel):
    """L + R ⇌ C_0 → C_1 → … → C_N per ligand species; every C_n unbinds at 1/τ.

    dC_0/dt = κ (L − C_T)(R − Σ C_T) − (φ + 1/τ) C_0, dC_n/dt = φ C_{n−1} − (φ + 1/τ) C_n,
    dC_N/dt = φ C_{N−1} − C_N/τ. Steady state: C_n = C_T r^n/(1 + φτ) for n < N,
    C_N = C_T r^N with r = φτ/(1 + φτ). Output Σ_i C_{i,N}; respond iff it exceeds
    `threshold`. No adaptation: the output grows with L, and adding weak ligands never
    lowers it except through receptor competition.

    **Arguments** (rates per second, finite and > 0; defaults: the KPR core of François et al. 2013):
    - `N`: proofreading steps, integer ≥ 1 (default 5).
    - `phi`: φ, the phosphorylation rate (0.09).
    - `kappa`: κ, the binding rate (1e-4).
    - `receptors`: R, receptors per cell (3e4).
    - `threshold`: output threshold, > 0 (default 12 molecules of C_N ≈ the output of 10^4 ligands
      at τ = 4 s, as for `SHP1Feedback`; open in the papers).
    - `ligand_excess`: ligands not depleted by binding (κ L (R − Σ C_T)) instead of κ(L − C_T)(R − Σ C_T).
    - `solver`: "closed-form", "newton" or "ode" for `model(ligands)`.

    N, `ligand_excess` and `solver` are static; the rates and the threshold are array leaves
    (one compiled program for models that differ only in them; vmap and differentiate over
    them), stored as JAX scalars of the default float dtype at construction. The solves run in
    float64, so build the model inside `with jax.enable_x64(True):` (rates built outside are
    float32-rounded, and the solves refuse them).
    """

    N: int = eqx.field(static=True, default=5, converter=integer)
    phi: Float[Array, ""] = eqx.field(default=0.09, converter=parameter)
    kappa: Float[Array, ""] = eqx.field(default=1e-4, converter=parameter)
    receptors: Float[Array, ""] = eqx.field(default=3e4, converter=parameter)
    threshold: Float[Array, ""] = eqx.field(default=12.0, converter=parameter)
    ligand_excess: bool = eqx.field(static=True, default=False)
    solver: str = eqx.field(static=True, default="closed-form")

    def __check_init__(self):
        check_integer(self, "N", self.N, lowest=1)
        check_rate(self, "phi", self.phi, "the phosphorylation rate φ")
        check_rate(self, "kappa", self.kappa, "the binding rate κ")
        check_rate(self, "receptors", self.receptors, "receptors per cell R")
        check_rate(self, "threshold", self.threshold, "the output threshold")
        check_steady_state_fields(self)

    def vector_field(self, t, state: Float[Array, "species steps"], ligands: Ligands) -> Float[Array, "species steps"]:
        flux = binding_flux(state, ligands, self.kappa, self.receptors, self.ligand_excess)
        return cascade_vector_field(state, flux, ligands.tau, self.phi)

    def output(self, state: Float[Array, "species steps"], ligands: Ligands) -> Float[Array, ""]:
        return output_complex(state)

    def _chain(self, bound, tau):
        return irreversible_cascade(bound, tau, jnp.full((1, self.N), self.phi))

    def scale(self, ligands: Ligands):
        return self._chain(bound_estimate(ligands, self.kappa, self.receptors), ligands.tau)

    def physical(self, state: Float[Array, "species steps"], ligands: Ligands) -> Bool[Array, ""]:
        return is_physical(state, ligands, self.receptors, self.ligand_excess)

    def closed_form(self, ligands: Ligands):
        bound, result = bound_at_equilibrium(ligands, self.kappa, self.receptors, self.ligand_excess)
        return self._chain(bound, ligands.tau), result, jnp.asarray(0)
