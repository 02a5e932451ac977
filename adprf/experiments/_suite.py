"""The standard suite (`adprf.attacks.evaluate_robustness`) as a cached stage of an experiment."""

import time
from dataclasses import dataclass

import numpy as np

from ..attacks import evaluate_robustness
from ._experiment import AbstractConfig

SUITE = "suite (APGD-CE, APGD-T, Square)"
"""The name the tables give the suite's worst case."""


@dataclass(frozen=True, kw_only=True)
class SuiteConfig(AbstractConfig):
    """The standard suite at `budget` ("fast" | "standard") on the first `n_test` test images."""

    budget: str = "fast"
    n_test: int = 100


def suite_stage(run, tag: str, model, x, y, epsilons, *, budget: str, key, batch_size: int) -> dict:
    """The suite at `budget` on `(x, y)` at every ε, cached as stage `tag`: `method` (`SUITE`),
    `accuracy` per ε, `seconds`, mean `evaluations` per (ε, image), `n_test`, and the suite's record
    (`adprf.attacks.RobustnessEvaluation.as_dict`: which attack fooled how many, per ε)."""

    def evaluate():
        start = time.perf_counter()
        result = evaluate_robustness(
            model, x, y, list(epsilons), key=key, budget=budget, batch_size=batch_size, progress=True
        )
        record = result.as_dict()
        return {
            "method": SUITE,
            "budget": budget,
            "n_test": int(np.shape(y)[0]),
            "accuracy": record["accuracy"],
            "seconds": time.perf_counter() - start,
            "evaluations": float(sum(result.evaluations) / max(np.size(result.fooled_by), 1)),
            "suite": record,
        }

    return run.stage(tag, evaluate)
