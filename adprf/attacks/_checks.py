"""The checks of the robustness audit, each a small object (see `adprf.attacks.audit`).

Every check `measure`s what it needs on the audit's attacks (an `AuditRuns`: one model, one
batch, one threat, one key) and gives its `verdict` as a `Check` record. The stronger-attack
checks share one comparison, `shortfall`: the accuracy curve of the stronger attack against
the reference PGD curve, within a tolerance (Carlini et al. 2019, "On evaluating adversarial
robustness": a stronger attack must not find much more).
"""

import abc
import dataclasses
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._types import Input, PRNGKeyArray
from ._engine import NonFiniteError, attack
from ._evaluate import robust_accuracy
from ._methods import PGD, AbstractMethod
from ._objectives import AbstractObjective
from ._threats import ThreatModel

VERDICTS = ("pass", "fail", "warn", "skip")
SOLVER_ERRORS = (eqx.EquinoxRuntimeError, jax.errors.JaxRuntimeError, NonFiniteError)
"""The errors that stop an attack on a failing model (a solver error, a non-finite value)."""


@dataclasses.dataclass(frozen=True)
class Check:
    """One audit check: `name`, `verdict` ("pass" | "fail" | "warn" | "skip"), what was
    `measured` (a short human-readable string) and, unless it passed, the `reason`."""

    name: str
    verdict: str
    measured: str
    reason: str = ""


def error_message(error: Exception) -> str:
    """The line of a run-time error that says what went wrong (equinox wraps it in advice)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    for line in lines:
        if line.startswith(("equinox.EquinoxRuntimeError:", "EquinoxRuntimeError:", "jax.errors.JaxRuntimeError:")):
            return line.split(":", 1)[1].strip()[:200]
    return (lines[0] if lines else type(error).__name__)[:200]


def _percent(values) -> str:
    return "/".join(f"{100 * v:.1f}" for v in values)


class AuditRuns:
    """The attacks of one audit: one model, batch, ε grid, threat, objective and key.

    Each run records its accuracy curve in `curves` (label → accuracy per ε), or the error
    that stopped it in `errors` (label → message); `failures` counts, per attack, the
    (ε, example) pairs that met NaN or infinite values (left out of its curve).
    """

    def __init__(
        self,
        model: Callable,
        x: Input,
        y,
        *,
        epsilons: tuple[float, ...],
        key: PRNGKeyArray,
        threat: ThreatModel,
        objective: AbstractObjective,
        batch_size: int,
        progress: bool,
        devices,
    ):
        self.model, self.x, self.y = model, x, y
        self.epsilons, self.key, self.threat, self.objective = epsilons, key, threat, objective
        self.batch_size, self.progress, self.devices = batch_size, progress, devices
        self.curves: dict[str, list[float]] = {}
        self.errors: dict[str, str] = {}
        self.failures: dict[str, int] = {}

    def curve(self, label: str, method: AbstractMethod, *, epsilons=None, objective=None, parts=()):
        """The accuracy curve of `method` (robust accuracy per ε, by default on the audit's grid
        and objective, attacking through `parts` with a straight-through stand-in); `None`
        when the attack stopped on an error."""
        try:
            result = robust_accuracy(
                self.model,
                self.x,
                self.y,
                list(self.epsilons if epsilons is None else epsilons),
                method,
                threat=self.threat,
                objective=self.objective if objective is None else objective,
                key=self.key,
                batch_size=self.batch_size,
                straight_through=parts,
                progress=f"audit {label}" if self.progress else False,
                devices=self.devices,
                nonfinite="report",
            )
            self.curves[label] = np.asarray(result.accuracy, dtype=float).tolist()
            if np.asarray(result.failed).any():
                self.failures[label] = int(np.asarray(result.failed).sum())
        except SOLVER_ERRORS as error:
            self.errors[label] = error_message(error)
        return self.curves.get(label)

    def adversarial(self, label: str, method: AbstractMethod) -> Input | None:
        """The adversarial inputs of `method` at the largest ε; `None` when it stopped on an error."""
        try:
            return attack(
                self.model,
                self.x,
                self.y,
                method=method,
                threat=self.threat.with_epsilon(max(self.epsilons)),
                objective=self.objective,
                key=self.key,
                batch_size=self.batch_size,
                devices=self.devices,
                nonfinite="report",
            ).adversarial
        except SOLVER_ERRORS as error:
            self.errors[label] = error_message(error)
            return None


def shortfall(curve, reference, tolerance: float) -> tuple[int, float] | None:
    """Where `curve` (accuracy per ε) falls furthest below `reference`, and by how much (a
    fraction of examples), when that is more than `tolerance`; else `None`."""
    drop = np.asarray(reference) - np.asarray(curve)
    worst = int(np.argmax(drop))
    return (worst, drop[worst]) if drop[worst] > tolerance else None


class AbstractCheck(eqx.Module):
    """One check of the audit.

    `measure` runs what the check needs and returns its measurement, or `None` when an attack
    stopped on an error (the check is then left out; the solver check reports the error);
    `verdict` turns a measurement into a `Check`.
    """

    name: eqx.AbstractVar[str]

    @abc.abstractmethod
    def measure(self, runs: AuditRuns) -> Any: ...

    @abc.abstractmethod
    def verdict(self, measurement: Any) -> Check: ...

    def run(self, runs: AuditRuns) -> Check | None:
        measurement = self.measure(runs)
        return None if measurement is None else self.verdict(measurement)


STRONGER = (
    "{label} lowers accuracy by {drop:.1f} points at ε={epsilon:g} (tolerance {tolerance:.1f}): "
    "the reported PGD is not the worst case"
)
SINGLE_STEP = "the single step is stronger than PGD by {drop:.1f} points at ε={epsilon:g}: PGD's gradients mislead it"


class Comparison(AbstractCheck):
    """A stronger attack (more steps, restarts, another loss, BPDA, a single step) must not
    lower accuracy below the reference PGD curve by more than `tolerance` at any ε.

    **Arguments:**
    - `name`, `label`: the check's name, and the attack's (its curve's) label.
    - `method`, `objective`, `parts`: the attack, its loss, the parts it attacks through.
    - `reference`, `epsilons`, `tolerance`: the reference curve, its ε grid, the tolerance.
    - `reason`: the failure's explanation, a template of `label`, `drop` and `tolerance`
      (percentage points) and `epsilon`.
    """

    name: str
    label: str
    method: AbstractMethod
    objective: AbstractObjective
    reference: list[float]
    epsilons: tuple[float, ...]
    tolerance: float
    parts: tuple[str, ...] = ()
    reason: str = STRONGER

    def measure(self, runs):
        return runs.curve(self.label, self.method, objective=self.objective, parts=self.parts)

    def verdict(self, measurement):
        curve = measurement
        measured = f"{self.label} {_percent(curve)} vs PGD {_percent(self.reference)} %"
        below = shortfall(curve, self.reference, self.tolerance)
        if below is None:
            return Check(self.name, "pass", measured)
        worst, drop = below
        reason = self.reason.format(
            label=self.label, drop=100 * drop, epsilon=self.epsilons[worst], tolerance=100 * self.tolerance
        )
        return Check(self.name, "fail", measured, reason)


class Skipped(AbstractCheck):
    """A check that does not apply, and why."""

    name: str
    why: str

    def measure(self, runs):
        return self.why

    def verdict(self, measurement):
        return Check(self.name, "skip", measurement)


class Unbounded(AbstractCheck):
    """With a radius covering the whole input box, accuracy must fall to about 0 (at most
    `tolerance`): else the gradients lead nowhere."""

    epsilon: float
    pgd: PGD
    tolerance: float
    name: str = "unbounded"

    @property
    def steps(self) -> int:
        return max(100, self.pgd.steps)

    def measure(self, runs):
        big = dataclasses.replace(
            self.pgd, steps=self.steps, step_size=2.5 * self.epsilon / self.steps, relative_step=None
        )
        return runs.curve("unbounded", big, epsilons=(self.epsilon,))

    def verdict(self, measurement):
        accuracy = measurement[0]
        measured = f"accuracy {100 * accuracy:.1f} % at ε={self.epsilon:g} (PGD-{self.steps})"
        if accuracy > self.tolerance:
            reason = (
                f"an attack that may change the whole input leaves {100 * accuracy:.1f} % "
                f"accuracy (> {100 * self.tolerance:.0f} %): gradients do not lead anywhere"
            )
            return Check(self.name, "fail", measured, reason)
        return Check(self.name, "pass", measured)


@eqx.filter_jit
def _gradient_statistics(model, x, y, objective, threat: ThreatModel) -> dict:
    """Per-example input gradients of the objective at the clean points, on the coordinates
    the threat lets move."""

    def one(xi, yi):
        grad = jax.grad(lambda z: objective.loss(model(z), yi))(xi)
        free = threat.restrict(jax.tree.map(jnp.ones_like, xi), xi)
        grad = threat.restrict(grad, xi)
        free_leaves, grad_leaves = jax.tree.leaves(free), jax.tree.leaves(grad)
        total = sum(jnp.sum(f) for f in free_leaves)
        zero = sum(jnp.sum((g == 0) & (f > 0)) for g, f in zip(grad_leaves, free_leaves))
        finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(g)) for g in grad_leaves]))
        return zero / jnp.maximum(total, 1), zero == total, finite

    zero_fraction, all_zero, finite = jax.vmap(one)(x, y)
    return {"zero_entries": jnp.mean(zero_fraction), "all_zero": jnp.mean(all_zero), "non_finite": jnp.mean(~finite)}


class Gradients(AbstractCheck):
    """Input gradients at the clean points must be finite and not all zero; a warning when
    more than `zero_warning` of their entries are exactly zero (sign steps cannot move them)."""

    zero_warning: float
    name: str = "gradients"

    def measure(self, runs):
        x, y = runs.x, runs.y
        y = jnp.zeros(jax.tree.leaves(x)[0].shape[0], jnp.int32) if y is None else jnp.asarray(y)
        statistics = _gradient_statistics(runs.model, jax.tree.map(jnp.asarray, x), y, runs.objective, runs.threat)
        return {k: float(v) for k, v in statistics.items()}

    def verdict(self, measurement):
        stats = measurement
        measured = (
            f"{100 * stats['zero_entries']:.1f} % entries exactly 0; examples all-zero "
            f"{100 * stats['all_zero']:.1f} %, non-finite {100 * stats['non_finite']:.1f} %"
        )
        if stats["non_finite"] > 0 or stats["all_zero"] > 0:
            reason = (
                f"{100 * stats['non_finite']:.1f} % of examples have non-finite and {100 * stats['all_zero']:.1f} % "
                f"all-zero input gradients: gradient attacks are blind there"
            )
            return Check(self.name, "fail", measured, reason)
        if stats["zero_entries"] > self.zero_warning:
            reason = (
                "most input-gradient entries are exactly 0: sign steps cannot move those inputs "
                "(a random start or BPDA can)"
            )
            return Check(self.name, "warn", measured, reason)
        return Check(self.name, "pass", measured)


@eqx.filter_jit
def _non_finite_outputs(model, x):
    outputs = jax.vmap(model)(x)
    finite = jnp.stack([jnp.all(jnp.isfinite(o.reshape(o.shape[0], -1)), axis=1) for o in jax.tree.leaves(outputs)])
    return jnp.mean(~jnp.all(finite, axis=0))


def non_finite_fraction(model, x) -> float:
    """The fraction of inputs at which the model's output is not finite."""
    return float(_non_finite_outputs(model, x))


class Solver(AbstractCheck):
    """The model's output must stay finite at clean and attacked points (the reference `pgd` at
    the largest ε), no attack of the audit may have stopped on an error, and none may have met
    a NaN or infinite output, loss or gradient. Run it last: it reports every attack."""

    pgd: PGD
    name: str = "solver"

    def measure(self, runs):
        clean = non_finite_fraction(runs.model, jax.tree.map(jnp.asarray, runs.x))
        adversarial = runs.adversarial("PGD (adversarials)", self.pgd)
        attacked = non_finite_fraction(runs.model, adversarial) if adversarial is not None else float("nan")
        return {
            "clean": clean,
            "attacked": attacked,
            "epsilon": max(runs.epsilons),
            "errors": dict(runs.errors),
            "failures": dict(runs.failures),
        }

    def verdict(self, measurement):
        health = measurement
        clean, attacked, errors, failures = health["clean"], health["attacked"], health["errors"], health["failures"]
        measured = (
            f"non-finite outputs: clean {100 * clean:.1f} %, attacked (ε={health['epsilon']:g}) "
            f"{100 * attacked:.1f} %; attacks stopped by errors: {len(errors)}; attacks with failed "
            f"(non-finite) evaluations: {len(failures)}"
        )
        if not (errors or failures or clean > 0 or attacked > 0):
            return Check(self.name, "pass", measured)
        reason = "; ".join(
            [f"{k} raised: {v}" for k, v in errors.items()]
            + [
                f"{k}: {v} (ε, example) pairs met NaN or infinite values (left out of its curve)"
                for k, v in failures.items()
            ]
            + ([f"{100 * clean:.1f} % non-finite outputs at clean inputs"] if clean else [])
            + ([f"{100 * attacked:.1f} % non-finite outputs at attacked inputs"] if attacked > 0 else [])
        )
        return Check(self.name, "fail", measured, reason)
