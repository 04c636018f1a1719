"""The small expression language of the ``filter`` and ``derive`` stages.

Text such as ``age >= 18 and country in ('NO', 'SE')`` goes through a
hand-written tokenizer and a Pratt (precedence-climbing) parser into a tiny
AST. Binding the AST to a batch schema compiles it into nested closures that
call ``pyarrow.compute`` kernels on whole columns, so evaluation is
column-wise and costs a handful of Python calls per batch, not per row.

Safety: the text is never handed to ``eval``/``exec``/``compile``. The
grammar has no attribute access, indexing, lambdas or imports; a name is
either a column or one of the fixed functions in ``FUNCTIONS``. Anything else
is a ``ConfigError`` that names the key, the position and the expression.

Grammar (lowest to highest precedence)::

    expr     := or
    or       := and ("or" and)*
    and      := not ("and" not)*
    not      := "not" not | compare
    compare  := concat [ cmp_op concat
                       | ["not"] "in" "(" literal ("," literal)* ")"
                       | "is" ["not"] "null" ]
    concat   := sum ("||" sum)*
    sum      := product (("+" | "-") product)*
    product  := unary (("*" | "/" | "%") unary)*
    unary    := ("-" | "+") unary | primary
    primary  := number | string | true | false | null
              | name | `quoted name` | function "(" [expr ("," expr)*] ")"
              | "(" expr ")"
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeAlias

import pyarrow as pa

from . import kernels, suggest
from .convert import convert, decimal_to_float
from .errors import ConfigError, LoaderError, TransformError
from .types import decimal_type, decoded, empty_batch, is_text, is_zoned, parse_type, plain_type, type_name, value_type

__all__ = [
    "FUNCTIONS",
    "BoundExpression",
    "Expression",
    "parse",
]

Value: TypeAlias = pa.Array | pa.Scalar
Fn = Callable[[pa.RecordBatch], Value]

KEYWORDS = frozenset({"and", "or", "not", "in", "is", "null", "true", "false"})
_MAX_DEPTH = 100  # deeper nesting is surely not a hand-written expression

# ---------------------------------------------------------------- tokens


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # num, str, name, qname, kw, op, end
    value: Any
    pos: int  # 0-based offset into the text
    text: str = ""


_OPS = ("<=", ">=", "<>", "!=", "==", "||", "=", "<", ">", "+", "-", "*", "/", "%", "(", ")", ",")
_NUMBER = re.compile(r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_NAME = re.compile(r"[^\W\d]\w*")


@dataclass(frozen=True)
class _Source:
    """The expression text plus where it came from, for error messages."""

    text: str
    key: str
    stage: str | None

    def error(self, message: str, pos: int, tail: str = "") -> ConfigError:
        """``key: message at position N in "text"`` plus an optional hint after it."""
        return ConfigError(f'{self.key}: {message} at position {pos + 1} in "{self.text}"{tail}', stage=self.stage)


def _tokenize(src: _Source) -> list[Token]:
    text, n = src.text, len(src.text)
    out: list[Token] = []
    i = 0
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        token, i = _token_at(src, i)
        out.append(token)
    out.append(Token("end", None, n))
    return out


def _token_at(src: _Source, i: int) -> tuple[Token, int]:
    """The token that starts at ``i`` (not a space), and where the next one may start."""
    text = src.text
    ch = text[i]
    if ch.isdigit() or (ch == "." and text[i + 1 : i + 2].isdigit()):
        return _number_at(src, i)
    if ch in "'\"`":
        return _quoted_at(src, i)
    m = _NAME.match(text, i)
    if m:
        word = m.group()
        kw = word.lower()
        return (Token("kw", kw, i, word) if kw in KEYWORDS else Token("name", word, i, word)), m.end()
    op = next((op for op in _OPS if text.startswith(op, i)), None)
    if op is None:
        raise src.error(f"unexpected {ch!r}", i)
    return Token("op", op, i, op), i + len(op)


def _number_at(src: _Source, i: int) -> tuple[Token, int]:
    text = src.text
    m = _NUMBER.match(text, i)
    assert m is not None
    raw, end = m.group(), m.end()
    if end < len(text) and (text[end].isalnum() or text[end] in "_."):
        raise src.error(f"invalid number {text[i : end + 1]!r}", i)
    value: int | float = float(raw) if any(c in raw for c in ".eE") else int(raw)
    return Token("num", value, i, raw), end


def _quoted_at(src: _Source, i: int) -> tuple[Token, int]:
    """A 'string' or a `quoted name`; a doubled quote stands for the quote itself."""
    text, quote = src.text, src.text[i]
    j, parts = i + 1, []
    while True:
        k = text.find(quote, j)
        if k < 0:
            what = "quoted name" if quote == "`" else "string"
            raise src.error(f"unterminated {what} (missing closing {quote})", i)
        parts.append(text[j:k])
        if not text.startswith(quote, k + 1):
            break
        parts.append(quote)
        j = k + 2
    value = "".join(parts)
    if quote != "`":
        return Token("str", value, i, text[i : k + 1]), k + 1
    if not value:
        raise src.error("empty quoted name", i)
    return Token("qname", value, i, text[i : k + 1]), k + 1


def _describe(t: Token) -> str:
    if t.kind == "end":
        return "end of expression"
    if t.kind in ("name", "qname"):
        return f"name {t.value!r}"
    if t.kind == "num":
        return f"number {t.text}"
    if t.kind == "str":
        return f"string {t.value!r}"
    return f"{t.text or t.value!r}" if t.kind == "kw" else f"'{t.value}'"


# ---------------------------------------------------------------- AST


@dataclass(frozen=True, slots=True)
class Node:
    pos: int


@dataclass(frozen=True, slots=True)
class Lit(Node):
    value: Any


@dataclass(frozen=True, slots=True)
class Col(Node):
    name: str


@dataclass(frozen=True, slots=True)
class Unary(Node):
    op: str  # "not", "-", "+"
    arg: Node


@dataclass(frozen=True, slots=True)
class Binary(Node):
    op: str  # or and = != < <= > >= || + - * / %
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class InList(Node):
    arg: Node
    values: tuple[Any, ...]
    negated: bool


@dataclass(frozen=True, slots=True)
class IsNull(Node):
    arg: Node
    negated: bool


@dataclass(frozen=True, slots=True)
class Call(Node):
    name: str
    args: tuple[Node, ...]


# ---------------------------------------------------------------- parser

_CMP = {"=": "=", "==": "=", "!=": "!=", "<>": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_BP_OR, _BP_AND, _BP_NOT, _BP_CMP, _BP_CONCAT, _BP_SUM, _BP_PRODUCT, _BP_UNARY = (
    10,
    20,
    25,
    30,
    40,
    50,
    60,
    70,
)
_INFIX_BP = {
    **{op: _BP_CMP for op in _CMP},
    "||": _BP_CONCAT,
    "+": _BP_SUM,
    "-": _BP_SUM,
    "*": _BP_PRODUCT,
    "/": _BP_PRODUCT,
    "%": _BP_PRODUCT,
}


_KEYWORD_VALUES = {"true": True, "false": False, "null": None}


class _Parser:
    def __init__(self, src: _Source) -> None:
        self.src = src
        self.tokens = _tokenize(src)
        self.i = 0
        self.depth = 0

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def next(self) -> Token:
        t = self.tokens[self.i]
        if t.kind != "end":
            self.i += 1
        return t

    def accept(self, kind: str, value: Any) -> Token | None:
        t = self.peek()
        if t.kind == kind and t.value == value:
            return self.next()
        return None

    def expect(self, kind: str, value: Any, what: str) -> Token:
        t = self.peek()
        if t.kind == kind and t.value == value:
            return self.next()
        raise self.src.error(f"expected {what}, found {_describe(t)}", t.pos)

    def unexpected(self, t: Token) -> ConfigError:
        return self.src.error(f"unexpected {_describe(t)}", t.pos)

    def parse(self) -> Node:
        if self.peek().kind == "end":
            raise self.src.error("empty expression", 0)
        node = self.expr(0)
        t = self.peek()
        if t.kind != "end":
            raise self.unexpected(t)
        return node

    def lbp(self, t: Token) -> int:
        if t.kind == "op":
            return _INFIX_BP.get(t.value, 0)
        if t.kind == "kw":
            if t.value == "or":
                return _BP_OR
            if t.value == "and":
                return _BP_AND
            if t.value in ("in", "is"):
                return _BP_CMP
            if t.value == "not" and self.peek(1).kind == "kw" and self.peek(1).value == "in":
                return _BP_CMP
        return 0

    def expr(self, rbp: int) -> Node:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise self.src.error("expression is nested too deeply", self.peek().pos)
        left = self.nud(self.next())
        while rbp < self.lbp(self.peek()):
            left = self.led(self.next(), left)
        self.depth -= 1
        return left

    def nud(self, t: Token) -> Node:
        if t.kind in ("num", "str"):
            return Lit(t.pos, t.value)
        if t.kind == "kw":
            return self.prefix_keyword(t)
        if t.kind == "op":
            return self.prefix_operator(t)
        if t.kind == "name" and self.peek().kind == "op" and self.peek().value == "(":
            return self.call(t)
        if t.kind in ("name", "qname"):
            return Col(t.pos, t.value)
        raise self.unexpected(t)

    def prefix_keyword(self, t: Token) -> Node:
        if t.value in _KEYWORD_VALUES:
            return Lit(t.pos, _KEYWORD_VALUES[t.value])
        if t.value == "not":
            return Unary(t.pos, "not", self.expr(_BP_NOT))
        raise self.unexpected(t)

    def prefix_operator(self, t: Token) -> Node:
        if t.value in ("-", "+"):
            arg = self.expr(_BP_UNARY)
            if isinstance(arg, Lit) and _is_number(arg.value):
                return Lit(t.pos, -arg.value if t.value == "-" else arg.value)
            return Unary(t.pos, t.value, arg)
        if t.value == "(":
            node = self.expr(0)
            self.expect("op", ")", "')'")
            return node
        raise self.unexpected(t)

    def led(self, t: Token, left: Node) -> Node:
        if t.kind == "op" and t.value in _CMP:
            node: Node = Binary(t.pos, _CMP[t.value], left, self.expr(_BP_CMP))
        elif t.kind == "op":
            return Binary(t.pos, t.value, left, self.expr(_INFIX_BP[t.value]))
        elif t.value in ("and", "or"):
            return Binary(t.pos, t.value, left, self.expr(self.lbp(t)))
        elif t.value == "in":
            node = self.in_list(left, t, negated=False)
        elif t.value == "not":
            self.next()  # the "in" that lbp() saw
            node = self.in_list(left, t, negated=True)
        else:  # is [not] null
            negated = self.accept("kw", "not") is not None
            self.expect("kw", "null", "null after 'is'")
            node = IsNull(t.pos, left, negated)
        after = self.peek()
        if self.lbp(after) == _BP_CMP:
            raise self.src.error(
                f"comparisons cannot be chained (found {_describe(after)}); join them with and",
                after.pos,
            )
        return node

    def in_list(self, left: Node, t: Token, *, negated: bool) -> Node:
        self.expect("op", "(", "'(' after in")
        values = []
        while True:
            item = self.expr(0)
            if not isinstance(item, Lit):
                raise self.src.error("in (...) takes literal values only", item.pos)
            values.append(item.value)
            if self.accept("op", ","):
                continue
            self.expect("op", ")", "',' or ')'")
            return InList(t.pos, left, tuple(values), negated)

    def call(self, t: Token) -> Node:
        fname = t.value.lower()
        spec = FUNCTIONS.get(fname)
        if spec is None:
            hint = _did_you_mean(t.value, FUNCTIONS)
            raise self.src.error(
                f"unknown function {t.value!r}", t.pos, f"{hint}; functions: {', '.join(sorted(FUNCTIONS))}"
            )
        self.expect("op", "(", "'('")
        args: list[Node] = []
        if not self.accept("op", ")"):
            while True:
                args.append(self.expr(0))
                if self.accept("op", ","):
                    continue
                self.expect("op", ")", "',' or ')'")
                break
        lo, hi = spec.arity
        if not lo <= len(args) <= (hi if hi >= 0 else len(args)):
            want = str(lo) if lo == hi else (f"{lo} to {hi}" if hi >= 0 else f"at least {lo}")
            raise self.src.error(f"{fname}() takes {want} arguments, got {len(args)}", t.pos)
        for k, kind in spec.literal.items():
            if k < len(args):
                _check_literal(self.src, fname, k, args[k], kind)
        return Call(t.pos, fname, tuple(args))


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _did_you_mean(word: str, options: Sequence[str] | dict[str, Any]) -> str:
    guess = suggest.did_you_mean(word, options)
    return f" ({guess})" if guess else ""


def _check_literal(src: _Source, fname: str, k: int, node: Node, kind: str) -> None:
    ok = isinstance(node, Lit) and (
        isinstance(node.value, str)
        if kind in ("str", "regex", "type")
        else isinstance(node.value, int) and not isinstance(node.value, bool)
    )
    if not ok:
        what = {"str": "string", "regex": "string", "type": "type name string", "int": "whole number"}[kind]
        raise src.error(f"argument {k + 1} of {fname}() must be a {what} literal", node.pos)
    assert isinstance(node, Lit)
    if kind == "regex":
        try:
            kernels.match_substring_regex(pa.array([""]), node.value)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise src.error(f"invalid regular expression {node.value!r} ({_first_line(exc)})", node.pos) from None
    if kind == "type":
        try:
            parse_type(node.value, where="cast")
        except ConfigError:
            raise src.error(f"unknown type {node.value!r} in cast()", node.pos) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# ---------------------------------------------------------------- compiler


@dataclass(slots=True)
class _C:
    """A compiled sub-expression: its closure and its Arrow result type."""

    fn: Fn
    type: pa.DataType
    node: Node


def _is_temporal(t: pa.DataType) -> bool:
    return bool(pa.types.is_date(t) or pa.types.is_timestamp(t))


def _reads_text(t: pa.DataType) -> bool:
    """A type a string literal compared with it is read as (``tm = '01:00'``): Arrow compares
    no date, time or timestamp with text."""
    return _is_temporal(t) or pa.types.is_time(t)


def _broadcast(value: Value, n: int) -> pa.Array:
    if isinstance(value, pa.Scalar):
        return pa.repeat(value, n)
    return value


def _as_array(value: Value) -> pa.Array:
    return pa.array([value.as_py()], value.type) if isinstance(value, pa.Scalar) else value


def _as_string(value: Value) -> Value:
    """``value`` as ``cast(x, 'string')`` writes it: the loader's text form (``2.0``, not
    Arrow's ``2``; ISO timestamps, UTC with ``Z``), also in ``concat`` and ``||``."""
    out = convert(_as_array(value), pa.string(), explicit=True).array
    return out[0] if isinstance(value, pa.Scalar) else out


class _Compiler:
    def __init__(self, src: _Source, schema: pa.Schema) -> None:
        self.src = src
        self.schema = schema
        self.names = schema.names
        self.empty = empty_batch(schema)

    def describe(self, node: Node) -> str:
        if isinstance(node, Binary):
            return f"operator {node.op!r}" if node.op not in ("and", "or") else f"'{node.op}'"
        if isinstance(node, Unary):
            return f"operator {node.op!r}" if node.op != "not" else "'not'"
        if isinstance(node, Call):
            return f"{node.name}()"
        if isinstance(node, InList):
            return "'not in'" if node.negated else "'in'"
        return "expression"

    def guard(self, fn: Fn, node: Node, types: Sequence[pa.DataType]) -> _C:
        """Type-check ``fn`` by running it on an empty batch; wrap runtime errors."""
        src, what = self.src, self.describe(node)

        def run(batch: pa.RecordBatch) -> Value:
            try:
                return fn(batch)
            except (pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
                raise src.error(f"{what} failed: {_first_line(exc)}", node.pos) from None
            except (pa.ArrowInvalid, OverflowError, ZeroDivisionError) as exc:
                # A value problem (overflow, say), not a mistake in the text.
                raise TransformError(
                    f'{src.key}: {what} failed: {_first_line(exc)} at position {node.pos + 1} in "{src.text}"',
                    stage=src.stage,
                ) from exc

        try:
            out = fn(self.empty)
        except ConfigError:
            raise
        except LoaderError as exc:  # a constant part overflowed already
            raise ConfigError(exc.message, stage=src.stage) from None
        except (pa.ArrowInvalid, OverflowError) as exc:
            raise src.error(f"{what} failed: {_first_line(exc)}", node.pos) from None
        except (pa.ArrowException, TypeError, ValueError) as exc:
            args = " and ".join(type_name(t) for t in types)
            raise src.error(
                f"{what} cannot be applied to {args}" if types else f"{what} failed",
                node.pos,
                f" ({_first_line(exc)})",
            ) from None
        return _C(run, out.type, node)

    # -- nodes

    def compile(self, node: Node) -> _C:
        if isinstance(node, Lit):
            return self.literal(node)
        if isinstance(node, Col):
            return self.column(node)
        if isinstance(node, Unary):
            return self.unary(node)
        if isinstance(node, Binary):
            return self.binary(node)
        if isinstance(node, InList):
            return self.in_list(node)
        if isinstance(node, IsNull):
            arg = self.compile(node.arg)
            f, kernel = arg.fn, (kernels.is_valid if node.negated else kernels.is_null)
            return self.guard(lambda b: kernel(f(b)), node, [arg.type])
        if isinstance(node, Call):
            return FUNCTIONS[node.name].compile(self, node, [self.compile(a) for a in node.args])
        raise AssertionError(node)  # pragma: no cover

    def literal(self, node: Lit) -> _C:
        v = node.value
        if isinstance(v, bool):
            s = pa.scalar(v, pa.bool_())
        elif isinstance(v, int):
            if not -(2**63) <= v < 2**64:
                raise self.src.error(f"integer {v} is out of range for int64 and uint64", node.pos)
            s = pa.scalar(v, pa.int64() if v < 2**63 else pa.uint64())  # uint64 for a uint64 column's top half
        elif isinstance(v, float):
            s = pa.scalar(v, pa.float64())
        elif isinstance(v, str):
            s = pa.scalar(v, pa.string())
        else:
            s = pa.scalar(None)
        return _C(lambda b: s, s.type, node)

    def column(self, node: Col) -> _C:
        if node.name not in self.names:
            hint = _did_you_mean(node.name, self.names)
            raise self.src.error(
                f"unknown column {node.name!r}",
                node.pos,
                f"{hint}; available: {suggest.name_list(self.names) or '(none)'}",
            )
        if self.names.count(node.name) > 1:
            raise self.src.error(f"column {node.name!r} appears more than once in the input", node.pos)
        i = self.names.index(node.name)
        t = self.schema.field(i).type
        if pa.types.is_dictionary(t):  # a category column: every operation sees its values
            return _C(lambda b: decoded(b.column(i)), value_type(t), node)
        if pa.types.is_string_view(t) or pa.types.is_binary_view(t):
            # Arrow's kernels take few view layouts: the readers' plain one (large_string) instead
            plain = plain_type(t)
            return _C(lambda b: kernels.cast(b.column(i), plain), plain, node)
        return _C(lambda b: b.column(i), t, node)

    def boolean(self, c: _C, what: str) -> Fn:
        if pa.types.is_boolean(c.type):
            return c.fn
        if pa.types.is_null(c.type):
            f = c.fn
            return lambda b: kernels.cast(f(b), pa.bool_())
        raise self.src.error(f"{what} needs true/false values, got {type_name(c.type)}", c.node.pos)

    def text(self, c: _C, what: str, *, convert_any: bool = False) -> Fn:
        f = c.fn
        if is_text(c.type):
            return f
        if pa.types.is_null(c.type) or convert_any:
            return lambda b: _as_string(f(b))
        raise self.src.error(f"{what} needs text, got {type_name(c.type)}", c.node.pos)

    def joinable(self, cs: Sequence[_C], what: str) -> tuple[list[Fn], pa.Scalar]:
        """The operands of ``||`` or ``concat`` as text of one layout, and an empty separator of
        it: Arrow joins text of one type only, and pandas writes large_string where a literal or
        a value's text is string."""
        fs = [self.text(c, what, convert_any=True) for c in cs]
        if not any(pa.types.is_large_string(c.type) for c in cs):
            return fs, pa.scalar("", pa.string())
        large = pa.large_string()
        fs = [f if pa.types.is_large_string(c.type) else _cast_fn(f, large) for f, c in zip(fs, cs, strict=True)]
        return fs, pa.scalar("", large)

    def unary(self, node: Unary) -> _C:
        arg = self.compile(node.arg)
        if node.op == "not":
            f = self.boolean(arg, "'not'")
            return self.guard(lambda b: kernels.invert(f(b)), node, [arg.type])
        if not (
            pa.types.is_integer(arg.type)
            or pa.types.is_floating(arg.type)
            or pa.types.is_decimal(arg.type)
            or pa.types.is_null(arg.type)
        ):
            raise self.src.error(f"unary {node.op!r} needs a number, got {type_name(arg.type)}", node.pos)
        if node.op == "+":
            return arg
        f = _widened(arg)
        return self.guard(lambda b: kernels.negate_checked(f(b)), node, [arg.type])

    def coerce_literal(self, c: _C, other: _C) -> _C:
        """A string literal compared with a date, time or timestamp column becomes that type."""
        if isinstance(c.node, Lit) and isinstance(c.node.value, str) and _reads_text(other.type):
            s = self.temporal_value(c.node.value, other.type, c.node.pos)
            return _C(lambda b: s, s.type, c.node)
        return c

    def temporal_value(self, text: str, t: pa.DataType, pos: int) -> pa.Scalar:
        """``text`` as a value of the date, time or timestamp type ``t``. Text without an
        offset, compared with a timestamp that has a zone, is a wall-clock time there."""
        arr = pa.array([text], pa.string())
        conv = convert(arr, t)
        if conv.bad is None:
            return conv.array[0]
        if pa.types.is_timestamp(t) and t.tz is not None:
            naive = convert(arr, pa.timestamp(t.unit))
            if naive.bad is None:
                try:
                    return kernels.assume_timezone(naive.array, t.tz)[0]
                except pa.ArrowInvalid as exc:  # a daylight-saving gap or overlap
                    what = "is ambiguous" if "ambiguous" in str(exc) else "does not exist"
                    raise self.src.error(f"{text!r} {what} in time zone {t.tz}", pos) from None
        raise self.src.error(f"{text!r} is not a valid {type_name(t)}", pos)

    def binary(self, node: Binary) -> _C:
        left, right = self.compile(node.left), self.compile(node.right)
        op = node.op
        if op in ("and", "or"):
            lf, rf = self.boolean(left, f"'{op}'"), self.boolean(right, f"'{op}'")
            kernel = kernels.and_kleene if op == "and" else kernels.or_kleene
            return self.guard(lambda b: kernel(lf(b), rf(b)), node, [left.type, right.type])
        if op in ("=", "!=", "<", "<=", ">", ">="):
            left, right = self.coerce_literal(left, right), self.coerce_literal(right, left)
            types = [left.type, right.type]
            left, right = _typed_nulls([left, right], pa.string())
            return self.guard(_comparison(op, left, right), node, types)
        if op == "||":
            (lf, rf), sep = self.joinable([left, right], "'||'")
            return self.guard(
                lambda b: kernels.binary_join_element_wise(lf(b), rf(b), sep), node, [left.type, right.type]
            )
        types = [left.type, right.type]
        left, right = _typed_nulls([left, right])
        if op == "+" and (is_text(left.type) or is_text(right.type)):
            raise self.src.error("'+' does not join text; use || or concat()", node.pos)
        if op == "/" and all(_exact_number(t) for t in (left.type, right.type)):
            # '/' is true division, as in Python 3 (and DuckDB: a double): an integer's or a
            # decimal's quotient in a decimal of fixed scale would be cut, not rounded
            lf, rf = _as_float(left), _as_float(right)
        else:
            lf, rf = _numeric_fns([left, right])
        if op in ("/", "%"):
            kernel = kernels.divide if op == "/" else kernels.modulo
            return self.guard(lambda b: kernel(lf(b), _null_zero(rf(b))), node, types)
        kernel = {"+": kernels.add_checked, "-": kernels.subtract_checked, "*": kernels.multiply_checked}[op]
        return self.guard(lambda b: kernel(lf(b), rf(b)), node, types)

    def in_list(self, node: InList) -> _C:
        arg = self.compile(node.arg)
        types = [arg.type]
        if pa.types.is_floating(arg.type) and arg.type.bit_width < 64:
            # a float32 is the float64 it widens to, as '=' compares it and the targets store
            # it: 0.1 is no float32's value (its float32 is 0.10000000149011612)
            arg = _C(_cast_fn(arg.fn, pa.float64()), pa.float64(), arg.node)
        value_set = self.value_set(node, arg.type)
        if pa.types.is_null(arg.type):
            arg = _typed_nulls([arg], value_set.type)[0]
        f, negated = arg.fn, node.negated
        unknown = any(v is None for v in node.values)
        null = pa.scalar(None, pa.bool_())

        signed_zero = pa.types.is_floating(arg.type) and pa.types.is_floating(value_set.type)
        if signed_zero:
            value_set = kernels.add(value_set, pa.scalar(0.0, value_set.type))

        def run(b: pa.RecordBatch) -> Value:
            x = f(b)
            if signed_zero:  # -0.0 equals 0.0, as '=' says, though the two hash apart
                x = kernels.add(x, pa.scalar(0.0, x.type))
            hit = kernels.is_in(x, value_set=value_set)
            if unknown:  # SQL: with a null in the list, a value not found may be that null
                return kernels.if_else(hit, pa.scalar(not negated), null)
            if negated:
                hit = kernels.invert(hit)
            # SQL semantics: a null value is neither in nor not in the list.
            if isinstance(x, pa.Scalar):
                return hit if x.is_valid else null
            if x.null_count:
                return kernels.if_else(kernels.is_valid(x), hit, null)
            return hit

        return self.guard(run, node, types)

    def value_set(self, node: InList, t: pa.DataType) -> pa.Array:
        """The list's values other than null, as values of the tested type ``t``."""
        values = [v for v in node.values if v is not None]
        try:
            if values and _reads_text(t) and all(isinstance(v, str) for v in values):
                return pa.concat_arrays([_as_array(self.temporal_value(v, t, node.pos)) for v in values])
            value_set = pa.array(values) if values else pa.array([], t)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
            raise self.src.error("in (...) values must all be of one type", node.pos) from None
        if value_set.type.equals(t) or pa.types.is_null(t):
            return value_set
        try:
            conv = convert(value_set, t)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            conv = None
        if conv is None:
            raise self.src.error(
                f"in (...) values of type {type_name(value_set.type)} cannot be compared with {type_name(t)}",
                node.pos,
            )
        numbers = pa.types.is_integer(value_set.type) or pa.types.is_floating(value_set.type)
        if conv.bad is not None and numbers and (_exact_number(t) or pa.types.is_floating(t)):
            # a number the column's type cannot hold (-1 for a uint64, 2**63 - 1 for a float64,
            # 1.5 for an integer) is never equal to one of its values: it matches nothing
            return kernels.filter(conv.array, kernels.invert(kernels.fill_null(conv.bad, False)))
        if conv.bad is not None:
            raise self.src.error(
                f"in (...) values of type {type_name(value_set.type)} cannot be compared with {type_name(t)}",
                node.pos,
            )
        return conv.array


def _exact_number(t: pa.DataType) -> bool:
    return bool(pa.types.is_integer(t) or pa.types.is_decimal(t))


def _typed_nulls(cs: Sequence[_C], default: pa.DataType | None = None) -> list[_C]:
    """Operands of type null (a column without a value in a whole file, the literal null)
    as values of the first other operand's type, or ``default`` when none has one: such
    a column is a column of that type whose values are all null, and Arrow's kernels
    (coalesce, equal, is_in) have no form that mixes null with another type."""
    t = next((c.type for c in cs if not pa.types.is_null(c.type)), default)
    if t is None:
        return list(cs)
    return [_C(_cast_fn(c.fn, t), t, c.node) if pa.types.is_null(c.type) else c for c in cs]


def _as_float(c: _C) -> Fn:
    """Integers or decimals as float64, the nearest float to each value (an integer past 2**53
    is rounded, not refused): the result is a float anyway."""
    f = c.fn
    if pa.types.is_decimal(c.type):
        return lambda b: _decimal_float(f(b))
    return lambda b: kernels.cast(f(b), pa.float64(), safe=False)


def _decimal_float(v: Value) -> Value:
    out = decimal_to_float(_as_array(v))
    return out[0] if isinstance(v, pa.Scalar) else out


def _numeric_fns(cs: Sequence[_C]) -> list[Fn]:
    """The operands' closures; integers and decimals mixed with floats are read as float64
    first (Arrow's implicit cast refuses an integer beyond 2**53, and rounds some decimals
    to the wrong float), and a whole-number literal next to a uint64 is a uint64 (else Arrow
    reads both as int64)."""
    if any(pa.types.is_floating(c.type) for c in cs):
        return [_as_float(c) if _exact_number(c.type) else c.fn for c in cs]
    if all(_exact_number(c.type) for c in cs) and any(_wide_decimal(c.type) for c in cs):
        # Arrow's decimal128 result would need more than 38 digits (decimal(38, 10) + 1): in
        # decimal256 the value is exact, and an overflow is still checked
        return [_cast_fn(c.fn, _decimal256_of(c.type)) for c in cs]
    if any(pa.types.is_uint64(c.type) for c in cs):
        if any(pa.types.is_signed_integer(c.type) and _uint64_literal(c) is None for c in cs):
            # no int64 holds a uint64 past 2**63, no uint64 a negative: a decimal holds both
            return [_cast_fn(c.fn, _decimal256_of(c.type)) for c in cs]
        return [_uint64_literal(c) or c.fn for c in cs]
    return [c.fn for c in cs]


def _wide_decimal(t: pa.DataType) -> bool:
    return bool(pa.types.is_decimal128(t) and t.precision > 18)


def _decimal256_of(t: pa.DataType) -> pa.DataType:
    if pa.types.is_decimal(t):
        return pa.decimal256(t.precision, t.scale)
    return pa.decimal256(20 if pa.types.is_uint64(t) else 19, 0)


def _uint64_literal(c: _C) -> Fn | None:
    if not (isinstance(c.node, Lit) and pa.types.is_int64(c.type) and c.node.value >= 0):
        return None
    s = pa.scalar(c.node.value, pa.uint64())
    return lambda b: s


_COMPARE = {
    "=": kernels.equal,
    "!=": kernels.not_equal,
    "<": kernels.less,
    "<=": kernels.less_equal,
    ">": kernels.greater,
    ">=": kernels.greater_equal,
}
_MIRROR = {"=": "=", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_MAX_DECIMAL_DIGITS = 76  # a decimal256's
_EXACT_FLOAT = 2**53  # every integer up to this size is a float64
_WIDE_INT = pa.decimal128(20, 0)  # holds every int64 and uint64, and 2**64


def _comparison(op: str, left: _C, right: _C) -> Fn:
    """``left op right``; integers compare exactly with floats and across signedness, a
    date with a timestamp that has a zone as the instant its day begins in that zone."""
    lt, rt = left.type, right.type
    if pa.types.is_integer(lt) and pa.types.is_floating(rt):
        return _int_float_comparison(op, left, right)
    if pa.types.is_floating(lt) and pa.types.is_integer(rt):
        return _int_float_comparison(_MIRROR[op], right, left)
    if pa.types.is_decimal(lt) and pa.types.is_floating(rt):
        return _decimal_float_comparison(op, left, right)
    if pa.types.is_floating(lt) and pa.types.is_decimal(rt):
        return _decimal_float_comparison(_MIRROR[op], right, left)
    kernel, lf, rf = _COMPARE[op], left.fn, right.fn
    if pa.types.is_date(lt) and is_zoned(rt):
        lf = _day_start(lf, rt)
    elif is_zoned(lt) and pa.types.is_date(rt):
        rf = _day_start(rf, lt)
    elif pa.types.is_timestamp(lt) and pa.types.is_timestamp(rt) and is_zoned(lt) != is_zoned(rt):
        return _refused(_zone_mix(rt if is_zoned(lt) else lt))  # Arrow refuses it only at a first row
    if pa.types.is_integer(lt) and pa.types.is_integer(rt) and _mixes_uint64(lt, rt):
        lf, rf = _cast_fn(lf, _WIDE_INT), _cast_fn(rf, _WIDE_INT)  # no int64 holds both
    return lambda b: kernel(lf(b), rf(b))


def _day_start(f: Fn, t: pa.DataType) -> Fn:
    """``day_start`` of the dates ``f`` gives."""
    return lambda b: day_start(f(b), t)


def day_start(dates: Value, t: pa.DataType) -> Value:
    """Dates as the instant each day begins in the zone of the timestamp type ``t``: midnight,
    wall-clock time there, as text without an offset is read (Arrow reads a date as UTC);
    where a zone skips midnight, the first instant of that day."""
    naive = kernels.cast(dates, pa.timestamp(t.unit))
    return kernels.assume_timezone(naive, t.tz, ambiguous="earliest", nonexistent="latest")


def _refused(why: str) -> Fn:
    """A closure that refuses its operands' types: the guard names them, with ``why``."""

    def run(b: pa.RecordBatch) -> Value:
        raise pa.ArrowTypeError(why)

    return run


def _mixes_uint64(a: pa.DataType, b: pa.DataType) -> bool:
    one_uint64 = pa.types.is_uint64(a) != pa.types.is_uint64(b)
    return bool(one_uint64 and (pa.types.is_signed_integer(a) or pa.types.is_signed_integer(b)))


def _decimal_float_comparison(op: str, d: _C, f: _C) -> Fn:
    """``d op f`` for a decimal ``d`` and a float ``f``. A number literal is the decimal its
    shortest text says (``0.35``, not the float nearest it), as SQL reads one, compared
    exactly; anything else compares as floats, the decimal the float nearest it."""
    kernel, df = _COMPARE[op], d.fn
    if isinstance(f.node, Lit):
        exact = _decimal_literal(f.node.value, d.type)
        if exact is not None:
            return lambda b: kernel(df(b), exact)
    ff, as_float = f.fn, _as_float(d)
    return lambda b: kernel(as_float(b), ff(b))


def _decimal_literal(value: float, t: pa.DataType) -> pa.Scalar | None:
    """A float literal as a decimal of its shortest text's digits, where it and a decimal of
    type ``t`` have a common decimal type (76 digits at most); None for NaN and infinities."""
    exact = Decimal(repr(value)).normalize()
    if not exact.is_finite():
        return None
    digits, exponent = exact.as_tuple()[1:]
    scale = max(-int(exponent), 0)
    precision = max(len(digits) + max(int(exponent), 0), scale, 1)
    common = max(t.precision - t.scale, precision - scale) + max(t.scale, scale)
    if common > _MAX_DECIMAL_DIGITS:
        return None
    return pa.scalar(exact, decimal_type(precision, scale))


def _int_float_comparison(op: str, i: _C, f: _C) -> Fn:
    """``i op f`` for an integer ``i`` and a float ``f``, exact beyond 2**53.

    The integer is rounded to float64 and compared there. Rounding keeps order, so
    that result is exact unless the integer rounded onto ``f`` itself; such a tie
    beyond 2**53 (where ``f`` is a whole number) is settled in decimal.
    """
    kernel, inf = _COMPARE[op], i.fn
    if isinstance(i.node, Lit) and abs(i.node.value) <= _EXACT_FLOAT:
        as_float = pa.scalar(float(i.node.value))
        ff = f.fn
        return lambda b: kernel(as_float, ff(b))
    ff = _cast_fn(f.fn, pa.float64())
    if isinstance(f.node, Lit) and not abs(f.node.value) >= _EXACT_FLOAT:  # no tie to settle (NaN too)
        fi = _as_float(i)
        return lambda b: kernel(fi(b), ff(b))

    def run(b: pa.RecordBatch) -> Value:
        iv, fv = inf(b), ff(b)
        rounded = kernels.cast(iv, pa.float64(), safe=False)
        out = kernel(rounded, fv)
        tie = kernels.and_(kernels.equal(rounded, fv), kernels.greater_equal(kernels.abs(fv), float(_EXACT_FLOAT)))
        if not _any_true(tie):
            return out
        whole = kernels.cast(kernels.if_else(tie, fv, pa.scalar(0.0)), _WIDE_INT)
        return kernels.if_else(tie, kernel(kernels.cast(iv, _WIDE_INT), whole), out)

    return run


def _any_true(v: Value) -> bool:
    if isinstance(v, pa.Scalar):
        return bool(v.as_py() is True)
    return bool(kernels.any(v).as_py())


def _cast_fn(f: Fn, t: pa.DataType) -> Fn:
    return lambda b: kernels.cast(f(b), t)


def _null_zero(v: Value) -> Value:
    """x / 0 and x % 0 give null (as in SQL), instead of an error for the whole batch."""
    if isinstance(v, pa.Scalar):
        return pa.scalar(None, v.type) if v.is_valid and v.as_py() == 0 else v
    if pa.types.is_null(v.type):
        return v
    zero = kernels.equal(v, kernels.cast(pa.scalar(0, pa.int8()), v.type))
    if kernels.any(zero).as_py():
        return kernels.if_else(zero, pa.scalar(None, v.type), v)
    return v


# ---------------------------------------------------------------- functions


@dataclass(frozen=True)
class _Function:
    arity: tuple[int, int]  # (min, max); max -1 = any
    literal: dict[int, str]  # argument index -> "str" | "int" | "regex" | "type"
    compile: Callable[[_Compiler, Call, list[_C]], _C]
    doc: str


def _unary_text(kernel: Callable[[Value], Value]) -> Callable[[_Compiler, Call, list[_C]], _C]:
    def build(c: _Compiler, node: Call, args: list[_C]) -> _C:
        f = c.text(args[0], f"{node.name}()")
        return c.guard(lambda b: kernel(f(b)), node, [args[0].type])

    return build


def _lit(node: Call, k: int) -> Any:
    arg = node.args[k]
    assert isinstance(arg, Lit)
    return arg.value


def _f_concat(c: _Compiler, node: Call, args: list[_C]) -> _C:
    fs, sep = c.joinable(args, "concat()")
    return c.guard(
        lambda b: kernels.binary_join_element_wise(
            *[f(b) for f in fs], sep, null_handling="replace", null_replacement=""
        ),
        node,
        [a.type for a in args],
    )


def _f_length(c: _Compiler, node: Call, args: list[_C]) -> _C:
    a = args[0]
    f = a.fn
    if pa.types.is_binary(a.type) or pa.types.is_large_binary(a.type):
        return c.guard(lambda b: kernels.binary_length(f(b)), node, [a.type])
    f = c.text(a, "length()")
    return c.guard(lambda b: kernels.utf8_length(f(b)), node, [a.type])


def _f_substr(c: _Compiler, node: Call, args: list[_C]) -> _C:
    f = c.text(args[0], "substr()")
    start = _lit(node, 1)
    length = _lit(node, 2) if len(args) > 2 else None
    if length is not None and length < 0:
        raise c.src.error("substr() length must not be negative", node.args[2].pos)
    # SQL counts from 1, and start 0 is the position before the first character (so
    # substr(s, 0, 2) is one character, as in SQL); a negative start counts from the end.
    begin = start - 1 if start > 0 else start
    stop: int | None = None
    if length is not None:
        stop = max(length - 1, 0) if start == 0 else begin + length
        if begin < 0 <= stop:
            stop = None
    return c.guard(lambda b: kernels.utf8_slice_codeunits(f(b), begin, stop), node, [args[0].type])


def _f_coalesce(c: _Compiler, node: Call, args: list[_C]) -> _C:
    _refuse_zone_mix(c, node, args)
    fs = _numeric_fns(_typed_nulls(args))
    return c.guard(lambda b: kernels.coalesce(*[f(b) for f in fs]), node, [a.type for a in args])


def _zone_mix(naive: pa.DataType) -> str:
    """Why values of type ``naive`` do not go with values that have a time zone."""
    return (
        f"a time zone would be dropped or assumed; make the {type_name(naive)} values timestamps "
        "with a zone first, with the cast stage's timezone"
    )


def _refuse_zone_mix(c: _Compiler, node: Call, args: Sequence[_C]) -> None:
    """Values with a time zone and values without one (a date, a timestamp without a zone)
    in one result: Arrow drops the zone or reads the others as UTC. As in the cast stage,
    no zone is dropped or assumed: its ``timezone`` says which zone such values are in."""
    temporal = [a.type for a in args if _is_temporal(a.type)]
    naive = [t for t in temporal if not is_zoned(t)]
    if naive and len(naive) < len(temporal):
        types = " and ".join(type_name(a.type) for a in args)
        raise c.src.error(f"{node.name}() cannot be applied to {types}", node.pos, f" ({_zone_mix(naive[0])})")


def _one_zone(cs: Sequence[_C]) -> list[_C]:
    """Timestamps in other time zones as the first one's zone (the same instants, as
    ``coalesce`` gives them): Arrow's ``if_else`` takes one type only."""
    zone = next((c.type.tz for c in cs if is_zoned(c.type)), None)
    return [
        _C(_cast_fn(c.fn, t), t, c.node) if is_zoned(c.type) and c.type.tz != zone else c
        for c in cs
        for t in [pa.timestamp(c.type.unit, zone) if is_zoned(c.type) else c.type]
    ]


def _numeric(c: _Compiler, node: Call, a: _C) -> None:
    t = a.type
    if not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t) or pa.types.is_null(t)):
        raise c.src.error(f"{node.name}() needs a number, got {type_name(t)}", a.node.pos)


def _widened(c: _C) -> Fn:
    """A narrow integer (int8 to int32, uint8 to uint32) as int64, as ``+``, ``-`` and ``*``
    read it: ``-x`` of an int8 -128 is 128, as ``0 - x`` is, not an overflow."""
    if pa.types.is_integer(c.type) and c.type.bit_width < 64:
        return _cast_fn(c.fn, pa.int64())
    return c.fn


def _f_abs(c: _Compiler, node: Call, args: list[_C]) -> _C:
    _numeric(c, node, args[0])
    f = _widened(args[0])
    return c.guard(lambda b: kernels.abs_checked(f(b)), node, [args[0].type])


def _f_round(c: _Compiler, node: Call, args: list[_C]) -> _C:
    _numeric(c, node, args[0])
    f = _widened(args[0])  # round(x, -1) of an int8 127 is 130
    digits = _lit(node, 1) if len(args) > 1 else 0
    t = args[0].type
    if (pa.types.is_integer(t) and digits >= 0) or (pa.types.is_decimal(t) and digits >= t.scale):
        return args[0]
    if pa.types.is_decimal(t):
        # Left of all its whole digits (99.99 to -3) a decimal rounds to 0, as it does one place
        # left of them; Arrow rounds only to places its type has digits for.
        digits = max(digits, t.scale - t.precision - 1)

    def rounded(v: Value) -> Value:
        # Half away from zero, as SQL and spreadsheets round (2.5 -> 3, -2.5 -> -3).
        return kernels.round(v, digits, round_mode="half_towards_infinity")

    kernel = (
        _decimal_rounding(rounded, t, max(digits, 0), left_places=max(-digits, 0))
        if pa.types.is_decimal(t)
        else rounded
    )
    return c.guard(lambda b: kernel(f(b)), node, [t])


def _floor_ceil(kernel: Callable[[Value], Value]) -> Callable[[_Compiler, Call, list[_C]], _C]:
    def build(c: _Compiler, node: Call, args: list[_C]) -> _C:
        _numeric(c, node, args[0])
        t = args[0].type
        if pa.types.is_integer(t) or (pa.types.is_decimal(t) and t.scale == 0):
            return args[0]
        f, whole = args[0].fn, _decimal_rounding(kernel, t, 0) if pa.types.is_decimal(t) else kernel
        return c.guard(lambda b: whole(f(b)), node, [t])

    return build


def _decimal_rounding(
    kernel: Callable[[Value], Value], t: pa.DataType, scale: int, left_places: int = 0
) -> Callable[[Value], Value]:
    """``kernel`` (round, floor, ceil) on a decimal(p, s), to ``scale`` digits, with room
    for the carry (99.99 rounds to 100.0): in decimal(max(p, p - s + 1 + scale), scale),
    DuckDB's result type. Arrow rounds within the input type, which may not hold it, and
    to ``left_places`` places left of the point (a round to -9) only in a type with more
    whole digits than that."""
    p, s = t.precision, t.scale
    wide = decimal_type(min(max(p + 1, s + left_places + 1), 76), s)
    out = decimal_type(min(max(p, p - s + 1 + scale), 76), scale)
    return lambda v: kernels.cast(kernel(kernels.cast(v, wide)), out)


def _to_date(v: Value) -> Value:
    arr = _as_array(v)
    arr = _text_date(arr) if is_text(arr.type) else kernels.cast(arr, pa.date32())
    return arr[0] if isinstance(v, pa.Scalar) else arr


def _text_date(arr: pa.Array) -> pa.Array:
    """The date of ISO text: "2024-05-01", or a date and a valid time ("2024-05-01T10:00",
    with or without an offset; the date as written). Anything else is null."""
    day = convert(kernels.utf8_slice_codeunits(arr, 0, 10), pa.date32()).array
    rest = kernels.utf8_slice_codeunits(arr, 10)
    has_rest = kernels.greater(kernels.utf8_length(rest), 0)
    if not _any_true(has_rest):
        return day
    # The time part is checked on a fixed day, so any year's date passes the same way.
    probe = kernels.binary_join_element_wise("1970-01-01", rest, "")
    valid = kernels.or_(
        kernels.is_valid(convert(probe, pa.timestamp("ns")).array),
        kernels.is_valid(convert(probe, pa.timestamp("ns", "UTC")).array),
    )
    return kernels.if_else(kernels.and_(has_rest, kernels.invert(valid)), pa.scalar(None, pa.date32()), day)


def _f_date(c: _Compiler, node: Call, args: list[_C]) -> _C:
    a = args[0]
    if not (_is_temporal(a.type) or is_text(a.type) or pa.types.is_null(a.type)):
        raise c.src.error(f"date() needs a timestamp, date or text, got {type_name(a.type)}", a.node.pos)
    if pa.types.is_date32(a.type):
        return a
    f = a.fn
    return c.guard(lambda b: _to_date(f(b)), node, [a.type])


def _part(kernel: Callable[[Value], Value]) -> Callable[[_Compiler, Call, list[_C]], _C]:
    def build(c: _Compiler, node: Call, args: list[_C]) -> _C:
        a = args[0]
        if not (_is_temporal(a.type) or pa.types.is_null(a.type)):
            raise c.src.error(
                f"{node.name}() needs a date or timestamp, got {type_name(a.type)} (use date(x) first)",
                a.node.pos,
            )
        f = _typed_nulls([a], pa.date32())[0].fn  # Arrow's year() takes no null type
        return c.guard(lambda b: kernel(f(b)), node, [a.type])

    return build


def _pattern(kernel: Callable[..., Value]) -> Callable[[_Compiler, Call, list[_C]], _C]:
    def build(c: _Compiler, node: Call, args: list[_C]) -> _C:
        f = c.text(args[0], f"{node.name}()")
        pattern = _lit(node, 1)
        return c.guard(lambda b: kernel(f(b), pattern), node, [args[0].type])

    return build


def _replacer(kernel: Callable[..., Value]) -> Callable[[_Compiler, Call, list[_C]], _C]:
    def build(c: _Compiler, node: Call, args: list[_C]) -> _C:
        f = c.text(args[0], f"{node.name}()")
        pattern, replacement = _lit(node, 1), _lit(node, 2)
        return c.guard(lambda b: kernel(f(b), pattern, replacement), node, [args[0].type])

    return build


def _f_if(c: _Compiler, node: Call, args: list[_C]) -> _C:
    cond = c.boolean(args[0], "if()")
    _refuse_zone_mix(c, node, args[1:])
    a, b_ = _numeric_fns(_one_zone(_typed_nulls(args[1:])))
    # A null condition takes the else branch, as SQL's CASE WHEN does.
    return c.guard(
        lambda b: kernels.if_else(kernels.fill_null(cond(b), False), a(b), b_(b)),
        node,
        [args[1].type, args[2].type],
    )


def _f_cast(c: _Compiler, node: Call, args: list[_C]) -> _C:
    target = parse_type(_lit(node, 1), where="cast")
    f = args[0].fn

    def run(b: pa.RecordBatch) -> Value:
        v = f(b)
        # Values that do not fit become null here; the cast stage can reject them instead.
        out = convert(_as_array(v), target, explicit=True).array
        return out[0] if isinstance(v, pa.Scalar) else out

    return c.guard(run, node, [args[0].type])


FUNCTIONS: dict[str, _Function] = {
    "concat": _Function((1, -1), {}, _f_concat, "concat(a, b, ...): join as text; null counts as ''"),
    "lower": _Function((1, 1), {}, _unary_text(kernels.utf8_lower), "lower(s)"),
    "upper": _Function((1, 1), {}, _unary_text(kernels.utf8_upper), "upper(s)"),
    "trim": _Function((1, 1), {}, _unary_text(kernels.utf8_trim_whitespace), "trim(s): strip whitespace"),
    "ltrim": _Function((1, 1), {}, _unary_text(kernels.utf8_ltrim_whitespace), "ltrim(s)"),
    "rtrim": _Function((1, 1), {}, _unary_text(kernels.utf8_rtrim_whitespace), "rtrim(s)"),
    "length": _Function((1, 1), {}, _f_length, "length(s): characters (bytes for binary)"),
    "substr": _Function((2, 3), {1: "int", 2: "int"}, _f_substr, "substr(s, start[, length]): start at 1"),
    "coalesce": _Function((1, -1), {}, _f_coalesce, "coalesce(a, b, ...): first non-null"),
    "abs": _Function((1, 1), {}, _f_abs, "abs(x)"),
    "round": _Function((1, 2), {1: "int"}, _f_round, "round(x[, digits]): half away from zero"),
    "floor": _Function((1, 1), {}, _floor_ceil(kernels.floor), "floor(x)"),
    "ceil": _Function((1, 1), {}, _floor_ceil(kernels.ceil), "ceil(x)"),
    "date": _Function((1, 1), {}, _f_date, "date(x): timestamp or ISO text -> date"),
    "year": _Function((1, 1), {}, _part(kernels.year), "year(d)"),
    "month": _Function((1, 1), {}, _part(kernels.month), "month(d)"),
    "day": _Function((1, 1), {}, _part(kernels.day), "day(d)"),
    "starts_with": _Function((2, 2), {1: "str"}, _pattern(kernels.starts_with), "starts_with(s, 'prefix')"),
    "ends_with": _Function((2, 2), {1: "str"}, _pattern(kernels.ends_with), "ends_with(s, 'suffix')"),
    "contains": _Function((2, 2), {1: "str"}, _pattern(kernels.match_substring), "contains(s, 'text')"),
    "matches": _Function((2, 2), {1: "regex"}, _pattern(kernels.match_substring_regex), "matches(s, 'regex')"),
    "replace": _Function(
        (3, 3), {1: "str", 2: "str"}, _replacer(kernels.replace_substring), "replace(s, 'old', 'new')"
    ),
    "regexp_replace": _Function(
        (3, 3),
        {1: "regex", 2: "str"},
        _replacer(kernels.replace_substring_regex),
        "regexp_replace(s, 'regex', 'new')",
    ),
    "if": _Function((3, 3), {}, _f_if, "if(cond, a, b)"),
    "cast": _Function((2, 2), {1: "type"}, _f_cast, "cast(x, 'type'): null where a value does not fit"),
}


# ---------------------------------------------------------------- public API


class BoundExpression:
    """An expression compiled for one schema: call it with a batch of that schema."""

    def __init__(self, compiled: _C, schema: pa.Schema) -> None:
        self._fn = compiled.fn
        self.type: pa.DataType = compiled.type
        self.schema = schema

    def __call__(self, batch: pa.RecordBatch) -> Value:
        return self._fn(batch)

    def array(self, batch: pa.RecordBatch) -> pa.Array:
        """The result as an array of ``batch.num_rows`` values (a constant is repeated)."""
        return _broadcast(self._fn(batch), batch.num_rows)


class Expression:
    """A parsed expression. Parsing happens once; binding once per input schema.

    ``key`` and ``stage`` only label error messages, e.g. ``where`` and
    ``transform[2] (filter)``.
    """

    def __init__(self, text: str, *, key: str = "expression", stage: str | None = None) -> None:
        if not isinstance(text, str):
            raise ConfigError(f"{key}: expected an expression string, got {text!r}", stage=stage)
        self.text = text
        self._src = _Source(text, key, stage)
        self.node = _Parser(self._src).parse()
        self._bound: BoundExpression | None = None

    def __repr__(self) -> str:
        return f"Expression({self.text!r})"

    @property
    def columns(self) -> list[str]:
        """The column names the expression reads, in order of first use."""
        out: list[str] = []

        def walk(n: Node) -> None:
            if isinstance(n, Col) and n.name not in out:
                out.append(n.name)
            for child in (getattr(n, a) for a in ("arg", "left", "right") if hasattr(n, a)):
                walk(child)
            for child in getattr(n, "args", ()):
                walk(child)

        walk(self.node)
        return out

    def bind(self, schema: pa.Schema) -> BoundExpression:
        """Compile for ``schema``: unknown columns and type errors surface here."""
        return BoundExpression(_Compiler(self._src, schema).compile(self.node), schema)

    def bound(self, schema: pa.Schema) -> BoundExpression:
        """The compiled form for ``schema``, re-binding only when the schema changes."""
        b = self._bound
        if b is None or (b.schema is not schema and not b.schema.equals(schema)):
            b = self._bound = self.bind(schema)
        return b

    def evaluate(self, batch: pa.RecordBatch) -> pa.Array:
        """The value for every row of ``batch``."""
        return self.bound(batch.schema).array(batch)


def parse(text: str, *, key: str = "expression", stage: str | None = None) -> Expression:
    """Parse ``text``; a ``ConfigError`` names the position of the first mistake."""
    return Expression(text, key=key, stage=stage)
