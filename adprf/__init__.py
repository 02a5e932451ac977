"""adprf: adversarial attacks on biological decision-makers, in JAX.

The public API is re-exported here; submodules: `adprf.attacks` (the engine),
`adprf.nets` (classifiers and training), `adprf.data` (MNIST and friends),
`adprf.experiments` (registered paper reproductions), `adprf.cells` (cellular decision
models of ligand distributions, `adprf.Ligands`), `adprf.analysis` (antagonism, critical
points and regimes), `adprf.cerebellum` (granule–Purkinje networks and their training),
`adprf.sharding` (batched work split across devices), `adprf.distributed` (several hosts).

Citations: "Rademaker et al. 2019" (Phys. Rev. X 9, 031012), "Yuezhang et al. 2021" (PMLR 148),
and "v1": the protocols of the public figure scripts of the first arXiv version of Rademaker et
al. (arXiv:1807.04270v1, 2018), which adprf follows exactly. The documentation's "Papers and
protocols" page (docs/papers.md) describes them and what each experiment reproduces.
"""

__version__ = "0.1.0"

from . import (
    analysis as analysis,
    attacks as attacks,
    cells as cells,
    cerebellum as cerebellum,
    distributed as distributed,
    sharding as sharding,
)
from ._compilation_cache import (
    compilation_cache_dir as compilation_cache_dir,
    enable_compilation_cache as enable_compilation_cache,
)
from ._ligands import (
    Ligands as Ligands,
    agonists as agonists,
    antagonists as antagonists,
    concatenate as concatenate,
    ligand_image as ligand_image,
    self_ligands as self_ligands,
    v1_mixture as v1_mixture,
)
from ._solution import RESULTS as RESULTS
from .attacks import (
    FGSM as FGSM,
    PGD as PGD,
    GradientDescent as GradientDescent,
    Minimal as Minimal,
    attack as attack,
    l2 as l2,
    linf as linf,
    robust_accuracy as robust_accuracy,
)
