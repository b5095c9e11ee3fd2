"""Plain reads answered by one SQL statement (DESIGN.md "Reads, fast and boring").

A query whose every field is declared in a type's SQL mapping (server.schema.common.sql_mapping: ids,
stored columns, the site, the stored responses, `transfusions(first:|last:|since:)`) is answered
by one statement in which PostgreSQL builds the whole `data` object (server.db.planned_reads),
with the caller's authorization predicate inside it; the JSON text is passed to the response as
it is. Anything else (a computed field, an argument the planner does not know, a directive, a
mutation, SQLite, a subject whose stored responses are not current) is left to strawberry's stock
execution, which gives the same answer more slowly: tests run every query both ways.

It runs as a schema extension at the execute step, after the document was parsed, validated and
costed through the caches, and after the edge checks of the arguments."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    NamedTypeNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_named_type,
    get_operation_ast,
)
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType as StrawberryOperationType

from ...db import planned_reads as sql
from ...db import queries as q
from ...domain.auth import Actor
from ..common.ids import decode_cursor
from ..common.paging import ListWindow
from ..common.sql_mapping import SQL_MAPPINGS
from .limits import timeout_error

log = logging.getLogger("ptr_trial.planner")


class Unplannable(Exception):
    """The query (or a part of it) is not a plain read: the stock executor answers it."""


class ReadPlanner:
    """One per schema: whether planned reads are on, how many queries each path answered (tests
    compare both paths on every query the planner answered), and the statements already built."""

    def __init__(self, enabled: bool, cached_plans: int = 512) -> None:
        self.enabled = enabled
        self.answered = 0
        self.declined = 0
        self.plans = PlanCache(cached_plans)


class PlanCache:
    """Statements built for recent requests, by everything they depend on. A phone polls with the
    same document, variables and token, and an analyst re-runs a query: building the statement
    (some 200 SQLAlchemy constructs for a phone's read) cost more than running it. Unplannable
    requests are not cached (the walk that finds out is cheap). Bounded: least recently used out."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._plans: OrderedDict[Hashable, Plan] = OrderedDict()

    def __len__(self) -> int:
        return len(self._plans)

    def get(self, key: Hashable) -> Plan | None:
        plan = self._plans.get(key)
        if plan is not None:
            self._plans.move_to_end(key)
        return plan

    def put(self, key: Hashable, plan: Plan) -> None:
        self._plans[key] = plan
        if len(self._plans) > self.size:
            self._plans.popitem(last=False)


def _plan_key(execution_context: Any, actor: Actor, version: int) -> Hashable:
    """Everything a plan depends on: the document and operation, the variables' values, what the
    caller may see (role, sites, own subject) and the protocol version in force."""
    variables = orjson.dumps(execution_context.variables or {}, option=orjson.OPT_SORT_KEYS, default=str)
    scope = (actor.role, actor.site_codes, actor.subject_code)
    return (execution_context.query, execution_context.operation_name, variables, scope, version)


@dataclass(frozen=True)
class _Walk:
    schema: GraphQLSchema
    fragments: dict[str, FragmentDefinitionNode]
    variables: VariableValues

    def fields(self, selection_set: SelectionSetNode, type_name: str) -> list[tuple[str, FieldNode]]:
        """The selection's fields in order, through fragments of this very type. A directive
        (@skip, @include, ...) or a response key selected twice is left to the stock path."""
        found: list[tuple[str, FieldNode]] = []
        for selection in selection_set.selections:
            if selection.directives:
                raise Unplannable("directive")
            if isinstance(selection, FieldNode):
                found.append(((selection.alias or selection.name).value, selection))
                continue
            if isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments[selection.name.value]
                if fragment.directives:
                    raise Unplannable("directive")
                condition: NamedTypeNode | None = fragment.type_condition
                inner = fragment.selection_set
            else:
                assert isinstance(selection, InlineFragmentNode)
                condition, inner = selection.type_condition, selection.selection_set
            if condition is not None and condition.name.value != type_name:
                raise Unplannable("fragment on another type")
            found += self.fields(inner, type_name)
        keys = [key for key, _ in found]
        if len(set(keys)) != len(keys) or len(keys) > sql.MAX_KEYS_PER_OBJECT:
            raise Unplannable("repeated or too many keys")
        return found

    def arguments(self, parent: GraphQLObjectType, node: FieldNode) -> dict[str, Any]:
        try:
            return get_argument_values(parent.fields[node.name.value], node, self.variables)
        except GraphQLError as error:
            raise Unplannable("arguments") from error

    def object(self, type_name: str, selection_set: SelectionSetNode | None) -> list[sql.Selected]:
        """The planned fields of an object of a declared type."""
        mapping = SQL_MAPPINGS.get(type_name)
        if mapping is None or selection_set is None:
            raise Unplannable(f"{type_name} has no SQL mapping")
        graphql_type = self.schema.get_type(type_name)
        assert isinstance(graphql_type, GraphQLObjectType)
        planned: list[sql.Selected] = []
        for key, node in self.fields(selection_set, type_name):
            name = node.name.value
            if name == "__typename":
                planned.append(sql.Selected(key, sql.Constant(type_name)))
                continue
            value = mapping.fields.get(name)
            if value is None:
                raise Unplannable(f"{type_name}.{name} is computed")
            selected = sql.Selected(key, value, stored_responses=name in mapping.reads_stored_responses)
            if node.arguments:
                if not isinstance(value, sql.ToMany):
                    raise Unplannable("arguments")
                selected.window = _window(self.arguments(graphql_type, node))
            if node.selection_set is not None:
                child_type = get_named_type(graphql_type.fields[name].type)
                selected.children = self.object(child_type.name, node.selection_set)
            planned.append(selected)
        return planned


def _window(arguments: dict[str, Any]) -> sql.Window:
    """first, last and since; `after`/`before` (anchored on a row) and first with last together
    are rare and left to the stock path. Invalid values too: the stock path reports them."""
    if arguments.get("after") is not None or arguments.get("before") is not None:
        raise Unplannable("anchored window")
    first, last, since = arguments.get("first"), arguments.get("last"), arguments.get("since")
    if first is not None and last is not None:
        raise Unplannable("first and last")
    try:
        ListWindow.of(first=first, last=last, after=None, before=None, since=since, type_name="")
    except GraphQLError as error:
        raise Unplannable("window") from error
    return sql.Window(first=first, last=last, since=since)


@dataclass(frozen=True)
class Plan:
    data: Any  # the `data` object, a SQL expression
    stale: Any | None  # true when a subject read has stored responses that are not current


def plan_query(
    schema: GraphQLSchema,
    document: Any,
    operation_name: str | None,
    raw_variables: dict[str, Any] | None,
    actor: Actor,
    version: int,
    page_sizes: tuple[int, int],
) -> Plan:
    """The statement answering the whole query, or Unplannable. `page_sizes`: (default, max)."""
    operation = get_operation_ast(document, operation_name)
    if not isinstance(operation, OperationDefinitionNode) or operation.operation is not OperationType.QUERY:
        raise Unplannable("not a query")
    variables = get_variable_values(schema, operation.variable_definitions or (), raw_variables or {})
    if not isinstance(variables, VariableValues):
        raise Unplannable("variables")
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    walk = _Walk(schema, fragments, variables)
    query_type = schema.query_type
    assert query_type is not None
    scope = sql.Scope(sees_free_text=actor.sees_free_text)
    roots: list[sql.Selected] = []
    stale: list[Any] = []  # per root field: whether a subject it reads has stale stored responses
    for key, node in walk.fields(operation.selection_set, query_type.name):
        name = node.name.value
        if name == "__typename":
            roots.append(sql.Selected(key, sql.Constant(query_type.name)))
        elif name == "subject":
            code = walk.arguments(query_type, node)["code"]
            children = walk.object("Subject", node.selection_set)
            expression, subject_stale = sql.subject_by_code(actor, code, children, scope, version)
            roots.append(sql.Selected(key, _Root(expression)))
            stale += [subject_stale] if subject_stale is not None else []
        elif name == "subjects":
            where, after, size = _subject_page(walk.arguments(query_type, node), page_sizes)
            children = walk.object("SubjectConnection", node.selection_set)
            expression, page_stale = sql.subject_page(actor, where, after, size, children, scope, version)
            roots.append(sql.Selected(key, _Root(expression)))
            stale += [page_stale] if page_stale is not None else []
        else:
            raise Unplannable(f"Query.{name}")
    return Plan(data=sql.json_object(roots, scope), stale=sql.either(stale))


@dataclass(frozen=True)
class _Root(sql.Value):
    """A root field's SQL, already built."""

    expression: Any

    def sql(self, selected: sql.Selected, scope: sql.Scope) -> Any:
        return self.expression


def _subject_page(arguments: dict[str, Any], page_sizes: tuple[int, int]) -> tuple[q.SubjectFilter, int | None, int]:
    """Query.subjects' page, with the same rules as the resolver (server.schema.subjects.queries)."""
    if arguments.get("sustainedResponse") is not None:
        raise Unplannable("filter on a derived value")
    if arguments.get("last") is not None or arguments.get("before") is not None:
        # Paging backward is rarer (a list's end, Relay's "load previous"): the stock path reads it.
        raise Unplannable("backward page")
    default_size, max_size = page_sizes
    size = arguments.get("first")
    size = default_size if size is None else size
    if not 1 <= size <= max_size:
        raise Unplannable("page size")
    try:
        after = decode_cursor(arguments.get("after"))
    except ValueError as error:
        raise Unplannable("cursor") from error
    return q.SubjectFilter(site_codes=arguments.get("siteCodes"), statuses=arguments.get("statuses")), after, size


class PlannedReads(SchemaExtension):
    """Answers a plannable query with one statement before the stock executor would run."""

    def __init__(self, *, planner: ReadPlanner) -> None:
        self.planner = planner

    async def on_execute(self) -> AsyncIterator[None]:
        execution_context = self.execution_context
        context = execution_context.context
        engine = getattr(context, "planned_reads_engine", None)
        if (
            self.planner.enabled
            and engine is not None
            and execution_context.operation_type is StrawberryOperationType.QUERY
            and not execution_context.pre_execution_errors
        ):
            result = await self._answer(execution_context, context, engine)
            if result is not None:
                execution_context.result = result
                self.planner.answered += 1
            else:
                self.planner.declined += 1
        yield

    async def _answer(self, execution_context: Any, context: Any, engine: Any) -> ExecutionResult | None:
        """The planned answer; None to leave the query to the stock executor."""
        settings = context.settings
        budget = settings.request_timeout_seconds
        try:
            # The same budget as the stock path's (server.schema.execution.limits), and the same answer.
            async with asyncio.timeout(budget):
                version, _ = await context.loaders.protocol()
                key = _plan_key(execution_context, context.actor, version)
                plan = self.planner.plans.get(key)
                if plan is None:
                    plan = plan_query(
                        execution_context.schema._schema,
                        execution_context.graphql_document,
                        execution_context.operation_name,
                        execution_context.variables,
                        context.actor,
                        version,
                        (settings.default_page_size, settings.max_page_size),
                    )
                    self.planner.plans.put(key, plan)
                answer = await sql.fetch_planned(engine, plan.data, plan.stale)
        except Unplannable:
            return None
        except TimeoutError:
            return ExecutionResult(data=None, errors=[timeout_error(budget)])
        except Exception:  # noqa: BLE001 - e.g. the database went away: the stock path reports it
            log.warning(
                "a planned read failed; the stock executor answers (request %s)", context.request_id, exc_info=True
            )
            return None
        if answer.stale or len(answer.data) > settings.max_response_bytes:
            return None  # the stock path evaluates live / reports the size refusal
        return ExecutionResult(data=orjson.Fragment(answer.data), errors=None)  # type: ignore[arg-type]


__all__: Sequence[str] = ["PlannedReads", "ReadPlanner", "Unplannable", "plan_query"]
