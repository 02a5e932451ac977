"""The cerebellum as a rate network: the static model of Yuezhang et al. is its steady state.

    τ_g dh/dt = −h + ReLU(Jᵀ x(t)),        τ_p dŷ/dt = −ŷ + Wᵀ (h − μ)

with one time constant τ_g per granule cell (heterogeneous time constants turn a step of input
into a bank of rising exponentials, a temporal basis from which the Purkinje readout can time a
response) and one τ_p for the Purkinje cells. The granule rectification, the LTD centring and
the readout are the `Cerebellum`'s own modules, so under a constant input the network settles
on exactly `cerebellum(x)`.

**The stimulus.** A temporal stimulus is a sequence of T samples `x[i]` on a uniform grid of bin
width `dt`, held piecewise constant (zero-order hold): x(t) = x[i] for i·dt ≤ t < (i + 1)·dt.
The output is read at the end of every bin, at t = (i + 1)·dt, so output i is the first to see
sample i and every sample matters. The hold is exact for the network: ReLU(Jᵀ x(t)) is then
itself piecewise constant, so the granule drive of every bin is computed once (by the
`Cerebellum`, through its encoder if any), and the solve is a `lax.scan` over bins, each bin an
ODE with a constant drive (no discontinuity inside a step, and each bin's gradient with respect
to its drive is an m-vector, not a T × m array accumulated over every step). Linear
interpolation of the samples is not offered: ReLU of an interpolated input is not the
interpolation of the drives, and an attack on sampled stimuli loses nothing by the hold.

**The start.** The network starts at rest: silent granule cells, h(0) = 0, and Purkinje cells at
the steady state of that silence, ŷ(0) = Wᵀ(0 − μ) (0 without LTD).

**Solving.** diffrax, `Tsit5` with a PID step-size controller (relative and absolute tolerances
`rtol`, `atol`; each bin first tries one step across the whole bin), reverse-mode gradients
through the solve (`RecursiveCheckpointAdjoint`), so the attack engine differentiates the
Purkinje output with respect to the stimulus. The solver is explicit: its steps stay below a
few times the fastest τ_g, so a long bin costs about (bin width / fastest τ_g) steps. A solve
that fails (the step budget `max_steps` of a bin exhausted, or a non-finite state) is loud:
`model(stimulus)` raises, and `model.solve(stimulus, throw=False)` returns NaN with a failed
`result` (an item of `adprf.RESULTS`). The check travels with the output (equinox's `branched_error_if`): it fires
wherever the output is computed, e.g. under `jax.value_and_grad` as the attack engine calls it;
a bare `jax.grad`, which discards the output, lets XLA drop the check with it.
"""

import math

import diffrax as dfx
import equinox as eqx
import jax
import jax.core
import jax.numpy as jnp
import numpy as np

from .._solution import RESULTS, error_if_failed
from .._types import Array, Bool, Float, Int
from ._model import Cerebellum


class Trajectory(eqx.Module):
    """A solved trajectory of one stimulus.

    **Fields:**
    - `times`: the read-out times (i + 1)·dt, shape (T,).
    - `granule`: granule rates h at those times, shape (T, m).
    - `purkinje`: Purkinje outputs ŷ at those times, shape (T, outputs) (NaN if the solve failed
      and `throw=False`).
    - `result`: how the solve ended, an item of `adprf.RESULTS` (`RESULTS.successful`, or why
      it failed).
    - `steps`: solver steps (accepted and rejected) over all bins.
    """

    times: Float[Array, " T"]
    granule: Float[Array, "T m"]
    purkinje: Float[Array, "T outputs"]
    result: RESULTS
    steps: Int[Array, ""]

    @property
    def successful(self) -> Bool[Array, "*batch"]:
        """Whether the solve succeeded."""
        return self.result == RESULTS.successful

    def message(self) -> str:
        """The result in words (for a concrete trajectory)."""
        return RESULTS[self.result]


def spread_time_constants(width: int, fastest: float, slowest: float) -> Float[Array, " m"]:
    """`width` granule time constants spaced geometrically from `fastest` to `slowest`.

    Cells are numbered independently of their (random) connectivity, so the order carries no
    meaning. A geometric spread covers every time scale between the two with the same density
    per octave: the temporal basis a step stimulus needs to time a response anywhere in between.
    """
    if not (isinstance(width, int) and width >= 1):
        raise ValueError(f"width must be a positive integer, got {width!r}")
    if not 0 < fastest <= slowest < math.inf:
        raise ValueError(f"time constants need 0 < fastest ≤ slowest < ∞, got fastest={fastest!r}, slowest={slowest!r}")
    return jnp.asarray(np.geomspace(fastest, slowest, width))


class CerebellarDynamics(eqx.Module):
    """The rate-network version of a `Cerebellum`, of one temporal stimulus.

    `dynamics(stimulus)` integrates τ_g dh/dt = −h + ReLU(Jᵀ x(t)), τ_p dŷ/dt = −ŷ + Wᵀ(h − μ)
    from rest under the piecewise-constant stimulus (see the module docstring) and returns the
    Purkinje outputs at the end of every bin. Under a constant input held long (many τ) the
    output is `cerebellum(x)`. μ stays frozen (LTD is learnt by `train_cerebellum`, not here).

    **Arguments:**
    - `cerebellum`: the static model whose granule layer, LTD centring and Purkinje readout
      (and encoder, if any) the network uses.
    - `granule_time`: τ_g, one per granule cell (shape (m,)) or one for all (a number); > 0.
    - `purkinje_time`: τ_p, the Purkinje time constant (> 0).
    - `dt`: the bin width of stimuli: sample i is held on [i·dt, (i + 1)·dt) (> 0).
    - `rtol`, `atol`: tolerances of the adaptive step-size control.
    - `max_steps`: the solver's step budget for one bin; exhausting it is an error.
    """

    cerebellum: Cerebellum
    granule_time: Float[Array, " m"]
    purkinje_time: float = eqx.field(static=True)
    dt: float = eqx.field(static=True)
    rtol: float = eqx.field(static=True)
    atol: float = eqx.field(static=True)
    max_steps: int = eqx.field(static=True)

    def __init__(
        self,
        cerebellum: Cerebellum,
        granule_time,
        purkinje_time: float,
        *,
        dt: float,
        rtol: float = 1e-5,
        atol: float = 1e-6,
        max_steps: int = 4096,
    ):
        if not isinstance(cerebellum, Cerebellum):
            raise TypeError(f"CerebellarDynamics integrates a Cerebellum, got {type(cerebellum).__name__}")
        m = cerebellum.width
        tau = jnp.asarray(granule_time, cerebellum.purkinje.weight.dtype)
        if tau.ndim == 0:
            tau = jnp.full((m,), tau)
        if tau.shape != (m,):
            raise ValueError(
                f"granule_time needs one time constant per granule cell (shape ({m},)) or a single "
                f"number, got shape {tau.shape}"
            )
        if not isinstance(tau, jax.core.Tracer) and not bool(jnp.all((tau > 0) & jnp.isfinite(tau))):
            raise ValueError(
                f"granule time constants must be finite and > 0, got min {float(jnp.min(tau))!r}, "
                f"max {float(jnp.max(tau))!r}"
            )
        for name, value in (("purkinje_time", purkinje_time), ("dt", dt)):
            if not (isinstance(value, (int, float)) and 0 < value < math.inf):
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
        if not (isinstance(max_steps, int) and max_steps >= 1):
            raise ValueError(f"max_steps must be a positive integer, got {max_steps!r}")
        if not (rtol > 0 and atol > 0):
            raise ValueError(f"rtol and atol must be > 0, got rtol={rtol!r}, atol={atol!r}")
        self.cerebellum, self.granule_time = cerebellum, tau
        self.purkinje_time, self.dt = float(purkinje_time), float(dt)
        self.rtol, self.atol, self.max_steps = float(rtol), float(atol), max_steps

    @property
    def width(self) -> int:
        return self.cerebellum.width

    def times(self, bins: int) -> Float[Array, " T"]:
        """The read-out times (i + 1)·dt of a stimulus of `bins` samples."""
        return self._edges(bins, self.cerebellum.purkinje.weight.dtype)[1:]

    def _edges(self, bins: int, dtype) -> Float[Array, " edges"]:
        return self.dt * jnp.arange(bins + 1, dtype=dtype)

    def drive(self, stimulus: Float[Array, "T ..."]) -> Float[Array, "T m"]:
        """ReLU(Jᵀ x[i]) for every sample: the granule layer's target rates in every bin."""
        if jnp.ndim(stimulus) < 2:
            raise ValueError(
                f"a temporal stimulus has a leading time axis, shape (T, d); got shape "
                f"{jnp.shape(stimulus)}: for a constant input x pass x[None] (one bin) and a long dt"
            )
        size, inputs = math.prod(jnp.shape(stimulus)[1:]), self.cerebellum.granule.inputs
        if self.cerebellum.encoder is None and size != inputs:
            raise ValueError(
                f"each sample of a temporal stimulus (T, ...) must hold the granule layer's {inputs} "
                f"inputs, got samples of shape {jnp.shape(stimulus)[1:]} ({size} values): for one "
                f"constant input x pass x[None]"
            )
        return jax.vmap(self.cerebellum.granule_activity)(stimulus)

    def rest(self) -> tuple[Float[Array, " m"], Float[Array, " outputs"]]:
        """The state at t = 0: silent granule cells, Purkinje cells at Wᵀ(0 − μ)."""
        h = jnp.zeros((self.width,), self.cerebellum.purkinje.weight.dtype)
        return h, self.cerebellum.purkinje(self.cerebellum.centred(h))

    def vector_field(self, t, state, drive: Float[Array, " m"]):
        """d(h, ŷ)/dt inside one bin, whose granule target rates are `drive`."""
        h, y = state
        dh = (drive - h) / self.granule_time
        dy = (self.cerebellum.purkinje(self.cerebellum.centred(h)) - y) / self.purkinje_time
        return dh, dy

    def solve(self, stimulus: Float[Array, "T ..."], *, throw: bool = True) -> Trajectory:
        """Integrate one stimulus from rest.

        **Arguments:**
        - `stimulus`: T samples (leading axis), each an input of the `Cerebellum` (an image, or
          a flat vector of size d).
        - `throw`: raise at run time if the solve fails (default); else return NaN outputs and a
          failed `result`.

        **Returns:** a `Trajectory` read at the end of every bin.
        """
        drive = self.drive(stimulus)
        edges = self._edges(drive.shape[0], drive.dtype)
        term = dfx.ODETerm(self.vector_field)
        controller = dfx.PIDController(rtol=self.rtol, atol=self.atol)

        def one_bin(state, bin_):
            g, t0, t1 = bin_
            sol = dfx.diffeqsolve(
                term,
                dfx.Tsit5(),
                t0,
                t1,
                t1 - t0,
                state,
                args=g,
                saveat=dfx.SaveAt(t1=True),
                stepsize_controller=controller,
                max_steps=self.max_steps,
                throw=False,
            )
            end = jax.tree.map(lambda a: a[-1], sol.ys)
            ok, exhausted = sol.result == dfx.RESULTS.successful, sol.result == dfx.RESULTS.max_steps_reached
            return end, (end, ok, exhausted, sol.stats["num_steps"])

        bins = (drive, edges[:-1], edges[1:])
        _, ((h, y), ok, exhausted, steps) = jax.lax.scan(one_bin, self.rest(), bins)
        failure = RESULTS.where(jnp.any(exhausted), RESULTS.max_steps_reached, RESULTS.integration_failed)
        result = RESULTS.where(jnp.all(ok), RESULTS.successful, failure)
        finite = jnp.all(jnp.isfinite(h)) & jnp.all(jnp.isfinite(y))
        result = RESULTS.where((result == RESULTS.successful) & ~finite, RESULTS.nonfinite, result)
        if throw:
            y = error_if_failed(y, result, "CerebellarDynamics")
        else:
            y = jnp.where(result == RESULTS.successful, y, jnp.nan)
        return Trajectory(edges[1:], h, y, result, jnp.sum(steps).astype(jnp.int32))

    def __call__(self, stimulus: Float[Array, "T ..."]) -> Float[Array, "T outputs"]:
        """The Purkinje outputs at the end of every bin; raises if the solve fails."""
        return self.solve(stimulus).purkinje

    def basis(self, stimulus: Float[Array, "T ..."]) -> Float[Array, "T m"]:
        """The Purkinje trajectory every granule cell would drive on its own with unit weight.

        The Purkinje equation is linear in W, so `dynamics(stimulus) == basis(stimulus) @ W`
        exactly: this is the temporal basis from which a readout W is fitted (the same network
        integrated with W replaced by the identity, m outputs).
        """
        eye = jnp.eye(self.width, dtype=self.cerebellum.purkinje.weight.dtype)
        return eqx.tree_at(lambda d: d.cerebellum.purkinje.weight, self, eye)(stimulus)


class ResponseAt(eqx.Module):
    """One Purkinje output at one read-out time: a scalar readout of the trajectory (e.g. the
    conditioned response at the US, for a `ScalarThreshold` attack).

    **Arguments:**
    - `dynamics`: the `CerebellarDynamics`.
    - `index`: the bin whose end is read, i.e. time (index + 1)·dt (negative counts from the end).
    - `output`: which Purkinje cell (default 0).
    """

    dynamics: CerebellarDynamics
    index: int = eqx.field(static=True)
    output: int = eqx.field(static=True, default=0)

    def __call__(self, stimulus: Float[Array, "T ..."]) -> Float[Array, ""]:
        bins = jnp.shape(stimulus)[0] if jnp.ndim(stimulus) else 0
        if not -bins <= self.index < bins:
            raise ValueError(
                f"ResponseAt reads bin {self.index} but the stimulus has {bins} bins: use an index in "
                f"[{-bins}, {bins - 1}] or a longer stimulus"
            )
        return self.dynamics(stimulus)[self.index, self.output]
