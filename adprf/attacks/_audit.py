"""The robustness audit: is a robust-accuracy number real, or does the model mask gradients?

A defence that only breaks the attacker's gradients (zero, noisy or non-finite gradients, a
solver that fails, a non-differentiable part) looks robust to the attack that was run and not
to a better one (Athalye, Carlini & Wagner 2018; Carlini et al. 2019, "On evaluating
adversarial robustness"). `audit` runs the checks those papers ask for on the same examples
and ε grid as the reported PGD curve, and gives a verdict per check and overall:

- **fgsm-vs-pgd**: a single step must not beat the iterative attack;
- **more-steps**, **restarts**, **larger-step**: a stronger PGD must not lower accuracy much;
- **margin-loss**, **cross-entropy** (when the reference loss is another classification loss,
  e.g. the cerebellum's MSE), **own-loss**: other losses must not lower accuracy much;
- **straight-through**: attacking through the declared non-differentiable parts with an
  identity stand-in (BPDA) must not lower accuracy much;
- **unbounded**: with a radius covering the whole input box, accuracy must fall to ~0;
- **gradients**: input gradients at the clean points must be finite and not all zero
  (a warning when most entries are exactly zero: gradient steps cannot move them);
- **solver**: the model's output must stay finite at clean and attacked points, no attack
  may stop on a solver error (ODE steady states), and none may meet a NaN or infinite
  output, loss or gradient (those pairs are failed evaluations, left out of the curves).

"Suspected masking" means at least one check failed; its reasons name the check and the
numbers. "No masking found" is evidence, not proof: it says these attacks agree.
"""

import dataclasses
from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._types import Input, PRNGKeyArray
from ._engine import NonFiniteError, attack
from ._evaluate import robust_accuracy
from ._methods import FGSM, PGD
from ._objectives import AbstractObjective, CrossEntropy, Margin, _Classification, as_objective
from ._straight_through import straight_through as _straight_through
from ._threats import DEFAULT_BOUNDS, ThreatModel, as_threat

VERDICTS = ("pass", "fail", "warn", "skip")
_SOLVER_ERRORS = (eqx.EquinoxRuntimeError, jax.errors.JaxRuntimeError, NonFiniteError)


@dataclasses.dataclass(frozen=True)
class Check:
    """One audit check: `name`, `verdict` ("pass" | "fail" | "warn" | "skip"), what was
    `measured` (a short human-readable string) and, unless it passed, the `reason`."""

    name: str
    verdict: str
    measured: str
    reason: str = ""


@dataclasses.dataclass(frozen=True)
class Audit:
    """The checks, the ε grid and the accuracy curve of every attack that was run.

    - `masking`: whether any check failed; `verdict`: "suspected masking" or
      "no masking found"; `reasons`: one line per failed check.
    - `curves`: accuracy per ε for each attack (name → list), `reference` names the PGD
      curve the others are compared with; `examples`: how many inputs were audited.
    """

    checks: tuple[Check, ...]
    epsilons: tuple[float, ...]
    curves: dict[str, list[float]]
    examples: int = 0
    reference: str = "PGD"

    @property
    def masking(self) -> bool:
        return any(c.verdict == "fail" for c in self.checks)

    @property
    def verdict(self) -> str:
        return "suspected masking" if self.masking else "no masking found"

    @property
    def reasons(self) -> list[str]:
        return [f"{c.name}: {c.reason}" for c in self.checks if c.verdict == "fail"]

    @property
    def worst_case(self) -> list[float]:
        """The lowest accuracy any bounded attack of the audit reached, per ε."""
        bounded = [v for k, v in self.curves.items() if k != "unbounded"]
        return np.min(np.asarray(bounded), axis=0).tolist()

    def summary(self) -> str:
        """One line: the verdict and its reasons (or the checks that warned)."""
        line = f"**Audit: {self.verdict}**"
        if self.masking:
            return line + " — " + "; ".join(self.reasons)
        warned = [f"{c.name}: {c.reason}" for c in self.checks if c.verdict == "warn"]
        return line + (" (warnings — " + "; ".join(warned) + ")" if warned else "")

    def table(self) -> dict:
        """The checks as a report table (`title`, `columns`, `rows`)."""
        return {
            "title": f"Audit checks ({self.verdict})",
            "columns": ["check", "verdict", "measured", "reason"],
            "rows": [[c.name, c.verdict, c.measured, c.reason] for c in self.checks],
        }

    def as_dict(self) -> dict:
        return {
            "verdict": self.verdict,
            "masking": self.masking,
            "reasons": self.reasons,
            "summary": self.summary(),
            "epsilons": list(self.epsilons),
            "examples": self.examples,
            "curves": self.curves,
            "checks": [dataclasses.asdict(c) for c in self.checks],
        }

    def __str__(self) -> str:
        width = max(len(c.name) for c in self.checks)
        lines = [
            f"{c.name:<{width}}  {c.verdict:<4}  {c.measured}" + (f"  ({c.reason})" if c.reason else "")
            for c in self.checks
        ]
        return "\n".join([self.summary().replace("**", ""), *lines])


def _message(error: Exception) -> str:
    """The line of a run-time error that says what went wrong (equinox wraps it in advice)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    for line in lines:
        if line.startswith(("equinox.EquinoxRuntimeError:", "EquinoxRuntimeError:", "jax.errors.JaxRuntimeError:")):
            return line.split(":", 1)[1].strip()[:200]
    return (lines[0] if lines else type(error).__name__)[:200]


def _percent(values) -> str:
    return "/".join(f"{100 * v:.1f}" for v in values)


def _compare(name: str, what: str, curve, reference, epsilons, tolerance: float) -> Check:
    """Fail when `curve` is below the reference PGD curve by more than `tolerance` at some ε."""
    drop = np.asarray(reference) - np.asarray(curve)
    worst = int(np.argmax(drop))
    measured = f"{what} {_percent(curve)} vs PGD {_percent(reference)} %"
    if drop[worst] > tolerance:
        return Check(
            name,
            "fail",
            measured,
            f"{what} lowers accuracy by {100 * drop[worst]:.1f} points at ε={epsilons[worst]:g} "
            f"(tolerance {100 * tolerance:.1f}): the reported PGD is not the worst case",
        )
    return Check(name, "pass", measured)


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


@eqx.filter_jit
def _non_finite_outputs(model, x):
    outputs = jax.vmap(model)(x)
    finite = jnp.stack([jnp.all(jnp.isfinite(o.reshape(o.shape[0], -1)), axis=1) for o in jax.tree.leaves(outputs)])
    return jnp.mean(~jnp.all(finite, axis=0))


def _finite_outputs(model, x) -> float:
    """The fraction of inputs at which the model's output is not finite."""
    return float(_non_finite_outputs(model, x))


def _declared_parts(model) -> tuple[str, ...]:
    return ("filter",) if hasattr(model, "filter") else ()


def audit(
    model: Callable,
    x: Input,
    y,
    *,
    epsilons: Sequence[float],
    key: PRNGKeyArray,
    threat: ThreatModel | str = "linf",
    bounds: tuple[float, float] | None = DEFAULT_BOUNDS,
    pgd: PGD | None = None,
    objective: AbstractObjective | str = "cross-entropy",
    own_loss: AbstractObjective | str | None = None,
    straight_through: str | Sequence[str] | None = None,
    unbounded_epsilon: float | None = None,
    tolerance: float = 0.03,
    unbounded_tolerance: float = 0.05,
    zero_gradient_warning: float = 0.5,
    batch_size: int = 256,
    progress: bool = False,
    devices=None,
) -> Audit:
    """Audit `model`'s robust accuracy on `(x, y)` over `epsilons` for gradient masking.

    **Arguments:**
    - `model`: function of one unbatched input (any pytree, e.g. an image or `Ligands`).
    - `x`, `y`: inputs with a leading batch axis; labels (or `None` with a scalar objective).
    - `epsilons`: the radii of the robust-accuracy table being audited (values > 0 are used).
    - `key`: PRNG key; all attacks share it, so stronger PGD variants extend the reference run.
    - `threat`, `bounds`: as in `robust_accuracy` ("linf" | "l2" | "l1" or a `ThreatModel`).
    - `pgd`: the reference attack (default `PGD(steps=40, step_size=0.01)` with random start);
      the audit's stronger variants take 5× its steps, 5 restarts, and a 4× larger step.
    - `objective`: the loss of the reference attack (default cross-entropy).
    - `own_loss`: the model's training loss, if it differs (e.g. "mse" for the cerebellum).
    - `straight_through`: sub-modules to attack through with an identity stand-in (BPDA);
      default: `"filter"` if the model has one (`Filtered`), else none (the check is skipped).
    - `unbounded_epsilon`: the radius of the unbounded check; default the width of the
      threat's box (the whole input space). Without a box and without it, the check is skipped.
    - `tolerance`: how far (fraction of examples) a stronger attack may lower accuracy
      below the reference before it fails the check (default 0.03, 3 points).
    - `unbounded_tolerance`: the accuracy the unbounded attack may leave (default 0.05).
    - `zero_gradient_warning`: warn when more than this fraction of gradient entries are
      exactly zero (default 0.5).
    - `batch_size`, `progress`, `devices`: as in `robust_accuracy`.

    **Returns:** an `Audit` (print it, or use `.verdict`, `.reasons`, `.table()`).
    """
    epsilons = tuple(float(e) for e in epsilons if float(e) > 0)
    if not epsilons:
        raise ValueError("audit needs at least one ε > 0 (accuracy at ε = 0 is clean accuracy)")
    if not 0 <= tolerance < 1:
        raise ValueError(f"tolerance is a fraction of examples in [0, 1), got {tolerance!r}")
    threat = as_threat(threat, bounds)
    pgd = pgd or PGD(steps=40, step_size=0.01)
    if not isinstance(pgd, PGD):
        raise TypeError(f"the audit's reference attack must be a PGD, got {pgd!r}")
    objective = as_objective(objective)
    parts = (
        _declared_parts(model)
        if straight_through is None
        else ((straight_through,) if isinstance(straight_through, str) else tuple(straight_through))
    )
    if parts:
        _straight_through(model, parts)  # fail early on a part the model does not have
    box = threat.bounds()
    if unbounded_epsilon is None and box is not None:
        unbounded_epsilon = box[1] - box[0]

    curves: dict[str, list[float]] = {}
    errors: dict[str, str] = {}
    failures: dict[str, int] = {}  # attacks whose evaluations met NaN/inf: failed (ε, example) pairs
    k_attack = key
    examples = int(jax.tree.leaves(x)[0].shape[0])

    def curve(name: str, method, eps=epsilons, loss=objective, names=()):
        try:
            r = robust_accuracy(
                model,
                x,
                y,
                list(eps),
                method,
                threat=threat,
                objective=loss,
                key=k_attack,
                batch_size=batch_size,
                straight_through=names,
                progress=f"audit {name}" if progress else False,
                devices=devices,
                nonfinite="report",
            )
            curves[name] = np.asarray(r.accuracy, dtype=float).tolist()
            if np.asarray(r.failed).any():
                failures[name] = int(np.asarray(r.failed).sum())
        except _SOLVER_ERRORS as error:
            errors[name] = _message(error)
        return curves.get(name)

    step = pgd._alpha(threat.with_epsilon(max(epsilons)))
    reference = curve("PGD", pgd)
    if reference is None:
        check = Check("solver", "fail", "the reference PGD stopped on an error", f"PGD raised: {errors['PGD']}")
        return Audit((check,), epsilons, curves, examples)
    checks = []

    fgsm = curve("FGSM", FGSM())
    if fgsm is not None:
        drop = np.asarray(reference) - np.asarray(fgsm)
        worst = int(np.argmax(drop))
        measured = f"FGSM {_percent(fgsm)} vs PGD {_percent(reference)} %"
        checks.append(
            Check(
                "fgsm-vs-pgd",
                "fail",
                measured,
                f"the single step is stronger than PGD by {100 * drop[worst]:.1f} points at "
                f"ε={epsilons[worst]:g}: PGD's gradients mislead it",
            )
            if drop[worst] > tolerance
            else Check("fgsm-vs-pgd", "pass", measured)
        )

    variants = [
        ("more-steps", f"PGD-{5 * pgd.steps}", dataclasses.replace(pgd, steps=5 * pgd.steps), objective, ()),
        (
            "restarts",
            f"PGD ×{5 * pgd.restarts} restarts",
            dataclasses.replace(pgd, restarts=5 * pgd.restarts),
            objective,
            (),
        ),
        ("larger-step", "PGD step ×4", dataclasses.replace(pgd, step_size=4 * float(step)), objective, ()),
    ]
    classification = isinstance(objective, _Classification)
    if classification:
        variants.append(("margin-loss", "margin loss", pgd, Margin(targeted=objective.targeted), ()))
        if not isinstance(objective, CrossEntropy):  # e.g. an MSE reference: CE is the usual stronger loss
            variants.append(("cross-entropy", "cross-entropy loss", pgd, CrossEntropy(targeted=objective.targeted), ()))
    if own_loss is not None:
        variants.append(("own-loss", f"{type(as_objective(own_loss)).__name__} loss", pgd, as_objective(own_loss), ()))
    if parts:
        variants.append(("straight-through", f"BPDA through {', '.join(parts)}", pgd, objective, parts))
    for name, what, method, loss, names in variants:
        result = curve(what, method, loss=loss, names=names)
        if result is not None:
            checks.append(_compare(name, what, result, reference, epsilons, tolerance))
    if not classification:
        checks.append(
            Check(
                "margin-loss",
                "skip",
                f"{type(objective).__name__} is not a classification loss "
                "(a scalar threshold objective already is a margin)",
            )
        )
    if not own_loss:
        checks.append(Check("own-loss", "skip", "the model declares no training loss of its own"))
    if not parts:
        checks.append(Check("straight-through", "skip", "no filter or solver declared to attack through"))

    if unbounded_epsilon is None:
        checks.append(Check("unbounded", "skip", "no box and no unbounded_epsilon given"))
    else:
        steps = max(100, pgd.steps)
        big = dataclasses.replace(pgd, steps=steps, step_size=2.5 * unbounded_epsilon / steps)
        result = curve("unbounded", big, eps=(unbounded_epsilon,))
        if result is not None:
            measured = f"accuracy {100 * result[0]:.1f} % at ε={unbounded_epsilon:g} (PGD-{steps})"
            checks.append(
                Check(
                    "unbounded",
                    "fail",
                    measured,
                    f"an attack that may change the whole input leaves {100 * result[0]:.1f} % "
                    f"accuracy (> {100 * unbounded_tolerance:.0f} %): gradients do not lead anywhere",
                )
                if result[0] > unbounded_tolerance
                else Check("unbounded", "pass", measured)
            )

    y_arr = jnp.zeros(jax.tree.leaves(x)[0].shape[0], jnp.int32) if y is None else jnp.asarray(y)
    stats = {
        k: float(v)
        for k, v in _gradient_statistics(model, jax.tree.map(jnp.asarray, x), y_arr, objective, threat).items()
    }
    measured = (
        f"{100 * stats['zero_entries']:.1f} % entries exactly 0; examples all-zero "
        f"{100 * stats['all_zero']:.1f} %, non-finite {100 * stats['non_finite']:.1f} %"
    )
    if stats["non_finite"] > 0 or stats["all_zero"] > 0:
        reason = (
            f"{100 * stats['non_finite']:.1f} % of examples have non-finite and {100 * stats['all_zero']:.1f} % "
            f"all-zero input gradients: gradient attacks are blind there"
        )
        checks.append(Check("gradients", "fail", measured, reason))
    elif stats["zero_entries"] > zero_gradient_warning:
        checks.append(
            Check(
                "gradients",
                "warn",
                measured,
                "most input-gradient entries are exactly 0: sign steps cannot move those inputs "
                "(a random start or BPDA can)",
            )
        )
    else:
        checks.append(Check("gradients", "pass", measured))

    clean_bad = _finite_outputs(model, jax.tree.map(jnp.asarray, x))
    adversarial = None
    try:
        adversarial = attack(
            model,
            x,
            y,
            method=pgd,
            threat=threat.with_epsilon(max(epsilons)),
            objective=objective,
            key=k_attack,
            batch_size=batch_size,
            devices=devices,
            nonfinite="report",
        ).adversarial
    except _SOLVER_ERRORS as error:
        errors["PGD (adversarials)"] = _message(error)
    attacked_bad = _finite_outputs(model, adversarial) if adversarial is not None else float("nan")
    measured = (
        f"non-finite outputs: clean {100 * clean_bad:.1f} %, attacked (ε={max(epsilons):g}) "
        f"{100 * attacked_bad:.1f} %; attacks stopped by errors: {len(errors)}; attacks with failed "
        f"(non-finite) evaluations: {len(failures)}"
    )
    if errors or failures or clean_bad > 0 or attacked_bad > 0:
        reason = "; ".join(
            [f"{k} raised: {v}" for k, v in errors.items()]
            + [
                f"{k}: {v} (ε, example) pairs met NaN or infinite values (left out of its curve)"
                for k, v in failures.items()
            ]
            + ([f"{100 * clean_bad:.1f} % non-finite outputs at clean inputs"] if clean_bad else [])
            + ([f"{100 * attacked_bad:.1f} % non-finite outputs at attacked inputs"] if attacked_bad > 0 else [])
        )
        checks.append(Check("solver", "fail", measured, reason))
    else:
        checks.append(Check("solver", "pass", measured))
    return Audit(tuple(checks), epsilons, curves, examples)
