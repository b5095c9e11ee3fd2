"""Faster paths through graphql-core for fields read straight from the source object.

graphql-core resolves every field the same way: a path entry, a resolve-info object, strawberry's
wrapper around the attribute read, an awaitable check, a dispatch on the return type. For a site
view of 2,000 transfusions that is some 90,000 fields, and that machinery, not SQL, was most of
the response time. Here:
- a selection set whose every field is a plain read runs as one compiled function
  (server.schema.compiled), and so does each item of a list of such objects;
- in any other selection set, the fields read from an attribute (a scalar, an enum or an object)
  are read and serialized, or their sub-selection completed, directly.
Any other field, a null in a non-null field or a value that fails to serialize takes the normal
path, so results and errors are exactly graphql-core's. Written against graphql-core 3.3's
executor (pinned in pyproject.toml); tests/unit/test_compiled_execution.py compares the two, and
the API tests run every query through it."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLNonNull, GraphQLObjectType, Undefined
from graphql.pyutils import Path
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from .compiled import FieldShape, GiveUp, PlanCompiler, field_shape, leaf_serializer, list_completer, type_checked
from .edge import argument_problems, as_graphql_error


class TrialExecutionContext(StrawberryGraphQLCoreExecutionContext):
    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Any,
        grouped_field_set: Any,
        position_context: Any,
    ) -> Any:
        """A selection set of plain fields runs as one compiled function (server.schema.compiled).
        Otherwise fields read from attributes are completed here, without resolve info (leaves
        without a path entry either), and the rest go through graphql-core. The response keeps the
        query's field order."""
        compiled = self._compiled(parent_type, grouped_field_set)
        if compiled is not None:
            try:
                return compiled(source_value)
            except Exception:  # noqa: BLE001, S110 - GiveUp or a failing read: the paths below report it
                pass
        fast: dict[str, Any] = {}
        slow: dict[str, Any] = {}
        pending: list[str] = []  # fast fields whose object completion is awaitable
        for response_name, field_details_list in grouped_field_set.items():
            shape = self._attribute_shape(parent_type, field_details_list)
            if shape is not None:
                value = getattr(source_value, shape.attribute, None)  # type: ignore[arg-type]
                if value is None:
                    if shape.nullable:
                        fast[response_name] = None
                        continue
                elif isinstance(shape.named, GraphQLObjectType):
                    completed = self._complete_plain_object(
                        shape.named,
                        shape.nullable,
                        field_details_list,
                        Path(path, response_name, parent_type.name),
                        value,
                        position_context,
                    )
                    if completed is not Undefined:
                        fast[response_name] = completed
                        if self.is_awaitable(completed):
                            pending.append(response_name)
                        continue
                else:
                    try:
                        fast[response_name] = leaf_serializer(shape.named, self._native_datetimes())(value)
                        continue
                    except GiveUp:
                        pass
            slow[response_name] = field_details_list
        if not slow and not pending:
            return fast
        completed = super().execute_fields(parent_type, source_value, path, slow, position_context) if slow else {}
        order = list(grouped_field_set)

        def merge(rest: dict[str, Any]) -> dict[str, Any]:
            return {name: fast[name] if name in fast else rest[name] for name in order if name in fast or name in rest}

        if not pending and not self.is_awaitable(completed):
            return merge(completed) if fast else completed

        async def merged() -> dict[str, Any]:
            rest = await completed if self.is_awaitable(completed) else completed
            for name in pending:
                fast[name] = await fast[name]
            return merge(rest)

        return merged()

    def _complete_plain_object(
        self,
        object_type: GraphQLObjectType,
        nullable: bool,
        field_details_list: Any,
        path: Any,
        value: Any,
        position_context: Any,
    ) -> Any:
        """An object read from an attribute: its sub-selection, as graphql-core would complete it
        (Undefined: leave it to graphql-core, e.g. under @defer or when is_type_of disagrees)."""
        is_type_of = object_type.is_type_of
        if is_type_of is not None and is_type_of(value, None) is not True:
            return Undefined
        grouped, defer_usages, _forbidden = self.collect_subfields(object_type, field_details_list)
        if defer_usages:
            return Undefined
        # A field error inside nulls this field, or (non-null) propagates, as graphql-core does.
        return_type = object_type if nullable else GraphQLNonNull(object_type)
        try:
            completed = self.execute_fields(object_type, value, path, grouped, position_context)
        except Exception as raw_error:  # noqa: BLE001 - recorded as a field error, as graphql-core does
            self.handle_field_error(raw_error, return_type, field_details_list, path)
            return None
        if not self.is_awaitable(completed):
            return completed

        async def await_completed() -> Any:
            try:
                return await completed
            except Exception as raw_error:  # noqa: BLE001
                self.handle_field_error(raw_error, return_type, field_details_list, path)
                return None

        return await_completed()

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: Any,
        path: Any,
        position_context: Any,
    ) -> Any:
        """An object read from an attribute: complete its sub-selection without resolve info.
        A field with arguments has them checked at the edge first (server.schema.edge); mutations
        check theirs in run_use_case, to answer with a typed InputError."""
        field_def = parent_type.fields.get(field_details_list[0].node.name.value)
        if field_def is not None and field_def.args and parent_type is not self.schema.mutation_type:
            problems = argument_problems(field_def, field_details_list[0].node, self.variable_values)
            if problems:
                self.handle_field_error(as_graphql_error(problems), field_def.type, field_details_list, path)
                return None
        shape = self._attribute_shape(parent_type, field_details_list)
        if shape is not None and isinstance(shape.named, GraphQLObjectType):
            value = getattr(source, shape.attribute, None)  # type: ignore[arg-type]
            if value is not None:
                completed = self._complete_plain_object(
                    shape.named, shape.nullable, field_details_list, path, value, position_context
                )
                if completed is not Undefined:
                    return completed
            elif shape.nullable:
                return None
        return super().execute_field(parent_type, source, field_details_list, path, position_context)

    def complete_list_value(
        self,
        return_type: Any,
        field_details_list: Any,
        info: Any,
        path: Any,
        result: Any,
        position_context: Any,
    ) -> Any:
        """A list of objects whose selection is compiled (a subject's 40 transfusions) is completed
        item by item by the compiled function, without graphql-core's per-item completion. Lists
        with directives (@stream) and anything the function gives up on take the normal path."""
        item_type = return_type.of_type
        item_nullable = not isinstance(item_type, GraphQLNonNull)
        named = item_type if item_nullable else item_type.of_type
        if (
            isinstance(named, GraphQLObjectType)
            and type(result) is list
            and not any(details.node.directives for details in field_details_list)
        ):
            grouped, defer_usages, _forbidden = self.collect_subfields(named, field_details_list)
            compiled = None if defer_usages else self._compiled(named, grouped)
            if compiled is not None:
                try:
                    return list_completer(type_checked(named, compiled), item_nullable)(result)
                except Exception:  # noqa: BLE001, S110 - GiveUp or a failing read: graphql-core reports it
                    pass
        return super().complete_list_value(return_type, field_details_list, info, path, result, position_context)

    def _compiled(self, parent_type: GraphQLObjectType, grouped_field_set: Any) -> Any:
        """The compiled function of this selection set, or None; memoized per execution on the
        identity of the grouped field set (graphql-core memoizes those per list of field nodes)."""
        memo: dict[int, tuple[Any, Any]] | None = self.__dict__.get("_compiled_memo")
        if memo is None:
            memo = self._compiled_memo = {}
        cached = memo.get(id(grouped_field_set))
        if cached is not None:
            return cached[1]
        spec = self._selection_spec(parent_type, grouped_field_set)
        compiled = None if spec is None else _compiler(self.schema, self._native_datetimes()).function(spec)
        memo[id(grouped_field_set)] = (grouped_field_set, compiled)
        return compiled

    def _selection_spec(self, parent_type: GraphQLObjectType, grouped_field_set: Any) -> Any:
        """(type name, ((response name, field name, sub-spec or None), ...)) when every field,
        recursively, can be compiled; None otherwise."""
        fields = []
        for response_name, field_details_list in grouped_field_set.items():
            field_name = field_details_list[0].node.name.value
            if field_name == "__typename":
                fields.append((response_name, field_name, None))
                continue
            if field_name.startswith("__"):
                return None
            shape = field_shape(self.schema, parent_type, field_name)
            if shape is None:
                return None
            sub_spec = None
            if isinstance(shape.named, GraphQLObjectType):
                grouped, defer_usages, _forbidden = self.collect_subfields(shape.named, field_details_list)
                if defer_usages:
                    return None
                sub_spec = self._selection_spec(shape.named, grouped)
                if sub_spec is None:
                    return None
            fields.append((response_name, field_name, sub_spec))
        return (parent_type.name, tuple(fields))

    def _attribute_shape(self, parent_type: GraphQLObjectType, field_details_list: Any) -> FieldShape | None:
        """The field's shape when it is read from an attribute and is not a list, else None."""
        shape = field_shape(self.schema, parent_type, field_details_list[0].node.name.value)
        return shape if shape is not None and shape.attribute is not None and not shape.is_list else None

    def _native_datetimes(self) -> bool:
        """Whether UTC datetimes may be left to the response encoder (Context.native_datetimes)."""
        return getattr(self.context_value, "native_datetimes", False) is True


def _compiler(schema: Any, native_datetimes: bool) -> PlanCompiler:
    """One compiler (and its cache of generated functions) per schema and datetime handling."""
    compilers: dict[bool, PlanCompiler] = schema.__dict__.setdefault("_plan_compilers", {})
    compiler = compilers.get(native_datetimes)
    if compiler is None:
        compiler = compilers[native_datetimes] = PlanCompiler(schema, native_datetimes)
    return compiler
