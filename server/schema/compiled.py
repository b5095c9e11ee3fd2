"""Selection sets compiled to Python functions: the executor's fastest path.

A selection set whose every field is read straight from the source object (an attribute, or a
synchronous resolver that takes only `self`), with no arguments, directives that vary or
abstract types, is turned into a small generated function that reads the attributes and builds the
response dict in one go, nested objects and lists included. For a site view of 2,000 transfusions
(~90,000 values) this replaces graphql-core's per-field machinery (path entries, resolve info,
awaitable checks, type dispatch) with straight-line attribute reads.

The generated function gives up by raising `GiveUp` whenever a value is not exactly what it can
pass through (a null in a non-null field, a value that needs the scalar's own coercion and fails it,
an object that is not of the field's type); the executor then completes that object through
graphql-core's normal path, so the result and any errors are exactly graphql-core's. Functions are
cached per schema by the shape of the selection, so a document sent again is not compiled again.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    Undefined,
)
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.cast import TYPE_CAST_ATTRIBUTE

INT_MIN, INT_MAX = -(2**31), 2**31 - 1
_CAST = TYPE_CAST_ATTRIBUTE  # where strawberry.cast() records the type it casts an object to


class GiveUp(Exception):
    """The compiled function cannot complete this object exactly as graphql-core would."""


@dataclass(frozen=True)
class FieldShape:
    """How a field is read (attribute name or a self-only resolver) and what its type is."""

    attribute: str | None  # read with getattr
    resolver: Any  # or called with the source as its only argument
    nullable: bool
    is_list: bool
    item_nullable: bool
    named: Any  # GraphQLScalarType | GraphQLEnumType | GraphQLObjectType


def field_shape(schema: GraphQLSchema, parent_type: GraphQLObjectType, field_name: str) -> FieldShape | None:
    """The field's shape when it can be compiled, else None. Cached on the parent type."""
    cache: dict[str, FieldShape | None] | None = parent_type.__dict__.get("_compiled_shapes")
    if cache is None:
        cache = {}
        parent_type._compiled_shapes = cache  # type: ignore[attr-defined]
    if field_name not in cache:
        cache[field_name] = _field_shape(schema, parent_type, field_name)
    return cache[field_name]


def _field_shape(schema: GraphQLSchema, parent_type: GraphQLObjectType, field_name: str) -> FieldShape | None:
    field_def = parent_type.fields.get(field_name)
    definition = field_def.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF) if field_def else None
    if field_def is None or definition is None or field_def.args:
        return None
    if definition.extensions or definition.permission_classes:
        return None  # strawberry runs those around the resolver, even a default one
    attribute = resolver = None
    if getattr(field_def.resolve, "_is_default", False):
        attribute = definition.python_name
    else:
        base = definition.base_resolver
        if base is None or base.is_async or base.arguments or not _takes_only_self(base.reserved_parameters):
            return None
        resolver = base.wrapped_func
    gql_type: Any = field_def.type
    nullable = not isinstance(gql_type, GraphQLNonNull)
    if not nullable:
        gql_type = gql_type.of_type
    is_list = isinstance(gql_type, GraphQLList)
    item_nullable = True
    if is_list:
        gql_type = gql_type.of_type
        item_nullable = not isinstance(gql_type, GraphQLNonNull)
        if not item_nullable:
            gql_type = gql_type.of_type
    if not isinstance(gql_type, GraphQLScalarType | GraphQLEnumType | GraphQLObjectType):
        return None  # nested lists, interfaces and unions take the normal path
    return FieldShape(attribute, resolver, nullable, is_list, item_nullable, gql_type)


def _takes_only_self(reserved: dict[Any, Any]) -> bool:
    """strawberry's reserved parameters of a resolver (self, root, info, parent): only `self`."""
    found = {getattr(key, "name", None) for key, parameter in reserved.items() if parameter is not None}
    return found == {"self"}


# --- leaf serializers -------------------------------------------------------------------------
# Each passes a value of exactly the expected Python type through as graphql-core would serialize
# it, and otherwise defers to the scalar's own serialize(); a failure or a null result gives up.


def _coerced(named: Any, value: Any) -> Any:
    try:
        result = named.serialize(value)
    except Exception as error:  # noqa: BLE001 - the normal path reports it as a field error
        raise GiveUp from error
    if result is None or result is Undefined:
        raise GiveUp
    return result


def _string(named: Any) -> Any:
    def serialize(value: Any) -> Any:
        return value if type(value) is str else _coerced(named, value)

    return serialize


def _int(named: Any) -> Any:
    def serialize(value: Any) -> Any:
        return value if type(value) is int and INT_MIN <= value <= INT_MAX else _coerced(named, value)

    return serialize


def _float(named: Any) -> Any:
    isfinite = math.isfinite

    def serialize(value: Any) -> Any:
        return value if type(value) is float and isfinite(value) else _coerced(named, value)

    return serialize


def _boolean(named: Any) -> Any:
    def serialize(value: Any) -> Any:
        return value if type(value) is bool else _coerced(named, value)

    return serialize


def _iso(named: Any, python_type: type) -> Any:
    """strawberry's DateTime and Date serialize with isoformat()."""

    def serialize(value: Any) -> Any:
        return value.isoformat() if type(value) is python_type else _coerced(named, value)

    return serialize


def _native_utc_datetime(named: Any) -> Any:
    """A UTC datetime left as it is, for a response encoder that writes it exactly as isoformat()
    would (orjson, see server.app.TrialGraphQL.encode_json): a site view has 20,000 of them, and
    isoformat() in Python is slower than orjson's in C. Anything else is serialized as usual."""
    utc = dt.timezone.utc

    def serialize(value: Any) -> Any:
        if type(value) is dt.datetime:
            return value if value.tzinfo is utc else value.isoformat()
        return _coerced(named, value)

    return serialize


def _enum(named: Any) -> Any:
    names: dict[Any, Any] = {}

    def serialize(value: Any) -> Any:
        name = names.get(value)
        if name is None:
            name = names[value] = _coerced(named, value)
        return name

    return serialize


def leaf_serializer(named: Any, native_datetimes: bool = False) -> Any:
    """The serializer of a scalar or enum type, made once per type (cached on it)."""
    cache: dict[bool, Any] = named.__dict__.setdefault("_leaf_serializers", {})
    serializer = cache.get(native_datetimes)
    if serializer is None:
        serializer = cache[native_datetimes] = _make_leaf_serializer(named, native_datetimes)
    return serializer


def _make_leaf_serializer(named: Any, native_datetimes: bool) -> Any:
    if isinstance(named, GraphQLEnumType):
        return _enum(named)
    special = {
        "String": _string,
        "ID": _string,
        "Int": _int,
        "Float": _float,
        "Boolean": _boolean,
    }.get(named.name)
    if special is not None:
        return special(named)
    if named.name == "DateTime":
        return _native_utc_datetime(named) if native_datetimes else _iso(named, dt.datetime)
    if named.name == "Date":
        return _iso(named, dt.date)
    return lambda value: _coerced(named, value)


# --- code generation --------------------------------------------------------------------------


class PlanCompiler:
    """Generates one function per object selection. `spec` is a nested, hashable description of a
    selection set (TrialExecutionContext._selection_spec); equal specs share one function. With
    `native_datetimes`, UTC datetimes are left for the response encoder (see
    _native_utc_datetime)."""

    def __init__(self, schema: GraphQLSchema, native_datetimes: bool = False) -> None:
        self.schema = schema
        self.native_datetimes = native_datetimes
        self.functions: dict[Any, Any] = {}

    def function(self, spec: Any) -> Any:
        compiled = self.functions.get(spec)
        if compiled is None:
            compiled = self.functions[spec] = self._compile(spec)
        return compiled

    def _compile(self, spec: Any) -> Any:
        type_name, fields = spec
        object_type = self.schema.type_map[type_name]
        namespace: dict[str, Any] = {"GiveUp": GiveUp}
        lines = ["def complete(source):"]
        entries = []
        for index, (response_name, field_name, sub_spec) in enumerate(fields):
            local = f"v{index}"
            entries.append(f"{response_name!r}: {local}")
            if field_name == "__typename":
                lines.append(f"    {local} = {type_name!r}")
                continue
            shape = field_shape(self.schema, object_type, field_name)
            assert shape is not None
            if shape.attribute is not None:
                lines.append(f"    {local} = source.{shape.attribute}")
            else:
                namespace[f"r{index}"] = shape.resolver
                lines.append(f"    {local} = r{index}(source)")
            if sub_spec is None:
                namespace[f"s{index}"] = leaf_serializer(shape.named, self.native_datetimes)
                complete_item = f"s{index}"
            else:
                namespace[f"s{index}"] = self.function(sub_spec)
                is_type_of = shape.named.is_type_of
                if is_type_of is None:
                    complete_item = f"s{index}"
                else:
                    namespace[f"c{index}"] = type_checked(shape.named, namespace[f"s{index}"])
                    complete_item = f"c{index}"
            null_branch = f"{local} = None" if shape.nullable else "raise GiveUp"
            lines.append(f"    if {local} is None:")
            lines.append(f"        {null_branch}")
            lines.append("    else:")
            if shape.is_list:
                namespace[f"l{index}"] = list_completer(namespace[complete_item], shape.item_nullable)
                lines.append(f"        {local} = l{index}({local})")
            else:
                lines.append(f"        {local} = {complete_item}({local})")
        lines.append("    return {" + ", ".join(entries) + "}")
        exec("\n".join(lines), namespace)  # noqa: S102 - generated from schema names only
        return namespace["complete"]


def type_checked(object_type: GraphQLObjectType, complete: Any) -> Any:
    """`complete` preceded by the type check graphql-core makes (is_type_of), when the type has
    one. An instance of exactly the type's own class passes strawberry's is_type_of, unless
    strawberry.cast() marked it as another type, so that common case skips the call."""
    is_type_of = object_type.is_type_of
    if is_type_of is None:
        return complete
    definition = object_type.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
    origin = getattr(definition, "origin", None)

    def complete_checked(value: Any) -> Any:
        if (type(value) is not origin or _CAST in value.__dict__) and is_type_of(value, None) is not True:
            raise GiveUp
        return complete(value)

    return complete_checked


def list_completer(complete_item: Any, item_nullable: bool) -> Any:
    if item_nullable:
        return lambda values: [None if item is None else complete_item(item) for item in _iterable(values)]

    def complete_non_null(values: Any) -> list[Any]:
        out = []
        for item in _iterable(values):
            if item is None:
                raise GiveUp
            out.append(complete_item(item))
        return out

    return complete_non_null


def _iterable(values: Any) -> Any:
    if isinstance(values, list | tuple):
        return values
    raise GiveUp  # other iterables (and strings) take the normal path
