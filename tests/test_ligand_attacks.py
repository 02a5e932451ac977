"""Attacks on ligand distributions through the one engine, against independent oracles.

Oracles: a sort-based NumPy L1 / simplex projection (Duchi et al. 2008), written here; the
closed forms of T_{N,m} (Rademaker et al. 2019: T, fold change, decision boundary L2*); bisection on ε
with a brute-force grid of the worst case; first-order optimality of projections against
random feasible points.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adprf._ligands import Ligands, self_ligands
from adprf.attacks import (
    APGD,
    FGSM,
    PGD,
    Budget,
    GradientDescent,
    L1Ball,
    Mask,
    NonNegative,
    Square,
    ThreatModel,
    add_ligands,
    attack,
    budget,
    l1,
    move_binding_times,
    robust_accuracy,
    turn_off,
    turn_on,
    v1_descent,
    with_candidates,
)
from adprf.cells import AdaptiveProofreading, SHP1Feedback

KEY = jax.random.PRNGKey(0)
TAU_C = 3.0


def _one(ligands):
    return jax.tree.map(lambda a: a[None], ligands)


def _first(tree):
    return jax.tree.map(lambda a: a[0], tree)


def _T(N, m, tau, amount, tau_c=TAU_C):
    """T_{N,m} in float64 NumPy (Rademaker et al. 2019), over the last axis."""
    tau, amount = np.asarray(tau, np.float64), np.asarray(amount, np.float64)
    return np.sum(amount * tau**N, -1) / np.sum(amount * tau**m, -1) / tau_c ** (N - m)


# --- projections against a sort-based oracle --------------------------------------------


def _simplex_oracle(v, s):
    """Euclidean projection of v onto {p ≥ 0, Σp = s} (sort, cumulative sums, threshold)."""
    u = np.sort(v)[::-1]
    css = np.cumsum(u)
    k = np.arange(1, v.size + 1)
    rho = np.nonzero(u - (css - s) / k > 0)[0][-1]
    theta = (css[rho] - s) / (rho + 1.0)
    return np.maximum(v - theta, 0.0)


def _l1_oracle(v, eps):
    if np.sum(np.abs(v)) <= eps:
        return v
    return np.sign(v) * _simplex_oracle(np.abs(v), eps)


def _budget_oracle(v, eps):
    p = np.maximum(v, 0.0)
    return p if p.sum() <= eps else _simplex_oracle(v, eps)


def _flat(tree):
    return np.concatenate([np.ravel(np.asarray(a, np.float64)) for a in jax.tree.leaves(tree)])


@eqx.filter_jit
def _project(ball, x, clean):
    return ball.project(x, clean)


@pytest.mark.parametrize("ball, oracle", [(L1Ball, _l1_oracle), (Budget, _budget_oracle)])
def test_l1_and_budget_projections_match_the_sort_oracle(ball, oracle):
    rng = np.random.default_rng(0)
    for _ in range(12):
        clean = Ligands(jnp.asarray(rng.uniform(0, 4, 7), jnp.float32), jnp.asarray(rng.uniform(0, 2, 7), jnp.float32))
        x = jax.tree.map(lambda a: a + jnp.asarray(rng.normal(size=a.shape) * rng.uniform(0.05, 3), jnp.float32), clean)
        eps = float(rng.choice([0.05, 0.5, 2.0, 50.0]))  # 50: usually inside
        projected = _project(ball(jnp.asarray(eps, jnp.float32)), x, clean)
        delta = _flat(projected) - _flat(clean)
        expected = oracle(_flat(x) - _flat(clean), eps)
        np.testing.assert_allclose(delta, expected, atol=2e-5 * max(1.0, eps))
        assert np.sum(np.abs(delta)) <= eps * (1 + 1e-6)  # never over budget
        if ball is Budget:
            assert np.all(delta >= 0)  # only additions
        # first-order optimality: no feasible point q has <x − p, q − p> > 0
        for _ in range(50):
            q = oracle(rng.normal(size=delta.size) * rng.uniform(0.1, 5), eps)
            assert np.dot(_flat(x) - _flat(clean) - delta, q - delta) <= 1e-4 * max(1.0, eps)


@pytest.mark.parametrize("ball", [L1Ball, Budget])
def test_zero_and_infinite_radius(ball):
    clean = jnp.array([1.0, 2.0, 3.0])
    x = clean + jnp.array([0.5, -0.2, 0.1])
    np.testing.assert_array_equal(ball(jnp.asarray(0.0)).project(x, clean), clean)
    inf = ball(jnp.asarray(jnp.inf)).project(x, clean)
    expected = x if ball is L1Ball else clean + jnp.array([0.5, 0.0, 0.1])
    np.testing.assert_allclose(inf, expected, rtol=1e-7)
    assert np.all(np.isfinite(np.asarray(ball(jnp.asarray(0.0)).random_start(KEY, clean))))


def test_sparse_steepest_ascent():
    g = {"a": jnp.array([0.3, -2.0]), "b": jnp.array([[1.0, 1.9]])}
    d = L1Ball(jnp.asarray(1.0)).steepest_ascent(g)
    flat_g, flat_d = _flat(g), _flat(d)
    assert np.sum(np.abs(flat_d)) == pytest.approx(1.0)
    assert np.dot(flat_g, flat_d) == pytest.approx(np.max(np.abs(flat_g)))  # the dual norm ‖g‖∞
    np.testing.assert_array_equal(flat_d, [0, -1, 0, 0])
    top2 = _flat(L1Ball(jnp.asarray(1.0), coordinates=2).steepest_ascent(g))
    np.testing.assert_allclose(top2, [0, -0.5, 0, 0.5])
    # the budget only adds: the largest positive component, or nothing
    np.testing.assert_array_equal(_flat(Budget(jnp.asarray(1.0)).steepest_ascent(g)), [0, 0, 0, 1])
    np.testing.assert_array_equal(
        _flat(Budget(jnp.asarray(1.0)).steepest_ascent(jax.tree.map(lambda a: -jnp.abs(a), g))), np.zeros(4)
    )


@pytest.mark.parametrize("ball", [L1Ball, Budget])
def test_random_start_is_uniform_in_the_ball(ball):
    """For the uniform law on the d-dimensional L1 ball (or its positive corner) of radius ε,
    ‖δ‖₁/ε is Beta(d, 1): mean d/(d+1). With a support of s coordinates, d = s."""
    clean = jnp.zeros(9)
    support = jnp.array([1, 1, 1, 0, 0, 0, 0, 0, 0], jnp.float32)
    draw = jax.jit(jax.vmap(lambda k: ball(jnp.asarray(2.0)).random_start(k, clean, support)))
    starts = draw(jax.random.split(KEY, 4000))
    starts = np.asarray(starts)
    norms = np.abs(starts).sum(1) / 2.0
    assert np.all(norms <= 1 + 1e-6) and np.all(starts[:, 3:] == 0)
    assert norms.mean() == pytest.approx(3 / 4, abs=0.01)
    if ball is Budget:
        assert np.all(starts >= 0)
    else:
        assert 0.4 < np.mean(starts[:, 0] > 0) < 0.6


def test_l1_minimal_radius_of_a_linear_classifier(linear_problem):
    """Against w·x + b the smallest L1 perturbation is |s| / ‖w‖∞, on the coordinate of largest
    |w|: the sparse FGM step is optimal, so it succeeds just above ε* and cannot below."""
    model, x, y, s = linear_problem
    eps_star = np.abs(np.asarray(s)) / float(jnp.max(jnp.abs(model.w)))
    for i in range(4):
        above = attack(
            model, x[i : i + 1], y[i : i + 1], method=FGSM(), threat=l1(eps_star[i] * 1.002, bounds=None), key=KEY
        )
        below = attack(
            model, x[i : i + 1], y[i : i + 1], method=FGSM(), threat=l1(eps_star[i] * 0.998, bounds=None), key=KEY
        )
        assert bool(above.success[0]) and not bool(below.success[0])
        moved = np.flatnonzero(np.asarray(above.adversarial[0]) != np.asarray(x[i]))
        np.testing.assert_array_equal(moved, [int(jnp.argmax(jnp.abs(model.w)))])


# --- constraints on pytrees --------------------------------------------------------------


def test_reset_acts_on_binding_times_only():
    # out-of-range values, as an attack step may produce: built through the pytree, since the
    # constructor refuses negative binding times and amounts
    lig = jax.tree.unflatten(
        jax.tree.structure(Ligands.of([1.0], [1.0])), [jnp.array([-1.0, 2.0]), jnp.array([-1.0, 3.0])]
    )
    out = NonNegative(reset=0.1, where=lambda x: x.tau)(lig, lig)
    np.testing.assert_allclose(out.tau, [0.1, 2.0])
    np.testing.assert_array_equal(out.amount, [-1.0, 3.0])
    every = NonNegative()(lig, lig)
    np.testing.assert_array_equal(every.amount, [0.0, 3.0])


def test_masks_keep_the_ball_for_what_moves():
    """The amount gradient of T is larger than the τ gradient here: an L1 step must still go to
    a binding time, and fixed coordinates must not eat the radius."""
    lig = Ligands(jnp.array([3.5, 0.5, 1.0]), jnp.array([1.0, 1.0, 1.0]))
    threat = move_binding_times(0.4, tau_c=TAU_C, norm="l1")
    g = jax.tree.unflatten(
        jax.tree.structure(lig), [jnp.array([5.0, -0.2, 0.1]), jnp.array([9.0, 9.0, 9.0])]
    )  # a gradient
    d = threat.steepest_ascent(g, lig)
    np.testing.assert_array_equal(d.tau, [0.0, -1.0, 0.0])
    np.testing.assert_array_equal(d.amount, [0.0, 0.0, 0.0])
    far = Ligands(lig.tau + jnp.array([1.0, 1.0, 0.0]), lig.amount + 5.0)
    p = threat.project(far, lig)
    np.testing.assert_allclose(p.tau, [3.5, 0.9, 1.0], rtol=1e-6)  # full radius on the one that moves
    np.testing.assert_array_equal(p.amount, lig.amount)
    # equal threats built twice compare equal: the compiled attack is reused
    assert jax.tree.structure(move_binding_times(0.1, 3.0)) == jax.tree.structure(move_binding_times(0.2, 3.0))
    assert jax.tree.structure(add_ligands(1.0)) == jax.tree.structure(add_ligands(2.0))


def _undeclared(threat):
    """`threat` with its ligand mask as a plain function of the clean ligands, which declares no
    fixed leaves: the attack loop then selects, steps and projects every leaf at every step."""
    declared = threat.constraints[0].mask
    return eqx.tree_at(lambda t: t.constraints[0], threat, Mask(lambda clean: declared(clean)))


@pytest.mark.parametrize(
    "case, fixed",
    [("descent", [False, True]), ("pgd-restarts", [False, True]), ("add", [True, False])],
)
def test_fixed_leaves_are_carried_through_with_the_same_records(case, fixed):
    """A leaf the threat fixes whole (the amounts when binding times move, the binding times when
    ligands are added) is carried through the loop untouched: the records, adversarials bit for
    bit, equal those of the same mask given as a plain function, which declares nothing."""
    rng = np.random.default_rng(5)
    mixtures = []
    for agonist_tau in np.linspace(3.0, 3.5, 6):  # T_{3,1} from 0.90 to 1.25
        tau = np.concatenate(
            [agonist_tau + 0.1 * rng.normal(size=40), rng.uniform(1.5, 2.9, 12), np.abs(rng.normal(size=8) / 3)]
        )
        mixtures.append(Ligands.of(tau, rng.uniform(0.5, 2.0, tau.size)))
    lig = jax.tree.map(lambda *a: jnp.stack(a), *mixtures)
    model = AdaptiveProofreading(3, 1, tau_c=TAU_C)
    runs = {
        "descent": (GradientDescent(step_size=2.0, steps=300), v1_descent(TAU_C, 0.1), lig),
        "pgd-restarts": (PGD(steps=20, restarts=2), move_binding_times(0.6, tau_c=TAU_C, norm="l2"), lig),
        "add": (PGD(steps=30, random_start=False), add_ligands(20.0), with_candidates(lig, np.linspace(0.5, 2.5, 5))),
    }
    method, threat, x = runs[case]
    assert jax.tree.leaves(threat.fixed_leaves(x)) == fixed
    assert jax.tree.leaves(_undeclared(threat).fixed_leaves(x)) == [False, False]
    carried, projected = (
        attack(model, x, None, method=method, threat=t, objective=turn_off(model), key=KEY)
        for t in (threat, _undeclared(threat))
    )
    assert 0 < int(np.sum(carried.success)) < 6  # successes and failures both compared
    for name in ("success", "distance", "gradient_evaluations"):
        np.testing.assert_array_equal(getattr(carried, name), getattr(projected, name))
    for a, b in zip(jax.tree.leaves(carried.adversarial), jax.tree.leaves(projected.adversarial)):
        assert np.asarray(a).tobytes() == np.asarray(b).tobytes()
    moved = np.asarray(jax.tree.leaves(carried.adversarial)[fixed.index(False)]) != np.asarray(
        jax.tree.leaves(x)[fixed.index(False)]
    )
    assert moved.any()  # the leaf that may move did
    np.testing.assert_array_equal(
        jax.tree.leaves(carried.adversarial)[fixed.index(True)], jax.tree.leaves(x)[fixed.index(True)]
    )


@pytest.mark.parametrize("norm", ["linf", "l2", "l1"])
def test_moved_binding_times_respect_the_threat(norm):
    lig = _mixture(np.random.default_rng(3))
    model = AdaptiveProofreading(2, 1, tau_c=TAU_C)
    eps = 0.3
    res = attack(
        model,
        _one(lig),
        method=PGD(steps=20),
        threat=move_binding_times(eps, tau_c=TAU_C, norm=norm),
        objective=turn_off(model),
        key=KEY,
    )
    adv = _first(res.adversarial)
    delta = np.asarray(adv.tau) - np.asarray(lig.tau)
    order = {"linf": np.inf, "l2": 2, "l1": 1}[norm]
    assert np.linalg.norm(delta, ord=order) <= eps * (1 + 1e-5)
    assert np.all(delta[np.asarray(lig.tau) >= TAU_C] == 0)  # agonists fixed
    assert np.all(np.asarray(adv.tau) >= 0)
    np.testing.assert_array_equal(adv.amount, lig.amount)


# --- sign-FGSM and PGD on τ ---------------------------------------------------------------


def _mixture(rng, n_agonist=280, n_antagonist=80, n_self=40):
    """Agonists τ ~ 4 ± 0.1, antagonists τ ~ U(1.5, 2.9), self |N(0, 1/3)|; amounts U(0.5, 2)."""
    tau = np.concatenate(
        [
            4.0 + 0.1 * rng.normal(size=n_agonist),
            rng.uniform(1.5, 2.9, n_antagonist),
            np.abs(rng.normal(size=n_self) / 3),
        ]
    )
    return Ligands.of(tau, rng.uniform(0.5, 2.0, tau.size))


def _linear_worst_case(lig, eps, tau_c):
    """For T_{1,0} = Σ Lτ / Σ L / τ_c every movable τ lowers T: the worst case in the L∞ ball is
    each movable τ lowered by ε, clipped at 0."""
    tau = np.asarray(lig.tau, np.float64)
    movable = np.ones_like(tau, bool) if tau_c is None else tau < tau_c
    return np.where(movable, np.maximum(tau - eps, 0.0), tau)


def _bisect(predicate, lo, hi, iterations=40):
    """The smallest x in [lo, hi] with predicate(x), for a monotone predicate."""
    assert not predicate(lo) and predicate(hi)
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if predicate(mid) else (mid, hi)
    return hi


@pytest.mark.parametrize("tau_c", [TAU_C, None])
def test_sign_fgsm_on_binding_times_is_the_closed_form_worst_case(tau_c):
    lig = _mixture(np.random.default_rng(0))
    model = AdaptiveProofreading(1, 0, tau_c=TAU_C)
    amount = np.asarray(lig.amount, np.float64)
    assert _T(1, 0, lig.tau, amount) > 1
    for eps in [0.02, 0.1, 0.3, 1.0, 2.5]:
        res = attack(
            model,
            _one(lig),
            method=FGSM(),
            threat=move_binding_times(eps, tau_c=tau_c),
            objective=turn_off(model),
            key=KEY,
        )
        adv = _first(res.adversarial)
        worst = _linear_worst_case(lig, eps, tau_c)
        np.testing.assert_allclose(np.asarray(adv.tau), worst, atol=1e-6)
        np.testing.assert_array_equal(adv.amount, lig.amount)
        t_worst = _T(1, 0, worst, amount)
        assert abs(t_worst - 1) > 1e-4  # a clear decision
        assert bool(res.success[0]) == (t_worst <= 1)


@pytest.mark.parametrize("method", [FGSM(), PGD(steps=40)])
def test_pgd_on_binding_times_minimal_radius_linear_model(method):
    """T_{1,0}: bisection on ε with the closed-form worst case gives ε*; the attacks succeed at
    1.01 ε* and (no point of the ball can flip) fail at 0.99 ε*."""
    lig = _mixture(np.random.default_rng(1))
    model = AdaptiveProofreading(1, 0, tau_c=TAU_C)
    amount = np.asarray(lig.amount, np.float64)
    eps_star = _bisect(lambda e: _T(1, 0, _linear_worst_case(lig, e, TAU_C), amount) <= 1, 0.0, 3.0)
    result = robust_accuracy(
        model,
        _one(lig),
        None,
        [0.99 * eps_star, 1.01 * eps_star],
        method,
        threat=move_binding_times(0.0, tau_c=TAU_C),
        objective=turn_off(model),
        key=KEY,
    )
    np.testing.assert_array_equal(np.asarray(result.success[:, 0]), [False, True])


def _grid_min_T(N, m, tau, amount, eps, n=801):
    """min T over the L∞ box of the two movable species (the agonist is fixed), brute force."""
    axes = [np.linspace(max(t - eps, 0.0), t + eps, n) for t in tau[1:]]
    a, b = np.meshgrid(*axes, indexing="ij")
    s_n = amount[0] * tau[0] ** N + amount[1] * a**N + amount[2] * b**N
    s_m = amount[0] * tau[0] ** m + amount[1] * a**m + amount[2] * b**m
    return float((s_n / s_m).min()) / TAU_C ** (N - m)


@pytest.mark.parametrize("N, m, amount", [(2, 1, [4, 2, 1.5]), (3, 1, [4, 3, 3]), (4, 2, [4, 6, 5]), (3, 2, [4, 6, 5])])
def test_pgd_on_binding_times_minimal_radius_proofreading(N, m, amount):
    """T_{N,m}, m ≥ 1: an agonist (τ = 3.5) and two species below τ_c that the attacker moves.
    ε* by bisection on a brute-force grid of the worst case; PGD (from the clean point: for
    m ≥ 2, T is flat at τ = 0, so a random start clipped there is stranded) and FGSM succeed
    just above ε* and fail just below."""
    tau, amount = np.array([3.5, 0.3, 0.8]), np.asarray(amount, np.float64)
    assert _T(N, m, tau, amount) > 1
    eps_star = _bisect(lambda e: _grid_min_T(N, m, tau, amount, e) <= 1, 0.0, 3.0, iterations=25)
    model = AdaptiveProofreading(N, m, tau_c=TAU_C)
    lig = Ligands.of(tau, amount)
    # APGD (the field's standard, through the same threat) and the gradient-free Square attack
    # (one window of the binding-time vector per query) reach the same radius
    for method in [
        PGD(steps=100, random_start=False),
        FGSM(),
        APGD(steps=100, random_start=False),
        Square(queries=300),
    ]:
        result = robust_accuracy(
            model,
            _one(lig),
            None,
            [0.97 * eps_star, 1.03 * eps_star],
            method,
            threat=move_binding_times(0.0, tau_c=TAU_C),
            objective=turn_off(model),
            key=KEY,
        )
        np.testing.assert_array_equal(np.asarray(result.success[:, 0]), [False, True])


# --- adding ligands under a budget ---------------------------------------------------------


def _fold_change(N, m, l1, t1, l2, t2):
    """Rademaker et al. 2019, T_{N,m}: FC = 1 − [L2 τ2^m / (L1 τ1^m + L2 τ2^m)] · [1 − (τ2/τ1)^(N−m)]."""
    return 1 - l2 * t2**m / (l1 * t1**m + l2 * t2**m) * (1 - (t2 / t1) ** (N - m))


def _boundary(N, m, l1, t1, t2, tau_c=TAU_C):
    """Rademaker et al. 2019, T_{N,m}: L2* = −L1 (τ1^N − τ1^m τ_c^(N−m)) / (τ2^N − τ2^m τ_c^(N−m))."""
    return -l1 * (t1**N - t1**m * tau_c ** (N - m)) / (t2**N - t2**m * tau_c ** (N - m))


@pytest.mark.parametrize("N, m", [(2, 0), (4, 2), (5, 3)])
def test_add_ligands_spends_the_budget_where_antagonism_is_strongest(N, m):
    """Agonists (L1 = 1000, τ1 = 3.6) plus candidate species on a τ grid. T is linear-
    fractional in the amounts, so its minimum under Σ L ≤ B is the whole budget on the one
    candidate of smallest fold change: τ → 0 for m = 0 (broad antagonism), an intermediate τ
    near τ* = τ_c (m/N)^(1/(N−m)) for m ≥ 2 (specialised). The smallest budget that flips the
    decision is min over the grid of the closed-form boundary L2*."""
    l1, t1 = 1000.0, 3.6
    grid = np.linspace(0.1, 2.9, 15)
    model = AdaptiveProofreading(N, m, tau_c=TAU_C)
    mix = with_candidates(Ligands.of([t1], [l1]), grid)
    boundary = _boundary(N, m, l1, t1, grid)
    assert np.all(boundary > 0)
    b_star = float(boundary.min())

    # below the flipping budget the attack fails and keeps its best (lowest-T) point
    b = 0.6 * b_star
    res = attack(model, _one(mix), method=PGD(steps=200), threat=add_ligands(b), objective=turn_off(model), key=KEY)
    assert not bool(res.success[0])
    adv = _first(res.adversarial)
    added = np.asarray(adv.amount[1:], np.float64)
    fc = _fold_change(N, m, l1, t1, b, grid)
    best = int(np.argmin(fc))
    assert int(np.argmax(added)) == best
    assert added[best] >= 0.999 * b and added.sum() <= b * (1 + 1e-6) and np.all(added >= 0)
    np.testing.assert_allclose(float(model(adv)), fc[best] * (t1 / TAU_C) ** (N - m), rtol=1e-4)
    np.testing.assert_array_equal(adv.tau, mix.tau)
    assert float(adv.amount[0]) == l1
    if m == 0:
        assert best == 0 and int(np.argmin(boundary)) == 0  # broad: τ → 0
    else:
        j = int(np.argmin(boundary))
        assert 0 < best < grid.size - 1 and 0 < j < grid.size - 1  # specialised
        tau_star = TAU_C * (m / N) ** (1 / (N - m))
        assert abs(grid[j] - tau_star) <= grid[1] - grid[0]

    # the smallest flipping budget: the closed-form boundary
    sweep = robust_accuracy(
        model,
        _one(mix),
        None,
        [0.98 * b_star, 1.02 * b_star],
        PGD(steps=200),
        threat=add_ligands(0.0),
        objective=turn_off(model),
        key=KEY,
    )
    np.testing.assert_array_equal(np.asarray(sweep.success[:, 0]), [False, True])


def test_float32_ligands_on_a_float64_cell_are_attacked_in_float64():
    """Ligands made outside `jax.enable_x64` (float32) given to an ODE cell model (float64): the
    engine widens them, as the model's arithmetic does, and attacks them as the float64 ones."""
    agonists = with_candidates(Ligands.of([8.0], [1e3]), [0.5, 1.0, 2.0])
    wide, narrow = (jax.tree.map(lambda a: np.asarray(a, dtype), agonists) for dtype in (np.float64, np.float32))
    with jax.enable_x64(True):
        model = SHP1Feedback()
        runs = [
            attack(
                model,
                _one(jax.tree.map(jnp.asarray, lig)),
                method=PGD(steps=20, random_start=False),
                threat=add_ligands(6000.0),
                objective=turn_off(model),
                key=KEY,
            )
            for lig in (wide, narrow)
        ]
    assert runs[1].adversarial.amount.dtype == np.float64 and bool(runs[1].success[0])
    np.testing.assert_array_equal(np.asarray(runs[1].adversarial.amount), np.asarray(runs[0].adversarial.amount))


# --- targeted "turn on" ------------------------------------------------------------------


@pytest.mark.parametrize("N, m", [(1, 0), (3, 1)])
def test_turn_on_makes_self_look_foreign(N, m):
    """Self ligands (T < 1) pushed up by PGD. S_N/S_m is a weighted mean of τ^(N−m), so
    T ≤ (max τ / τ_c)^(N−m): an ε that keeps every τ below τ_c cannot turn the cell on, and
    one that lifts every τ above τ_c must. For T_{1,0}, ε* = τ_c − mean_L τ exactly."""
    lig = self_ligands(KEY, 100)
    tau = np.asarray(lig.tau, np.float64)
    model = AdaptiveProofreading(N, m, tau_c=TAU_C)
    assert not bool(model.decide(lig))
    tiny, large = 0.9 * (TAU_C - tau.max()), 1.05 * (TAU_C - tau.min())
    for eps, expected in [(tiny, False), (large, True)]:
        res = attack(
            model, _one(lig), method=PGD(steps=50), threat=move_binding_times(eps), objective=turn_on(model), key=KEY
        )
        assert bool(res.success[0]) == expected
        adv = _first(res.adversarial)
        assert bool(model.decide(adv)) == expected == (_T(N, m, adv.tau, adv.amount) > 1)
        assert np.abs(np.asarray(adv.tau) - tau).max() <= eps * (1 + 1e-6)
    if (N, m) == (1, 0):
        eps_star = TAU_C - float(np.mean(tau))
        sweep = robust_accuracy(
            model,
            _one(lig),
            None,
            [0.99 * eps_star, 1.01 * eps_star],
            FGSM(),
            threat=move_binding_times(0.0),
            objective=turn_on(model),
            key=KEY,
        )
        np.testing.assert_array_equal(np.asarray(sweep.success[:, 0]), [False, True])


# --- builders and errors -------------------------------------------------------------------


def test_with_candidates_and_builders():
    lig = Ligands.of([3.5, 0.2], [10.0, 5.0])
    mix = with_candidates(lig, [0.5, 1.0, 2.0])
    np.testing.assert_allclose(mix.tau, [3.5, 0.2, 0.5, 1.0, 2.0])
    np.testing.assert_array_equal(mix.amount, [10.0, 5.0, 0.0, 0.0, 0.0])
    batched = with_candidates(_one(lig), [0.5])
    assert batched.tau.shape == (1, 3) and float(batched.amount[0, 2]) == 0.0
    threat = v1_descent(3.0)
    assert threat.ball is None and isinstance(threat.constraints[0], Mask)
    # turn_on / turn_off read the model's threshold
    assert turn_on(AdaptiveProofreading(2, 1)).direction == "above"
    assert float(turn_off(2.5).threshold) == 2.5
    assert isinstance(budget(1.0).ball, Budget) and isinstance(l1(1.0).ball, L1Ball)
    assert isinstance(add_ligands(1.0), ThreatModel)


def test_bad_input_raises_clear_errors():
    lig = Ligands.of([3.5], [10.0])
    with pytest.raises(ValueError, match=r"radius ε ≥ 0.*-5"):
        add_ligands(-5.0)
    with pytest.raises(ValueError, match="radius"):
        move_binding_times(float("nan"))
    with pytest.raises(ValueError, match="unknown norm 'l7'"):
        move_binding_times(0.1, norm="l7")
    with pytest.raises(ValueError, match="tau_c"):
        move_binding_times(0.1, tau_c=-3.0)
    with pytest.raises(ValueError, match="tau_c"):
        v1_descent(tau_c=0.0)
    with pytest.raises(ValueError, match=r"tau_grid\[1\] = -0.5"):
        with_candidates(lig, [0.5, -0.5])
    with pytest.raises(ValueError, match="non-empty"):
        with_candidates(lig, [])
    with pytest.raises(TypeError, match="must be Ligands, got an array"):  # a ligand threat on images
        images, threat = jnp.ones((2, 3)), move_binding_times(0.1, TAU_C)
        attack(jnp.sum, images, None, method=PGD(steps=3), threat=threat, objective=turn_off(1.0), key=KEY)
    with pytest.raises(ValueError, match="coordinates"):
        Budget(jnp.asarray(1.0), coordinates=0)
    with pytest.raises(ValueError, match="radius"):
        L1Ball(jnp.asarray(-1.0))
    with pytest.raises(TypeError, match="threshold"):
        turn_on("high")
    with pytest.raises(ValueError, match="epsilons"):
        model = AdaptiveProofreading(2, 1)
        robust_accuracy(
            model,
            _one(with_candidates(lig, [1.0])),
            None,
            [-1.0],
            PGD(steps=2),
            threat=add_ligands(0.0),
            objective=turn_off(model),
            key=KEY,
        )
