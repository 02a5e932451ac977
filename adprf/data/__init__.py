"""Data sets: MNIST, its 5,000-image subset, Fashion-MNIST, CIFAR-10; IDX files; downloads.

`load_dataset(name, split)` is the entry point; `adprf data fetch mnist` (or
`fetch("mnist")`) downloads full MNIST into `data_dir()`, `adprf data fetch
cifar10` (or `fetch_cifar10()`) CIFAR-10. A missing data set raises
`DataAbsent`, never a silent substitute. `inspect_dataset(name)` says whether a
data set is present, partial, corrupt or absent (`adprf data info`), and
`fingerprint(name)` identifies its content, for results' provenance.
"""

from ._cifar import (
    CIFAR10_CLASSES as CIFAR10_CLASSES,
    cifar10_available as cifar10_available,
    fetch_cifar10 as fetch_cifar10,
    load_cifar10 as load_cifar10,
)
from ._dataset import Dataset as Dataset
from ._fetch import DATASETS as DATASETS, data_dir as data_dir, fetch as fetch
from ._fingerprint import DataFingerprint as DataFingerprint, fingerprint as fingerprint
from ._idx import DataAbsent as DataAbsent, DataError as DataError, read_idx as read_idx, write_idx as write_idx
from ._mnist import (
    DATASET_NAMES as DATASET_NAMES,
    SubsetFallbackWarning as SubsetFallbackWarning,
    load_dataset as load_dataset,
    load_fashion_mnist as load_fashion_mnist,
    load_mnist as load_mnist,
    load_mnist_subset as load_mnist_subset,
)
from ._status import DataStatus as DataStatus, FileStatus as FileStatus, inspect_dataset as inspect_dataset
