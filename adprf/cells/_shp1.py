"""Kinetic proofreading with SHP-1 negative feedback (François et al., PNAS 2013)."""

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
    bisect,
    bound_at_equilibrium,
    bound_estimate,
    cascade_vector_field,
    irreversible_cascade,
    is_physical,
    output_complex,
)


class SHP1Feedback(AbstractSteadyStateModel):
    """KPR whose dephosphorylation is sped up by the phosphatase SHP-1, activated by C_m.

    dC_0/dt = κ(L − C_T)(R − Σ C_T) − (φ + 1/τ) C_0 + β C_1,
    dC_n/dt = φ C_{n−1} − (φ + 1/τ + β) C_n + β C_{n+1}, dC_N/dt = φ C_{N−1} − (1/τ + β) C_N,
    with β = b + γ S and the quasi-steady phosphatase S = S_T X/(X + C*), X = Σ_i C_{i,m}:
    every species shares the receptors and the phosphatase, which is how weak ligands
    antagonise strong ones. Output Σ_i C_{i,N}; respond iff it exceeds `threshold`.

    Closed form: C_n = a₋ r₋^n + a₊ r₊^n with Σ = φ + 1/τ + β,
    r± = [Σ ± √(Σ² − 4φβ)]/(2β), a₋ = C_T(1 − r₋)/(1 − (r₋/r₊)^(N+1)),
    a₊ = C_T(r₊ − 1)/((r₊/r₋)^(N+1) − 1); S from a 1-D root on [0, S_T]; C_T from the
    shared receptor pool (another 1-D root).

    **Arguments** (defaults: François et al. 2013; rates per second):
    - `N` (5), `m` (1): the output complex and the complex that activates SHP-1, integers
      0 ≤ m ≤ N, N ≥ 1.
    - `phi` (0.09), `b` (0.04), `gamma` (1.2e-6), `kappa` (1e-4), `receptors` R (3e4),
      `S_T` (6e5), `C_star` C* (500): finite and > 0, except γ ≥ 0 (0: no feedback).
    - `threshold`: output threshold (default 0.16 molecules of C_N ≈ the output of 10^4
      ligands at τ = 4 s with these rates, so τ_c ≈ 4 s; the paper's threshold is open).
    - `ligand_excess`, `solver`: as for `KineticProofreading`.

    As for `KineticProofreading`, the rates and the threshold are array leaves stored in the
    default float dtype at construction: build the model inside `with jax.enable_x64(True):`.
    """

    N: int = eqx.field(static=True, default=5, converter=integer)
    m: int = eqx.field(static=True, default=1, converter=integer)
    phi: Float[Array, ""] = eqx.field(default=0.09, converter=parameter)
    b: Float[Array, ""] = eqx.field(default=0.04, converter=parameter)
    gamma: Float[Array, ""] = eqx.field(default=1.2e-6, converter=parameter)
    kappa: Float[Array, ""] = eqx.field(default=1e-4, converter=parameter)
    receptors: Float[Array, ""] = eqx.field(default=3e4, converter=parameter)
    S_T: Float[Array, ""] = eqx.field(default=6e5, converter=parameter)
    C_star: Float[Array, ""] = eqx.field(default=500.0, converter=parameter)
    threshold: Float[Array, ""] = eqx.field(default=0.16, converter=parameter)
    ligand_excess: bool = eqx.field(static=True, default=False)
    solver: str = eqx.field(static=True, default="closed-form")

    def __check_init__(self):
        check_integer(self, "N", self.N, lowest=1)
        check_integer(self, "m", self.m, lowest=0, at_most=("N", self.N))
        for name, what in (
            ("phi", "the phosphorylation rate φ"),
            ("b", "the basal dephosphorylation rate b"),
            ("kappa", "the binding rate κ"),
            ("receptors", "receptors per cell R"),
            ("S_T", "the total phosphatase S_T"),
            ("C_star", "the activation constant C*"),
            ("threshold", "the output threshold"),
        ):
            check_rate(self, name, getattr(self, name), what)
        check_rate(
            self,
            "gamma",
            self.gamma,
            "the phosphatase's dephosphorylation rate γ",
            zero="0 turns the SHP-1 feedback off",
        )
        check_steady_state_fields(self)

    def phosphatase(self, C) -> Float[Array, ""]:
        """Active SHP-1, S = S_T X/(X + C*) with X = Σ_i C_{i,m}."""
        x = jnp.sum(C[:, self.m])
        return self.S_T * x / (x + self.C_star)

    def vector_field(self, t, state: Float[Array, "species steps"], ligands: Ligands) -> Float[Array, "species steps"]:
        flux = binding_flux(state, ligands, self.kappa, self.receptors, self.ligand_excess)
        return cascade_vector_field(state, flux, ligands.tau, self.phi, self.b + self.gamma * self.phosphatase(state))

    def output(self, state: Float[Array, "species steps"], ligands: Ligands) -> Float[Array, ""]:
        return output_complex(state)

    def physical(self, state: Float[Array, "species steps"], ligands: Ligands) -> Bool[Array, ""]:
        return is_physical(state, ligands, self.receptors, self.ligand_excess)

    def scale(self, ligands: Ligands):
        """The feedback-free (S = 0, b = 0) chain: an upper estimate of every complex."""
        return irreversible_cascade(
            bound_estimate(ligands, self.kappa, self.receptors), ligands.tau, jnp.full((1, self.N), self.phi)
        )

    def cascade(self, bound, tau, S) -> Float[Array, "species steps"]:
        """The steady chain C_{i,n} for total bound `bound[i]` at phosphatase level S."""
        beta = self.b + self.gamma * S
        sigma = self.phi + 1 / tau + beta
        root = jnp.sqrt(sigma**2 - 4 * self.phi * beta)
        r_plus = (sigma + root) / (2 * beta)
        r_minus = 2 * self.phi / (sigma + root)  # = φ/(β r₊), without cancellation
        ratio = (r_minus / r_plus) ** (self.N + 1)
        a_minus = bound * (1 - r_minus) / (1 - ratio)
        a_plus = bound * (r_plus - 1) * ratio / (1 - ratio)  # = C_T(r₊ − 1)/((r₊/r₋)^(N+1) − 1)
        n = jnp.arange(self.N + 1)
        return a_minus[:, None] * r_minus[:, None] ** n + a_plus[:, None] * r_plus[:, None] ** n

    def closed_form(self, ligands: Ligands):
        bound, code = bound_at_equilibrium(ligands, self.kappa, self.receptors, self.ligand_excess)
        tau = ligands.tau

        def balance(S, data):
            bound, tau = data
            x = jnp.sum(self.cascade(bound, tau, S)[:, self.m])
            return S - self.S_T * x / (x + self.C_star)

        S, code_s, steps = bisect(balance, 0.0, self.S_T, (bound, tau))
        return self.cascade(bound, tau, S), jnp.maximum(code, code_s), steps
