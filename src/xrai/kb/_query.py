"""The search language: a small, safe subset of Python expressions compiled to SQL over the metadata index.

Grammar (parsed with :mod:`ast`, never evaluated)::

    expr   := expr and expr | expr or expr | not expr | (expr) | comparison | exists(field)
    comparison := field op value | value op field | value op field op value   (chained ranges)
    op     := == | = | != | < | <= | > | >= | in | not in
    field  := name(.name)*          metadata key path, or an item field (see ITEM_FIELDS)
    value  := number | number unit | 'string' | true | false | null | [value, ...]

A chained range ``20 <= energy_kev < 30`` needs one value within both bounds (one index range scan); for a
list-valued key ``energy_kev >= 20 and energy_kev < 30`` instead matches if some element is >= 20 and some (maybe
another) is < 30. ``energy_kev > 20000 eV`` and ``energy_kev > '20 keV'`` convert the value to the key's canonical unit
(:mod:`xrai.units`); a plain number is taken in the canonical unit. ``!=`` and ``not in`` match items that have the
key with another value; ``not (...)`` also matches items without the key.
"""

from __future__ import annotations

import ast
import io
import itertools
import keyword
import tokenize
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.visitors import InternalTraversal

from xrai.errors import ConfigError, UnitError
from xrai.kb._metadata import is_unit_key
from xrai.kb._schema import item_props, item_tags, items
from xrai.units import to_canonical

__all__ = [
    "ITEM_FIELDS",
    "ArrayOf",
    "QueryError",
    "compile_pk_set",
    "compile_query",
    "parse_query",
]

#: Names that refer to the item itself rather than to its metadata (``metadata.<name>`` reaches metadata).
ITEM_FIELDS = ("kind", "name", "tag", "project", "run", "version", "created_at", "id", "series", "private")

_OPS = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.In: "in",
        ast.NotIn: "not in"}  # fmt: skip
_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}
_WORDS = {"AND": "and", "OR": "or", "NOT": "not", "IN": "in", "true": "True", "false": "False", "null": "None",
          "TRUE": "True", "FALSE": "False", "NULL": "None"}  # fmt: skip
_REL_TOL = 1e-9


class QueryError(ConfigError):
    """A search expression that cannot be parsed or compiled (the message quotes the offending part)."""


@dataclass(frozen=True, slots=True)
class Cmp:
    field: str
    op: str
    value: Any
    item_field: bool


@dataclass(frozen=True, slots=True)
class Exists:
    field: str


@dataclass(frozen=True, slots=True)
class Range:
    """A chained comparison on one metadata key: a single stored value must satisfy every bound."""

    field: str
    parts: tuple[Cmp, ...]


@dataclass(frozen=True, slots=True)
class BoolNode:
    op: str  # "and" | "or" | "not"
    args: tuple[Any, ...]


def _pretokenize(text: str) -> str:
    """Turn ``20 keV`` into ``'20 keV'``, ``=`` into ``==`` and SQL-ish words into Python's."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError) as exc:
        raise QueryError(f"query {text!r} cannot be tokenised: {exc}") from None
    out: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.type in (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER, tokenize.INDENT, tokenize.DEDENT):
            i += 1
            continue
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if (
            tok.type == tokenize.NUMBER
            and nxt is not None
            and nxt.type == tokenize.NAME
            and not keyword.iskeyword(nxt.string)
            and nxt.string not in _WORDS
        ):
            out.append(repr(f"{tok.string} {nxt.string}"))
            i += 2
            continue
        if tok.type == tokenize.OP and tok.string == "=":
            out.append("==")
        elif tok.type == tokenize.NAME and tok.string in _WORDS:
            out.append(_WORDS[tok.string])
        else:
            out.append(tok.string)
        i += 1
    return " ".join(out)


def parse_query(text: str) -> Any:
    """Parse a query into a tree of ``Cmp``/``Exists``/``BoolNode``; raises :class:`QueryError`."""
    if not isinstance(text, str) or not text.strip():
        raise QueryError(f"query {text!r} is empty")
    if len(text) > 10_000:
        raise QueryError(f"query of {len(text)} characters is too long (at most 10000)")
    source = _pretokenize(text)
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise QueryError(f"query {text!r} is not a valid expression: {exc.msg}") from None
    return _node(tree.body, text)


def _node(node: ast.AST, text: str) -> Any:
    if isinstance(node, ast.BoolOp):
        op = "and" if isinstance(node.op, ast.And) else "or"
        return BoolNode(op, tuple(_node(v, text) for v in node.values))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return BoolNode("not", (_node(node.operand, text),))
    if isinstance(node, ast.Compare):
        return _compare(node, text)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "exists":
        if len(node.args) != 1 or node.keywords:
            raise QueryError(f"exists() takes one field name, in {text!r}")
        return Exists(_field(node.args[0], text)[0])
    raise QueryError(
        f"{ast.unparse(node)!r} in query {text!r} is not a comparison, 'and', 'or', 'not' or exists()"
    )


def _compare(node: ast.Compare, text: str) -> Any:
    operands = [node.left, *node.comparators]
    parts = []
    for (left, right), op_node in zip(itertools.pairwise(operands), node.ops, strict=True):
        op = _OPS.get(type(op_node))
        if op is None:
            raise QueryError(f"operator {type(op_node).__name__} is not supported in {text!r}")
        if _is_field(left) and not _is_field(right):
            field, item_field = _field(left, text)
            value = _value(right, text)
        elif _is_field(right) and not _is_field(left) and op not in ("in", "not in"):
            field, item_field = _field(right, text)
            value = _value(left, text)
            op = _FLIP[op]
        else:
            raise QueryError(
                f"{ast.unparse(left)} {op} {ast.unparse(right)} in {text!r} must compare a field with a value"
            )
        parts.append(_make_cmp(field, op, value, item_field, text))
    if len(parts) == 1:
        return parts[0]
    if len({(p.field, p.item_field) for p in parts}) == 1 and not parts[0].item_field:
        return Range(parts[0].field, tuple(parts))  # 20 <= x < 30: one value within both bounds
    return BoolNode("and", tuple(parts))


def _is_field(node: ast.AST) -> bool:
    return (isinstance(node, ast.Name) and node.id not in ("True", "False", "None")) or isinstance(
        node, ast.Attribute
    )


def _field(node: ast.AST, text: str) -> tuple[str, bool]:
    names: list[str] = []
    while isinstance(node, ast.Attribute):
        names.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        raise QueryError(f"{ast.unparse(node)!r} in {text!r} is not a field name")
    names.append(node.id)
    names.reverse()
    if names[0] == "metadata" and len(names) > 1:
        return ".".join(names[1:]), False
    if len(names) == 1 and names[0] in ITEM_FIELDS:
        return names[0], True
    return ".".join(names), False


def _value(node: ast.AST, text: str) -> Any:
    try:
        value = ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        raise QueryError(f"{ast.unparse(node)!r} in {text!r} is not a literal value") from None
    if isinstance(value, tuple):
        value = list(value)
    if isinstance(value, list) and any(isinstance(v, list | tuple | dict | set) for v in value):
        raise QueryError(f"{ast.unparse(node)!r} in {text!r}: lists hold plain values only")
    if isinstance(value, dict | set | bytes | complex):
        raise QueryError(f"{ast.unparse(node)!r} in {text!r} is not a number, string, boolean or null")
    return value


def _make_cmp(field: str, op: str, value: Any, item_field: bool, text: str) -> Cmp:
    if op in ("in", "not in") and not isinstance(value, list):
        raise QueryError(f"{field} {op} needs a list, e.g. {field} {op} ['a', 'b'] (in {text!r})")
    if op not in ("in", "not in") and isinstance(value, list):
        raise QueryError(f"{field} {op} {value!r}: use 'in' to compare with a list (in {text!r})")
    if not item_field and is_unit_key(field.rsplit(".", 1)[-1]):
        key = field.rsplit(".", 1)[-1]

        def convert(v: Any) -> Any:
            return v if v is None or isinstance(v, bool) else _canonical(v, key, text)

        value = [convert(v) for v in value] if isinstance(value, list) else convert(value)
    return Cmp(field, op, value, item_field)


def _canonical(value: Any, key: str, text: str) -> float:
    try:
        return float(to_canonical(value, name=key))
    except UnitError as exc:
        raise QueryError(f"in query {text!r}: {exc}") from None


# ------------------------------------------------------------------------------------------- compile to SQL


def compile_query(tree: Any) -> sa.ColumnElement[bool]:
    """SQL condition on ``items`` for a parsed query tree."""
    if isinstance(tree, BoolNode):
        args = [compile_query(a) for a in tree.args]
        if tree.op == "and":
            return sa.and_(*args)
        if tree.op == "or":
            return sa.or_(*args)
        return sa.not_(args[0])
    if isinstance(tree, Range):
        bounds = [_prop_condition(part) for part in tree.parts]
        return items.c.pk.in_(sa.select(item_props.c.item_pk).where(item_props.c.key == tree.field, *bounds))
    if isinstance(tree, Exists):
        return items.c.pk.in_(sa.select(item_props.c.item_pk).where(item_props.c.key == tree.field))
    if tree.item_field:
        return _item_condition(tree)
    return items.c.pk.in_(
        sa.select(item_props.c.item_pk).where(item_props.c.key == tree.field, _prop_condition(tree))
    )


def compile_pk_set(tree: Any) -> sa.Select[Any]:
    """The query as a set of item keys: one ``SELECT item_pk`` per comparison (an index range scan on
    ``item_props``), combined with ``INTERSECT`` / ``UNION`` / ``EXCEPT``.

    Evaluating the filter as set algebra on the index first, then fetching the matching items by primary key,
    keeps the cost proportional to the matches on every engine (PostgreSQL would otherwise semi-join by scanning
    the whole ``items`` table).
    """
    if isinstance(tree, BoolNode):
        parts = [compile_pk_set(a) for a in tree.args]
        if tree.op == "and":
            compound = sa.intersect(*parts)
        elif tree.op == "or":
            compound = sa.union(*parts)
        else:
            compound = sa.except_(sa.select(items.c.pk), parts[0])
        subquery = compound.subquery()
        return sa.select(subquery.c[0])
    if isinstance(tree, Range):
        bounds = [_prop_condition(part) for part in tree.parts]
        return sa.select(item_props.c.item_pk).where(item_props.c.key == tree.field, *bounds)
    if isinstance(tree, Exists):
        return sa.select(item_props.c.item_pk).where(item_props.c.key == tree.field)
    if tree.item_field:
        return sa.select(items.c.pk).where(_item_condition(tree))
    return sa.select(item_props.c.item_pk).where(item_props.c.key == tree.field, _prop_condition(tree))


class ArrayOf(sa.sql.expression.ColumnElement[Any]):
    """PostgreSQL ``ARRAY(subquery)``: used as ``pk = ANY(ARRAY(...))`` the subquery runs once and the items
    are fetched through the primary-key index."""

    inherit_cache = True
    _traverse_internals = [("select", InternalTraversal.dp_clauseelement)]  # noqa: RUF012 (SQLAlchemy API)

    def __init__(self, select: sa.Select[Any]) -> None:
        self.select = select
        self.type = postgresql.ARRAY(sa.BigInteger())


@compiles(ArrayOf)
def _compile_array_of(element: ArrayOf, compiler: Any, **kw: Any) -> str:
    return f"ARRAY({compiler.process(element.select, **kw)})"


def _prop_condition(cmp: Cmp) -> sa.ColumnElement[bool]:
    num: Any = item_props.c.num
    txt: Any = item_props.c.txt
    op, value = cmp.op, cmp.value
    if op in ("in", "not in"):
        numbers = [float(v) for v in value if isinstance(v, int | float)]
        texts = [v for v in value if isinstance(v, str)]
        inside = sa.or_(
            num.in_(numbers) if numbers else sa.false(),
            txt.in_(texts) if texts else sa.false(),
            sa.and_(num.is_(None), txt.is_(None)) if None in value else sa.false(),
        )
        return inside if op == "in" else sa.and_(sa.not_(inside), sa.or_(num.is_not(None), txt.is_not(None)))
    if value is None:
        if op == "==":
            return sa.and_(num.is_(None), txt.is_(None))
        if op == "!=":
            return sa.or_(num.is_not(None), txt.is_not(None))
        raise QueryError(f"{cmp.field} {op} null: null can only be compared with == or !=")
    if isinstance(value, bool | int | float):
        number = float(value)
        if op == "==":
            low, high = _tolerance(number)
            return num.between(low, high)  # type: ignore[no-any-return]
        if op == "!=":
            low, high = _tolerance(number)
            return sa.and_(num.is_not(None), sa.not_(num.between(low, high)))
        return _binary(num, op, number)
    return _binary(txt, op, str(value))


def _tolerance(number: float) -> tuple[float, float]:
    delta = abs(number) * _REL_TOL
    return number - delta, number + delta


def _binary(column: Any, op: str, value: Any) -> sa.ColumnElement[bool]:
    if op == "==":
        return column == value  # type: ignore[no-any-return]
    if op == "!=":
        return sa.and_(column.is_not(None), column != value)
    if op == "<":
        return column < value  # type: ignore[no-any-return]
    if op == "<=":
        return column <= value  # type: ignore[no-any-return]
    if op == ">":
        return column > value  # type: ignore[no-any-return]
    return column >= value  # type: ignore[no-any-return]


def _item_condition(cmp: Cmp) -> sa.ColumnElement[bool]:
    field, op, value = cmp.field, cmp.op, cmp.value
    if field == "tag":
        has = sa.select(item_tags.c.item_pk).where(
            item_tags.c.tag.in_(value) if isinstance(value, list) else item_tags.c.tag == value
        )
        if op in ("==", "in"):
            return items.c.pk.in_(has)
        if op in ("!=", "not in"):
            return items.c.pk.not_in(has)
        raise QueryError(f"tag {op} ...: tags can only be compared with ==, !=, in, not in")
    column = {"run": items.c.run_id, "id": items.c.id}.get(field, getattr(items.c, field, None))
    if column is None:  # pragma: no cover - ITEM_FIELDS are all columns
        raise QueryError(f"unknown item field {field!r}")
    if field == "created_at":
        value = [_datetime(v) for v in value] if isinstance(value, list) else _datetime(value)
    if op == "in":
        return column.in_(value)
    if op == "not in":
        return column.not_in(value)
    if value is None:
        return column.is_(None) if op == "==" else column.is_not(None)
    return _binary(column, op, value)


def _datetime(value: Any) -> datetime:
    if not isinstance(value, str):
        raise QueryError(
            f"created_at is compared with an ISO date string such as '2025-01-31', not {value!r}"
        )
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise QueryError(f"created_at value {value!r} is not an ISO date or date-time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
