"""Checks every argument value at the edge, before any resolver runs (DESIGN.md rule 9).

Some values are valid GraphQL yet cannot reach the database: a string with U+0000 or a lone
surrogate (PostgreSQL text refuses both, and asyncpg fails while encoding), a list longer than
PostgreSQL's 32,767 bind parameters, a datetime whose offset pushes it outside the years 1-9999
once converted to UTC, a number outside what its argument means (month 100000). One walk over the
coerced arguments, guided by the schema's own types, finds them all wherever they are (literal or
variable, top-level argument, nested input field, list item), so no field can forget the check.
It runs in two places only:
- EdgeChecks, a schema extension, walks the whole operation once before it executes and refuses
  it with one GraphQL error (code BAD_USER_INPUT, the argument path in `extensions.field`), as for
  the other bad arguments. Every field of the document is checked, including one a parent's null
  or an @skip would never have reached: a value that cannot be stored is refused wherever it is.
- server.schema.common.errors.run_use_case checks a mutation's own arguments, to answer with the usual
  typed InputError (the fields of its payload are checked by EdgeChecks, before anything is
  written).
A custom scalar would also see every string, but a scalar can only fail the whole request, never
answer a mutation with its typed InputError.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    SelectionSetNode,
    get_named_type,
    get_operation_ast,
)
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values
from strawberry.extensions import SchemaExtension

from ...domain.validation import Problem, ProblemCode
from ...services.labs import MAX_BATCH

# A filter list of 1,000 codes is already far beyond any real use; the cap keeps every list well
# under PostgreSQL's 32,767 bind parameters. recordLabResults takes whole lab exports, up to its
# documented batch size.
MAX_LIST_ITEMS = 1000
LIST_CAPS = {("RecordLabResultsInput", "results"): MAX_BATCH}

# Documented ranges of numeric query arguments, by argument name (the names mean the same on every
# field that has them; each argument's description states its range).
MONTH_RANGE = (0, 120)
GRADE_RANGE = (1, 5)
STUDY_DAY_RANGE = (-36_500, 36_500)
MEDDRA_CODE_RANGE = (10_000_000, 99_999_999)
ARGUMENT_RANGES: dict[str, tuple[int, int]] = {
    "month": MONTH_RANGE,
    "minGrade": GRADE_RANGE,
    "maxGrade": GRADE_RANGE,
    "onsetStudyDayFrom": STUDY_DAY_RANGE,
    "onsetStudyDayTo": STUDY_DAY_RANGE,
    "meddraCodes": MEDDRA_CODE_RANGE,
}

# U+0000 and unpaired UTF-16 surrogates (what JSON's \ud800 escapes decode to in Python).
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def argument_problems(field_def: GraphQLField, field_node: FieldNode, variables: Any) -> list[Problem]:
    """Problems of one field's arguments; [] when they cannot be coerced (graphql-core reports that).
    `variables`: the executor's VariableValues, or resolve info's dict of coerced values."""
    if not field_def.args:
        return []
    if isinstance(variables, dict):
        variables = VariableValues(sources={}, coerced=variables)
    try:
        values = get_argument_values(field_def, field_node, variables)
    except Exception:  # noqa: BLE001 - graphql-core answers invalid arguments itself
        return []
    problems: list[Problem] = []
    for name, arg in field_def.args.items():
        key = arg.out_name or name
        if key in values:
            problems += _walk(values[key], arg.type, (name,), None, ARGUMENT_RANGES.get(name))
    return problems


def _walk(
    value: Any, gql_type: Any, path: tuple[str, ...], owner: str | None, bounds: tuple[int, int] | None
) -> list[Problem]:
    if value is None:
        return []
    if isinstance(gql_type, GraphQLNonNull):
        gql_type = gql_type.of_type
    if isinstance(gql_type, GraphQLList):
        if not isinstance(value, list):
            return _walk(value, gql_type.of_type, path, owner, bounds)
        cap = LIST_CAPS.get((owner or "", path[-1]), MAX_LIST_ITEMS)
        if len(value) > cap:
            return [Problem(path, ProblemCode.TOO_LONG, f"at most {cap} items")]
        return [
            p
            for index, item in enumerate(value)
            for p in _walk(item, gql_type.of_type, (*path, str(index)), owner, bounds)
        ]
    if isinstance(gql_type, GraphQLInputObjectType) and isinstance(value, dict):
        return [
            problem
            for name, field in gql_type.fields.items()
            if (field.out_name or name) in value
            for problem in _walk(value[field.out_name or name], field.type, (*path, name), gql_type.name, None)
        ]
    return list(_scalar_problems(value, path, bounds))


def _scalar_problems(value: Any, path: tuple[str, ...], bounds: tuple[int, int] | None) -> Iterator[Problem]:
    if isinstance(value, str) and UNSTORABLE.search(value):
        yield Problem(path, ProblemCode.INVALID_FORMAT, "text must not contain NUL characters or unpaired surrogates")
    elif isinstance(value, datetime):
        try:
            value.astimezone(UTC)
        except (OverflowError, ValueError):
            yield Problem(path, ProblemCode.OUT_OF_RANGE, "this time cannot be represented in UTC (years 1-9999)")
    elif bounds is not None and isinstance(value, int) and not bounds[0] <= value <= bounds[1]:
        yield Problem(path, ProblemCode.OUT_OF_RANGE, f"must be between {bounds[0]} and {bounds[1]}")


def as_graphql_error(problems: list[Problem], node: FieldNode | None = None) -> GraphQLError:
    """A query argument's problem, reported like the other bad arguments (see schema.paging)."""
    first = problems[0]
    return GraphQLError(
        f"{'.'.join(first.field)}: {first.message}",
        nodes=node,
        extensions={"code": "BAD_USER_INPUT", "field": list(first.field)},
    )


def operation_problem(
    schema: GraphQLSchema, document: DocumentNode, operation_name: str | None, inputs: Mapping[str, Any] | None
) -> GraphQLError | None:
    """The first field of the operation, in document order, whose arguments have a problem, as a
    GraphQL error; None when there is none, or when the operation or its variables are invalid
    (graphql-core's execution reports those). A mutation's own fields are left to run_use_case."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return None
    variables = get_variable_values(schema, operation.variable_definitions or (), dict(inputs or {}))
    if not isinstance(variables, VariableValues):
        return None
    walk = _OperationWalk(schema, document, variables)
    return walk.selection_set(schema.get_root_type(operation.operation), operation.selection_set)


class _OperationWalk:
    """Every field of a selection set, through its fragments (each fragment once: its arguments
    are the same wherever it is spread), with its definition from the schema."""

    def __init__(self, schema: GraphQLSchema, document: DocumentNode, variables: VariableValues) -> None:
        self.schema = schema
        self.variables = variables
        self.fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        self.seen: set[str] = set()

    def selection_set(self, parent: GraphQLNamedType | None, selection_set: SelectionSetNode) -> GraphQLError | None:
        for selection in selection_set.selections:
            error = None
            if isinstance(selection, FieldNode):
                error = self.field(parent, selection)
            elif isinstance(selection, InlineFragmentNode):
                named = selection.type_condition
                narrowed = self.schema.get_type(named.name.value) if named else parent
                error = self.selection_set(narrowed, selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments.get(selection.name.value)
                if fragment is not None and fragment.name.value not in self.seen:
                    self.seen.add(fragment.name.value)
                    condition = self.schema.get_type(fragment.type_condition.name.value)
                    error = self.selection_set(condition, fragment.selection_set)
            if error is not None:
                return error
        return None

    def field(self, parent: GraphQLNamedType | None, node: FieldNode) -> GraphQLError | None:
        if not isinstance(parent, (GraphQLObjectType, GraphQLInterfaceType)):
            return None  # a union's __typename, or a type validation already refused
        definition = parent.fields.get(node.name.value)
        if definition is None:
            return None  # introspection's __type(name:) and the like
        if parent is not self.schema.mutation_type and (
            problems := argument_problems(definition, node, self.variables)
        ):
            return as_graphql_error(problems, node)
        if node.selection_set is None:
            return None
        return self.selection_set(get_named_type(definition.type), node.selection_set)


class EdgeChecks(SchemaExtension):
    """Runs the edge checks once per operation, before it executes (queries, mutations'
    payloads and subscriptions alike): a problem refuses the whole operation, data null."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        if context.graphql_document is not None:
            schema = context.schema._schema
            error = operation_problem(schema, context.graphql_document, context.operation_name, context.variables)
            if error is not None:
                # Raised before the yield, so strawberry answers it as an error of the whole
                # operation and runs no resolver (subscriptions too, which never look at a
                # result an extension sets). Extensions listed after this one have not started.
                raise error
        yield
