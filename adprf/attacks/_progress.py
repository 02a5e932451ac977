"""Progress bars fed from inside the compiled attack loop.

The loop runs compiled and is cached across calls, so it cannot hold a reference to the bar
of the call that runs it. It carries a token instead (an integer array, so a new bar does
not recompile the loop), and its host callback asks a `ProgressBoard` for the meter that is
registered under that token for the duration of the call.
"""

import contextlib
import itertools
import threading
from collections.abc import Iterator

import jax.numpy as jnp
from tqdm import tqdm

from .._types import Array, Int


class ProgressMeter:
    """One attack's progress bar over its (ε, example) pairs.

    Devices call back concurrently, and under an `Ensemble` once per member: the meter keeps
    the pairs done per (shard, member) and shows their sum.

    **Arguments:**
    - `total`: the number of pairs of the whole attack (all shards and members).
    - `description`: the bar's label.
    """

    def __init__(self, total: int, description: str):
        self.bar = tqdm(total=total, leave=False, unit="pair", desc=description)
        self.done: dict[tuple[int, int], int] = {}
        self.lock = threading.Lock()
        self.closed = False

    def update(self, shard: int, member: int, done: int) -> None:
        """Record that `done` pairs of this shard and member are finished."""
        with self.lock:
            if self.closed:
                return
            self.done[shard, member] = done
            self.bar.update(sum(self.done.values()) - self.bar.n)

    def close(self) -> None:
        with self.lock:
            self.closed = True
            self.bar.close()


class ProgressBoard:
    """The progress meters of the attacks running now, each under the token its loop carries.

    The compiled loop calls `tick` (through `jax.debug.callback`) with its token; `show`
    registers a meter under a fresh token for the duration of one call.
    """

    def __init__(self):
        self._meters: dict[int, ProgressMeter] = {}
        self._tokens = itertools.count()
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def show(self, total: int, description: str) -> Iterator[Int[Array, ""]]:
        """Show a bar of `total` pairs while the block runs.

        **Returns:** (as the context value) the token to pass to the compiled loop.
        """
        meter = ProgressMeter(total, description)
        with self._lock:
            token = next(self._tokens)
            self._meters[token] = meter
        try:
            yield jnp.asarray(token)
        finally:
            with self._lock:
                del self._meters[token]
            meter.close()

    def tick(self, token, shard, member, done) -> None:
        """Host callback from inside the compiled loop: `done` pairs of that shard (its first
        example's index) and ensemble member are finished."""
        with self._lock:
            meter = self._meters.get(int(token))
        if meter is not None:
            meter.update(int(shard), int(member), int(done))
