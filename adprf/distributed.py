"""Several hosts, one run: `jax.distributed` from the launch environment, one writer.

Every host runs the same command on the same code and data, with the results folder on a
filesystem all hosts share. JAX then lists every host's devices in `jax.devices()`, so the
attacks and evaluations of `adprf.sharding` split their examples across all of them; the
rest of a run (loading data, training) runs on every host, and process 0's trained models
are broadcast to the others so that no host attacks a model that differs in its last bits
(GPU training is not bit-reproducible). Process 0 alone writes results; whether a cached
stage exists is decided by process 0 for everyone, so all hosts take the same path.

Launch (two hosts, the first one's address reachable from the second):

    # on host 0
    JAX_COORDINATOR_ADDRESS=host0:1234 JAX_NUM_PROCESSES=2 JAX_PROCESS_ID=0 adprf run NAME --preset paper
    # on host 1
    JAX_COORDINATOR_ADDRESS=host0:1234 JAX_NUM_PROCESSES=2 JAX_PROCESS_ID=1 adprf run NAME --preset paper
"""

import os
from collections.abc import Mapping

import jax
import numpy as np

ENVIRONMENT = ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID")
"""The launch variables: coordinator `host:port`, number of processes, this process's index."""


def initialize_from_environment(environ: Mapping[str, str] = os.environ) -> bool:
    """Start `jax.distributed` when the launch variables are set (see the module docstring).

    **Returns:** whether this is a multi-process run. Without `JAX_COORDINATOR_ADDRESS`
    nothing happens (one process). Call it before any other JAX work.
    """
    address = environ.get("JAX_COORDINATOR_ADDRESS", "").strip()
    if not address:
        return False
    values = {}
    for name in ENVIRONMENT[1:]:
        raw = environ.get(name, "").strip()
        try:
            values[name] = int(raw)
        except ValueError:
            raise ValueError(
                f"{name}={raw!r}: a multi-host launch with JAX_COORDINATOR_ADDRESS={address} needs "
                f"{name} as an integer on every host (see adprf.distributed)"
            ) from None
    processes, index = values["JAX_NUM_PROCESSES"], values["JAX_PROCESS_ID"]
    if processes < 1 or not 0 <= index < processes:
        raise ValueError(
            f"JAX_PROCESS_ID={index} with JAX_NUM_PROCESSES={processes}: the index must be in "
            f"0 … {processes - 1}, one per host"
        )
    if ":" not in address:
        raise ValueError(f"JAX_COORDINATOR_ADDRESS={address!r}: give host:port of process 0, e.g. host0:1234")
    jax.distributed.initialize(coordinator_address=address, num_processes=processes, process_id=index)
    return processes > 1


def is_writer() -> bool:
    """Whether this process writes results (process 0; the only process without jax.distributed)."""
    return jax.process_index() == 0


def agree(flag: bool) -> bool:
    """Process 0's `flag`, on every process (a broadcast when there are several)."""
    if jax.process_count() == 1:
        return bool(flag)
    from jax.experimental import multihost_utils

    return bool(multihost_utils.broadcast_one_to_all(np.asarray(bool(flag))))


def broadcast(tree):
    """Process 0's arrays of `tree` (e.g. a trained model), on every process; other leaves unchanged."""
    if jax.process_count() == 1:
        return tree
    import equinox as eqx
    from jax.experimental import multihost_utils

    arrays, static = eqx.partition(tree, eqx.is_array)
    return eqx.combine(multihost_utils.broadcast_one_to_all(arrays), static)
