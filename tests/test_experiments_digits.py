"""digits-boundary-tilting's verdict sentence on hand-made scores (the experiment end to end,
against scikit-learn, is in test_experiments_ligands.py)."""

from adprf.experiments._digits_boundary_tilting import score_note


def test_score_note_reads_the_four_corners():
    note = score_note([[0.96, 0.9, 0.695], [0.5, 0.5, 0.5], [0.955, 0.9, 0.82]], [0.0, 0.2, 0.4])
    assert note == (
        "Trained clean: 0.960 on clean test images, 0.695 on perturbed ones (ε = 0.4); "
        "trained perturbed: 0.955 clean, 0.820 perturbed."
    )
