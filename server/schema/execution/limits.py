"""Query limits: what one GraphQL request may ask of the service (issue 10).

Checked on the parsed document before graphql-core's validation, which is by far the dearer step
for a hostile document (its overlapping-fields rule compares every pair of fields with the same
response name: 999 repeated `viewer { role }` took 2 s), and long before execution:

- **repeated fields**: one response key selected more than `max_field_repeats` times in one
  selection set (fragments included), or more than ten times that many repeated selections in the
  whole document, is refused with `QUERY_TOO_COMPLEX`;
- **cost**: every field costs 1; a list of objects multiplies the cost of its selection by its size:
  `first` for a connection's `edges` (the default page size when absent), a declared typical size
  for the other lists (`LIST_SIZES` below: a subject's 50 transfusions, 200 lab results...).
  Aliases and fragments count as often as they are used. Over the caller's role's limit (settings)
  the request is refused with `QUERY_TOO_COSTLY`, with the cost and the limit in `extensions`.

Then the document is validated with rules built once per schema, through an LRU cache keyed by the
document (the parser's cache hands back the same document for the same text), so a client's usual
documents are validated once. Execution of a query is cut at `request_timeout_seconds` (`TIMEOUT`).
Modelled on saleor's query-cost validator (saleor/graphql/core/validators/query_cost.py).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
)
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document
from strawberry.types.graphql import OperationType

from ...domain.enums import Role
from ...settings import Settings

# Typical number of items of each list of objects, per parent object: what one item of the parent
# usually holds in a running trial (the demo holds fewer: up to 25 transfusions, 74 counts and 69
# lab results a subject). A connection's `edges` take the request's `first` instead.
# tests/api/test_query_limits.py checks that every list of objects in the schema is listed here.
LIST_SIZES: dict[tuple[str, str], int] = {
    ("Query", "sites"): 20,
    ("Query", "adverseEventSummary"): 50,  # rows: CTCAE terms
    ("Trial", "primaryEndpointBySite"): 20,
    ("Trial", "protocolParameterHistory"): 5,
    ("Subject", "statusHistory"): 8,
    ("Subject", "measurements"): 5,
    ("Subject", "lymphodepletions"): 2,
    ("Subject", "infusions"): 2,
    ("Subject", "transfusions"): 50,
    ("Subject", "plateletCounts"): 150,  # about three per transfusion
    ("Subject", "labResults"): 200,
    ("Subject", "marrowPlasmaCells"): 5,
    ("Subject", "igg"): 20,
    ("Subject", "antibodyTests"): 20,
    ("Subject", "adverseEvents"): 20,
    ("Subject", "bleedingReports"): 100,
    ("Subject", "bleedingDays"): 100,
    ("Subject", "devices"): 3,
    ("Subject", "activations"): 3,
    ("PlateletTransfusion", "units"): 2,
    ("PlateletTransfusionSuccess", "counts"): 3,
    ("LymphodepletionCourse", "agents"): 2,
    ("CarTKinetics", "series"): 30,
    ("BCells", "draws"): 30,
    ("AntibodyTest", "results"): 20,
    ("AntibodyClearance", "specificities"): 20,
    ("AntibodyClearance", "summedMfi"): 10,
    ("AdverseEvent", "bleedingReports"): 5,
    ("BleedingDay", "reports"): 3,
    ("BleedingReport", "symptoms"): 3,
    ("BleedingReport", "adverseEvents"): 2,
    ("BleedingReport", "annotations"): 2,
    ("LabResultsRecorded", "results"): 100,
    ("InputError", "problems"): 5,
    ("DeviceActivationsRevoked", "activations"): 3,
    ("RefractorinessEvidence", "excluded"): 10,
    ("BeforeAfterComparison", "values"): 100,  # one per subject of the cohort
    ("TimeToEventEstimate", "subjectTimes"): 100,
    ("TimeToEventEstimate", "curve"): 100,  # one step per event time
    ("TimeToEventEstimate", "atRisk"): 4,  # months 1, 3, 6, 12
    ("Subject", "therapies"): 20,
    ("Subject", "procedures"): 3,
    ("Subject", "timeline"): 25,  # therapies, procedures and infusions
    ("Query", "protocolDeviations"): 20,  # one entry per site
    ("SiteDeviations", "deviations"): 10,
}
UNLISTED_LIST_SIZE = 20  # a list of objects missing above (the test above keeps this unused)
CONNECTION_LISTS = frozenset({"edges", "nodes"})  # the lists of a connection: `first` items

# Nesting of fields and fragments beyond which a document is refused outright (the depth limit,
# PTR_MAX_QUERY_DEPTH, is far lower; this bounds the walks below, fragment chains included).
MAX_NESTING = 64

log = logging.getLogger("ptr_trial.limits")

TOO_COSTLY = "QUERY_TOO_COSTLY"
TOO_COMPLEX = "QUERY_TOO_COMPLEX"
TIMEOUT = "TIMEOUT"


class _TooNested(Exception):
    pass


# ---- repeated fields --------------------------------------------------------------------------


@dataclass(frozen=True)
class Repeats:
    """The response key selected most often in one selection set (its fragments' fields included)
    and that count; and, over the whole document, how many selections repeat a key already
    selected in their selection set (graphql-core compares each such pair, and their
    sub-selections with each other)."""

    key: str
    count: int
    duplicates: int


def field_repeats(document: DocumentNode) -> Repeats:
    """Each selection set and fragment of the document is looked at once."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    fragment_keys: dict[str, Counter[str]] = {}
    worst = ("", 0)
    duplicates = 0

    def keys_of(selection_set: SelectionSetNode, visiting: frozenset[str], nesting: int) -> Counter[str]:
        if nesting > MAX_NESTING:
            raise _TooNested
        keys: Counter[str] = Counter()
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                keys[(selection.alias or selection.name).value] += 1
                if selection.selection_set is not None:
                    check(selection.selection_set, nesting + 1)
            elif isinstance(selection, InlineFragmentNode):
                keys.update(keys_of(selection.selection_set, visiting, nesting + 1))
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name in visiting or name not in fragments:
                    continue  # a cycle or an unknown fragment: validation reports it
                if name not in fragment_keys:
                    fragment_keys[name] = keys_of(fragments[name].selection_set, visiting | {name}, nesting + 1)
                keys.update(fragment_keys[name])
        return keys

    def note(keys: Counter[str]) -> None:
        nonlocal worst, duplicates
        duplicates += sum(count - 1 for count in keys.values())
        if keys:
            key, count = keys.most_common(1)[0]
            if count > worst[1]:
                worst = (key, count)

    def check(selection_set: SelectionSetNode, nesting: int) -> None:
        note(keys_of(selection_set, frozenset(), nesting))

    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            check(definition.selection_set, 0)
    for name, fragment in fragments.items():  # fragments no operation uses are validated too
        if name not in fragment_keys:
            fragment_keys[name] = keys_of(fragment.selection_set, frozenset({name}), 0)
        note(fragment_keys[name])
    return Repeats(worst[0], worst[1], duplicates)


# ---- cost ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PageSizes:
    default: int
    maximum: int


class CostCounter:
    """The cost of a document's operations, as the module's docstring defines it. Robust to
    documents that will fail validation (unknown fields or fragments, wrong argument types): what
    it cannot type costs 1 a field."""

    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        variables: Mapping[str, Any] | None,
        pages: PageSizes,
    ) -> None:
        self.schema = schema
        self.variables = variables or {}
        self.pages = pages
        self.fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        self.memo: dict[tuple[str, int | None], int] = {}
        self.defaults: dict[str, Any] = {}

    def operation(self, operation: OperationDefinitionNode) -> int:
        root = self.schema.get_root_type(operation.operation)
        self.defaults = {
            d.variable.name.value: d.default_value.value
            for d in operation.variable_definitions or ()
            if isinstance(d.default_value, IntValueNode)
        }
        self.memo = {}  # fragment costs depend on the operation's variable defaults
        return self.selection_set(root, operation.selection_set, None, frozenset(), 0)

    def selection_set(
        self,
        parent: GraphQLNamedType | None,
        selection_set: SelectionSetNode,
        page: int | None,
        visiting: frozenset[str],
        nesting: int,
    ) -> int:
        if nesting > MAX_NESTING:
            raise _TooNested
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self.field(parent, selection, page, visiting, nesting)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                narrowed = self.schema.get_type(condition.name.value) if condition else parent
                total += self.selection_set(narrowed, selection.selection_set, page, visiting, nesting + 1)
            elif isinstance(selection, FragmentSpreadNode):
                total += self.fragment(selection.name.value, page, visiting, nesting)
        return total

    def fragment(self, name: str, page: int | None, visiting: frozenset[str], nesting: int) -> int:
        fragment = self.fragments.get(name)
        if fragment is None or name in visiting:
            return 0  # unknown or cyclic: validation refuses the document
        key = (name, page)
        if key not in self.memo:
            condition = self.schema.get_type(fragment.type_condition.name.value)
            self.memo[key] = self.selection_set(condition, fragment.selection_set, page, visiting | {name}, nesting + 1)
        return self.memo[key]

    def field(
        self,
        parent: GraphQLNamedType | None,
        node: FieldNode,
        page: int | None,
        visiting: frozenset[str],
        nesting: int,
    ) -> int:
        if node.selection_set is None:
            return 1
        fields = parent.fields if isinstance(parent, (GraphQLObjectType, GraphQLInterfaceType)) else {}
        definition = fields.get(node.name.value)
        if definition is None:
            return 1 + self.selection_set(None, node.selection_set, None, visiting, nesting + 1)
        named = get_named_type(definition.type)
        inner_page = self.page_size(node) if "first" in definition.args or "last" in definition.args else None
        size = self.list_size(parent, node.name.value, definition.type, page) if parent is not None else 1
        return 1 + size * self.selection_set(named, node.selection_set, inner_page, visiting, nesting + 1)

    def list_size(self, parent: GraphQLNamedType, name: str, type_: Any, page: int | None) -> int:
        if isinstance(type_, GraphQLNonNull):
            type_ = type_.of_type
        if not isinstance(type_, GraphQLList):
            return 1
        if parent.name.startswith("__"):
            return 1  # introspection: bounded by the schema itself, answered from memory
        if page is not None and name in CONNECTION_LISTS:
            return page
        return LIST_SIZES.get((parent.name, name), UNLISTED_LIST_SIZE)

    def page_size(self, node: FieldNode) -> int:
        """`first` (or `last`) of a connection field, within the page size settings (a value out of
        range is refused by the field itself, with BAD_USER_INPUT, when the cost allows it to run)."""
        for argument in node.arguments or ():
            if argument.name.value not in ("first", "last"):
                continue
            value: Any = None
            if isinstance(argument.value, IntValueNode):
                value = argument.value.value
            elif isinstance(argument.value, VariableNode):
                name = argument.value.name.value
                value = self.variables.get(name, self.defaults.get(name))
            try:
                size = int(value) if value is not None and not isinstance(value, bool) else self.pages.default
            except (TypeError, ValueError):
                size = self.pages.default
            return max(1, min(size, self.pages.maximum))
        return self.pages.default


def query_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    variables: Mapping[str, Any] | None,
    operation_name: str | None,
    pages: PageSizes,
) -> int:
    """The cost of the operation that will run (the dearest one when that is not clear yet)."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [o for o in operations if o.name is not None and o.name.value == operation_name]
    counter = CostCounter(schema, document, variables, pages)
    return max((counter.operation(o) for o in operations), default=0)


# ---- the policy and the extension ---------------------------------------------------------------

STAFF = frozenset({Role.COORDINATOR, Role.INVESTIGATOR, Role.MONITOR})


@dataclass(frozen=True)
class QueryLimits:
    """The limits of one schema, from settings, with its validation rules and validation cache
    (both built once: strawberry's limiter extensions build new rule classes on every request,
    which makes every cache key new)."""

    cost_limits: Mapping[Role, int]
    max_field_repeats: int
    max_duplicates: int  # repeated selections in the whole document: ten times max_field_repeats
    pages: PageSizes
    request_timeout_seconds: float
    rules: tuple[type[ASTValidationRule], ...]
    validate: Callable[[GraphQLSchema, DocumentNode, tuple[type[ASTValidationRule], ...]], list[GraphQLError]]

    @classmethod
    def from_settings(cls, settings: Settings, rules: Iterable[type[ASTValidationRule]]) -> QueryLimits:
        cost_limits = {
            role: settings.max_query_cost_patient
            if role is Role.PATIENT
            else settings.max_query_cost_staff
            if role in STAFF
            else settings.max_query_cost_analyst
            for role in Role
        }
        return cls(
            cost_limits=cost_limits,
            max_field_repeats=settings.max_field_repeats,
            max_duplicates=10 * settings.max_field_repeats,
            pages=PageSizes(settings.default_page_size, settings.max_page_size),
            request_timeout_seconds=settings.request_timeout_seconds,
            rules=tuple(rules),
            validate=functools.lru_cache(maxsize=512)(validate_document),
        )

    def cost_limit(self, context: Any) -> tuple[int, str]:
        """The caller's limit and role name; the smallest limit when the caller is unknown."""
        try:
            role = context.actor.role
        except (AttributeError, PermissionError):  # no context, or a WebSocket not yet authenticated
            role = None
        if not isinstance(role, Role):
            role = Role.PATIENT
        return self.cost_limits[role], role.value

    def refusal(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        variables: Mapping[str, Any] | None,
        operation_name: str | None,
        context: Any,
    ) -> GraphQLError | None:
        """Why this request may not run, or None."""
        try:
            repeats = field_repeats(document)
            if repeats.count > self.max_field_repeats:
                return GraphQLError(
                    f"'{repeats.key}' is selected {repeats.count} times in one selection set; "
                    f"at most {self.max_field_repeats}",
                    extensions={
                        "code": TOO_COMPLEX,
                        "field": repeats.key,
                        "count": repeats.count,
                        "limit": self.max_field_repeats,
                    },
                )
            if repeats.duplicates > self.max_duplicates:
                return GraphQLError(
                    f"{repeats.duplicates} selections repeat a field already selected beside them; "
                    f"at most {self.max_duplicates}",
                    extensions={"code": TOO_COMPLEX, "count": repeats.duplicates, "limit": self.max_duplicates},
                )
            cost = query_cost(schema, document, variables, operation_name, self.pages)
        except (_TooNested, RecursionError):
            return GraphQLError(
                f"the document nests fields or fragments more than {MAX_NESTING} deep",
                extensions={"code": TOO_COMPLEX, "limit": MAX_NESTING},
            )
        limit, role = self.cost_limit(context)
        if cost > limit:
            return GraphQLError(
                f"query cost {cost:,} exceeds the limit of {limit:,} for the {role} role: ask for fewer "
                "items (first), fewer nested lists or fewer aliases",
                extensions={"code": TOO_COSTLY, "cost": cost, "limit": limit},
            )
        return None


class QueryLimitsExtension(SchemaExtension):
    """Refuses over-limit documents before validation, validates through the schema's cache, and
    cuts a query's execution at the time budget."""

    def __init__(self, limits: QueryLimits) -> None:
        self.limits = limits

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        assert document is not None  # parsed before validation
        schema = context.schema._schema
        refusal = self.limits.refusal(schema, document, context.variables, context.operation_name, context.context)
        if refusal is not None:
            context.pre_execution_errors = [refusal]
        else:
            context.pre_execution_errors = self.limits.validate(
                schema, document, (*context.validation_rules, *self.limits.rules)
            )
        yield

    async def on_execute(self) -> AsyncIterator[None]:
        if self.execution_context.operation_type is not OperationType.QUERY:
            # Mutations run to their commit or rollback (one transaction each); subscriptions live long.
            yield
            return
        budget = self.limits.request_timeout_seconds
        deadline = asyncio.timeout(budget)
        try:
            async with deadline:
                yield
        except TimeoutError:
            if not deadline.expired():
                raise  # some other timeout, not the budget's
            raise timeout_error(budget) from None


def timeout_error(budget: float) -> GraphQLError:
    return GraphQLError(
        f"the query took longer than {budget:g} s and was stopped; ask for less",
        extensions={"code": TIMEOUT, "limit": budget},
    )


# ---- response size ------------------------------------------------------------------------------

RESPONSE_TOO_LARGE = "RESPONSE_TOO_LARGE"


def response_too_large(message: object, size: int, limit: int) -> dict[str, Any]:
    """What is sent instead of an encoded response over `max_response_bytes`: the GraphQL result
    (or, on a WebSocket, the `next` message's payload) becomes a null with one error."""
    log.warning("a response of %d bytes was replaced by %s (limit %d)", size, RESPONSE_TOO_LARGE, limit)
    error = {
        "message": f"the response ({size:,} bytes) exceeds the limit of {limit:,} bytes; ask for less",
        "extensions": {"code": RESPONSE_TOO_LARGE, "size": size, "limit": limit},
    }
    if isinstance(message, dict) and message.get("type") == "next" and "payload" in message:  # graphql-transport-ws
        return {**message, "payload": {"data": None, "errors": [error]}}
    return {"data": None, "errors": [error]}
