"""The model(s) under attack in one form: one model, or the members of an `Ensemble`.

The engine meets a model once, at its public entry, and turns it into `members_of(model)`;
from there on it asks the members, never the model's type, how to run the compiled loop
(`map`), how to run a host-side computation (`each`), which keys to use and where the member
axis of the results goes.
"""

import abc
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, cast

import equinox as eqx
import jax
import jax.numpy as jnp

from .._types import PRNGKeyArray
from ._ensemble import Ensemble
from ._straight_through import straight_through


class AbstractMembers(eqx.Module):
    """The models one attack call runs on.

    - `axes`: the leading member axes of the results (0 for one model, 1 for an ensemble).
    - `count`: how many models are attacked.
    """

    axes: eqx.AbstractClassVar[int]

    @property
    @abc.abstractmethod
    def count(self) -> int: ...

    @abc.abstractmethod
    def first(self) -> Callable:
        """The first model, e.g. to check targets against its output."""

    @abc.abstractmethod
    def keys(self, key: PRNGKeyArray) -> PRNGKeyArray:
        """The key (or one key per member) the attack draws its random starts from."""

    @abc.abstractmethod
    def map(self, fn: Callable, keys: PRNGKeyArray, state: Any = None) -> Any:
        """`fn(model, key, state)` for every member, traced (under `vmap` for an ensemble,
        `state` then carrying the member axes too); the outputs gain the leading member
        axes."""

    @abc.abstractmethod
    def each(self, fn: Callable) -> Any:
        """`fn(model)` for every member on the host, outputs stacked along the member axes."""

    @abc.abstractmethod
    def through(self, names: str | Sequence[str]) -> "AbstractMembers":
        """The models with the named parts attacked through an identity stand-in (BPDA)."""


class OneModel(AbstractMembers):
    """A single model of one input: results carry no member axis."""

    model: Callable

    axes: ClassVar[int] = 0

    def __check_init__(self):
        if not callable(self.model):
            raise TypeError(f"model must be callable on one example (or an Ensemble), got {type(self.model).__name__}")

    @property
    def count(self) -> int:
        return 1

    def first(self):
        return self.model

    def keys(self, key):
        return key

    def map(self, fn, keys, state=None):
        return fn(self.model, keys, state)

    def each(self, fn):
        return fn(self.model)

    def through(self, names):
        model: Any = self.model  # a model with named parts is an equinox module
        return OneModel(cast(Callable, straight_through(model, names)))


class StackedMembers(AbstractMembers):
    """The members of an `Ensemble`, attacked in one call by the loop `vmap`ped over them."""

    ensemble: Ensemble

    axes: ClassVar[int] = 1

    @property
    def count(self) -> int:
        return self.ensemble.size

    def first(self):
        return self.ensemble.member(0)

    def keys(self, key):
        return self.ensemble.member_keys(key)

    def map(self, fn, keys, state=None):
        params, static = eqx.partition(self.ensemble.models, eqx.is_array)
        return jax.vmap(lambda p, k, s: fn(eqx.combine(p, static), k, s))(params, keys, state)

    def each(self, fn):
        outputs = [fn(self.ensemble.member(i)) for i in range(self.ensemble.size)]
        return jax.tree.map(lambda *a: jnp.stack(a), *outputs)

    def through(self, names):
        raise ValueError(
            "straight_through is not supported for an Ensemble: wrap each model with "
            "adprf.attacks._straight_through before stacking them"
        )


def members_of(model: Callable | Ensemble) -> AbstractMembers:
    """`model` as the members an attack runs on: an `Ensemble`'s stacked members, or one model."""
    return StackedMembers(model) if isinstance(model, Ensemble) else OneModel(model)
