"""jaxtyping aliases shared across adprf."""

from typing import TYPE_CHECKING, Any, TypeAlias

from jaxtyping import Array, ArrayLike, Bool, Float, Int, PRNGKeyArray, PyTree, Real

Scalar: TypeAlias = Float[Array, ""]
Logits: TypeAlias = Float[Array, " classes"]
Label: TypeAlias = Int[Array, ""]
if TYPE_CHECKING:
    Input: TypeAlias = PyTree[Float[Array, "..."]]
else:  # at the public boundary NumPy arrays are accepted too (converted there)
    Input: TypeAlias = PyTree[Float[ArrayLike, "..."]]
"""An input (one example, or a batch with a leading axis): an image, or a pytree such as `Ligands`."""
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
