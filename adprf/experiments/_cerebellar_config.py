"""The config pieces the MNIST cerebellum experiments share: the data, seeds, training length and
the attack protocol of Yuezhang et al. (2021), as typed frozen configs that become the library's
`TrainingSchedule` and `AttackProtocol`."""

from dataclasses import dataclass

from ..cerebellum import PAPER_EPSILONS, AttackProtocol, TrainingSchedule
from ._experiment import AbstractConfig


@dataclass(frozen=True, kw_only=True)
class PGDConfig(AbstractConfig):
    """PGD's iterations and step (None: 2.5 ε / steps at each ε); 40 and 0.01 in the paper."""

    steps: int = 40
    step_size: float | None = 0.01


@dataclass(frozen=True, kw_only=True)
class CerebellarConfig(AbstractConfig):
    """What every cerebellum experiment on MNIST sets.

    **Arguments:**
    - `dataset`: "mnist" (the paper) or "mnist-subset" (embedded, quick).
    - `n_train`: the first `n_train` training images (None: all).
    - `n_test`: how many test images are attacked (clean accuracy uses all of them).
    - `seeds`: one model per seed; the tables average over them (0 and 123 in the paper).
    - `epochs`, `rule`: training length and plasticity rule (`train_cerebellum`).
    - `pgd`: the PGD attack; `epsilons`: the L∞ radii of the curves.
    - `suite`: also the standard suite at this budget ("fast" | "standard"; None: not run), at
      `suite_epsilons` (some of `epsilons`; None: all of them).
    """

    dataset: str
    n_train: int | None = None
    n_test: int
    seeds: tuple[int, ...]
    epochs: int = 10
    rule: str = "delta"
    pgd: PGDConfig = PGDConfig()
    epsilons: tuple[float, ...] = PAPER_EPSILONS
    suite: str | None = None
    suite_epsilons: tuple[float, ...] | None = None

    def schedule(self, batch_size: int) -> TrainingSchedule:
        """The training schedule with `batch_size`."""
        return TrainingSchedule(epochs=self.epochs, batch_size=batch_size, rule=self.rule)

    def attack(self) -> AttackProtocol:
        """The robustness evaluation: FGSM and PGD (and the suite) on the first `n_test` test images at
        `epsilons`."""
        return AttackProtocol(
            n_test=self.n_test,
            pgd_steps=self.pgd.steps,
            pgd_step_size=self.pgd.step_size,
            epsilons=self.epsilons,
            suite=self.suite,
            suite_epsilons=self.suite_epsilons,
        )
