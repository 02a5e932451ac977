"""Data sets: MNIST, its 5,000-image subset, Fashion-MNIST; IDX files; downloads.

`load_dataset(name, split)` is the entry point; `adprf data fetch mnist` (or
`fetch("mnist")`) downloads full MNIST into `data_dir()`.
"""

from .fetch import DATASETS as DATASETS
from .fetch import data_dir as data_dir
from .fetch import fetch as fetch
from .idx import DataError as DataError
from .idx import read_idx as read_idx
from .idx import write_idx as write_idx
from .mnist import Dataset as Dataset
from .mnist import SubsetFallbackWarning as SubsetFallbackWarning
from .mnist import load_dataset as load_dataset
from .mnist import load_fashion_mnist as load_fashion_mnist
from .mnist import load_mnist as load_mnist
from .mnist import load_mnist_subset as load_mnist_subset
