"""digits-boundary-tilting: a linear SVM on two principal components of MNIST 3s and 7s, with
and without the boundary-tilting perturbation.

Rademaker et al. 2019, v1 figure "boundary tilting for digits", the machine-learning
illustration of boundary tilting (Tanay & Griffin 2016): the images of 3s and 7s, standardised by
the global pixel mean and standard deviation, are perturbed by ∓ε · sign(mean₃ − mean₇) (3s pushed
towards the mean 7 and 7s towards the mean 3, every pixel by ε). For ε_train, ε_test ∈ {0, 0.4}: a
PCA fitted on the clean and the perturbed training images projects to 2 components, a linear SVM
(`sklearn.svm.LinearSVC`) is trained there on the perturbed training images (the clean ones for
ε_train = 0, as in v1), and it is scored on the clean or perturbed test images. A classifier
trained on clean data puts its boundary across the direction the perturbation moves along and
fails on perturbed data; training on perturbed data tilts the boundary.

This experiment uses scikit-learn, not the attack engine: the perturbation is fixed, not
optimised. Choices: the global mean and standard deviation, and the perturbation direction
sign(mean₃ − mean₇), come from the training split (v1 took the direction for the test
perturbation from the test split); the split is the data set's own train/test split (v1 drew a
random 80/20 split).
"""

from dataclasses import dataclass
from typing import cast

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..data import Dataset, load_dataset
from ._experiment import AbstractConfig, Experiment, Rendered, Table
from ._registry import register


@dataclass(frozen=True, kw_only=True)
class Config(AbstractConfig):
    """`digits` of `dataset`, perturbed by every ε of `epsilons` (both for training and for
    testing), projected on `components` principal components; `seed` is the `random_state` of
    the PCA solver and of the SVM; at most `limit` images of the two digits per split (None: all)."""

    dataset: str
    digits: tuple[int, int] = (3, 7)
    epsilons: tuple[float, ...] = (0.0, 0.4)
    components: int = 2
    seed: int = 0
    limit: int | None = None


def two_digits(dataset: Dataset, digits: tuple[int, int], limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The flattened images (float64) and labels of the two `digits`, at most `limit` of them."""
    keep = np.flatnonzero(np.isin(dataset.labels, digits))[:limit]
    return dataset.images[keep].reshape(len(keep), -1).astype(np.float64), dataset.labels[keep]


def tilt(
    images: np.ndarray, labels: np.ndarray, direction: np.ndarray, epsilon: float, digits: tuple[int, int]
) -> np.ndarray:
    """The boundary-tilting perturbation: images of `digits[0]` move by −ε · direction, those of
    `digits[1]` by +ε · direction (with direction = sign(mean of digits[0] − mean of digits[1]),
    each class moves towards the other's mean)."""
    sign = np.where(labels == digits[0], -1.0, np.where(labels == digits[1], 1.0, 0.0))
    return images + epsilon * sign[:, None] * direction[None, :]


def _panel(pca, svm, x_test, y_test, direction, eps_train: float, eps_test: float, digits) -> dict:
    """One (ε_train, ε_test) panel: the test score, the 2-D test points, the class means and the SVM line."""
    points = pca.transform(tilt(x_test, y_test, direction, eps_test, digits))
    score = float(svm.score(points, y_test))
    means = pca.transform(
        np.stack([tilt(x_test[y_test == d], y_test[y_test == d], direction, eps_test, digits).mean(0) for d in digits])
    )
    return {
        "eps_train": eps_train,
        "eps_test": eps_test,
        "points": points,
        "means": means,
        "coef": svm.coef_[0],
        "intercept": float(svm.intercept_[0]),
        "score": score,
    }


def boundary_tilting(
    train: Dataset,
    test: Dataset,
    *,
    digits: tuple[int, int] = (3, 7),
    epsilons=(0.0, 0.4),
    components: int = 2,
    seed: int = 0,
    limit: int | None = None,
) -> dict:
    """Fit PCA + linear SVM for every ε_train and score it at every ε_test.

    **Arguments:**
    - `train`, `test`: `Dataset`s (pixels in [0, 1]).
    - `digits`: the two classes.
    - `epsilons`: the perturbation sizes, used for both training and testing.
    - `components`: principal components kept.
    - `seed`: `random_state` of the PCA solver and of `LinearSVC`.
    - `limit`: at most this many training and test images of the two digits (None: all).

    **Returns:** a dict with `scores[i][j]` (ε_train = epsilons[i], ε_test = epsilons[j]), the
    2-D test points and class means of every panel, the SVM lines, the data sizes and the
    chance level (the larger class's share of the test images).
    """
    from sklearn.decomposition import PCA  # here, not at import: scikit-learn takes 1 s to load
    from sklearn.svm import LinearSVC

    x_train, y_train = two_digits(train, digits, limit)
    x_test, y_test = two_digits(test, digits, limit)
    if len(np.unique(y_train)) != 2 or len(np.unique(y_test)) != 2:
        raise ValueError(
            f"both splits need images of both digits {digits}; got {np.unique(y_train)} and {np.unique(y_test)}"
        )
    all_train = train.images.reshape(len(train), -1).astype(np.float64)
    mean, std = all_train.mean(), all_train.std()
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    direction = np.sign(x_train[y_train == digits[0]].mean(0) - x_train[y_train == digits[1]].mean(0))
    scores, panels = [], []
    for eps_train in epsilons:
        perturbed_train = tilt(x_train, y_train, direction, eps_train, digits)
        pca = PCA(components, random_state=seed).fit(np.concatenate([x_train, perturbed_train]))
        svm = LinearSVC(random_state=seed).fit(pca.transform(perturbed_train), y_train)
        row = [_panel(pca, svm, x_test, y_test, direction, eps_train, eps_test, digits) for eps_test in epsilons]
        panels += row
        scores.append([panel["score"] for panel in row])
    chance = float(max(np.mean(y_test == d) for d in digits))
    return {
        "scores": scores,
        "panels": panels,
        "labels": y_test,
        "sizes": {"train": len(y_train), "test": len(y_test)},
        "chance": chance,
        "standardisation": {"mean": float(mean), "std": float(std)},
        "direction": direction,
    }


def compute(run, cfg: Config) -> dict:
    """The scores and panels of `boundary_tilting`, the data source, and the standardised mean
    training image of each digit (for the figure of the perturbation)."""
    train, test = load_dataset(cfg.dataset, "train"), load_dataset(cfg.dataset, "test")
    result = boundary_tilting(
        train,
        test,
        digits=cfg.digits,
        epsilons=[float(e) for e in cfg.epsilons],
        components=cfg.components,
        seed=cfg.seed,
        limit=cfg.limit,
    )
    mean, std = result["standardisation"]["mean"], result["standardisation"]["std"]
    class_means = [((train.images[train.labels == d].reshape(-1, 784) - mean) / std).mean(0) for d in cfg.digits]
    return {**result, "epsilons": [float(e) for e in cfg.epsilons], "source": train.source, "class_means": class_means}


def score_note(scores: list[list[float]], epsilons: list[float]) -> str:
    """The four corner scores: trained clean or perturbed (largest ε), tested clean or perturbed."""
    return (
        f"Trained clean: {scores[0][0]:.3f} on clean test images, {scores[0][-1]:.3f} on perturbed ones "
        f"(ε = {epsilons[-1]:g}); trained perturbed: {scores[-1][0]:.3f} clean, {scores[-1][-1]:.3f} perturbed."
    )


def _plot(facts: dict, digits, title: str) -> Figure:
    epsilons, n = facts["epsilons"], len(facts["epsilons"])
    fig = Figure(figsize=(4.2 * n, 3.8 * n))
    axes = fig.subplots(n, n, squeeze=False)
    labels = np.asarray(facts["labels"])
    everything = np.concatenate([np.asarray(p["points"]) for p in facts["panels"]])
    lo, hi = everything.min(0), everything.max(0)
    for panel in facts["panels"]:
        ax = cast(Axes, axes[epsilons.index(panel["eps_test"]), epsilons.index(panel["eps_train"])])
        points = np.asarray(panel["points"])
        for digit, colour in zip(digits, ("tab:blue", "tab:red")):
            pts = points[labels == digit]
            ax.scatter(pts[:, 0], pts[:, 1], s=2, alpha=0.5, color=colour, label=f"{digit}s")
        for mean, colour in zip(panel["means"], ("darkblue", "darkred")):
            ax.scatter(*mean, marker="*", s=150, color=colour, edgecolor="white")
        (w0, w1), b = panel["coef"], panel["intercept"]
        ys = np.array([lo[1], hi[1]])
        if abs(w0) > 1e-12:
            ax.plot(-(w1 * ys + b) / w0, ys, color="k", lw=1.2)
        ax.set(xlim=(lo[0], hi[0]), ylim=(lo[1], hi[1]), xticks=[], yticks=[])
        ax.set_title(
            f"ε_train = {panel['eps_train']:g}, ε_test = {panel['eps_test']:g}: score {panel['score']:.3f}", fontsize=9
        )
    for row, eps in enumerate(epsilons):
        axes[row, 0].set_ylabel(f"ε_test = {eps:g}\nPC 2")
    for col in range(n):
        axes[-1, col].set_xlabel("PC 1")
    axes[0, 0].legend(fontsize=8, markerscale=4)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def _plot_perturbation(facts: dict, digits) -> Figure:
    epsilon, direction = max(facts["epsilons"]), np.asarray(facts["direction"])
    fig = Figure(figsize=(4, 4.3))
    axes = fig.subplots(2, 2)
    for col, (digit, sign, image) in enumerate(zip(digits, (-1.0, 1.0), facts["class_means"])):
        image = np.asarray(image)
        moved = f"mean {digit} {'−' if sign < 0 else '+'} {epsilon:g}·sign(δ)"
        for row, (shown, label) in enumerate([(image, f"mean {digit}"), (image + sign * epsilon * direction, moved)]):
            axes[row, col].imshow(shown.reshape(28, 28), cmap="gray", vmin=-1.5, vmax=2.5)
            axes[row, col].set_title(label, fontsize=8)
            axes[row, col].axis("off")
    fig.suptitle(f"δ = mean {digits[0]} − mean {digits[1]} (standardised pixels)", fontsize=9)
    fig.tight_layout()
    return fig


def render(cfg: Config, facts: dict) -> Rendered:
    digits, epsilons, sizes = cfg.digits, facts["epsilons"], facts["sizes"]
    title = (
        f"Boundary tilting for {digits[0]}s vs {digits[1]}s ({facts['source']}: {sizes['train']} train / "
        f"{sizes['test']} test images), PCA to {cfg.components} components + linear SVM"
    )
    rows = [[f"ε_train = {e:g}", *[round(s, 4) for s in row]] for e, row in zip(epsilons, facts["scores"])]
    summary = (
        f"MNIST {digits[0]} vs {digits[1]} ({facts['source']}), pixels standardised by the global mean and std "
        f"of the training split; perturbation ∓ε · sign(mean {digits[0]} − mean {digits[1]}) ({digits[0]}s "
        f"towards {digits[1]}s and vice versa); PCA fitted on clean + perturbed training images, "
        f"{cfg.components} components; linear SVM trained on the perturbed training images; test accuracy."
    )
    notes = [
        score_note(facts["scores"], epsilons),
        f"Chance (the larger class's share of the test images) is {facts['chance']:.3f}.",
        "Stars: the class means of the test images (perturbed ones in the ε_test > 0 row).",
    ]
    table = Table(
        "Test accuracy of the linear SVM on 2 principal components",
        ["training", *[f"ε_test = {e:g}" for e in epsilons]],
        rows,
    )
    return Rendered(
        summary=summary,
        tables=[table],
        figures={
            "boundary_tilting.png": _plot(facts, digits, title),
            "perturbation.png": _plot_perturbation(facts, digits),
        },
        notes=notes,
    )


EXPERIMENT = register(
    Experiment(
        name="digits-boundary-tilting",
        title="Boundary tilting for digits: PCA + linear SVM on MNIST 3s vs 7s, with and without perturbation",
        paper="Rademaker et al. 2019, v1 fig. 'boundary tilting for digits'",
        presets={"quick": Config(dataset="mnist-subset"), "paper": Config(dataset="mnist")},
        compute=compute,
        render=render,
        tags=("ml", "boundary-tilting"),
    )
)
