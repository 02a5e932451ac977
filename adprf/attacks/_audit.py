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
- **apgd-dlr**: APGD (Croce & Hein 2020) with the scale-free DLR loss (with fewer than 3
  classes, or a scalar objective, APGD with the audit's own loss: **apgd**) must not lower
  accuracy much;
- **square**: the gradient-free Square attack (one forward pass a query: blind to broken
  gradients) must not lower accuracy much (L∞ and L2 threats);
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
import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np

from .._types import Input, PRNGKeyArray
from ._apgd import APGD
from ._checks import (
    SINGLE_STEP,
    AbstractCheck,
    AuditRuns,
    Check,
    Comparison,
    Gradients,
    Skipped,
    Solver,
    Unbounded,
)
from ._methods import FGSM, PGD
from ._objectives import DLR, AbstractObjective, CrossEntropy, Margin, MSEOneHot, _output_of, as_objective
from ._square import Square
from ._straight_through import straight_through as attack_through
from ._threats import DEFAULT_BOUNDS, L2Ball, LinfBall, ThreatModel, as_threat

CLASSIFICATION = (CrossEntropy, Margin, MSEOneHot, DLR)
"""The classification losses (argmax success): the audit also tries their margin variant."""


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
    apgd_steps: int = 100,
    square_queries: int = 1000,
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
    - `apgd_steps`: the steps of the APGD check (default 100, AutoAttack's).
    - `square_queries`: the query budget per example and ε of the Square check (default
      1,000; AutoAttack's standard is 5,000, `evaluate_robustness` runs it).
    - `batch_size`, `progress`, `devices`: as in `robust_accuracy`.

    **Returns:** an `Audit` (print it, or use `.verdict`, `.reasons`, `.table()`).
    """
    epsilons, threat, pgd, objective = _checked(epsilons, tolerance, threat, bounds, pgd, objective)
    parts = _parts(model, straight_through)
    runs = AuditRuns(
        model,
        x,
        y,
        epsilons=epsilons,
        key=key,
        threat=threat,
        objective=objective,
        batch_size=batch_size,
        progress=progress,
        devices=devices,
    )
    examples = int(jax.tree.leaves(x)[0].shape[0])
    step = pgd.step_length(threat.with_epsilon(max(epsilons)))
    reference = runs.curve("PGD", pgd)
    if reference is None:
        check = Check("solver", "fail", "the reference PGD stopped on an error", f"PGD raised: {runs.errors['PGD']}")
        return Audit((check,), epsilons, runs.curves, examples)
    compare = functools.partial(Comparison, reference=reference, epsilons=epsilons, tolerance=tolerance)
    plan = [*_stronger_attacks(compare, pgd, float(step), objective, own_loss, parts)]
    plan += _standard_attacks(compare, model, x, threat, objective, apgd_steps, square_queries)
    plan += [_unbounded(threat, unbounded_epsilon, pgd, unbounded_tolerance)]
    plan += [Gradients(zero_warning=zero_gradient_warning), Solver(pgd=pgd)]
    checks = (check.run(runs) for check in plan)
    return Audit(tuple(check for check in checks if check is not None), epsilons, runs.curves, examples)


def _unbounded(threat: ThreatModel, epsilon: float | None, pgd: PGD, tolerance: float) -> AbstractCheck:
    """The unbounded check, at `epsilon` or else the width of the threat's box (skipped without
    either)."""
    box = threat.bounds()
    if epsilon is None and box is not None:
        epsilon = box[1] - box[0]
    if epsilon is None:
        return Skipped("unbounded", "no box and no unbounded_epsilon given")
    return Unbounded(epsilon=epsilon, pgd=pgd, tolerance=tolerance)


def _checked(epsilons, tolerance, threat, bounds, pgd, objective):
    """The audit's arguments checked: the radii > 0, the threat, the reference PGD, the objective."""
    epsilons = tuple(float(e) for e in epsilons if float(e) > 0)
    if not epsilons:
        raise ValueError("audit needs at least one ε > 0 (accuracy at ε = 0 is clean accuracy)")
    if not 0 <= tolerance < 1:
        raise ValueError(f"tolerance is a fraction of examples in [0, 1), got {tolerance!r}")
    threat = as_threat(threat, bounds)
    pgd = pgd or PGD(steps=40, step_size=0.01)
    if not isinstance(pgd, PGD):
        raise TypeError(f"the audit's reference attack must be a PGD, got {pgd!r}")
    return epsilons, threat, pgd, as_objective(objective)


def _parts(model: Any, straight_through: str | Sequence[str] | None) -> tuple[str, ...]:
    """The parts to attack through: those named, or the `filter` field the model declares
    (`adprf.nets.Filtered`). A name the model does not have raises here, before any attack."""
    if straight_through is None:
        parts = ("filter",) if "filter" in _field_names(model) else ()
    else:
        parts = (straight_through,) if isinstance(straight_through, str) else tuple(straight_through)
    if parts:
        attack_through(model, parts)
    return parts


def _field_names(model) -> set[str]:
    """The names of `model`'s fields (none unless it is a dataclass, e.g. an equinox module)."""
    return {field.name for field in dataclasses.fields(model)} if dataclasses.is_dataclass(model) else set()


def _larger_step(pgd: PGD, step: float) -> PGD:
    """The reference PGD with 4 times its step (relative to ε if its step is)."""
    if pgd.relative_step is not None:
        return dataclasses.replace(pgd, relative_step=4 * pgd.relative_step)
    return dataclasses.replace(pgd, step_size=4 * step)


def _stronger_attacks(compare: Callable[..., Comparison], pgd: PGD, step: float, objective, own_loss, parts):
    """The checks that compare stronger attacks with the reference (`compare` builds one), in
    the report's order, those that do not apply as skipped."""
    checks: list[AbstractCheck] = [
        compare("fgsm-vs-pgd", "FGSM", FGSM(), objective, reason=SINGLE_STEP),
        compare("more-steps", f"PGD-{5 * pgd.steps}", dataclasses.replace(pgd, steps=5 * pgd.steps), objective),
        compare(
            "restarts",
            f"PGD ×{5 * pgd.restarts} restarts",
            dataclasses.replace(pgd, restarts=5 * pgd.restarts),
            objective,
        ),
        compare("larger-step", "PGD step ×4", _larger_step(pgd, step), objective),
    ]
    classification = isinstance(objective, CLASSIFICATION)
    if classification:
        checks.append(compare("margin-loss", "margin loss", pgd, Margin(targeted=objective.targeted)))
        if not isinstance(objective, CrossEntropy):  # e.g. an MSE reference: CE is the usual stronger loss
            checks.append(
                compare("cross-entropy", "cross-entropy loss", pgd, CrossEntropy(targeted=objective.targeted))
            )
    if own_loss is not None:
        own = as_objective(own_loss)
        checks.append(compare("own-loss", f"{type(own).__name__} loss", pgd, own))
    if parts:
        checks.append(compare("straight-through", f"BPDA through {', '.join(parts)}", pgd, objective, parts=parts))
    if not classification:
        why = (
            f"{type(objective).__name__} is not a classification loss "
            + "(a scalar threshold objective already is a margin)"
        )
        checks.append(Skipped("margin-loss", why))
    if not own_loss:
        checks.append(Skipped("own-loss", "the model declares no training loss of its own"))
    if not parts:
        checks.append(Skipped("straight-through", "no filter or solver declared to attack through"))
    return checks


def _standard_attacks(compare, model, x, threat: ThreatModel, objective, apgd_steps: int, square_queries: int):
    """The checks by the field's standard attacks (`compare` builds one): APGD with the DLR loss
    (with the audit's own loss for fewer than 3 classes or a scalar objective) and the
    gradient-free Square attack (margin loss for a classifier), or why it is skipped."""
    checks: list[AbstractCheck] = []
    apgd = APGD(steps=apgd_steps)
    example = jax.tree.map(lambda a: np.asarray(a)[0], x)
    shape = getattr(_output_of(model, example, "audit"), "shape", ())
    classification = isinstance(objective, CLASSIFICATION)
    if classification and len(shape) == 1 and shape[0] >= 3 and not objective.targeted:
        checks.append(compare("apgd-dlr", f"APGD-{apgd_steps} DLR", apgd, DLR()))
    else:
        checks.append(compare("apgd", f"APGD-{apgd_steps}", apgd, objective))
    if isinstance(threat.ball, (LinfBall, L2Ball)):
        square_loss = Margin(targeted=objective.targeted) if classification else objective
        checks.append(compare("square", f"Square-{square_queries}", Square(queries=square_queries), square_loss))
    else:
        checks.append(Skipped("square", f"Square searches L∞ or L2 balls, not {type(threat.ball).__name__}"))
    return checks
