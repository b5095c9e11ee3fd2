"""Every element of the GraphQL schema is described: client teams read the schema (GraphiQL, codegen
comments, schema.graphql) rather than our code, so a type, field, argument, input field or enum value
without a description is a question they must ask us. Descriptions state units where a value has one."""

from __future__ import annotations

from enum import Enum

import pytest
import strawberry
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    specified_scalar_types,
)
from graphql import build_schema as build_sdl

from server.schema.common.enums import describe_values
from server.schema.schema import build_schema
from server.settings import Settings


def undescribed(schema: GraphQLSchema) -> list[str]:
    """Each element without a non-blank description, as a path: `Subject`, `Subject.code`,
    `Subject.transfusions(first)`, `SubjectInput.code`, `Sex.FEMALE`."""
    missing: list[str] = []

    def check(path: str, description: str | None) -> None:
        if not (description or "").strip():
            missing.append(path)

    for name, named in sorted(schema.type_map.items()):
        if name.startswith("__") or name in specified_scalar_types:
            continue  # introspection types and String, Int... are GraphQL's own, described by the spec
        check(name, named.description)
        if isinstance(named, (GraphQLObjectType, GraphQLInterfaceType)):
            for field_name, field in named.fields.items():
                check(f"{name}.{field_name}", field.description)
                for arg_name, arg in field.args.items():
                    check(f"{name}.{field_name}({arg_name})", arg.description)
        elif isinstance(named, GraphQLInputObjectType):
            for field_name, input_field in named.fields.items():
                check(f"{name}.{field_name}", input_field.description)
        elif isinstance(named, GraphQLEnumType):
            for value_name, value in named.values.items():
                check(f"{name}.{value_name}", value.description)
    return missing


def test_every_schema_element_has_a_description():
    # given
    schema = build_schema(Settings())._schema
    # when
    missing = undescribed(schema)
    # then
    assert not missing, f"{len(missing)} schema elements have no description:\n" + "\n".join(missing)


def test_the_check_finds_an_undescribed_element():
    # given: a schema with one described and one undescribed field
    schema = build_sdl('"A query." type Query { "Described." a: Int  b(x: Int): Int }')
    # when
    missing = undescribed(schema)
    # then
    assert missing == ["Query.b", "Query.b(x)"]


def test_an_enum_value_description_for_no_value_is_refused():
    # given: a strawberry enum wrapping a plain Python enum
    class Colour(Enum):
        RED = "red"

    graphql_colour = strawberry.enum(Colour)
    # when / then: a stale name (or a missing one) fails at import, not silently
    with pytest.raises(ValueError, match="descriptions of no value \\['BLUE'\\]"):
        describe_values(graphql_colour, {"RED": "Red.", "BLUE": "Blue."})
    with pytest.raises(ValueError, match="values without a description \\['RED'\\]"):
        describe_values(graphql_colour, {})
