"""Adaptive proofreading with kinase feedback ("adaptive sorting", Lalanne & François 2013)."""

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from .._ligands import Ligands
from .._types import Array, Float
from ._base import (
    AbstractSteadyStateModel,
    check_integer,
    check_rate,
    check_steady_state_fields,
    integer,
    is_concrete,
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
from ._proofreading import AdaptiveProofreading


class KinaseFeedback(AbstractSteadyStateModel):
    """A KPR cascade per species whose last step is catalysed by a kinase K that the complex
    C_m inactivates:

        dC_{i,0}/dt   = κ(L_i − C_{T,i})(R − Σ C_T) − (φ + 1/τ_i) C_{i,0}
        dC_{i,n}/dt   = φ C_{i,n−1} − (φ + 1/τ_i) C_{i,n}                     1 ≤ n ≤ N − 2
        dC_{i,N−1}/dt = φ C_{i,N−2} − (α K + 1/τ_i) C_{i,N−1}
        dC_{i,N}/dt   = α K C_{i,N−1} − C_{i,N}/τ_i
        dK/dt         = ε (K_tot − K) − δ (Σ_i C_{i,m}) K  ⇒  K* = K_tot / (1 + δ Σ_i C_{i,m}/ε)

    **The T_{N,m} limit (derived here).** Unsaturated receptors (C_{T,i} ≈ κ R L_i τ_i), slow
    proofreading (φτ ≪ 1), an unsaturated last step (α K τ ≪ 1) and strong feedback
    (δ Σ C_m ≫ ε) give C_{i,n} ≈ κ R φ^n L_i τ_i^(n+1) for n ≤ N − 1, so Σ_i C_{i,m} ≈ κ R φ^m S_{m+1},
    K* ≈ ε K_tot/(δ κ R φ^m S_{m+1}), and the output Σ_i C_{i,N} = α K* Σ_i τ_i C_{i,N−1} ≈
    (α ε K_tot φ^(N−1−m)/δ) · S_{N+1}/S_{m+1}. So this model with (N, m) is T_{N+1, m+1}: both
    exponents shift up by one (binding itself is one proofreading step: C_0 lives τ), N − m is
    unchanged, and the constant is absorbed in the threshold
    α ε K_tot φ^(N−1−m) τ_c^(N−m)/δ, so that output/threshold → T_{N+1,m+1} with the same τ_c
    (`limit()` returns that model). The m = 0 idealised models have no kinase analogue.

    **Arguments:**
    - `N` (≥ 1), `m` (0 ≤ m < N): the output complex and the complex that inactivates K (integers).
    - `tau_c`: the critical binding time of the limit (default 3). It and the rates below must be
      finite and > 0.
    - `phi` (0.01), `kappa` (1e-6), `receptors` (1e4), `alpha` (0.1), `K_tot` (1), `epsilon`
      (1e-3), `delta` (1e4): rates per second, chosen near the limit for τ ≲ 5 s and
      L ≲ 10^4 (φτ ≤ 0.05, κ R τ ≤ 0.05, δ Σ C_m/ε ≫ 1: output/threshold is within 1% of
      T_{N+1,m+1} for v1-like mixtures); the papers leave them open.
    - `ligand_excess`, `solver`: as for `KineticProofreading`.

    As for `KineticProofreading`, τ_c and the rates are array leaves stored in the default float
    dtype at construction: build the model inside `with jax.enable_x64(True):`.
    """

    N: int = eqx.field(static=True, converter=integer)
    m: int = eqx.field(static=True, converter=integer)
    tau_c: Float[Array, ""] = eqx.field(default=3.0, converter=parameter)
    phi: Float[Array, ""] = eqx.field(default=0.01, converter=parameter)
    kappa: Float[Array, ""] = eqx.field(default=1e-6, converter=parameter)
    receptors: Float[Array, ""] = eqx.field(default=1e4, converter=parameter)
    alpha: Float[Array, ""] = eqx.field(default=0.1, converter=parameter)
    K_tot: Float[Array, ""] = eqx.field(default=1.0, converter=parameter)
    epsilon: Float[Array, ""] = eqx.field(default=1e-3, converter=parameter)
    delta: Float[Array, ""] = eqx.field(default=1e4, converter=parameter)
    ligand_excess: bool = eqx.field(static=True, default=False)
    solver: str = eqx.field(static=True, default="closed-form")

    def __check_init__(self):
        check_integer(self, "N", self.N, lowest=1)
        check_integer(self, "m", self.m, lowest=0, below=("N", self.N))
        for name, what in (
            ("tau_c", "the critical binding time τ_c"),
            ("phi", "the phosphorylation rate φ"),
            ("kappa", "the binding rate κ"),
            ("receptors", "receptors per cell R"),
            ("alpha", "the kinase's catalytic rate α"),
            ("K_tot", "the total kinase K_tot"),
            ("epsilon", "the kinase's reactivation rate ε"),
            ("delta", "the kinase's inactivation rate δ"),
        ):
            check_rate(self, name, getattr(self, name), what)
        check_steady_state_fields(self)
        threshold = self.threshold
        if is_concrete(threshold) and not 0 < float(threshold) < np.inf:
            raise ValueError(
                f"KinaseFeedback: the threshold α ε K_tot φ^(N−1−m) τ_c^(N−m)/δ is {float(threshold)!r} "
                f"with these rates (N={self.N}, m={self.m}): it must be finite and > 0, pick rates "
                f"of less extreme magnitudes"
            )

    @property
    def threshold(self) -> Float[Array, "*batch"]:
        """α ε K_tot φ^(N−1−m) τ_c^(N−m)/δ: output/threshold → T_{N+1,m+1} in the limit (one
        per model of a stacked batch)."""
        return (
            self.alpha
            * self.epsilon
            * self.K_tot
            * self.phi ** (self.N - 1 - self.m)
            * self.tau_c ** (self.N - self.m)
            / self.delta
        )

    def limit(self) -> AdaptiveProofreading:
        """The idealised model this one tends to under strong feedback: T_{N+1, m+1}."""
        return AdaptiveProofreading(self.N + 1, self.m + 1, self.tau_c)

    def _forward(self, K):
        return jnp.concatenate([jnp.full((self.N - 1,), self.phi), jnp.reshape(self.alpha * K, (1,))])

    def vector_field(self, t, state, ligands: Ligands):
        C, K = state
        flux = binding_flux(C, ligands, self.kappa, self.receptors, self.ligand_excess)
        dK = self.epsilon * (self.K_tot - K) - self.delta * jnp.sum(C[:, self.m]) * K
        return cascade_vector_field(C, flux, ligands.tau, self._forward(K)), dK

    def output(self, state, ligands: Ligands) -> Float[Array, ""]:
        return output_complex(state[0])

    def physical(self, state, ligands: Ligands):
        C, K = state
        return is_physical(C, ligands, self.receptors, self.ligand_excess) & (K >= 0) & (K <= self.K_tot * (1 + 1e-8))

    def unbound_state(self, ligands: Ligands):
        """No complexes, all kinase active."""
        return jnp.zeros((ligands.tau.shape[0], self.N + 1), ligands.tau.dtype), jnp.asarray(
            self.K_tot, ligands.tau.dtype
        )

    def _kinase(self, C) -> Float[Array, ""]:
        return self.K_tot / (1 + self.delta * jnp.sum(C[:, self.m]) / self.epsilon)

    def scale(self, ligands: Ligands):
        """The chain with the kinase it would have if C_m were as large as without feedback."""
        bound = bound_estimate(ligands, self.kappa, self.receptors)
        K = self._kinase(irreversible_cascade(bound, ligands.tau, self._forward(self.K_tot)))
        return irreversible_cascade(bound, ligands.tau, self._forward(K)), K

    def closed_form(self, ligands: Ligands):
        bound, code = bound_at_equilibrium(ligands, self.kappa, self.receptors, self.ligand_excess)
        tau = ligands.tau
        if self.m < self.N - 1:  # C_m is upstream of the kinase step: K* is explicit
            K = self._kinase(irreversible_cascade(bound, tau, self._forward(self.K_tot)))
            steps = jnp.asarray(0)
        else:  # C_{N−1} feeds back on its own exit: a 1-D root in log K,
            # bracketed by K(k = 0) ≤ K* ≤ K_tot
            def balance(log_k, data):
                bound, tau = data
                return log_k - jnp.log(self._kinase(irreversible_cascade(bound, tau, self._forward(jnp.exp(log_k)))))

            least = self._kinase(irreversible_cascade(bound, tau, self._forward(0.0)))
            log_k, code_k, steps = bisect(balance, jnp.log(least), jnp.log(self.K_tot), (bound, tau))
            K, code = jnp.exp(log_k), jnp.maximum(code, code_k)
        return (irreversible_cascade(bound, tau, self._forward(K)), K), code, steps
