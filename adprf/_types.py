"""jaxtyping aliases shared across adprf."""

from typing import Any, TypeAlias

from jaxtyping import Array, ArrayLike, Bool, Float, Int, PRNGKeyArray, PyTree, Real

Scalar: TypeAlias = Float[Array, ""]
Logits: TypeAlias = Float[Array, " classes"]
Label: TypeAlias = Int[Array, ""]
Input: TypeAlias = PyTree[Float[Array, "..."]]
"""One unbatched model input: an image, or a pytree such as `Ligands`."""
Target: TypeAlias = Any
"""What an objective compares the output with: a label, or nothing for scalar thresholds."""

__all__ = [
    "Array",
    "ArrayLike",
    "Bool",
    "Float",
    "Int",
    "PRNGKeyArray",
    "PyTree",
    "Real",
    "Scalar",
    "Logits",
    "Label",
    "Input",
    "Target",
]
