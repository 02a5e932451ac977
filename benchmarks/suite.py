"""adprf's robustness suite (APGD-CE, APGD-T, Square) against the same attacks in ART, one model, one image set.

What is compared. One MNIST classifier (the MLP of benchmarks/_mnist_models.py, 5 epochs on the
4,000-image subset; the Madry CNN too with `--cnn`), the first `--images` test images of the
embedded subset, one L∞ radius (`--epsilon`, 0.1) and the box [0, 1]. adprf runs its public API
(`robust_accuracy`, `evaluate_robustness`); ART 1.20 (adversarial-robustness-toolbox) runs
`AutoProjectedGradientDescent` and `SquareAttack` on the same JAX model function, wrapped as an ART
classifier by tests/_art_oracle.py (one jitted, vmapped call per batch; no torch or tensorflow).
The settings are the suite's at `--budget` (standard: APGD 100 steps, 9 target classes, Square
5,000 queries; fast: 50, 3 and 1,000), taken from `adprf.attacks.suite_attacks`, the same on both
sides: first step 2ε, momentum 0.75, one random start, no restarts. Rows:

- APGD-CE: untargeted, cross-entropy.
- APGD-DLR: untargeted, the DLR loss (adprf `DLR()`; ART `loss_type=None` on a classifier whose
  loss is the DLR, `_art_oracle._dlr`).
- APGD-T: adprf's targeted DLR (AutoAttack's) toward each of the top k classes of the clean
  logits. ART has no AutoAttack targeted DLR: its targeted APGD minimises the classifier's loss at
  the target, so its row runs targeted APGD with the DLR at the target class, the same k targets
  and steps, each target on the images the earlier ones left robust (as AutoAttack does); adprf
  attacks all k targets of every image in one call. Not the same loss: compare with care.
- Square: the margin loss, p_init 0.8; ART `max_iter` = queries − 1 candidates after its start,
  adprf `Square(queries)` counts the start. ART draws one window and sign per iteration for the
  whole batch (adprf: one per image).
- suite: adprf's `evaluate_robustness(budget=...)`; ART: the same cascade by hand (APGD-CE, then
  the targeted runs of the APGD-T row, then Square, each on the images still robust).

Robust accuracy is the fraction of images that the clean model classifies right and no attack
fooled (every ART adversarial is checked to lie in the ball and the box). Evaluations: adprf's
`gradient_evaluations` (value and gradient together; queries for Square: forward only), summed;
ART's examples passed to the classifier's `loss_gradient` (grad) and to `predict`/`compute_loss`
(fwd). adprf stops an image at its first success; ART's APGD runs every step (it judges the last
iterate) and its Square predicts on the whole batch each iteration. Times: a warm-up run (which
compiles; adprf's compile time is reported as first run − median), then the median of `--repeats`
runs, each with the same seeds. Goal: adprf ≥ 10× faster than ART at equal or lower robust
accuracy (ART's + `--tolerance` points, default 0), per row.

Run: python benchmarks/suite.py                          # MLP, 500 images, standard budget
     python benchmarks/suite.py --budget fast --images 200   # a couple of minutes on 2 cores
"""

import argparse
import os
import sys
import time
from pathlib import Path

import equinox as eqx
import jax
import numpy as np
from _mnist_models import train_mnist_models
from _timing import machine, timed

import adprf
from adprf.attacks import (
    APGD,
    DLR,
    CrossEntropy,
    Margin,
    Square,
    SuiteAttack,
    TargetedDLR,
    evaluate_robustness,
    linf,
    robust_accuracy,
    suite_attacks,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # ART's JAX classifier is the tests' oracle
from _art_oracle import art_apgd, art_classifier, art_square  # pyright: ignore[reportMissingImports]

GOAL = 10.0


def settings(budget, eps):
    """(APGD steps, target classes, Square queries) of the suite at `budget`."""
    attacks, _ = suite_attacks(budget, 10, linf(eps))
    by_name = {a.name: a for a in attacks}
    square = by_name["Square"].method
    assert isinstance(square, Square)
    return by_name["APGD-CE"].method.steps, by_name["APGD-T"].targets, square.queries


class ArtSide:
    """ART's attacks on `model` at ε, judged on (x, y); classifiers built (and compiled) once."""

    def __init__(self, model, x, y, eps, steps, targets, queries):
        self.model, self.x, self.y, self.eps = model, x, y, eps
        self.steps, self.queries = steps, queries
        self.clf = {loss: art_classifier(model, x.shape[1:], 10, loss=loss) for loss in ("ce", "dlr")}
        predict = jax.jit(jax.vmap(model))
        self.predict = lambda a: np.asarray(predict(a)).argmax(axis=1)
        logits = np.array(predict(x))
        logits[np.arange(len(y)), y] = -np.inf
        self.top = np.argsort(-logits, axis=1)[:, :targets]  # as adprf's APGD-T picks its targets
        self.clean = self.predict(x) == y

    def _still_robust(self, index, adversarial):
        delta = np.abs(adversarial - self.x[index]).reshape(len(index), -1).max(axis=1, initial=0.0)
        assert delta.max(initial=0.0) <= self.eps + 1e-6 and adversarial.min() >= 0 and adversarial.max() <= 1
        return self.predict(adversarial) == self.y[index] if len(index) else np.zeros(0, bool)

    def apgd(self, loss, robust=None):
        robust = self.clean.copy() if robust is None else robust
        i = np.flatnonzero(robust)
        adv = art_apgd(
            self.model, self.x[i], self.y[i], self.eps, loss=loss, max_iter=self.steps, classifier=self.clf[loss]
        )
        robust[i] = self._still_robust(i, adv)
        return robust

    def targeted(self, robust=None):
        robust = self.clean.copy() if robust is None else robust
        for j in range(self.top.shape[1]):
            i = np.flatnonzero(robust)
            if i.size:
                adv = art_apgd(
                    self.model,
                    self.x[i],
                    self.top[i, j],
                    self.eps,
                    loss="dlr",
                    targeted=True,
                    max_iter=self.steps,
                    classifier=self.clf["dlr"],
                )
                robust[i] = self._still_robust(i, adv)
        return robust

    def square(self, robust=None):
        robust = self.clean.copy() if robust is None else robust
        i = np.flatnonzero(robust)
        if i.size:
            adv = art_square(
                self.model, self.x[i], self.y[i], self.eps, max_iter=self.queries - 1, classifier=self.clf["ce"]
            )
            robust[i] = self._still_robust(i, adv)
        return robust

    def suite(self):
        return self.square(self.targeted(self.apgd("ce")))

    def counted(self, run):
        """`run`'s robust accuracy and the (gradient, forward-only) evaluations it spent."""
        for clf in self.clf.values():
            clf.gradient_rows = clf.forward_rows = 0
        accuracy = float(np.mean(run()))
        return accuracy, (
            sum(c.gradient_rows for c in self.clf.values()),
            sum(c.forward_rows for c in self.clf.values()),
        )


def adprf_runs(model, x, y, eps, budget, key):
    """adprf's row functions: each returns (robust accuracy, (gradient, forward-only) evaluations)."""
    steps, targets, queries = settings(budget, eps)

    def single(method, objective):
        r = robust_accuracy(model, x, y, [eps], method, objective=objective, key=key)
        evaluations = int(np.sum(np.asarray(r.gradient_evaluations)))
        return float(r.accuracy[0]), ((evaluations, 0) if method.uses_gradient else (0, evaluations))

    def apgd_t():
        attack = SuiteAttack("APGD-T", APGD(steps=steps, restarts=targets), TargetedDLR(), targets=targets)
        r = evaluate_robustness(model, x, y, [eps], key=key, attacks=[attack])
        return float(r.accuracy[0]), (sum(r.evaluations), 0)

    def suite():
        r = evaluate_robustness(model, x, y, [eps], key=key, budget=budget)
        grads = sum(e for e, name in zip(r.evaluations, r.attacks) if name != "Square")
        return float(r.accuracy[0]), (grads, sum(r.evaluations) - grads)

    return {
        "APGD-CE": lambda: single(APGD(steps=steps), CrossEntropy()),
        "APGD-DLR": lambda: single(APGD(steps=steps), DLR()),
        "APGD-T": apgd_t,
        "Square": lambda: single(Square(queries=queries), Margin()),
        "suite": suite,
    }


def rows_for(name, model, x, y, args):
    steps, targets, queries = settings(args.budget, args.epsilon)
    art = ArtSide(model, np.asarray(x), np.asarray(y), args.epsilon, steps, targets, queries)
    ours = adprf_runs(model, x, y, args.epsilon, args.budget, jax.random.PRNGKey(args.seed))
    theirs = {
        "APGD-CE": lambda: art.counted(lambda: art.apgd("ce")),
        "APGD-DLR": lambda: art.counted(lambda: art.apgd("dlr")),
        "APGD-T": lambda: art.counted(art.targeted),
        "Square": lambda: art.counted(art.square),
        "suite": lambda: art.counted(art.suite),
    }
    rows = []
    for attack in ours:
        a_first, a_med, (a_acc, a_evals) = timed(ours[attack], args.repeats)
        b_first, b_med, (b_acc, b_evals) = timed(theirs[attack], args.repeats)
        rows.append(
            dict(
                model=name,
                attack=attack,
                adprf_s=a_med,
                art_s=b_med,
                compile=a_first - a_med,
                adprf_evals=a_evals,
                art_evals=b_evals,
                adprf_acc=a_acc,
                art_acc=b_acc,
            )
        )
        print(f"  done: {name} {attack}: adprf {a_med:.3f} s, ART {b_med:.3f} s", flush=True)
    return rows


def _evals(pair):
    grads, forwards = pair
    return f"{grads:,} / {forwards:,}"


def print_table(rows, tolerance):
    print(
        "\n| model | attack | adprf s | ART s | ART/adprf | adprf compile s | grad / fwd evals adprf | ART "
        "| robust acc adprf | ART | goal | verdict |"
    )
    print("|" + "---|" * 12)
    oks = []
    for r in rows:
        ratio = r["art_s"] / r["adprf_s"]
        ok = ratio >= GOAL and r["adprf_acc"] <= r["art_acc"] + tolerance / 100 + 1e-9
        oks.append(ok)
        print(
            f"| {r['model']} | {r['attack']} | {r['adprf_s']:.3f} | {r['art_s']:.2f} | {ratio:.1f}× "
            f"| {r['compile']:.1f} | {_evals(r['adprf_evals'])} | {_evals(r['art_evals'])} "
            f"| {100 * r['adprf_acc']:.1f}% | {100 * r['art_acc']:.1f}% "
            f"| ≥ {GOAL:g}×, acc ≤ ART{f' + {tolerance:g}' if tolerance else ''} | {'PASS' if ok else 'FAIL'} |"
        )
    return oks


def main():
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    p.add_argument("--images", type=int, default=500, help="MNIST test images attacked (≤ 1000)")
    p.add_argument("--budget", choices=["standard", "fast"], default="standard")
    p.add_argument("--epsilon", type=float, default=0.1, help="the L∞ radius")
    p.add_argument("--repeats", type=int, default=3, help="timed runs after the warm-up (median reported)")
    p.add_argument("--cnn", action="store_true", help="also the Madry CNN (slow on a CPU, for ART above all)")
    p.add_argument("--epochs-mlp", type=int, default=5)
    p.add_argument("--epochs-cnn", type=int, default=1)
    p.add_argument("--tolerance", type=float, default=0.0, help="points adprf's robust accuracy may exceed ART's")
    p.add_argument("--seed", type=int, default=0, help="adprf's key; ART's NumPy seed is 0")
    args = p.parse_args()
    if not (1 <= args.images <= 1000 and args.repeats >= 1 and args.epsilon > 0):
        p.error("--images must be in [1, 1000], --repeats ≥ 1, --epsilon > 0")
    import art

    print(machine(equinox=eqx.__version__, adprf=adprf.__version__, ART=art.__version__))
    steps, targets, queries = settings(args.budget, args.epsilon)
    print(
        f"L∞ ε = {args.epsilon}, box [0, 1], {args.images} images, budget {args.budget}: APGD {steps} steps, "
        f"{targets} target classes, Square {queries} queries; 1 warm-up + {args.repeats} timed runs, median\n"
    )
    t0 = time.perf_counter()
    models, test = train_mnist_models({"MLP": args.epochs_mlp, **({"CNN": args.epochs_cnn} if args.cnn else {})})
    x, y = test.images[: args.images], np.asarray(test.labels[: args.images])
    rows = []
    for name, model in models.items():
        rows += rows_for(name, model, x, y, args)
    oks = print_table(rows, args.tolerance)
    print(
        "\n(evaluations: grad = value and gradient, fwd = forward only; ART's APGD-T row is its targeted APGD with "
        "the DLR at the target class, not AutoAttack's targeted DLR)"
    )
    print(f"\ngoal (adprf ≥ {GOAL:g}× faster at equal or lower robust accuracy): {'PASS' if all(oks) else 'FAIL'}")
    print(f"wall time {time.perf_counter() - t0:.0f} s (load average at the end {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
