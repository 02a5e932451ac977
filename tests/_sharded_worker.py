"""Runs in a subprocess of tests/test_sharding.py, with as many (forced CPU) devices, or as
many `jax.distributed` processes, as the test asks for; prints one JSON line of results.

    python tests/_sharded_worker.py engine                 # on 1 device and on all, compared here
    python tests/_sharded_worker.py sweep ROOT [--interrupt-after K]
"""

import json
import sys

import numpy as np


def engine() -> dict:
    """Each batched entry point on one device and on all of them (and on 3, an uneven split)."""
    import jax
    import jax.numpy as jnp

    from adprf._ligands import Ligands
    from adprf.analysis import loss_landscape
    from adprf.attacks import (
        PGD,
        attack,
        evaluate_robustness,
        move_binding_times,
        robust_accuracy,
        run_attack,
        turn_off,
    )
    from adprf.attacks._threats import linf
    from adprf.cells import AdaptiveProofreading
    from adprf.nets import MLP

    out = {"devices": len(jax.devices()), "processes": jax.process_count()}
    key = jax.random.PRNGKey(0)
    model = MLP(20, 4, 32, 1, key=key)
    x = jax.random.uniform(jax.random.PRNGKey(1), (103, 20))
    y = jax.vmap(model)(x).argmax(-1)  # clean accuracy 100 %
    epsilons = [0.0, 0.02, 0.05, 0.1, 0.3]
    pgd = PGD(steps=10, step_size=0.01, random_start=True)
    counts = [1, None]  # 103 examples on 4 devices: an uneven split

    curves, pairs = {}, {}
    for d in counts:
        r = robust_accuracy(
            model, x, y, epsilons, pgd, key=jax.random.PRNGKey(2), batch_size=24, devices=d, progress=d is None
        )
        a = run_attack(
            model,
            x,
            y,
            epsilons,
            method=pgd,
            threat=linf(0.1),
            objective="cross-entropy",
            key=jax.random.PRNGKey(3),
            batch_size=24,
            devices=d,
        )
        curves[str(d)] = (np.asarray(r.accuracy).tolist(), np.asarray(r.success).tolist())
        pairs[str(d)] = (
            np.asarray(a.success),
            np.asarray(a.distance),
            np.asarray(a.gradient_evaluations),
            np.asarray(a.adversarial),
        )
    ref_curve, ref_pairs = curves["1"], pairs["1"]
    out["accuracy"] = {d: c[0] for d, c in curves.items()}
    out["curve_identical"] = {d: c == ref_curve for d, c in curves.items()}
    out["pairs_identical"] = {
        d: bool(np.array_equal(p[0], ref_pairs[0]) and np.array_equal(p[2], ref_pairs[2])) for d, p in pairs.items()
    }
    out["pairs_max_difference"] = {
        d: float(max(np.max(np.abs(p[1] - ref_pairs[1])), np.max(np.abs(p[3] - ref_pairs[3]))))
        for d, p in pairs.items()
    }

    # Fewer examples than devices: some shards hold only padding.
    typed = jax.random.key(5)  # a typed key travels too
    tiny = [
        np.asarray(robust_accuracy(model, x[:2], y[:2], epsilons, pgd, key=typed, devices=d).success).tolist()
        for d in (1, None)
    ]
    out["fewer_than_devices_identical"] = tiny[0] == tiny[1]

    # A ligand ensemble under adaptive proofreading: turn foreign mixtures off.
    cell = AdaptiveProofreading(5, 3, tau_c=3.0)
    k1, k2 = jax.random.split(jax.random.PRNGKey(4))
    tau = jnp.concatenate(
        [3.5 + 0.1 * jax.random.normal(k1, (13, 6)), jnp.abs(jax.random.normal(k2, (13, 10))) / 3], axis=1
    )
    amount = jnp.concatenate([jnp.ones((13, 6)), jnp.linspace(1, 8, 13)[:, None] * jnp.ones((13, 10))], axis=1)
    ligands = Ligands(tau, amount)  # more self ligands down the batch
    threat = move_binding_times(2.0, tau_c=3.0)
    ens = [
        attack(
            cell,
            ligands,
            method=PGD(steps=30, step_size=0.2),
            threat=threat,
            objective=turn_off(cell),
            key=key,
            devices=d,
        )
        for d in (1, None)
    ]
    out["ligands_success"] = [np.asarray(e.success).tolist() for e in ens]
    out["ligands_max_difference"] = float(
        np.max(np.abs(np.asarray(ens[0].adversarial.tau) - np.asarray(ens[1].adversarial.tau)))
    )

    # The standard suite (APGD-CE, APGD-T over 3 target classes, Square) through the same split.
    suites = [evaluate_robustness(model, x, y, epsilons, key=key, budget="fast", devices=d) for d in (1, None)]
    out["suite_accuracy"] = np.asarray(suites[0].accuracy).tolist()
    out["suite_identical"] = bool(
        np.array_equal(suites[0].fooled_by, suites[1].fooled_by) and suites[0].evaluations == suites[1].evaluations
    )

    lands = [loss_landscape(model, x[:7], y[:7], span=0.2, points=5, key=key, devices=d) for d in (1, None)]
    out["landscape_max_difference"] = float(np.max(np.abs(np.asarray(lands[0].loss) - np.asarray(lands[1].loss))))
    out["landscape_success_identical"] = bool(np.array_equal(lands[0].success, lands[1].success))
    out["landscape_directions_identical"] = bool(np.array_equal(lands[0].directions[1], lands[1].directions[1]))
    return out


SWEEP = {
    "dataset": "mnist-subset",
    "n_train": 600,
    "n_test": 30,
    "seeds": [0, 1],
    "widths": [100],
    "epochs": 2,
    "train_batch": 50,
    "pgd": {"steps": 5, "step_size": 0.02},
}


def _without_timings(value):
    """The facts without their wall-clock entries ("seconds"), which differ between any two runs."""
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items() if k != "seconds"}
    if isinstance(value, list):
        return [_without_timings(v) for v in value]
    return value


def sweep(root: str, interrupt_after: int | None) -> dict:
    """A small cerebellum width sweep (LTD on/off × 2 seeds), optionally interrupted after
    `interrupt_after` attack stages were computed and stored. Counts the files this process
    moved into place (results are written by process 0 only)."""
    import os

    from adprf import distributed
    from adprf._results import Run

    writes = []
    replace = os.replace

    def counting_replace(src, dst):
        writes.append(str(dst))
        return replace(src, dst)

    os.replace = counting_replace

    distributed.initialize_from_environment()
    from adprf.experiments import run_experiment

    built = []
    shared_stage = Run.shared_stage

    def counting(self, spec, build):
        def build_and_count():
            if interrupt_after is not None and len(built) == interrupt_after:
                raise KeyboardInterrupt
            built.append(spec["model"]["cerebellum"])
            return build()

        return shared_stage(self, spec, build_and_count)

    Run.shared_stage = counting
    try:
        record = run_experiment("cerebellum-width", "quick", root=root, overrides=SWEEP)
    except KeyboardInterrupt:
        return {"interrupted": True, "built": len(built), "writes": len(writes)}
    import jax

    return {
        "interrupted": False,
        "built": len(built),
        "writes": len(writes),
        "rows": [row[:-1] for row in record["tables"][0]["rows"]],  # without the seconds
        "numbers": _without_timings(record.get("numbers")),
        "process": jax.process_index(),
        "devices": len(jax.devices()),
    }


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "engine":
        from adprf import distributed

        distributed.initialize_from_environment()
        result = engine()
    else:
        k = sys.argv.index("--interrupt-after") + 1 if "--interrupt-after" in sys.argv else None
        result = sweep(sys.argv[2], int(sys.argv[k]) if k else None)
    print("RESULT " + json.dumps(result, default=str), flush=True)
