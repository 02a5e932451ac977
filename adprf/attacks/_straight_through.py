"""Straight-through / BPDA (Athalye et al. 2018): attack through a stand-in.

A part of a model that is non-differentiable or masks gradients (quantisation, a hard
threshold, an iterative solver) is run as is on the forward pass, while the backward pass
uses the gradient of a differentiable stand-in (the identity by default).
"""

from collections.abc import Callable, Sequence
from typing import Any

import equinox as eqx
import jax

from .._types import Input


def _identity(x):
    return x


class StraightThrough(eqx.Module):
    """Forward: `part(x)`; backward: the gradient of `stand_in(x)`."""

    part: Callable
    stand_in: Callable = _identity

    def __call__(self, x: Input, *args, **kwargs):
        forward = self.part(x, *args, **kwargs)
        surrogate = self.stand_in(x)
        return jax.tree.map(lambda s, f: s + jax.lax.stop_gradient(f - s), surrogate, forward)


def _get(obj, path: str) -> Any:
    """The attribute at the dotted `path` of `obj`."""
    for name in path.split("."):
        obj = getattr(obj, name)
    return obj


def straight_through(
    model: eqx.Module, names: str | Sequence[str], stand_ins: dict[str, Callable] | None = None
) -> eqx.Module:
    """Replace the named sub-modules of `model` by `StraightThrough` wrappers.

    **Arguments:**
    - `model`: an equinox module.
    - `names`: attribute paths of the parts to bypass, e.g. "filter" or "head.quantise".
    - `stand_ins`: optional stand-in per name (default: the identity, so the output of
      the part must have the shape of its input).

    **Returns:** the model with the same forward pass and the stand-ins' gradients.
    """
    names = (names,) if isinstance(names, str) else tuple(names)
    stand_ins = stand_ins or {}
    for name in names:
        try:
            part = _get(model, name)
        except AttributeError:
            raise ValueError(f"straight_through: the model {type(model).__name__} has no part named {name!r}") from None
        wrapped = StraightThrough(part, stand_ins.get(name, _identity))
        model = eqx.tree_at(lambda m, name=name: _get(m, name), model, wrapped)
    return model
