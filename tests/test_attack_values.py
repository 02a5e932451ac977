"""Values are data: step sizes, bounds, floors, masks and τ_c are array leaves of the attack
methods and threats, so attacks that differ only in them share one compiled loop, can be
vmapped, and an ε-relative step sweeps ε in one call. Checked against a NumPy PGD on a linear
classifier, whose steepest-ascent direction is known in closed form."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import monitoring

from adprf._ligands import Ligands
from adprf.attacks import (
    PGD,
    Box,
    GradientDescent,
    Mask,
    Minimal,
    NonNegative,
    ScalarThreshold,
    ThreatModel,
    attack,
    linf,
    move_binding_times,
    perturb,
    run_attack,
    unbounded,
    v1_descent,
)

KEY = jax.random.PRNGKey(0)
STEPS = 8
EPSILON = 0.1


class _Lowerings:
    """Counts the XLA programs lowered (each compiled program is lowered once, whether or not
    JAX's persistent cache then spares the backend compilation)."""

    def __init__(self):
        self.count = 0
        monitoring.register_event_duration_secs_listener(self._listen)

    def _listen(self, event, duration_secs, **kwargs):
        if event == "/jax/core/compile/jaxpr_to_mlir_module_duration":
            self.count += 1


LOWERINGS = _Lowerings()


@pytest.fixture(scope="module")
def problem(linear_problem):
    model, x, y, _ = linear_problem
    return model, x[:12], y[:12]


def _numpy_pgd(model, x, y, step, epsilon, steps=STEPS):
    """PGD without random start in float32 on the linear classifier (logits (−s/2, s/2)):
    the cross-entropy gradient is −p₀ w for label 1 and p₁ w for label 0, so the L∞ steepest
    ascent direction is (1 − 2y) · sign(w), and every iterate raises the loss (the last one is
    the worst case)."""
    x0 = np.asarray(x, np.float32)
    direction = (1 - 2 * np.asarray(y))[:, None].astype(np.float32) * np.sign(np.asarray(model.w, np.float32))
    step, epsilon = np.float32(step), np.float32(epsilon)
    xk = x0.copy()
    for _ in range(steps):
        xk = xk + step * direction
        xk = x0 + np.clip(xk - x0, -epsilon, epsilon)
    return xk


def _pgd(**kwargs):
    return PGD(steps=STEPS, random_start=False, stop_at_success=False, **kwargs)


def test_step_sizes_share_one_compiled_loop(problem):
    """(a) Three step sizes through one jitted function: one trace, one set of programs; each
    result is the NumPy PGD. A new `steps` (structure) does compile again."""
    model, x, y = problem
    traces = []

    @eqx.filter_jit
    def adversarial(method):
        traces.append(method)
        return perturb(model, x, y, method=method, threat=linf(EPSILON, bounds=None), key=KEY)

    lowered = []
    for step in (0.004, 0.01, 0.03):  # 8 steps of 0.004 stay inside the ball; the others reach its edge
        before = LOWERINGS.count
        got = adversarial(_pgd(step_size=step))
        lowered.append(LOWERINGS.count - before)
        np.testing.assert_array_equal(np.asarray(got), _numpy_pgd(model, x, y, step, EPSILON))
    assert len(traces) == 1 and lowered[0] >= 1 and lowered[1:] == [0, 0]
    before = LOWERINGS.count
    adversarial(PGD(steps=STEPS + 1, step_size=0.01, random_start=False, stop_at_success=False))
    assert len(traces) == 2 and LOWERINGS.count > before


def test_run_attack_reuses_its_loop_across_values(problem):
    """(a) Through the public `run_attack`: another step size, box or Minimal constant lowers
    no new program."""
    model, x, y = problem
    xs = 0.25 * x + 0.5  # inside [0, 1] and [-1, 2]
    kw = dict(objective="cross-entropy", key=KEY)
    run_attack(model, xs, y, [0.05, 0.1], method=_pgd(step_size=0.01), threat=linf(0.0), **kw)
    before = LOWERINGS.count
    run_attack(model, xs, y, [0.05, 0.1], method=_pgd(step_size=0.02), threat=linf(0.0), **kw)
    run_attack(model, xs, y, [0.05, 0.1], method=_pgd(step_size=0.02), threat=linf(0.0, bounds=(-1.0, 2.0)), **kw)
    assert LOWERINGS.count == before
    run_attack(model, xs, y, [0.5], method=Minimal(steps=3, c=1.0), threat=linf(0.0), **kw)
    before = LOWERINGS.count
    run_attack(model, xs, y, [0.5], method=Minimal(steps=3, c=2.0, confidence=0.5), threat=linf(0.0), **kw)
    assert LOWERINGS.count == before


def test_relative_step_sweep_equals_separate_absolute_runs(problem):
    """(b) One sweep with α = k · ε equals, bit for bit, one run per ε with the absolute step
    k · ε (computed in float32, as the engine does) and the NumPy PGD."""
    model, x, y = problem
    k, epsilons = 0.3, [0.02, 0.05, 0.1, 0.2]
    sweep = run_attack(
        model,
        x,
        y,
        epsilons,
        method=_pgd(relative_step=k),
        threat=linf(0.0, bounds=None),
        objective="cross-entropy",
        key=KEY,
    )
    for e, eps in enumerate(epsilons):
        step = float(np.float32(k) * np.float32(eps))
        alone = attack(model, x, y, method=_pgd(step_size=step), threat=linf(eps, bounds=None), key=KEY)
        np.testing.assert_array_equal(np.asarray(sweep.adversarial[e]), np.asarray(alone.adversarial))
        np.testing.assert_array_equal(np.asarray(sweep.adversarial[e]), _numpy_pgd(model, x, y, step, eps))
    # an absolute step is the same at every radius: the small radii saturate, the large do not
    fixed = run_attack(
        model,
        x,
        y,
        epsilons,
        method=_pgd(step_size=0.01),
        threat=linf(0.0, bounds=None),
        objective="cross-entropy",
        key=KEY,
    )
    assert not np.array_equal(np.asarray(fixed.adversarial[-1]), np.asarray(sweep.adversarial[-1]))


def test_vmap_over_step_sizes_equals_the_loop(problem):
    """(c) `jax.vmap` over the step size of `perturb` (PGD built inside, with a traced step)
    equals one call per step size."""
    model, x, y = problem
    steps = jnp.asarray([0.004, 0.01, 0.03], jnp.float32)

    def one(step):
        return perturb(model, x, y, method=_pgd(step_size=step), threat=linf(EPSILON, bounds=None), key=KEY)

    batched = jax.vmap(one)(steps)
    for i, step in enumerate(np.asarray(steps)):
        np.testing.assert_array_equal(np.asarray(batched[i]), np.asarray(one(float(step))))
        np.testing.assert_array_equal(np.asarray(batched[i]), _numpy_pgd(model, x, y, step, EPSILON))


def test_values_are_leaves_and_structure_is_static():
    """Modules that differ only in values have one tree structure (one compiled program);
    `None` (not set) and the structural fields are part of it."""
    same = [
        (PGD(step_size=0.01), PGD(step_size=0.5)),
        (PGD(relative_step=0.1), PGD(relative_step=0.2)),
        (PGD(steps=40), PGD(steps=200, restarts=5)),  # counts too, once `budget_as_data` makes them arrays
        (GradientDescent(0.2), GradientDescent(0.3, steps=20)),
        (Minimal(c=1.0, confidence=0.0), Minimal(c=3.0, confidence=2.0)),
        (Box(0.0, 1.0), Box(-1.0, 2.0)),
        (NonNegative(floor=0.0, reset=0.1), NonNegative(floor=-1.0, reset=0.5)),
        (Mask(np.array([True, False])), Mask(np.array([False, True]))),
        (move_binding_times(0.1, tau_c=3.0), move_binding_times(0.2, tau_c=2.0)),
        (v1_descent(3.0, 0.1), v1_descent(2.5, 0.2)),
        (ScalarThreshold(1.0), ScalarThreshold(0.5)),
    ]
    for a, b in same:
        assert jax.tree.structure(a) == jax.tree.structure(b), (a, b)
        assert len(jax.tree.leaves(a)) >= 1
    different = [
        (PGD(step_size=0.01), PGD()),
        (PGD(step_size=0.01), PGD(relative_step=0.01)),
        (PGD(random_start=True), PGD(random_start=False)),
        (NonNegative(reset=0.1), NonNegative()),
        (move_binding_times(0.1, tau_c=3.0), move_binding_times(0.1)),
    ]
    for a, b in different:
        assert jax.tree.structure(a) != jax.tree.structure(b), (a, b)


def test_step_length_rules():
    """α = step_size, relative_step · ε, or 2.5 ε / steps, at the threat's radius."""
    threat = linf(0.2)
    assert float(PGD(step_size=0.03).step_length(threat)) == np.float32(0.03)
    assert float(PGD(relative_step=0.5).step_length(threat)) == np.float32(0.5) * np.float32(0.2)
    assert float(PGD(steps=10).step_length(threat)) == np.float32(2.5) * np.float32(0.2) / np.float32(10)
    with pytest.raises(ValueError, match="relative_step · ε.*give step_size"):
        PGD(relative_step=0.5).step_length(unbounded())


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda: PGD(step_size=0.1, relative_step=0.1), "give step_size .* or relative_step .*, not both"),
        (lambda: PGD(relative_step=-0.5), "PGD: relative_step must be a finite number > 0, got -0.5"),
        (lambda: PGD(relative_step=float("nan")), "PGD: relative_step must be a finite number > 0, got nan"),
        (lambda: NonNegative(floor=float("nan")), "NonNegative: floor must be a finite number, got nan"),
        (lambda: NonNegative(reset=float("inf")), "NonNegative: reset must be a finite number, got inf"),
        (lambda: Box(0.0, np.array([1.0, 2.0])), "Box needs lower < upper, one number each"),
        (lambda: v1_descent(tau_c=0.0), "v1_descent: tau_c must be a finite number > 0, got 0.0"),
        (lambda: move_binding_times(0.1, tau_c=-3.0), "move_binding_times: tau_c must be a finite number > 0"),
    ],
)
def test_bad_values_are_named(make, words):
    with pytest.raises((ValueError, TypeError), match=words + "|Type-check error"):
        make()


def test_modules_built_under_jit_and_vmap():
    """Validation lets tracers through: a method, a box and a threat built inside `jit`/`vmap`
    from traced values work, and their values are the traced ones."""

    @jax.jit
    def build(step, lower, tau_c):
        pgd = PGD(step_size=step)
        box = Box(lower, lower + 1.0)
        mask = move_binding_times(0.1, tau_c=tau_c).constraints[0]
        clipped = box(jnp.asarray([-5.0, -0.5, 5.0]), None)
        movable = mask.mask(Ligands(jnp.asarray([1.0, 2.0, 3.0]), jnp.ones(3))).tau
        return pgd.step_length(linf(0.1)), clipped, movable

    step, clipped, movable = build(0.05, -1.0, 2.5)
    assert float(step) == np.float32(0.05)
    np.testing.assert_array_equal(np.asarray(clipped), [-1.0, -0.5, 0.0])
    np.testing.assert_array_equal(np.asarray(movable), [True, True, False])  # τ < τ_c = 2.5
    steps = jax.vmap(lambda s: PGD(step_size=s).step_length(linf(0.1)))(jnp.asarray([0.1, 0.2]))
    np.testing.assert_array_equal(np.asarray(steps), np.float32([0.1, 0.2]))


def test_values_keep_their_precision_in_float64():
    """A value built outside `jax.enable_x64` meets float64 inputs at full precision (as a
    Python number would), and float32 inputs stay float32."""
    descent = GradientDescent(step_size=0.2)
    threat = unbounded([NonNegative(reset=0.1)])
    x32 = jnp.asarray([0.5, 0.05], jnp.float32)
    out32, _ = descent.update(x32, None, None, -jnp.ones(2, jnp.float32), x32, threat)
    assert out32.dtype == jnp.float32
    np.testing.assert_array_equal(np.asarray(out32), np.float32([0.3, 0.1]))
    with jax.enable_x64(True):
        x64 = jnp.asarray([0.5, 0.05], jnp.float64)
        out64, _ = descent.update(x64, None, None, -jnp.ones(2, jnp.float64), x64, threat)
        assert out64.dtype == jnp.float64
        np.testing.assert_array_equal(np.asarray(out64), [0.5 - 0.2, 0.1])  # 0.05 − 0.2 < 0: reset to 0.1


def test_bounds_are_python_numbers():
    threat = ThreatModel(None, [Box(-1.0, 2.0), Box(0.0, 3.0)])
    assert threat.bounds() == (0.0, 2.0) and all(type(b) is float for b in threat.bounds())
