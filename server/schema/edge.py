"""Checks every argument value at the edge, before any resolver runs (DESIGN.md rule 9).

Some values are valid GraphQL yet cannot reach the database: a string with U+0000 or a lone
surrogate (PostgreSQL text refuses both, and asyncpg fails while encoding), a list longer than
PostgreSQL's 32,767 bind parameters, a datetime whose offset pushes it outside the years 1-9999
once converted to UTC, a number outside what its argument means (month 100000). One walk over the
coerced arguments, guided by the schema's own types, finds them all wherever they are (literal or
variable, top-level argument, nested input field, list item), so no field can forget the check.
It runs in two places only: server.schema.execution.TrialExecutionContext for query and
subscription fields (a GraphQL error with code BAD_USER_INPUT and the argument path, as for the
other bad arguments) and server.schema.errors.run_use_case for mutations (the usual InputError).
A custom scalar would also see every string, but a scalar can only fail the whole request, never
answer a mutation with its typed InputError.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from graphql import (
    FieldNode,
    GraphQLError,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
)
from graphql.execution.values import VariableValues, get_argument_values

from ..domain.validation import Problem, ProblemCode
from ..services.labs import MAX_BATCH

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


def _walk(value: Any, gql_type: Any, path: tuple[str, ...], owner: str | None, bounds: tuple[int, int] | None) -> list[Problem]:
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
        return [p for index, item in enumerate(value) for p in _walk(item, gql_type.of_type, (*path, str(index)), owner, bounds)]
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


def as_graphql_error(problems: list[Problem]) -> GraphQLError:
    """A query argument's problem, reported like the other bad arguments (see schema.paging)."""
    first = problems[0]
    return GraphQLError(
        f"{'.'.join(first.field)}: {first.message}",
        extensions={"code": "BAD_USER_INPUT", "field": list(first.field)},
    )


def is_mutation_type(parent_type: GraphQLObjectType) -> bool:
    return parent_type.name == "Mutation"
