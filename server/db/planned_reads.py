"""Reads answered by ONE SQL statement in which PostgreSQL builds the JSON answer.

A GraphQL type that supports it declares, next to the type, how each of its fields is read from
the tables (an `ObjectSql`: field name -> `Value`). The schema's planner (server.schema.execution.planner)
walks a query's selection against those declarations and hands this module a tree of
`Selected` fields; this module turns the tree into nested `json_build_object` / `json_agg`
expressions, with the caller's authorization predicate and the voided-row filter inside the
statement, and returns PostgreSQL's JSON text untouched: no Python object per row.

Values come out exactly as the stock GraphQL path writes them (enum names, global ids,
`datetime.isoformat()` times, ISO dates); tests run every query both ways and compare.

Why not a library: strawchemy and strawberry-sqlalchemy-mapper build SQLAlchemy queries from
strawberry selections but load ORM objects and return them to the stock executor, so the per-row
Python work this module exists to avoid stays (bench/README.md has the comparison).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Select,
    Text,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    literal_column,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.util import find_tables

from ..domain.auth import Actor
from .engine import read_retrying
from .models import PlateletTransfusion, StoredSubjectResponse, StoredTransfusionResponse, Subject
from .queries import SubjectFilter, subject_visible_to, subjects_matching

EMPTY_ARRAY: ColumnElement[Any] = literal_column("'[]'::json")
# PostgreSQL functions take at most 100 arguments: json_build_object holds 50 key/value pairs.
MAX_KEYS_PER_OBJECT = 50


class Value:
    """How one GraphQL field's value is read in SQL. Subclasses say how."""

    def sql(self, selected: Selected, scope: Scope) -> ColumnElement[Any]:
        raise NotImplementedError


@dataclass(frozen=True)
class Column(Value):
    """A column whose JSON form is already GraphQL's (numbers, booleans, text, ISO dates)."""

    column: Any

    def sql(self, selected: Selected, scope: Scope) -> ColumnElement[Any]:
        return self.column  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Timestamp(Value):
    """A UTC time written as Python's datetime.isoformat() writes it: microseconds only when there
    are any, and the offset as +00:00."""

    column: Any

    def sql(self, selected: Selected, scope: Scope) -> ColumnElement[Any]:
        utc = func.timezone("UTC", self.column)
        micros = func.to_char(utc, "US")
        fraction = case((micros == "000000", ""), else_=literal(".", Text) + micros)
        return func.to_char(utc, 'YYYY-MM-DD"T"HH24:MI:SS') + fraction + literal("+00:00", Text)


@dataclass(frozen=True)
class EnumName(Value):
    """An enum stored by its value (lower case) and answered by its GraphQL name."""

    column: Any
    enum: type[enum.Enum]

    def sql(self, selected: Selected, scope: Scope) -> ColumnElement[Any]:
        return case({member.value: member.name for member in self.enum}, value=self.column)


@dataclass(frozen=True)
class GlobalId(Value):
    """server.schema.common.ids.encode_id in SQL: unpadded URL-safe base64 of "Type:pk"."""

    type_name: str
    column: Any

    def sql(self, selected: Selected, scope: Scope) -> ColumnElement[Any]:
        return global_id(self.type_name, self.column)


@dataclass(frozen=True)
class Constant(Value):
    """The same text for every row (a rule's statement, a type's name)."""

    value: str

    def sql(self, selected: Selected, scope: Scope) -> ColumnElement[Any]:
        return cast(literal(self.value, Text), Text)


@dataclass(frozen=True)
class IsNull(Value):
    """True when the column is null (e.g. counted for the endpoint: no exclusion recorded)."""

    column: Any

    def sql(self, selected: Selected, scope: Scope) -> ColumnElement[Any]:
        return self.column.is_(None)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class FreeText(Value):
    """Free text (notes): null for callers who may not read it (analysts)."""

    column: Any

    def sql(self, selected: Selected, scope: Scope) -> ColumnElement[Any]:
        return self.column if scope.sees_free_text else cast(literal(None), Text)


class Embedded(Value):
    """An object read from the same row (a transfusion's response from its stored result)."""

    def sql(self, selected: Selected, scope: Scope) -> ColumnElement[Any]:
        return json_object(selected.children, scope)


@dataclass(frozen=True)
class ToOne(Value):
    """An object read from one related row; `where` correlates it with the enclosing row."""

    table: Any
    where: Callable[[], ColumnElement[bool]]

    def sql(self, selected: Selected, scope: Scope) -> ColumnElement[Any]:
        query = select(json_object(selected.children, scope)).select_from(self.table).where(self.where())
        return query.scalar_subquery()


@dataclass(frozen=True)
class Window:
    """The rows a list field asks for (server.schema.common.paging.ListWindow, anchors excepted)."""

    first: int | None = None
    last: int | None = None
    since: datetime | None = None


@dataclass(frozen=True)
class ToMany(Value):
    """The live related rows, in `order`, narrowed by a Window, as a JSON array."""

    source: Callable[[], Any]  # the FROM clause (a table, or a table with its stored results joined)
    where: Callable[[], Sequence[ColumnElement[bool]]]  # correlation with the enclosing row; live rows only
    order: Callable[[], Sequence[Any]]  # ascending sort keys, the last one unique
    moment: Callable[[], Any]  # the time `since` compares with

    def sql(self, selected: Selected, scope: Scope) -> ColumnElement[Any]:
        window: Window = selected.window or Window()
        order = list(self.order())
        condition = and_(*self.where())
        if window.since is not None:
            condition = and_(condition, self.moment() >= window.since)
        item = json_object(selected.children, scope)
        source = self.source()
        if window.first is None and window.last is None:
            array = func.json_agg(aggregate_order_by(item, *order))
            return select(func.coalesce(array, EMPTY_ARRAY)).select_from(source).where(condition).scalar_subquery()
        # first n from the start, or last n from the end; either way the answer is in list order.
        from_end = window.last is not None
        keys = [key.desc() if from_end else key for key in order]
        size = window.last if from_end else window.first
        rows = (
            select(item.label("item"), *[key.label(f"key{i}") for i, key in enumerate(order)])
            .select_from(source)
            .where(condition)
            .order_by(*keys)
            .limit(size)
            # The enclosing row (a subject) is an outer reference, not a table of this FROM.
            .correlate_except(*find_tables(source))
            .subquery()
        )
        array = func.json_agg(aggregate_order_by(rows.c.item, *[rows.c[f"key{i}"] for i in range(len(order))]))
        return select(func.coalesce(array, EMPTY_ARRAY)).select_from(rows).scalar_subquery()


@dataclass(frozen=True)
class ObjectSql:
    """A GraphQL object type's SQL mapping: GraphQL field name -> Value. A field not listed (a
    computed one) makes a selection unplannable; the stock executor answers it. An object-valued
    field's own fields are read by its type's ObjectSql."""

    type_name: str
    fields: dict[str, Value]
    # Fields read from the stored responses (transfusion_response): only current ones may be read.
    reads_stored_responses: frozenset[str] = frozenset()


@dataclass
class Selected:
    """One field of a planned selection: its response key, how it is read and what under it."""

    key: str
    value: Value
    children: list[Selected] = field(default_factory=list)
    window: Window | None = None
    stored_responses: bool = False  # this field or one under it needs current stored responses

    def needs_stored_responses(self) -> bool:
        return self.stored_responses or any(child.needs_stored_responses() for child in self.children)


@dataclass(frozen=True)
class Page:
    """A keyset page of a table in primary-key order: the rows that satisfy `condition` (the
    caller's authorization and the filters) after the cursor's key, `size` of them."""

    table: Any
    key: Any
    condition: ColumnElement[bool]
    after: int | None
    size: int

    def keys(self, limit: int) -> Select[Any]:
        query = select(self.key).where(self.condition)
        if self.after is not None:
            query = query.where(self.key > self.after)
        # correlate(None): the page is read from its own FROM, never from an enclosing row.
        return query.order_by(self.key).limit(limit).correlate(None)


@dataclass(frozen=True)
class Scope:
    """What the caller may read, for predicates that depend on who asks, and the page a
    connection's fields describe."""

    sees_free_text: bool
    page: Page | None = None

    def the_page(self) -> Page:
        assert self.page is not None, "a connection field outside a connection"
        return self.page


class Edges(Value):
    """A connection's edges: {cursor, node} per row of the page, in key order."""

    def sql(self, selected: Selected, scope: Scope) -> ColumnElement[Any]:
        page = scope.the_page()
        item = json_object(selected.children, scope)
        array = func.json_agg(aggregate_order_by(item, page.key))
        query = select(func.coalesce(array, EMPTY_ARRAY))
        return query.select_from(page.table).where(page.key.in_(page.keys(page.size))).scalar_subquery()


@dataclass(frozen=True)
class Cursor(Value):
    """An edge's opaque cursor (server.schema.common.ids.encode_cursor)."""

    def sql(self, selected: Selected, scope: Scope) -> ColumnElement[Any]:
        return global_id("cursor", scope.the_page().key)


class Node(Value):
    """An edge's node: the page's row itself."""

    def sql(self, selected: Selected, scope: Scope) -> ColumnElement[Any]:
        return json_object(selected.children, scope)


class Nodes(Edges):
    """A connection's nodes: the edges' nodes without the edge, so the same rows in the same
    order (the children are the node type's fields)."""


class PageInfo(Value):
    def sql(self, selected: Selected, scope: Scope) -> ColumnElement[Any]:
        return json_object(selected.children, scope)


class HasNextPage(Value):
    def sql(self, selected: Selected, scope: Scope) -> ColumnElement[Any]:
        page = scope.the_page()
        one_more = page.keys(page.size + 1).subquery()
        return select(func.count()).select_from(one_more).scalar_subquery() > page.size


class EndCursor(Value):
    def sql(self, selected: Selected, scope: Scope) -> ColumnElement[Any]:
        page = scope.the_page()
        in_page = page.keys(page.size).subquery()
        return global_id("cursor", select(func.max(in_page.c[0])).scalar_subquery())


class StartCursor(Value):
    def sql(self, selected: Selected, scope: Scope) -> ColumnElement[Any]:
        page = scope.the_page()
        in_page = page.keys(page.size).subquery()
        return global_id("cursor", select(func.min(in_page.c[0])).scalar_subquery())


class NoPreviousPage(Value):
    """A page read forward (first/after) says false, as the stock path (server.db.keyset)."""

    def sql(self, selected: Selected, scope: Scope) -> ColumnElement[Any]:
        return false()


class TotalCount(Value):
    """Rows matching the filters over all pages: counted only when the query asks for it."""

    def sql(self, selected: Selected, scope: Scope) -> ColumnElement[Any]:
        page = scope.the_page()
        return select(func.count()).select_from(page.table).where(page.condition).correlate(None).scalar_subquery()


def one_row(
    table: Any, condition: ColumnElement[bool], children: Sequence[Selected], scope: Scope
) -> ColumnElement[Any]:
    """A root field answering one object or null: the row matching `condition` (at most one)."""
    return select(json_object(children, scope)).select_from(table).where(condition).correlate(None).scalar_subquery()


def connection(page: Page, children: Sequence[Selected], scope: Scope) -> ColumnElement[Any]:
    return json_object(children, Scope(sees_free_text=scope.sees_free_text, page=page))


def json_object(children: Sequence[Selected], scope: Scope) -> ColumnElement[Any]:
    """json_build_object('key', value, ...) in the selection's order. The keys are GraphQL
    response names (validated names: letters, digits, underscores), written as SQL literals."""
    arguments: list[Any] = []
    for child in children:
        arguments += [literal_column(f"'{child.key}'"), child.value.sql(child, scope)]
    return func.json_build_object(*arguments)


def global_id(type_name: str, column: Any) -> ColumnElement[Any]:
    text = literal(f"{type_name}:", Text) + cast(column, Text)
    base64 = func.encode(func.convert_to(text, "UTF8"), "base64")
    return func.rtrim(func.translate(base64, "+/\n", "-_"), "=")


def stale_responses(subject_id: Any, version: int) -> ColumnElement[bool]:
    """True when a subject's stored responses cannot be read as they are (server.services.response):
    no current subject_response row under today's parameter version, a live transfusion without
    its current stored result, or a stored result for a transfusion no longer live. The stock
    path then evaluates that subject live."""
    current = exists().where(
        StoredSubjectResponse.subject_id == subject_id, StoredSubjectResponse.parameter_version == version
    )
    missing_result = exists(
        select(PlateletTransfusion.id)
        .outerjoin(StoredTransfusionResponse, StoredTransfusionResponse.transfusion_id == PlateletTransfusion.id)
        .where(
            PlateletTransfusion.subject_id == subject_id,
            PlateletTransfusion.voided_at.is_(None),
            or_(
                StoredTransfusionResponse.transfusion_id.is_(None),
                StoredTransfusionResponse.parameter_version != version,
            ),
        )
        .correlate_except(PlateletTransfusion, StoredTransfusionResponse)
    )
    live = exists().where(
        PlateletTransfusion.id == StoredTransfusionResponse.transfusion_id, PlateletTransfusion.voided_at.is_(None)
    )
    orphan_result = exists(
        select(StoredTransfusionResponse.transfusion_id)
        .where(StoredTransfusionResponse.subject_id == subject_id, ~live)
        .correlate_except(StoredTransfusionResponse)
    )
    return or_(~current, missing_result, orphan_result)


@dataclass(frozen=True)
class PlannedAnswer:
    """The statement's two columns: the `data` object as JSON text, and whether any subject it
    read has stored responses that are not current (then the answer is not used)."""

    data: str
    stale: bool


async def fetch_planned(
    engine: AsyncEngine, data: ColumnElement[Any], stale: ColumnElement[bool] | None
) -> PlannedAnswer:
    """Runs the one statement outside a transaction (a single statement reads one snapshot):
    one round trip, no BEGIN/COMMIT."""
    statement = select(cast(data, Text), cast(stale if stale is not None else false(), Boolean))

    async def run(connection: AsyncConnection) -> Any:
        return (await connection.execute(statement)).one()

    row = await read_retrying(engine.connect, run)  # once more if the pooled connection was dead
    return PlannedAnswer(data=row[0], stale=bool(row[1]))


def subject_by_code(
    actor: Actor, code: str, children: Sequence[Selected], scope: Scope, version: int
) -> tuple[ColumnElement[Any], ColumnElement[bool] | None]:
    """Query.subject(code:): the subject's object or null when unknown or not the caller's to
    see, and whether its stored responses are stale (when the selection reads them)."""
    condition = and_(Subject.code == code, subject_visible_to(actor))
    stale = _any_stale(condition, version) if _reads_stored_responses(children) else None
    return one_row(Subject, condition, children, scope), stale


def subject_page(
    actor: Actor,
    where: SubjectFilter,
    after: int | None,
    size: int,
    children: Sequence[Selected],
    scope: Scope,
    version: int,
) -> tuple[ColumnElement[Any], ColumnElement[bool] | None]:
    """Query.subjects(...): the connection over a keyset page in enrolment order."""
    page = Page(Subject, Subject.id, subjects_matching(actor, where), after, size)
    stale = _any_stale(page.key.in_(page.keys(size)), version) if _reads_stored_responses(children) else None
    return connection(page, children, scope), stale


def _reads_stored_responses(children: Sequence[Selected]) -> bool:
    return any(child.needs_stored_responses() for child in children)


def _any_stale(subjects: ColumnElement[bool], version: int) -> ColumnElement[bool]:
    return exists(select(Subject.id).where(subjects, stale_responses(Subject.id, version)).correlate(None))


def either(conditions: Sequence[ColumnElement[bool]]) -> ColumnElement[bool] | None:
    return or_(*conditions) if conditions else None
