"""digits-boundary-tilting: a linear SVM on two principal components of MNIST 3s and 7s, with
and without the boundary-tilting perturbation.

Rademaker et al. 2019, v1 figure "boundary tilting for digits" (SPEC §3), the machine-learning
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

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from sklearn.decomposition import PCA
from sklearn.svm import LinearSVC

from .._results import Run
from ..data import load_dataset
from ._registry import LegacyExperiment as Experiment, register


def two_digits(dataset, digits: tuple[int, int], limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
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


def boundary_tilting(
    train, test, *, digits=(3, 7), epsilons=(0.0, 0.4), components: int = 2, seed: int = 0, limit: int | None = None
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
        row = []
        for eps_test in epsilons:
            points = pca.transform(tilt(x_test, y_test, direction, eps_test, digits))
            row.append(float(svm.score(points, y_test)))
            means = pca.transform(
                np.stack(
                    [
                        tilt(x_test[y_test == d], y_test[y_test == d], direction, eps_test, digits).mean(0)
                        for d in digits
                    ]
                )
            )
            panels.append(
                {
                    "eps_train": eps_train,
                    "eps_test": eps_test,
                    "points": points,
                    "means": means,
                    "coef": svm.coef_[0],
                    "intercept": float(svm.intercept_[0]),
                    "score": row[-1],
                }
            )
        scores.append(row)
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


def _plot(result: dict, digits, epsilons, title: str):
    n = len(epsilons)
    fig, axes = plt.subplots(n, n, figsize=(4.2 * n, 3.8 * n), squeeze=False)
    labels = result["labels"]
    everything = np.concatenate([p["points"] for p in result["panels"]])
    lo, hi = everything.min(0), everything.max(0)
    for panel in result["panels"]:
        ax = axes[epsilons.index(panel["eps_test"]), epsilons.index(panel["eps_train"])]
        for digit, colour in zip(digits, ("tab:blue", "tab:red")):
            pts = panel["points"][labels == digit]
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


def _plot_perturbation(train, result: dict, digits, epsilon: float):
    mean, std = result["standardisation"]["mean"], result["standardisation"]["std"]
    fig, axes = plt.subplots(2, 2, figsize=(4, 4.3))
    for col, (digit, sign) in enumerate(zip(digits, (-1.0, 1.0))):
        image = ((train.images[train.labels == digit].reshape(-1, 784) - mean) / std).mean(0)
        for row, (shown, label) in enumerate(
            [
                (image, f"mean {digit}"),
                (
                    image + sign * epsilon * result["direction"],
                    f"mean {digit} {'−' if sign < 0 else '+'} {epsilon:g}·sign(δ)",
                ),
            ]
        ):
            axes[row, col].imshow(shown.reshape(28, 28), cmap="gray", vmin=-1.5, vmax=2.5)
            axes[row, col].set_title(label, fontsize=8)
            axes[row, col].axis("off")
    fig.suptitle(f"δ = mean {digits[0]} − mean {digits[1]} (standardised pixels)", fontsize=9)
    fig.tight_layout()
    return fig


def run(run: Run) -> dict:
    cfg = run.config
    digits, epsilons = tuple(cfg["digits"]), [float(e) for e in cfg["epsilons"]]
    train, test = load_dataset(cfg["dataset"], "train"), load_dataset(cfg["dataset"], "test")
    result = boundary_tilting(
        train,
        test,
        digits=digits,
        epsilons=epsilons,
        components=cfg["components"],
        seed=cfg["seed"],
        limit=cfg["limit"],
    )
    sizes = result["sizes"]
    title = (
        f"Boundary tilting for {digits[0]}s vs {digits[1]}s ({train.source}: {sizes['train']} train / "
        f"{sizes['test']} test images), PCA to {cfg['components']} components + linear SVM"
    )
    run.save_figure(_plot(result, digits, epsilons, title), "boundary_tilting.png")
    run.save_figure(_plot_perturbation(train, result, digits, max(epsilons)), "perturbation.png")
    scores = result["scores"]
    rows = [[f"ε_train = {e:g}", *[round(s, 4) for s in row]] for e, row in zip(epsilons, scores)]
    summary = (
        f"MNIST {digits[0]} vs {digits[1]} ({train.source}), pixels standardised by the global mean and std "
        f"of the training split; perturbation ∓ε · sign(mean {digits[0]} − mean {digits[1]}) ({digits[0]}s "
        f"towards {digits[1]}s and vice versa); PCA fitted on clean + perturbed training images, "
        f"{cfg['components']} components; linear SVM trained on the perturbed training images; test accuracy."
    )
    clean, attacked = scores[0][0], scores[0][-1]
    notes = [
        f"Trained clean: {clean:.3f} on clean test images, {attacked:.3f} on perturbed ones (ε = {epsilons[-1]:g}); "
        f"trained perturbed: {scores[-1][0]:.3f} clean, {scores[-1][-1]:.3f} perturbed.",
        f"Chance (the larger class's share of the test images) is {result['chance']:.3f}.",
        "Stars: the class means of the test images (perturbed ones in the ε_test > 0 row).",
    ]
    return {
        "summary": summary,
        "tables": [
            {
                "title": "Test accuracy of the linear SVM on 2 principal components",
                "columns": ["training", *[f"ε_test = {e:g}" for e in epsilons]],
                "rows": rows,
            }
        ],
        "numbers": {
            "scores": scores,
            "epsilons": epsilons,
            "sizes": sizes,
            "chance": result["chance"],
            "standardisation": result["standardisation"],
        },
        "notes": notes,
    }


_COMMON = {"digits": [3, 7], "epsilons": [0.0, 0.4], "components": 2, "seed": 0, "limit": None}

register(
    Experiment(
        name="digits-boundary-tilting",
        title="Boundary tilting for digits: PCA + linear SVM on MNIST 3s vs 7s, with and without perturbation",
        paper="Rademaker et al. 2019, v1 fig. 'boundary tilting for digits'",
        presets={
            "quick": {**_COMMON, "dataset": "mnist-subset"},
            "paper": {**_COMMON, "dataset": "mnist"},
        },
        run=run,
        tags=("ml", "boundary-tilting"),
    )
)
