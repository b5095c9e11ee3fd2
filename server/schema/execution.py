"""A faster path through graphql-core for the commonest fields: a scalar, enum or object read
straight from an attribute (no resolver, no arguments).

graphql-core resolves every field the same way: a path entry, a resolve-info object, strawberry's
wrapper around the attribute read, an awaitable check, a dispatch on the return type. For a site
view of 2,000 transfusions that is some 60,000 fields, and that machinery, not SQL, was most of
the response time. Here such a field is read and serialized (or its sub-selection completed)
directly. Any other field, a null in a non-null field or a value that fails to serialize takes the
normal path, so results and errors are exactly graphql-core's. Written against graphql-core 3.3's
executor (pinned in pyproject.toml); the API tests run every query through it."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLEnumType, GraphQLNonNull, GraphQLObjectType, GraphQLScalarType, Undefined
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter

_NOT_PLAIN = (None, None, False)


class TrialExecutionContext(StrawberryGraphQLCoreExecutionContext):
    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Any,
        grouped_field_set: Any,
        position_context: Any,
    ) -> Any:
        """Leaf fields read from attributes are completed here, without a path or resolve info;
        the rest go through graphql-core, and the response keeps the query's field order."""
        plain_fields = self._plain_fields(parent_type)
        fast: dict[str, Any] = {}
        slow: dict[str, Any] = {}
        for response_name, field_details_list in grouped_field_set.items():
            node = field_details_list[0].node
            if not node.arguments:
                attribute, named, nullable = plain_fields.get(node.name.value) or self._plain_field(
                    parent_type, node.name.value, plain_fields
                )
                if attribute is not None and not isinstance(named, GraphQLObjectType):
                    value = getattr(source_value, attribute, None)
                    if value is None:
                        if nullable:
                            fast[response_name] = None
                            continue
                    else:
                        try:
                            serialized = named.serialize(value)
                        except Exception:  # noqa: BLE001 - the normal path reports it properly
                            serialized = Undefined
                        if serialized is not Undefined and serialized is not None:
                            fast[response_name] = serialized
                            continue
            slow[response_name] = field_details_list
        if not slow:
            return fast
        completed = super().execute_fields(parent_type, source_value, path, slow, position_context)
        if not fast:
            return completed
        order = list(grouped_field_set)

        def merge(rest: dict[str, Any]) -> dict[str, Any]:
            return {name: fast[name] if name in fast else rest[name] for name in order if name in fast or name in rest}

        if self.is_awaitable(completed):

            async def merged() -> dict[str, Any]:
                return merge(await completed)

            return merged()
        return merge(completed)

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: Any,
        path: Any,
        position_context: Any,
    ) -> Any:
        """An object read from an attribute: complete its sub-selection without resolve info."""
        node = field_details_list[0].node
        if not node.arguments:
            plain_fields = self._plain_fields(parent_type)
            attribute, named, nullable = plain_fields.get(node.name.value) or self._plain_field(
                parent_type, node.name.value, plain_fields
            )
            if attribute is not None and isinstance(named, GraphQLObjectType):
                value = getattr(source, attribute, None)
                if value is not None:
                    return self._complete_object(named, field_details_list, path, value, position_context)
                if nullable:
                    return None
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

    def _plain_fields(self, parent_type: GraphQLObjectType) -> dict[str, Any]:
        """Per object type, cached on it: field name -> (attribute, named type, nullable), with
        (None, None, False) for a field that is not a plain attribute read."""
        cache: dict[str, Any] | None = parent_type.__dict__.get("_plain_fields")
        if cache is None:
            cache = {}
            parent_type._plain_fields = cache  # type: ignore[attr-defined]
        return cache

    def _plain_field(self, parent_type: GraphQLObjectType, field_name: str, cache: dict[str, Any]) -> Any:
        plain: Any = _NOT_PLAIN
        field_def = self.schema.get_field(parent_type, field_name)
        definition = field_def.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF) if field_def else None
        if field_def is not None and definition is not None and getattr(field_def.resolve, "_is_default", False):
            nullable = not isinstance(field_def.type, GraphQLNonNull)
            named = field_def.type if nullable else field_def.type.of_type
            if isinstance(named, GraphQLScalarType | GraphQLEnumType | GraphQLObjectType):
                plain = (definition.python_name, named, nullable)
        cache[field_name] = plain
        return plain
