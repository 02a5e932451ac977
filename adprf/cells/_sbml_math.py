"""SBML math as JAX: MathML → SymPy (`sbmlmath`) → equinox modules (`sympy2jax`).

A formula's identifiers are SymPy symbols named by their SBML ids; `time` (the csymbol of SBML
Level 3 Version 2 §3.4.6) is the symbol `TIME`, named `$time` (`$` cannot occur in an SBML id,
so it never clashes), and `avogadro` is its number. Numbers in formulas are Python constants of
the compiled module (structure, like the formula itself); the values of the model's quantities
are passed in by name at each call, so they stay array leaves of whoever holds them.

Supported: the arithmetic, power, root, exponential, logarithms, trigonometric and hyperbolic
functions, min/max/abs/floor/ceiling, relations and logic, and `piecewise` (evaluated with
`jnp.where`: differentiable on either side of a switch, not across it). Refused, naming the
construct and the element: `delay` and `rateOf` csymbols, calls of undefined functions
(function definitions are expanded before, SBML L3V2 §4.3) and any other function, e.g.
`factorial`.
"""

import functools
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import jax.numpy as jnp
import libsbml
import sympy as sp
import sympy2jax
from sbmlmath import SBMLMathMLParser
from sbmlmath.cfunction import CFunction
from sbmlmath.csymbol import CSymbol, TimeSymbol
from sympy.core.function import AppliedUndef
from sympy.functions.elementary.piecewise import ExprCondPair
from sympy.logic.boolalg import BooleanFalse, BooleanTrue

from .._types import Array

TIME = sp.Symbol("$time")
AVOGADRO = 6.02214179e23  # SBML L3V2 §3.4.6
_AVOGADRO_URL = "http://www.sbml.org/sbml/symbols/avogadro"
_LARGEST_EXACT = 2**53  # integers beyond it are stored as floats (JAX has no arbitrary-precision ints)


class SBMLError(ValueError):
    """An SBML or Antimony model that adprf cannot read: invalid, or using a construct that it
    does not support. The message names the construct, the element's id and what to do."""


def _piecewise(*pieces):
    """SBML's piecewise: the first piece whose condition holds, else the last (`otherwise`);
    NaN if no condition holds and there is no `otherwise` (SBML leaves it undefined)."""
    value = jnp.nan
    for piece, condition in reversed(pieces):
        value = jnp.where(condition, piece, value)
    return value


def _log(x, base=None):
    return jnp.log(x) if base is None else jnp.log(x) / jnp.log(base)


def _reduce(function):
    return lambda *args: functools.reduce(function, args)


# What SBML's MathML becomes in SymPy (sbmlmath), as plain functions: sympy2jax's own table holds
# jitted functions, which equinox warns about when stored in a module's field.
_FUNCTIONS = {
    sp.Add: _reduce(jnp.add),
    sp.Mul: _reduce(jnp.multiply),
    sp.Pow: lambda x, y: jnp.power(x, y),
    sp.Max: _reduce(jnp.maximum),
    sp.Min: _reduce(jnp.minimum),
    sp.Abs: lambda x: jnp.abs(x),
    sp.floor: lambda x: jnp.floor(x),
    sp.ceiling: lambda x: jnp.ceil(x),
    sp.exp: lambda x: jnp.exp(x),
    sp.log: _log,
    sp.sin: lambda x: jnp.sin(x),
    sp.cos: lambda x: jnp.cos(x),
    sp.tan: lambda x: jnp.tan(x),
    sp.sinh: lambda x: jnp.sinh(x),
    sp.cosh: lambda x: jnp.cosh(x),
    sp.tanh: lambda x: jnp.tanh(x),
    sp.asin: lambda x: jnp.arcsin(x),
    sp.acos: lambda x: jnp.arccos(x),
    sp.atan: lambda x: jnp.arctan(x),
    sp.asinh: lambda x: jnp.arcsinh(x),
    sp.acosh: lambda x: jnp.arccosh(x),
    sp.atanh: lambda x: jnp.arctanh(x),
    sp.sec: lambda x: 1 / jnp.cos(x),
    sp.csc: lambda x: 1 / jnp.sin(x),
    sp.cot: lambda x: 1 / jnp.tan(x),
    sp.sech: lambda x: 1 / jnp.cosh(x),
    sp.csch: lambda x: 1 / jnp.sinh(x),
    sp.coth: lambda x: 1 / jnp.tanh(x),
    sp.asec: lambda x: jnp.arccos(1 / x),
    sp.acsc: lambda x: jnp.arcsin(1 / x),
    sp.acot: lambda x: jnp.arctan(1 / x),
    sp.asech: lambda x: jnp.arccosh(1 / x),
    sp.acsch: lambda x: jnp.arcsinh(1 / x),
    sp.acoth: lambda x: jnp.arctanh(1 / x),
    sp.Eq: lambda x, y: jnp.equal(x, y),
    sp.Ne: lambda x, y: jnp.not_equal(x, y),
    sp.StrictLessThan: lambda x, y: jnp.less(x, y),
    sp.StrictGreaterThan: lambda x, y: jnp.greater(x, y),
    sp.LessThan: lambda x, y: jnp.less_equal(x, y),
    sp.GreaterThan: lambda x, y: jnp.greater_equal(x, y),
    sp.And: _reduce(jnp.logical_and),
    sp.Or: _reduce(jnp.logical_or),
    sp.Xor: _reduce(jnp.logical_xor),
    sp.Not: lambda x: jnp.logical_not(x),
    sp.Piecewise: _piecewise,
    ExprCondPair: lambda piece, condition: (piece, condition),
    BooleanTrue: lambda: True,
    BooleanFalse: lambda: False,
}


def _replace_csymbols(expr: sp.Basic, where: str) -> sp.Basic:
    """`time` → `TIME`, `avogadro` → its number; refuse `delay`, `rateOf`, other csymbols and
    calls of undefined functions (function definitions are expanded before)."""
    for call in expr.atoms(AppliedUndef):
        if isinstance(call.func, CFunction):
            name = str(getattr(call.func, "definition_url", call.func)).rsplit("/", 1)[-1]
            fix = "delay differential equations are not supported" if name == "delay" else "it is not supported"
            raise SBMLError(f"{where} uses the csymbol {name!r} ({call}): {fix}; remove it from the model")
        raise SBMLError(
            f"{where} calls {call.func}, which is no function definition of the model (nor a MathML "
            f"function): define it with a <functionDefinition>, or expand it"
        )
    replacements = {}
    for symbol in expr.atoms(CSymbol):
        url = getattr(symbol, "definition_url", None)
        if isinstance(symbol, TimeSymbol):
            replacements[symbol] = TIME
        elif url == _AVOGADRO_URL:
            replacements[symbol] = sp.Float(AVOGADRO)
        else:
            raise SBMLError(f"{where} uses the csymbol {url!r}, which adprf does not support")
    return expr.xreplace(replacements)


def to_sympy(node: libsbml.ASTNode, where: str) -> sp.Basic:
    """A MathML formula (a libsbml AST, SBML Level 3 Version 2) as a SymPy expression over
    symbols named by SBML ids; units on numbers are ignored (no unit conversion is done)."""
    if node is None:
        raise SBMLError(f"{where} has no math: give it a formula")
    mathml = libsbml.writeMathMLWithNamespaceToString(node, libsbml.SBMLNamespaces(3, 2))
    parser = SBMLMathMLParser(sbml_level=3, sbml_version=2, ignore_units=True, floats_as_rationals=False)
    try:
        expr = parser.parse_str(mathml)
    except (NotImplementedError, ValueError, AssertionError) as error:
        raise SBMLError(f"{where}: cannot translate its MathML ({error}); simplify the formula") from error
    return _replace_csymbols(expr, where)


def substitute(expr: sp.Basic, definitions: Mapping[sp.Basic, sp.Basic], where: str) -> sp.Basic:
    """`expr` with every defined symbol replaced by its definition, recursively (assignment
    rules and initial assignments, SBML L3V2 §4.8.4 and §4.11.3: they form no cycle)."""
    for _ in range(len(definitions) + 1):
        used = expr.free_symbols & definitions.keys()
        if not used:
            return expr
        expr = expr.xreplace({symbol: definitions[symbol] for symbol in used})
    cycle = sorted(str(s) for s in expr.free_symbols & definitions.keys())
    raise SBMLError(f"{where}: the rules and initial assignments defining {cycle} form a cycle; break it")


def _exact_numbers(expr: sp.Basic) -> sp.Basic:
    """Integers and rationals too large for JAX's integers become floats."""
    large = {n: sp.Float(n) for n in expr.atoms(sp.Rational) if max(abs(n.p), n.q) > _LARGEST_EXACT}
    return expr.xreplace(large) if large else expr


def compile_expressions(expressions: Sequence[sp.Basic], where: Sequence[str]) -> sympy2jax.SymbolicModule:
    """One module evaluating the SymPy `expressions` (a list; `where[i]` names each in messages)."""
    expressions = [_exact_numbers(e) for e in expressions]
    try:
        return sympy2jax.SymbolicModule(expressions, extra_funcs=_FUNCTIONS, make_array=False)
    except KeyError as error:
        for expr, name in zip(expressions, where):
            try:
                sympy2jax.SymbolicModule([expr], extra_funcs=_FUNCTIONS, make_array=False)
            except KeyError:
                functions = sorted(
                    {type(f).__name__ for f in sp.preorder_traversal(expr) if isinstance(f, sp.Function)}
                )
                raise SBMLError(
                    f"{name} uses a function that adprf cannot translate to JAX (one of {functions}); "
                    f"rewrite the formula without it"
                ) from error
        raise


def evaluate_each(module: sympy2jax.SymbolicModule, namespace: Mapping[str, Any]) -> list[Array]:
    """The module's expressions as float scalars, given the value of every symbol by name."""
    dtype = jnp.result_type(float)
    return [jnp.asarray(v, dtype) if isinstance(v, numbers.Number) else v.astype(dtype) for v in module(**namespace)]


def evaluate(module: sympy2jax.SymbolicModule, namespace: Mapping[str, Any]) -> Array:
    """The module's expressions as one float array."""
    values = evaluate_each(module, namespace)
    return jnp.stack(values) if values else jnp.zeros((0,), jnp.result_type(float))


def parse_formula(text: str, names: list[str], where: str) -> sp.Expr:
    """A formula written by a user (e.g. an output `"C_N / R_T"`), parsed by SymPy with every
    name in `names` read as that SBML id (so `S`, `E`, `N` or `beta` mean the model's ids, not
    SymPy's objects); refuses unknown names, listing the known ones."""
    from sympy.parsing.sympy_parser import parse_expr

    if not isinstance(text, str) or not text.strip():
        raise SBMLError(f"{where} must be an SBML id or a formula over ids (a non-empty string), got {text!r}")
    local = {name: sp.Symbol(name) for name in names}
    try:
        expr = parse_expr(text.replace("^", "**"), local_dict=local, evaluate=True)
    except (SyntaxError, TypeError, ValueError, AttributeError, NameError) as error:
        raise SBMLError(f"{where}: cannot parse {text!r} ({error}); write a formula such as 'S1 + 2*S2'") from error
    if not isinstance(expr, sp.Expr):
        raise SBMLError(f"{where}: {text!r} is not a numeric formula; write a formula such as 'S1 + 2*S2'")
    unknown = sorted(str(s) for s in expr.free_symbols if str(s) not in local)
    if unknown:
        raise SBMLError(f"{where}: {text!r} uses unknown ids {unknown}; the model's ids are {sorted(names)}")
    return expr
