"""`Dataset`: images with their labels, as every loader returns them."""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class Dataset:
    """Images with their labels.

    **Fields:**

    - `images`: float32 pixels in [0, 1], shape (n, h, w) for grey-level images
        ((n, 28, 28) for the MNIST family) or (n, h, w, c) channel-last for colour
        ((n, 32, 32, 3) for CIFAR-10).
    - `labels`: int32 classes in 0..9, shape (n,).
    - `name`: `"mnist"`, `"mnist-subset"`, `"fashion-mnist"` or `"cifar10"`.
    - `split`: `"train"` or `"test"`.
    - `source`: where the data came from, and whether they were MD5-verified.
    """

    images: np.ndarray
    labels: np.ndarray
    name: str
    split: str
    source: str

    def __post_init__(self) -> None:
        if self.images.ndim not in (3, 4) or self.labels.shape != self.images.shape[:1]:
            raise ValueError(f"images {self.images.shape} and labels {self.labels.shape} do not match")

    def __len__(self) -> int:
        return len(self.labels)
