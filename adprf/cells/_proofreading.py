"""Idealised adaptive proofreading T_{N,m} (Rademaker et al. 2019, closed form)."""

import equinox as eqx
import jax
import jax.numpy as jnp

from .._ligands import Ligands
from .._types import Array, Float
from ._base import AbstractCellModel, check_integer, check_rate, integer, parameter


def _ratio(x: Float[Array, "*species"], unit: Float[Array, ""]) -> Float[Array, "*species"]:
    """x / unit for a scalar unit > 0, exactly 1 where x = unit. XLA:CPU may compute a division by
    a scalar as a product with its reciprocal, which float32 flushes to 0 for a unit above 2^126:
    a huge unit is first brought down by 2^-64 on both sides (exact, plain arithmetic that fuses
    cheaply)."""
    shift = jnp.where(unit > 2.0**64, 2.0**-64, 1.0).astype(x.dtype)
    return (x * shift) / (unit * shift)


class AdaptiveProofreading(AbstractCellModel):
    """T_{N,m} = S_N / S_m / τ_c^(N−m) with S_k = Σ_i L_i τ_i^k; respond iff T > 1.

    One ligand type gives T = (τ/τ_c)^(N−m) whatever its amount ("absolute
    discrimination"); (N, m) = (1, 0) is the linear model T = mean τ / τ_c. For m ≥ 1,
    ligands with τ → 0 do not antagonise; for m > 1 the strongest antagonists sit at an
    intermediate τ ("specialised" antagonism).

    T is computed in units of the largest binding time τ_max among ligands with L > 0 and of
    the largest amount L_max, T = (τ_max/τ_c)^(N−m) · Σ_i l_i u_i^N / Σ_i l_i u_i^m with
    u = τ/τ_max and l = L/L_max (T does not depend on either unit, which is held constant under
    differentiation, so every derivative is exact): the sums never overflow and the ratio lies
    in (0, 1]. A T beyond the float range (e.g. τ = 10^30 with N − m ≥ 2 in float32) comes out
    as inf, never NaN (its gradient may then hold NaN). If every ligand with L > 0 has τ = 0,
    T = 0 (its limit: 0 ≤ T ≤ (τ_max/τ_c)^(N−m)). Ligands with L = 0 do not count in T, and
    ∂T/∂L of one so far above τ_max that τ^N overflows saturates at the float range. Concrete
    ligands with no positive amount raise; traced ones give NaN.

    N and m are static (they set the exponents); τ_c is an array leaf, so models that differ
    only in τ_c share one compiled program, a batch of them vmaps (e.g.
    `eqx.filter_vmap(lambda t: AdaptiveProofreading(N, m, t))(taus)`) and T is differentiable in
    τ_c.

    **Arguments:**
    - `N`: proofreading steps (output complex), integer ≥ 1 (NumPy integers accepted).
    - `m`: the adaptive step, integer with 0 ≤ m < N.
    - `tau_c`: the critical binding time, finite and > 0 (default 3, the v1 value). A number is
      stored as a weakly typed JAX scalar of the default float dtype at construction: float64
      inside `jax.enable_x64(True)`, float32 otherwise (as `adprf.Ligands`), so build the model
      inside `jax.enable_x64(True)` to use a τ_c that float32 cannot hold exactly in float64.
    """

    N: int = eqx.field(static=True, converter=integer)
    m: int = eqx.field(static=True, converter=integer)
    tau_c: Float[Array, ""] = eqx.field(default=3.0, converter=parameter)

    def __check_init__(self):
        check_integer(self, "N", self.N, lowest=1)
        check_integer(self, "m", self.m, lowest=0, below=("N", self.N))
        check_rate(self, "tau_c", self.tau_c, "the critical binding time")

    @property
    def threshold(self) -> float:
        """1: the cell responds iff T > 1."""
        return 1.0

    def _critical_time(self, dtype) -> Float[Array, "*batch"]:
        """τ_c in the ligands' dtype (a float32 τ_c, built outside `jax.enable_x64`, is widened
        before any arithmetic, as a Python float was)."""
        return jnp.asarray(self.tau_c, dtype)

    def _units(self, ligands: Ligands):
        """(u = τ/τ_max, l = L/L_max, τ_max, whether any L > 0), where τ_max is the largest binding
        time among ligands with L > 0 (1 if all of those have τ = 0); both units are constants
        under differentiation (T does not depend on them). u is exactly 1 at τ_max, so that one
        ligand type at τ_c gives T = 1 exactly."""
        tau, amount = jnp.asarray(ligands.tau), jnp.asarray(ligands.amount)
        amount_max = jax.lax.stop_gradient(jnp.max(amount, initial=0.0))
        tau_max = jax.lax.stop_gradient(jnp.max(jnp.where(amount > 0, tau, 0.0), initial=0.0))
        present = amount_max > 0
        tau_unit = jnp.where(tau_max > 0, tau_max, 1.0)
        return _ratio(tau, tau_unit), _ratio(amount, jnp.where(present, amount_max, 1.0)), tau_unit, present

    def __call__(self, ligands: Ligands) -> Float[Array, ""]:
        self.check_ligands(ligands)
        u, l, tau_unit, present = self._units(ligands)
        # u ≤ 1 wherever L > 0; a ligand with L = 0 may sit far above τ_max, where u^N could
        # overflow (and 0 · inf is NaN): cap its value (not its derivative: a select in the
        # backward pass is several times slower on CPU), so that ∂T/∂L of that ligand stays finite.
        cap = jnp.finfo(u.dtype).max ** (1 / self.N)
        u = u - jax.lax.stop_gradient(jnp.maximum(u - cap, 0.0))
        a_n, a_m = jnp.sum(l * u**self.N), jnp.sum(l * u**self.m)
        ratio = jnp.where(a_m > 0, a_n / jnp.where(a_m > 0, a_m, 1.0), 0.0)
        # (τ_max/τ_c)^(N−m) may overflow where T itself does not (a tiny amount at a huge τ):
        # then T is taken through its logarithm (scalars only; both branches kept NaN-free).
        k = self.N - self.m
        tau_c = self._critical_time(tau_unit.dtype)
        factor = (tau_unit * (1 / tau_c)) ** k  # x·(1/τ_c): what XLA compiled for a static τ_c
        overflow = ~jnp.isfinite(factor)
        through_log = jnp.exp(k * (jnp.log(tau_unit) - jnp.log(tau_c)) + jnp.log(jnp.where(ratio > 0, ratio, 1.0)))
        direct = jnp.where(overflow, 1.0, factor) * ratio
        return jnp.where(present, jnp.where(overflow, jnp.where(ratio > 0, through_log, 0.0), direct), jnp.nan)

    def gradient(self, ligands: Ligands) -> Float[Array, "*species"]:
        """The closed form ∂T/∂τ_j = L_j τ_j^(m−1) [N τ_j^(N−m) S_m − m S_N] / (S_m² τ_c^(N−m)),
        evaluated as L_j [N τ_j^(N−1) S_m − m τ_j^(m−1) S_N] / (...) so that m = 0 is finite, and in
        the units of `__call__`: (τ_max/τ_c)^(N−m)/τ_max · l_j [N u_j^(N−1) A_m − m u_j^(m−1) A_N] / A_m²
        with A_k = Σ_i l_i u_i^k. 0 for a ligand with L = 0; NaN under tracing if no L > 0."""
        self.check_ligands(ligands)
        u, l, tau_unit, present = self._units(ligands)
        u = jnp.minimum(u, 1.0)  # no change where L > 0; where L = 0 the gradient is 0
        a_n, a_m = jnp.sum(l * u**self.N), jnp.sum(l * u**self.m)
        adaptive = self.m * u ** (self.m - 1) * a_n if self.m >= 1 else 0.0
        safe = jnp.where(a_m > 0, a_m, 1.0)
        # (τ_max/τ_c)^(N−m)/τ_max, in the order of operations XLA compiled for a static τ_c (x/c as
        # x·(1/c); one power of 1/c folded with the last), so that the numbers stay those of before
        inverse = 1 / self._critical_time(tau_unit.dtype)
        k = self.N - self.m
        scale = tau_unit * (inverse * inverse) if k == 2 else (tau_unit * inverse) ** (k - 1) * inverse
        term = l * (self.N * u ** (self.N - 1) * a_m - adaptive) / safe**2
        grad = jnp.where(term == 0, 0.0, scale * term)  # 0, not inf · 0, where T is beyond range
        return jnp.where(present & (a_m > 0), grad, jnp.where(present, 0.0, jnp.nan))

    def boundary_critical_point(self) -> Float[Array, ""]:
        """τ* = τ_c (m/N)^(1/(N−m)): where the gradient ∂T/∂τ of a ligand in a distribution on
        the decision boundary (T = 1) vanishes, the place gradient descent piles non-agonists up
        (Rademaker et al. 2019, the critical point of adaptive proofreading). NaN for m = 0:
        then ∂T/∂τ > 0 everywhere and there is no critical point."""
        if self.m == 0:
            return jnp.asarray(jnp.nan)
        return jnp.asarray(self.tau_c * (self.m / self.N) ** (1.0 / (self.N - self.m)))

    def critical_binding_time(self, ligands: Ligands) -> Float[Array, ""]:
        """τ* of a distribution: the root of N τ^(N−m) S_m = m S_N, i.e. (m S_N / (N S_m))^(1/(N−m)),
        where a small amount of ligand added at τ* changes T least (the closed form behind
        `adprf.analysis.critical_point`); equal to `boundary_critical_point()` when T = 1. NaN for
        m = 0."""
        self.check_ligands(ligands)  # no ligand with L > 0: a clear error, not 0/0
        if self.m == 0:
            return jnp.asarray(jnp.nan)
        ratio = self.m * ligands.moment(self.N) / (self.N * ligands.moment(self.m))
        return ratio ** (1.0 / (self.N - self.m))


def proofreading_grid(n_max: int = 5, n_min: int = 1, m_min: int = 0) -> list[tuple[int, int]]:
    """The (N, m) of a family of `AdaptiveProofreading` models, ordered by N then m.

    **Arguments:**
    - `n_max`, `n_min`: the range of N (inclusive).
    - `m_min`: the smallest m (m < N always).

    **Returns:** every (N, m) with `n_min` ≤ N ≤ `n_max` and `m_min` ≤ m < N; the default is the
    grid of Rademaker et al. 2019's v1 figures, 0 ≤ m < N ≤ 5.
    """
    return [(n, m) for n in range(n_min, n_max + 1) for m in range(m_min, n)]
