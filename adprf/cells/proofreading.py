"""Idealised adaptive proofreading T_{N,m} (Rademaker et al. 2019, closed form)."""

import equinox as eqx

from .._types import Array, Float
from ..ligands import Ligands
from ._base import AbstractCellModel


class AdaptiveProofreading(AbstractCellModel):
    """T_{N,m} = S_N / S_m / τ_c^(N−m) with S_k = Σ_i L_i τ_i^k; respond iff T > 1.

    One ligand type gives T = (τ/τ_c)^(N−m) whatever its amount ("absolute
    discrimination"); (N, m) = (1, 0) is the linear model T = mean τ / τ_c. For m ≥ 1,
    ligands with τ → 0 do not antagonise; for m > 1 the strongest antagonists sit at an
    intermediate τ ("specialised" antagonism).

    **Arguments:**
    - `N`: proofreading steps (output complex), integer ≥ 1.
    - `m`: the adaptive step, integer with 0 ≤ m < N.
    - `tau_c`: the critical binding time (default 3, the v1 value).
    """

    N: int = eqx.field(static=True)
    m: int = eqx.field(static=True)
    tau_c: float = eqx.field(static=True, default=3.0)

    def __check_init__(self):
        if not (isinstance(self.N, int) and isinstance(self.m, int) and 0 <= self.m < self.N):
            raise ValueError(f"AdaptiveProofreading needs integers 0 ≤ m < N, got N={self.N!r}, m={self.m!r}")
        if not self.tau_c > 0:
            raise ValueError(f"tau_c must be > 0, got {self.tau_c!r}")

    @property
    def threshold(self) -> float:
        return 1.0

    def __call__(self, ligands: Ligands) -> Float[Array, ""]:
        return ligands.moment(self.N) / ligands.moment(self.m) / self.tau_c ** (self.N - self.m)

    def gradient(self, ligands: Ligands) -> Float[Array, "*species"]:
        """The closed form ∂T/∂τ_j = L_j τ_j^(m−1) [N τ_j^(N−m) S_m − m S_N] / (S_m² τ_c^(N−m)),
        evaluated as L_j [N τ_j^(N−1) S_m − m τ_j^(m−1) S_N] / (...) so that m = 0 is finite."""
        s_n, s_m = ligands.moment(self.N), ligands.moment(self.m)
        tau = ligands.tau
        adaptive = self.m * tau ** (self.m - 1) * s_n if self.m >= 1 else 0.0
        return ligands.amount * (self.N * tau ** (self.N - 1) * s_m - adaptive) / (
            s_m ** 2 * self.tau_c ** (self.N - self.m))
