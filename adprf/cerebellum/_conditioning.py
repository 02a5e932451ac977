"""Delay eyelid conditioning with the cerebellar rate network: a timed conditioned response.

A conditioned stimulus (CS, e.g. a tone) switches on a pattern of mossy-fibre rates at t = 0
and stays on; an unconditioned stimulus (US, an air puff) arrives at t = ISI, the inter-stimulus
interval. After training the eyelid closes in anticipation, the closure peaking at the US: the
conditioned response (CR). In the cerebellum the CR is a pause of the Purkinje cells that
disinhibits the deep nuclei; here the Purkinje output ŷ(t) of a `CerebellarDynamics` with one
Purkinje cell is read directly as the CR drive (the depth of that pause).

**Timing from a step.** The CS is a step, so every granule cell i rises as
ReLU(J_iᵀ x)(1 − e^{−t/τ_i}); with time constants spread from fast to slow
(`spread_time_constants`) these rising exponentials, low-passed by the Purkinje cell, form a
temporal basis, and differences of them peak at any chosen time.

**Learning.** The US is the teaching signal: through the climbing fibre it drives the delta rule
ΔW ∝ −z e, whose fixed point over many trials is the least-squares readout. `fit` solves that
least-squares problem in closed form (ridge regression on the Purkinje basis of training
trials, `CerebellarDynamics.basis`, float64) instead of iterating the rule: the CR is fitted to
the target r*(t) = (t/ISI)^k e^{k(1 − t/ISI)}, a gamma-shaped ramp that rises from 0 at CS onset
and peaks, with value 1, at the US (k, `sharpness`, sets its width).

**Trials.** Each trial's stimulus holds the tone pattern in every bin plus independent Gaussian
noise of standard deviation `noise` per bin and mossy fibre, clipped to [0, 1] (rates in the
threat's box). A CR is present on a trial when ŷ(ISI) > `threshold` (half the target's peak by
default); an attack that pushes ŷ(ISI) to the threshold or below has suppressed it
(`objective`, a `ScalarThreshold` for the attack engine).
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._types import Array, Float, PRNGKeyArray
from ..attacks import ScalarThreshold
from ._dynamics import CerebellarDynamics, ResponseAt


def _bins(length: float, dt: float, name: str) -> int:
    count = round(length / dt)
    if count < 1 or not math.isclose(count * dt, length, rel_tol=1e-9):
        raise ValueError(f"{name} = {length!r} must be a positive multiple of the bin width dt = {dt!r}")
    return count


class EyelidConditioning(eqx.Module):
    """The CS–US timing task (delay conditioning), times in ms.

    **Arguments:**
    - `isi`: the inter-stimulus interval, the US time after CS onset (a multiple of `dt`).
    - `duration`: trial length (a multiple of `dt`, ≥ `isi`).
    - `dt`: bin width of the stimulus (and of the `CerebellarDynamics` it is played to).
    - `sharpness`: k of the target CR (t/ISI)^k e^{k(1 − t/ISI)} (> 0; larger is narrower).
    - `threshold`: the CR is present when ŷ(ISI) exceeds it (the target's peak is 1).
    - `noise`: standard deviation of the trial-to-trial noise on mossy-fibre rates (≥ 0).
    - `active`: fraction of mossy fibres the tone drives.
    - `rates`: (low, high) of the uniform rates of the fibres the tone drives (within [0, 1]).
    """

    isi: float = eqx.field(static=True, default=300.0)
    duration: float = eqx.field(static=True, default=500.0)
    dt: float = eqx.field(static=True, default=20.0)
    sharpness: float = eqx.field(static=True, default=4.0)
    threshold: float = eqx.field(static=True, default=0.5)
    noise: float = eqx.field(static=True, default=0.05)
    active: float = eqx.field(static=True, default=0.5)
    rates: tuple[float, float] = eqx.field(static=True, default=(0.5, 1.0))

    def __check_init__(self):
        if not (isinstance(self.dt, (int, float)) and 0 < self.dt < math.inf):
            raise ValueError(f"dt must be a finite number > 0, got {self.dt!r}")
        if _bins(self.isi, self.dt, "isi") > _bins(self.duration, self.dt, "duration"):
            raise ValueError(
                f"the US (isi = {self.isi}) must fall within the trial (duration = {self.duration}): "
                f"lengthen the trial or shorten the ISI"
            )
        if not self.sharpness > 0:
            raise ValueError(f"sharpness must be > 0, got {self.sharpness!r}")
        if not self.noise >= 0:
            raise ValueError(f"noise must be ≥ 0, got {self.noise!r}")
        if not 0 < self.active <= 1:
            raise ValueError(
                f"active (fraction of mossy fibres the tone drives) must be in (0, 1], got {self.active!r}"
            )
        if not 0 <= self.rates[0] <= self.rates[1] <= 1:
            raise ValueError(f"rates must be (low, high) with 0 ≤ low ≤ high ≤ 1, got {self.rates!r}")

    @property
    def bins(self) -> int:
        """Samples per trial."""
        return _bins(self.duration, self.dt, "duration")

    @property
    def us_bin(self) -> int:
        """The bin whose end is the US time: output `us_bin` of the trajectory is ŷ(ISI)."""
        return _bins(self.isi, self.dt, "isi") - 1

    def times(self) -> Float[Array, " T"]:
        """The read-out times (i + 1)·dt of a trial."""
        return self.dt * jnp.arange(1, self.bins + 1)

    def target(self) -> Float[Array, " T"]:
        """r*(t) = (t/ISI)^k e^{k(1 − t/ISI)} at the read-out times: 0 at CS onset, 1 at the US."""
        s = self.times() / self.isi
        return s**self.sharpness * jnp.exp(self.sharpness * (1 - s))

    def tone(self, inputs: int, *, key: PRNGKeyArray) -> Float[Array, " d"]:
        """A CS pattern over `inputs` mossy fibres: a fraction `active` at rates U(rates), the rest 0."""
        k_on, k_rate = jax.random.split(key)
        on = jax.random.uniform(k_on, (inputs,)) < self.active
        return jnp.where(on, jax.random.uniform(k_rate, (inputs,), minval=self.rates[0], maxval=self.rates[1]), 0.0)

    def trials(self, tone: Float[Array, " d"], n: int, *, key: PRNGKeyArray) -> Float[Array, "n T d"]:
        """`n` trials of the CS: the tone in every bin plus noise per bin and fibre, in [0, 1]."""
        noise = self.noise * jax.random.normal(key, (n, self.bins, tone.shape[-1]))
        return jnp.clip(tone + noise, 0.0, 1.0)

    def fit(
        self, dynamics: CerebellarDynamics, stimuli: Float[Array, "n T d"], ridge: float = 1e-5
    ) -> CerebellarDynamics:
        """The network with one Purkinje cell whose weights make the CR follow `target`.

        Minimises mean_{trials, bins} (ŷ(t) − r*(t))² + λ ‖W‖² in closed form (float64), with
        ŷ = basis · W exact (`CerebellarDynamics.basis`) and λ = `ridge` × the mean squared
        basis value (so that `ridge` does not depend on the scale of the rates). Rising
        exponentials make a peak only by cancelling one another: a small ridge (1e-5) times the
        CR well, a large one (1e-2) smooths the peak away to the end of the trial.

        **Arguments:**
        - `dynamics`: the network (bin width `dt`; its Purkinje weights are replaced).
        - `stimuli`: training trials, shape (n, bins, d).
        - `ridge`: the relative L2 penalty on W (> 0).

        **Returns:** the `CerebellarDynamics` with W of shape (m, 1).
        """
        if not ridge > 0:
            raise ValueError(f"ridge must be > 0, got {ridge!r}")
        if dynamics.dt != self.dt:
            raise ValueError(
                f"the network's bin width dt = {dynamics.dt} differs from the task's {self.dt}: "
                f"build CerebellarDynamics(..., dt={self.dt})"
            )
        if jnp.ndim(stimuli) < 3 or jnp.shape(stimuli)[1] != self.bins:
            raise ValueError(f"stimuli must have shape (trials, {self.bins}, inputs), got {jnp.shape(stimuli)}")
        basis = np.asarray(_basis(dynamics, stimuli), np.float64).reshape(-1, dynamics.width)
        target = np.tile(np.asarray(self.target(), np.float64), jnp.shape(stimuli)[0])
        gram = basis.T @ basis / len(basis)
        gram += ridge * np.trace(gram) / dynamics.width * np.eye(dynamics.width)
        weight = np.linalg.solve(gram, basis.T @ target / len(basis))
        dtype = dynamics.cerebellum.purkinje.weight.dtype
        return eqx.tree_at(lambda d: d.cerebellum.purkinje.weight, dynamics, jnp.asarray(weight[:, None], dtype))

    def response(self, dynamics: CerebellarDynamics) -> ResponseAt:
        """The CR at the US time, ŷ(ISI), as a scalar function of one trial's stimulus."""
        return ResponseAt(dynamics, self.us_bin, 0)

    def objective(self) -> ScalarThreshold:
        """Suppress the CR: push ŷ(ISI) to `threshold` or below."""
        return ScalarThreshold(self.threshold, "below")


@eqx.filter_jit
def _basis(dynamics: CerebellarDynamics, stimuli):
    return jax.vmap(dynamics.basis)(stimuli)
