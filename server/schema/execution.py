"""A faster path through graphql-core for the commonest fields: a scalar, enum or object read
straight from an attribute (no resolver, no arguments).

graphql-core resolves every field the same way: it builds a resolve-info object, calls
strawberry's wrapper around the attribute read, checks for an awaitable and dispatches on the
return type. For a site view of 2,000 transfusions that is some 60,000 fields, and that machinery,
not SQL, was most of the response time. Here such a field is read and serialized (or its
sub-selection completed) directly; any other field, a null in a non-null field or a value that
fails to serialize takes the normal path, so results and errors are exactly graphql-core's."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLEnumType, GraphQLNonNull, GraphQLObjectType, GraphQLScalarType, Undefined
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter

_NOT_PLAIN = object()


class TrialExecutionContext(StrawberryGraphQLCoreExecutionContext):
    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: Any,
        path: Any,
        position_context: Any,
    ) -> Any:
        node = field_details_list[0].node
        if not node.arguments:
            plain = self._plain_field(parent_type, node.name.value)
            if plain is not _NOT_PLAIN:
                attribute, named, nullable = plain
                value = getattr(source, attribute, None)
                if value is None:
                    if nullable:
                        return None
                elif isinstance(named, GraphQLObjectType):
                    return self._complete_object(named, field_details_list, path, value, position_context)
                else:
                    try:
                        serialized = named.serialize(value)
                    except Exception:  # noqa: BLE001 - the normal path reports it properly
                        serialized = Undefined
                    if serialized is not Undefined and serialized is not None:
                        return serialized
        return super().execute_field(parent_type, source, field_details_list, path, position_context)

    def _complete_object(
        self, object_type: GraphQLObjectType, field_details_list: Any, path: Any, value: Any, position_context: Any
    ) -> Any:
        """The sub-selection of an object read from an attribute, with graphql-core's own error
        handling (strawberry's is_type_of does not use the resolve info, so none is built)."""
        try:
            completed = self.complete_object_value(object_type, field_details_list, None, path, value, position_context)  # type: ignore[arg-type]
        except Exception as raw_error:  # noqa: BLE001 - recorded as a field error, as graphql-core does
            self.handle_field_error(raw_error, object_type, field_details_list, path)
            return None
        if not self.is_awaitable(completed):
            return completed

        async def await_completed() -> Any:
            try:
                return await completed
            except Exception as raw_error:  # noqa: BLE001
                self.handle_field_error(raw_error, object_type, field_details_list, path)
                return None

        return await_completed()

    def _plain_field(self, parent_type: GraphQLObjectType, field_name: str) -> Any:
        # Cached on the schema: (object type name, field name) -> (attribute, leaf type) or _NOT_PLAIN
        cache: dict[tuple[str, str], Any] | None = getattr(self.schema, "_plain_fields", None)
        if cache is None:
            cache = {}
            self.schema._plain_fields = cache  # type: ignore[attr-defined]
        key = (parent_type.name, field_name)
        plain = cache.get(key)
        if plain is None:
            plain = _NOT_PLAIN
            field_def = self.schema.get_field(parent_type, field_name)
            definition = field_def.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF) if field_def else None
            if field_def is not None and definition is not None and getattr(field_def.resolve, "_is_default", False):
                nullable = not isinstance(field_def.type, GraphQLNonNull)
                named = field_def.type if nullable else field_def.type.of_type
                if isinstance(named, GraphQLScalarType | GraphQLEnumType | GraphQLObjectType):
                    plain = (definition.python_name, named, nullable)
            cache[key] = plain
        return plain
