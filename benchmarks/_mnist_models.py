"""The MNIST classifiers the attack benchmarks time (imported as
`from _mnist_models import train_mnist_models`)."""

import time

import jax

from adprf.data import load_mnist_subset
from adprf.nets import MLP, MadryCNN, accuracy, train_classifier

ARCHITECTURES = {"mlp": MLP, "cnn": MadryCNN}


def train_mnist_models(epochs: dict[str, int]):
    """Each architecture named in `epochs` ("mlp" or "cnn", any case) trained for its epochs on
    the embedded MNIST subset with fixed keys, its clean test accuracy printed.

    **Returns:** ({name: model}, the test split).
    """
    train, test = load_mnist_subset("train"), load_mnist_subset("test")
    models = {}
    for name, n_epochs in epochs.items():
        t0 = time.perf_counter()
        model, _ = train_classifier(
            ARCHITECTURES[name.lower()](key=jax.random.PRNGKey(0)),
            train.images,
            train.labels,
            key=jax.random.PRNGKey(1),
            epochs=n_epochs,
            progress=False,
        )
        acc = accuracy(model, test.images, test.labels)
        seconds = time.perf_counter() - t0
        print(f"trained {name} ({n_epochs} epochs, {seconds:.0f} s): clean test accuracy {100 * acc:.1f}%", flush=True)
        models[name] = model
    return models, test
