"""The numbers Yuezhang, Li & Chen published for the simulated cerebellum ("Evaluating
Adversarial Robustness in Simulated Cerebellum", PMLR 148:33–50, 2021), which the cerebellum
experiments print beside their own.

All MNIST numbers are accuracies in % on the full MNIST test set (models trained on the
60,000 training images, mean of seeds 0 and 123), in the order of `TABLE_COLUMNS`: clean
test accuracy, then L∞ FGSM and PGD-40 (MSE loss) at ε = 0.1 and ε = 0.3.
"""

from typing import NamedTuple

PAPER_EPSILONS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)
"""The L∞ radii of the paper's MNIST robustness curves (Yuezhang et al. 2021, Tables 1–3)."""

TABLE_COLUMNS = ("Test", "FGSM .1", "FGSM .3", "PGD .1", "PGD .3")
"""The columns of the paper's MNIST tables (Yuezhang et al. 2021, Tables 1–3)."""

SYNAPSE_BUDGET = 4.8e6
"""The sparsity sweep's synapse count: m = ⌊4.8·10⁶ / (k + 20)⌋ (Yuezhang et al. 2021, Table 2)."""


class PaperRow(NamedTuple):
    """One model's row of a paper table (%), in the order of `TABLE_COLUMNS`."""

    test: float
    fgsm_small: float
    fgsm_large: float
    pgd_small: float
    pgd_large: float


class PaperPair(NamedTuple):
    """A model's row without and with LTD; indexing by the bool `ltd` picks the right one."""

    without_ltd: PaperRow
    with_ltd: PaperRow


def _pair(without: tuple, with_: tuple) -> PaperPair:
    return PaperPair(PaperRow(*without), PaperRow(*with_))


PAPER_WIDTH = {
    1000: _pair((94.1, 20.4, 10.5, 9.0, 1.3), (94.4, 21.2, 10.9, 9.5, 1.4)),
    2000: _pair((95.4, 27.6, 14.2, 13.8, 1.8), (95.6, 29.7, 15.6, 12.3, 1.4)),
    5000: _pair((96.3, 37.5, 20.1, 15.7, 1.3), (96.6, 41.8, 21.2, 14.4, 1.3)),
    10000: _pair((96.8, 38.4, 18.8, 16.4, 1.0), (97.0, 48.3, 22.6, 13.0, 1.0)),
    20000: _pair((97.1, 42.9, 21.1, 16.2, 0.9), (97.3, 55.7, 28.2, 16.1, 1.0)),
    50000: _pair((97.2, 43.9, 22.1, 15.6, 0.6), (97.3, 59.2, 29.2, 16.2, 0.8)),
    100000: _pair((97.2, 45.6, 23.1, 15.3, 0.7), (97.3, 61.0, 29.4, 17.8, 0.8)),
    200000: _pair((97.1, 45.2, 22.9, 15.3, 0.6), (97.4, 62.0, 30.4, 19.6, 0.7)),
}
"""Yuezhang et al. 2021, Table 1: dense (FC) granule layers, granule count m → rows without and
with LTD (batch 50)."""

PAPER_SPARSITY = {
    784: _pair((96.5, 33.8, 15.9, 13.9, 1.3), (96.9, 42.4, 20.4, 13.2, 0.9)),
    200: _pair((97.1, 43.6, 22.3, 15.1, 1.0), (97.2, 55.6, 27.4, 14.8, 0.8)),
    50: _pair((97.2, 46.1, 23.9, 16.3, 0.6), (97.3, 60.0, 29.3, 17.6, 0.6)),
    10: _pair((96.7, 44.2, 19.5, 12.1, 0.2), (96.9, 60.2, 24.5, 24.4, 0.3)),
    4: _pair((96.0, 48.3, 18.2, 17.6, 0.5), (96.1, 62.0, 23.4, 55.8, 4.9)),
    2: _pair((94.2, 54.2, 14.9, 24.2, 2.0), (94.5, 61.4, 19.4, 57.3, 16.0)),
    1: _pair((85.8, 68.4, 28.3, 20.2, 9.7), (86.6, 70.1, 33.1, 33.6, 17.7)),
}
"""Yuezhang et al. 2021, Table 2: random-sparse (RC) granule layers, k inputs per cell at
m = ⌊4.8·10⁶/(k + 20)⌋ → rows without and with LTD (batch 50)."""

PAPER_ABLATION_CNN = PaperRow(99.2, 77.6, 8.4, 48.2, 0.0)
"""Yuezhang et al. 2021, Table 3: the natural CNN baseline."""

PAPER_ABLATION_BASE = _pair((96.5, 36.8, 18.1, 14.8, 1.2), (96.7, 44.2, 21.8, 14.5, 1.2))
"""Yuezhang et al. 2021, Table 3: the dense base model (m = 5970) without and with LTD; its sparse
rows are those of `PAPER_SPARSITY[4]`."""

PAPER_BATCH1_LTD_PGD = {4: 95.2, 2: 94.1, 10: 88.3, 1: 55.6}
"""Yuezhang et al. 2021, appendix (batch size 1): PGD accuracy at ε = 0.1 (%) of the RC + LTD
models by k; without LTD the paper reports 15–34 % (`PAPER_BATCH1_NO_LTD_PGD`)."""

PAPER_BATCH1_NO_LTD_PGD = "15–34"
"""Yuezhang et al. 2021, appendix (batch size 1): the range of PGD accuracy at ε = 0.1 (%) without LTD."""
