"""A restricted evaluator for the small Python expressions of parser rules.

An expression such as ``2 if hi == 1 else (1 if lo == 1 else 0)`` is written by whoever
configures a device and runs on every line the device sends, inside the connector's
process. So it must be cheap (it runs per reading) and it must not be able to reach
anything: no imports, no attributes, no files, no network, bounded time and memory.

How:

* **Compile once, by whitelist.** The source is parsed with :mod:`ast` and every node is
  checked against a short list of allowed kinds (numbers, text, names, arithmetic,
  comparisons, ``and``/``or``/``not``, ``x if c else y``, tuples/lists/dicts/sets, indexing,
  calls of the listed functions). Anything else (``lambda``, comprehensions, ``:=``,
  f-strings, ``*args``, keyword arguments, attribute access) is refused with an error naming
  the construct and its column.
* **Nothing reachable.** Names are the caller's variables or, in call position only, the
  safe functions below. The code runs with empty ``__builtins__``; the functions and helper
  operators live under keys that are not identifiers (``@f:min``, ``@mul``), so no variable
  and no written name can reach or shadow them. Attribute access does not exist in the
  compiled code: ``s.strip()`` becomes ``@method(s, "strip")``, which checks the receiver's
  exact type (``str``, ``dict``, ``list``, ``tuple``) and the method name against a short
  list. Names and attributes starting with ``_`` are refused outright.
* **Bounded time.** The language has no loops (no comprehensions, no lambdas, no recursion),
  so evaluation visits each node at most once: the node budget (:attr:`Limits.max_nodes`)
  checked at compile time *is* the step budget, with no per-step cost at run time. Each
  node's own work is bounded by the size limits: texts and lists of at most
  :attr:`Limits.max_length` items, integers of at most :attr:`Limits.max_int_bits` bits.
* **Bounded memory.** Operators that can grow a value are compiled into checked helpers:
  ``**`` and ``<<`` refuse results over the integer limit (``9**9**9`` fails at once, it is
  never computed); ``*`` refuses integer products over the limit and repetitions over the
  length limit and repeats only text (a repeated list could hide quadratic work in ``==``);
  ``+`` checks result sizes; ``%`` on text (``'%999999999d' % 1``) is refused; ``round``
  bounds its digits; ``str`` and the methods check their result's length. Constants and
  the source itself are bounded.

Then :class:`CompiledExpression` evaluates the checked tree as Python bytecode (``eval`` of
a code object compiled from the *checked and rewritten* tree, never from the text), which
takes well under a microsecond for a typical rule expression.

Why not a library: ``simpleeval`` (1.0.8) was read and measured. It is a tree-walking
interpreter (about 1.3 µs per evaluation of the float-switch expression once parsed, fine),
but its ``**`` limit only checks each operand (``3999999**3999999`` ran for over 20 s
before being killed), its f-string format spec builds the padded string before checking
the length (``f"{1:99999999}"`` allocates 100 MB first), it has no node budget, and its
messages are English-only exceptions. ``asteval`` is a whole interpreter (loops, function
definitions), a much larger surface than rule expressions need. The checks here are small
enough to read in one sitting, and the tests try each known escape.
"""

from __future__ import annotations

import ast
import math
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from types import CodeType
from typing import Any, Final

from plantguard.core.errors import PlantGuardError
from plantguard.core.i18n import N_, gettext

__all__ = [
    "DEFAULT_LIMITS",
    "FUNCTION_NAMES",
    "CompiledExpression",
    "ExpressionError",
    "ExpressionEvalError",
    "ExpressionLimitError",
    "ExpressionNotAllowed",
    "ExpressionSyntaxError",
    "ExpressionTooComplex",
    "Limits",
    "compile_expression",
]


@dataclass(frozen=True)
class Limits:
    """Sizes an expression and its values may reach. The defaults fit parser rules: a line is
    at most a few thousand characters and a reading is one number."""

    max_source: int = 1000  # characters of expression text
    max_nodes: int = 200  # expression nodes; with no loops, also the most steps an evaluation takes
    max_depth: int = 50  # nesting of the tree (``a + b + c`` is nested once per ``+``)
    max_int_bits: int = 4096  # integers, constant or computed (about 1233 decimal digits)
    max_length: int = 10_000  # characters of a text, items of a list, tuple, set or dict
    max_round_digits: int = 100  # ``round(x, n)``: |n| at most this


DEFAULT_LIMITS: Final = Limits()


# -- errors -------------------------------------------------------------------------------------


class ExpressionError(PlantGuardError):
    """Base of every error about an expression. ``message`` is a catalogue id (English) with
    ``params``; ``line`` and ``column`` (1-based, in characters) locate the problem in the
    source when it is known. ``str()`` gives the English text."""

    status_code = 422
    code = "expression_error"

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None, **params: Any) -> None:
        super().__init__(message, **params)
        self.line = line
        self.column = column

    def text(self, locale: str | None = None) -> str:
        """The message in ``locale`` (the request's language when None), with its position."""
        params = {k: (gettext(v, locale) if isinstance(v, str) else v) for k, v in self.params.items()}
        msg = gettext(self.message, locale)
        msg = msg % params if params else msg
        if self.column is not None:
            if self.line is not None and self.line > 1:
                msg += " " + gettext(N_("(line %(line)s, column %(column)s)"), locale, line=self.line,
                                     column=self.column)
            else:
                msg += " " + gettext(N_("(column %(column)s)"), locale, column=self.column)
        return msg

    def english(self) -> str:
        """The message without the catalogue: message ids are English."""
        msg = self.message % self.params if self.params else self.message
        if self.column is not None:
            where = f"column {self.column}"
            if self.line is not None and self.line > 1:
                where = f"line {self.line}, {where}"
            msg += f" ({where})"
        return msg

    def __str__(self) -> str:
        return self.english()


class ExpressionSyntaxError(ExpressionError):
    """The text is not a Python expression at all."""

    code = "expression_syntax"


class ExpressionNotAllowed(ExpressionError):
    """The text is an expression, but uses something the evaluator does not allow."""

    code = "expression_not_allowed"


class ExpressionTooComplex(ExpressionError):
    """The text, its nesting, its node count or one of its constants is over the limits."""

    code = "expression_too_complex"


class ExpressionEvalError(ExpressionError):
    """Evaluation failed on these values (a type error, division by zero, a missing key ...)."""

    code = "expression_failed"


class ExpressionLimitError(ExpressionEvalError):
    """Evaluation would have made a value over the limits; it was stopped before."""

    code = "expression_limit"


# -- what is allowed ------------------------------------------------------------------------------


def _clamp(x: Any, lo: Any, hi: Any) -> Any:
    """``x`` limited to ``[lo, hi]``."""
    if lo > hi:
        raise ExpressionEvalError(N_("clamp(x, low, high): low is greater than high"))
    return lo if x < lo else hi if x > hi else x


def _bit(x: Any, n: Any) -> int:
    """Bit ``n`` (0 = least significant) of the integer ``x``, as 0 or 1: status words."""
    if not isinstance(x, int) or not isinstance(n, int):
        raise ExpressionEvalError(N_("bit(x, n) needs whole numbers"))
    if n < 0 or n > 4096:
        raise ExpressionEvalError(N_("bit(x, n): n must be between 0 and 4096"))
    return (x >> n) & 1


# Functions that cannot make a value over the limits from values within them (those that can
# are wrapped per Limits in _helpers).
_PLAIN_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": abs, "min": min, "max": max, "float": float, "bool": bool, "len": len, "sum": sum,
    "any": any, "all": all, "clamp": _clamp, "bit": _bit,
    "sqrt": math.sqrt, "exp": math.exp, "log": math.log, "log10": math.log10, "log2": math.log2,
    "floor": math.floor, "ceil": math.ceil, "trunc": math.trunc, "sin": math.sin, "cos": math.cos,
    "tan": math.tan, "asin": math.asin, "acos": math.acos, "atan": math.atan, "atan2": math.atan2,
    "hypot": math.hypot, "degrees": math.degrees, "radians": math.radians, "isnan": math.isnan,
    "isfinite": math.isfinite, "isinf": math.isinf, "copysign": math.copysign,
}
_WRAPPED_FUNCTIONS = ("int", "round", "str")
FUNCTION_NAMES: Final = frozenset(_PLAIN_FUNCTIONS) | frozenset(_WRAPPED_FUNCTIONS)

# Methods by the receiver's exact type. None of them can grow a value beyond a small factor
# of its receiver, and the results are length-checked anyway.
_METHODS: dict[type, frozenset[str]] = {
    str: frozenset({"lower", "upper", "strip", "lstrip", "rstrip", "startswith", "endswith", "isdigit",
                    "split", "find", "count"}),
    dict: frozenset({"get"}),
    list: frozenset({"index", "count"}),
    tuple: frozenset({"index", "count"}),
}
METHOD_NAMES: Final = frozenset().union(*_METHODS.values())

# Names someone might try, each refused with a message that says so (rather than "unknown").
_DANGEROUS: Final = frozenset({
    "open", "eval", "exec", "compile", "getattr", "setattr", "delattr", "hasattr", "globals", "locals",
    "vars", "dir", "input", "breakpoint", "help", "exit", "quit", "type", "object", "super", "memoryview",
    "bytearray", "bytes", "classmethod", "staticmethod", "property", "print", "iter", "next", "range",
    "map", "filter", "zip", "sorted", "reversed", "enumerate", "pow", "format", "repr", "id", "hash",
    "callable", "isinstance", "issubclass", "chr", "ord", "os", "sys", "subprocess", "socket", "importlib",
    "builtins", "math",
})

_CONSTRUCTS: dict[type, str] = {
    ast.Lambda: N_("lambda functions"),
    ast.ListComp: N_("comprehensions"),
    ast.SetComp: N_("comprehensions"),
    ast.DictComp: N_("comprehensions"),
    ast.GeneratorExp: N_("comprehensions"),
    ast.NamedExpr: N_("assignments (:=)"),
    ast.JoinedStr: N_("f-strings"),
    ast.FormattedValue: N_("f-strings"),
    ast.Starred: N_("unpacking with *"),
    ast.Await: N_("await"),
    ast.Yield: N_("yield"),
    ast.YieldFrom: N_("yield"),
}

_OPERATOR_SYMBOLS: dict[type, str] = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%", ast.Pow: "**",
    ast.LShift: "<<", ast.RShift: ">>", ast.BitOr: "|", ast.BitXor: "^", ast.BitAnd: "&", ast.MatMult: "@",
}
# Operators compiled into checked helpers; the rest run as they are (they cannot grow values).
_CHECKED_OPS: dict[type, str] = {ast.Add: "@add", ast.Mult: "@mul", ast.Mod: "@mod", ast.Pow: "@pow",
                                 ast.LShift: "@lshift"}
_PLAIN_OPS: tuple[type, ...] = (ast.Sub, ast.Div, ast.FloorDiv, ast.RShift, ast.BitOr, ast.BitXor, ast.BitAnd)

_UNDERSCORE_NAME = N_("Names starting with an underscore are not allowed: %(name)s")
_NOT_ALLOWED = N_("Not allowed in expressions: %(construct)s")
_UNDERSCORE_ATTRIBUTE = N_("Attributes starting with an underscore are not allowed: %(name)s")
_SIZED = (str, list, tuple, dict, set, frozenset)


# -- checked operators, per Limits ------------------------------------------------------------------


def _too_big_int(limits: Limits) -> ExpressionLimitError:
    return ExpressionLimitError(N_("Number too large (more than %(bits)s bits)"), bits=limits.max_int_bits)


def _too_long(limits: Limits) -> ExpressionLimitError:
    return ExpressionLimitError(N_("Result too large (more than %(max)s characters or items)"), max=limits.max_length)


@cache
def _helpers(limits: Limits) -> dict[str, Any]:
    """The globals an expression runs with: no builtins, the functions and checked operators."""
    bits, length = limits.max_int_bits, limits.max_length

    def sized(r: Any) -> Any:
        if type(r) is int:
            if r.bit_length() > bits:
                raise _too_big_int(limits)
        elif isinstance(r, _SIZED) and len(r) > length:
            raise _too_long(limits)
        return r

    def add(a: Any, b: Any) -> Any:
        return sized(a + b)

    def mul(a: Any, b: Any) -> Any:
        if isinstance(a, int) and isinstance(b, int):
            if a.bit_length() + b.bit_length() > bits + 1:
                raise _too_big_int(limits)
            return sized(a * b)
        for seq, n in ((a, b), (b, a)):
            if isinstance(seq, _SIZED):
                if not isinstance(seq, str):
                    raise ExpressionEvalError(N_("Only text can be repeated with *"))
                if isinstance(n, int) and len(seq) * n > length:
                    raise _too_long(limits)
        return a * b

    def mod(a: Any, b: Any) -> Any:
        if isinstance(a, (str, bytes)):
            raise ExpressionEvalError(N_("Text cannot be formatted with the remainder operator; use str() and +"))
        return a % b

    def power(a: Any, b: Any) -> Any:
        # Integer powers are refused from an estimate of the result's size, before any work.
        if isinstance(a, int) and isinstance(b, int) and b > 0 and abs(a) > 1 and (
                b > bits or math.log2(abs(a)) * b > bits + 1):
            raise _too_big_int(limits)
        r = a**b
        if isinstance(r, complex):
            raise ExpressionEvalError(N_("The result is not a real number"))
        return sized(r)

    def lshift(a: Any, b: Any) -> Any:
        if isinstance(a, int) and isinstance(b, int) and b > 0 and (b > bits or a.bit_length() + b > bits):
            raise _too_big_int(limits)
        return a << b

    def method(obj: Any, name: str, *args: Any) -> Any:
        allowed = _METHODS.get(type(obj))
        if allowed is None or name not in allowed:
            raise ExpressionEvalError(N_("Method %(name)s cannot be used on %(type)s"), name=name,
                                      type=type(obj).__name__)
        return sized(getattr(obj, name)(*args))

    def to_int(x: Any, *base: Any) -> int:
        if isinstance(x, str) and len(x) > bits:  # before parsing: int() of text is quadratic
            raise _too_big_int(limits)
        r: int = sized(int(x, *base))
        return r

    def to_round(x: Any, *ndigits: Any) -> Any:
        if ndigits and isinstance(ndigits[0], int) and abs(ndigits[0]) > limits.max_round_digits:
            raise ExpressionLimitError(N_("round(x, n): n must be between -%(max)s and %(max)s"),
                                       max=limits.max_round_digits)
        return round(x, *ndigits)

    def to_str(x: Any) -> str:
        if isinstance(x, _SIZED) and len(x) > length:
            raise _too_long(limits)
        r: str = sized(str(x))
        return r

    out: dict[str, Any] = {f"@f:{name}": fn for name, fn in _PLAIN_FUNCTIONS.items()}
    out.update({"@f:int": to_int, "@f:round": to_round, "@f:str": to_str, "@add": add, "@mul": mul, "@mod": mod,
                "@pow": power, "@lshift": lshift, "@method": method})
    return out


# -- compiling ----------------------------------------------------------------------------------------


def _column(src_lines: list[str], lineno: int | None, col: int | None, shift: int = 0) -> tuple[int | None, int | None]:
    """1-based line and character column from an ast position (whose offsets count UTF-8
    bytes); ``shift``: the characters stripped from the start of the first line before parsing."""
    if lineno is None or col is None or not (1 <= lineno <= len(src_lines)):
        return lineno, None
    prefix = src_lines[lineno - 1].encode("utf-8")[:col].decode("utf-8", "ignore")
    return lineno, len(prefix) + 1 + (shift if lineno == 1 else 0)


class _Checker:
    """Checks a parsed expression against the whitelist and rewrites it for evaluation."""

    def __init__(self, source: str, names: frozenset[str] | None, limits: Limits, shift: int) -> None:
        self.lines = source.splitlines() or [""]
        self.shift = shift
        self.names = names
        self.limits = limits
        self.nodes = 0
        self.used: set[str] = set()

    def fail(self, cls: type[ExpressionError], node: ast.AST, message: str, **params: Any) -> ExpressionError:
        line, column = _column(self.lines, getattr(node, "lineno", None), getattr(node, "col_offset", None),
                               self.shift)
        return cls(message, line=line, column=column, **params)

    def fail_attr(self, node: ast.Attribute, message: str, **params: Any) -> ExpressionError:
        """An error pointing at the attribute's name (``x.__class__`` → the ``_``), not at ``x``."""
        end_line, end_col = getattr(node, "end_lineno", None), getattr(node, "end_col_offset", None)
        if end_line is None or end_col is None:
            return self.fail(ExpressionNotAllowed, node, message, **params)
        line, column = _column(self.lines, end_line, max(end_col - len(node.attr.encode()), 0), self.shift)
        return ExpressionNotAllowed(message, line=line, column=column, **params)

    def _name_call(self, node: ast.Name) -> ast.expr:
        name = node.id
        if name.startswith("_"):
            raise self.fail(ExpressionNotAllowed, node, _UNDERSCORE_NAME, name=name)
        if name in FUNCTION_NAMES:
            return ast.Name(id=f"@f:{name}", ctx=ast.Load())
        if name in _DANGEROUS:
            raise self.fail(ExpressionNotAllowed, node, N_("%(name)s is not allowed in expressions"), name=name)
        raise self.fail(ExpressionNotAllowed, node, N_("Unknown function %(name)s; available: %(available)s"),
                        name=name, available=", ".join(sorted(FUNCTION_NAMES)))

    def _name_value(self, node: ast.Name) -> ast.expr:
        name = node.id
        if name.startswith("_"):
            raise self.fail(ExpressionNotAllowed, node, _UNDERSCORE_NAME, name=name)
        if self.names is not None and name in self.names:
            self.used.add(name)
            return ast.Name(id=name, ctx=ast.Load())
        if name in _DANGEROUS:
            raise self.fail(ExpressionNotAllowed, node, N_("%(name)s is not allowed in expressions"), name=name)
        if name in FUNCTION_NAMES:
            raise self.fail(ExpressionNotAllowed, node, N_("%(name)s is a function; call it, e.g. %(name)s(x)"),
                            name=name)
        if self.names is not None:
            available = ", ".join(sorted(self.names)) or "-"
            raise self.fail(ExpressionNotAllowed, node, N_("Unknown name %(name)s; available: %(available)s"),
                            name=name, available=available)
        self.used.add(name)
        return ast.Name(id=name, ctx=ast.Load())

    def _constant(self, node: ast.Constant) -> ast.expr:
        v = node.value
        if isinstance(v, bool) or v is None or isinstance(v, float):
            return ast.Constant(value=v)
        if isinstance(v, int):
            if v.bit_length() > self.limits.max_int_bits:
                raise self.fail(ExpressionTooComplex, node, N_("Number too large (more than %(bits)s bits)"),
                                bits=self.limits.max_int_bits)
            return ast.Constant(value=v)
        if isinstance(v, str):
            return ast.Constant(value=v)  # bounded by the source length
        if isinstance(v, complex):
            raise self.fail(ExpressionNotAllowed, node, N_("Complex numbers are not supported"))
        if isinstance(v, bytes):
            raise self.fail(ExpressionNotAllowed, node, N_("Byte strings are not supported; use text"))
        raise self.fail(ExpressionNotAllowed, node, _NOT_ALLOWED,
                        construct=type(v).__name__)

    def _call(self, node: ast.Call, depth: int) -> ast.expr:
        if node.keywords:
            raise self.fail(ExpressionNotAllowed, node.keywords[0], N_("Keyword arguments are not supported"))
        for a in node.args:
            if isinstance(a, ast.Starred):
                raise self.fail(ExpressionNotAllowed, a, _NOT_ALLOWED,
                                construct=_CONSTRUCTS[ast.Starred])
        args = [self.visit(a, depth + 1) for a in node.args]
        func = node.func
        if isinstance(func, ast.Name):
            self.count(func)
            return ast.Call(func=self._name_call(func), args=args, keywords=[])
        if isinstance(func, ast.Attribute):
            self.count(func)
            attr = func.attr
            if attr.startswith("_"):
                raise self.fail_attr(func, _UNDERSCORE_ATTRIBUTE, name=attr)
            if attr not in METHOD_NAMES:
                raise self.fail_attr(func, N_("Method %(name)s is not allowed; allowed: %(allowed)s"),
                                     name=attr, allowed=", ".join(sorted(METHOD_NAMES)))
            receiver = self.visit(func.value, depth + 1)
            return ast.Call(func=ast.Name(id="@method", ctx=ast.Load()),
                            args=[receiver, ast.Constant(value=attr), *args], keywords=[])
        raise self.fail(ExpressionNotAllowed, node, N_("Only the listed functions can be called"))

    def count(self, node: ast.AST) -> None:
        self.nodes += 1
        if self.nodes > self.limits.max_nodes:
            raise self.fail(ExpressionTooComplex, node, N_("Expression too complex: more than %(max)s parts"),
                            max=self.limits.max_nodes)

    def visit(self, node: ast.AST, depth: int = 0) -> ast.expr:
        if depth > self.limits.max_depth:
            raise self.fail(ExpressionTooComplex, node, N_("Expression nested too deeply (more than %(max)s levels)"),
                            max=self.limits.max_depth)
        self.count(node)
        d = depth + 1
        if isinstance(node, ast.Constant):
            return self._constant(node)
        if isinstance(node, ast.Name):
            return self._name_value(node)
        if isinstance(node, ast.BinOp):
            left, right = self.visit(node.left, d), self.visit(node.right, d)
            op = type(node.op)
            if op in _CHECKED_OPS:
                return ast.Call(func=ast.Name(id=_CHECKED_OPS[op], ctx=ast.Load()), args=[left, right], keywords=[])
            if op in _PLAIN_OPS:
                return ast.BinOp(left=left, op=node.op, right=right)
            raise self.fail(ExpressionNotAllowed, node, N_("Operator %(op)s is not allowed"),
                            op=_OPERATOR_SYMBOLS.get(op, op.__name__))
        if isinstance(node, ast.UnaryOp):
            return ast.UnaryOp(op=node.op, operand=self.visit(node.operand, d))
        if isinstance(node, ast.BoolOp):
            return ast.BoolOp(op=node.op, values=[self.visit(v, d) for v in node.values])
        if isinstance(node, ast.Compare):
            return ast.Compare(left=self.visit(node.left, d), ops=node.ops,
                               comparators=[self.visit(c, d) for c in node.comparators])
        if isinstance(node, ast.IfExp):
            return ast.IfExp(test=self.visit(node.test, d), body=self.visit(node.body, d),
                             orelse=self.visit(node.orelse, d))
        if isinstance(node, ast.Call):
            return self._call(node, depth)
        if isinstance(node, ast.Attribute):
            if node.attr.startswith("_"):
                raise self.fail_attr(node, _UNDERSCORE_ATTRIBUTE, name=node.attr)
            raise self.fail_attr(node, N_("Attributes cannot be read; only these methods can be called: %(allowed)s"),
                                 allowed=", ".join(sorted(METHOD_NAMES)))
        if isinstance(node, ast.Subscript):
            return ast.Subscript(value=self.visit(node.value, d), slice=self.visit(node.slice, d), ctx=ast.Load())
        if isinstance(node, ast.Slice):
            return ast.Slice(lower=None if node.lower is None else self.visit(node.lower, d),
                             upper=None if node.upper is None else self.visit(node.upper, d),
                             step=None if node.step is None else self.visit(node.step, d))
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            for e in node.elts:
                if isinstance(e, ast.Starred):
                    raise self.fail(ExpressionNotAllowed, e, _NOT_ALLOWED,
                                    construct=_CONSTRUCTS[ast.Starred])
            elts = [self.visit(e, d) for e in node.elts]
            if isinstance(node, ast.Set):
                return ast.Set(elts=elts)
            return ast.Tuple(elts=elts, ctx=ast.Load()) if isinstance(node, ast.Tuple) else ast.List(elts=elts,
                                                                                                      ctx=ast.Load())
        if isinstance(node, ast.Dict):
            keys: list[ast.expr | None] = []
            for k in node.keys:
                if k is None:
                    raise self.fail(ExpressionNotAllowed, node, _NOT_ALLOWED,
                                    construct=N_("unpacking with **"))
                keys.append(self.visit(k, d))
            return ast.Dict(keys=keys, values=[self.visit(v, d) for v in node.values])
        construct = _CONSTRUCTS.get(type(node), type(node).__name__)
        raise self.fail(ExpressionNotAllowed, node, _NOT_ALLOWED,
                        construct=construct)


class CompiledExpression:
    """A checked expression, ready to evaluate many times. Immutable and thread-safe."""

    __slots__ = ("_code", "_globals", "limits", "names", "source")

    def __init__(self, source: str, code: CodeType, names: frozenset[str], limits: Limits) -> None:
        self.source = source
        self.names = names  # the variables it reads
        self.limits = limits
        self._code = code
        self._globals: dict[str, Any] = {"__builtins__": {}, **_helpers(limits)}

    def evaluate(self, variables: Mapping[str, Any] | None = None) -> Any:
        """The expression's value with ``variables`` bound; raises :class:`ExpressionError`."""
        try:
            # The code object was compiled from the checked tree, never from the text.
            return eval(self._code, self._globals, {} if variables is None else variables)
        except ExpressionError:
            raise
        except Exception as exc:  # every failure of user code becomes an expression error
            raise _runtime_error(exc) from None

    __call__ = evaluate

    def __repr__(self) -> str:
        return f"CompiledExpression({self.source!r})"


def _detail(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= 200 else text[:197] + "..."


def _runtime_error(exc: Exception) -> ExpressionError:
    if isinstance(exc, ZeroDivisionError):
        return ExpressionEvalError(N_("Division by zero"))
    if isinstance(exc, NameError):
        return ExpressionEvalError(N_("Unknown name %(name)s"), name=str(getattr(exc, "name", "") or _detail(exc)))
    if isinstance(exc, OverflowError):
        return ExpressionEvalError(N_("Number too large"))
    if isinstance(exc, (KeyError, IndexError)):
        return ExpressionEvalError(N_("No such item: %(detail)s"), detail=_detail(exc))
    if isinstance(exc, TypeError):
        return ExpressionEvalError(N_("Wrong type: %(detail)s"), detail=_detail(exc))
    if isinstance(exc, ValueError):
        return ExpressionEvalError(N_("Invalid value: %(detail)s"), detail=_detail(exc))
    if isinstance(exc, (RecursionError, MemoryError)):
        return ExpressionLimitError(N_("Expression too complex to evaluate"))
    return ExpressionEvalError(N_("Expression failed: %(detail)s"), detail=f"{type(exc).__name__}: {_detail(exc)}")


def compile_expression(source: str, names: Iterable[str] | None = None,
                       limits: Limits = DEFAULT_LIMITS) -> CompiledExpression:
    """Check ``source`` and compile it. ``names``: the variables it may read (any name when
    None; then a missing one fails at evaluation). Raises :class:`ExpressionError` naming the
    problem and, where there is one, its column."""
    if not isinstance(source, str):
        raise ExpressionSyntaxError(N_("An expression must be text"))
    if len(source) > limits.max_source:
        raise ExpressionTooComplex(N_("Expression too long: %(length)s characters, at most %(max)s"),
                                   length=len(source), max=limits.max_source)
    if not source.strip():
        raise ExpressionSyntaxError(N_("The expression is empty"))
    if "\x00" in source:
        raise ExpressionSyntaxError(N_("Not a valid expression: %(detail)s"), detail="NUL character")
    text = source.strip()
    shift = len(source) - len(source.lstrip())
    try:
        with warnings.catch_warnings():  # e.g. "invalid escape sequence": harmless here, and not an error
            warnings.simplefilter("ignore")
            tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        column = exc.offset
        if column is not None:
            if column < 1:  # "at the end of the input"
                column = len(text.splitlines()[-1] if text else "") + 1
            column += shift if exc.lineno in (None, 1) else 0
        raise ExpressionSyntaxError(N_("Not a valid expression: %(detail)s"), line=exc.lineno, column=column,
                                    detail=exc.msg) from None
    except (RecursionError, MemoryError):
        raise ExpressionTooComplex(N_("Expression nested too deeply (more than %(max)s levels)"),
                                   max=limits.max_depth) from None
    except ValueError as exc:  # e.g. text that cannot be source code at all
        raise ExpressionSyntaxError(N_("Not a valid expression: %(detail)s"), detail=_detail(exc)) from None
    checker = _Checker(text, None if names is None else frozenset(names), limits, shift)
    body = checker.visit(tree.body)
    checked = ast.fix_missing_locations(ast.Expression(body=body))
    try:
        with warnings.catch_warnings():  # e.g. "'is' with a literal"
            warnings.simplefilter("ignore")
            code = compile(checked, "<expression>", "eval", dont_inherit=True)
    except (RecursionError, MemoryError):  # pragma: no cover - prevented by max_depth
        raise ExpressionTooComplex(N_("Expression nested too deeply (more than %(max)s levels)"),
                                   max=limits.max_depth) from None
    return CompiledExpression(source, code, frozenset(checker.used), limits)
