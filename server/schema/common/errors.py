"""Expected errors are data (DESIGN.md rule 6): every mutation returns a union of its success type
and these error types, each with a stable code, a message and the offending input field path."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TypeAlias, TypeVar

import strawberry

from ...services.errors import Conflict, InvalidInput, NotFound, PermissionDenied, ServiceError
from ...services.unit_of_work import UnitOfWork
from .context import Info
from .edge import argument_problems
from .enums import ErrorCode


@strawberry.interface(description="An expected error: show `message`; map `field` to a form input.")
class UserError:
    code: ErrorCode = strawberry.field(description="Stable machine-readable code: branch on it, not on the message.")
    message: str = strawberry.field(description="What went wrong, in English, for people.")
    field: list[str] = strawberry.field(
        description='Path of the offending input field, e.g. ["postCounts", "0", "valueE9PerL"]; empty when the error concerns the whole request.'
    )


@strawberry.type(description="One problem with one input field.")
class FieldProblem:
    code: ErrorCode = strawberry.field(description="Stable machine-readable code of the problem.")
    message: str = strawberry.field(description="What is wrong with the field, in English.")
    field: list[str] = strawberry.field(description='Path of the input field, e.g. ["postCounts", "0", "valueE9PerL"].')


@strawberry.type(description="The input failed validation; nothing was written. `problems` lists every field at fault.")
class InputError(UserError):
    problems: list[FieldProblem] = strawberry.field(
        description="Every problem found, one per field at fault; the first is the headline (code, message, field)."
    )


@strawberry.type(description="The record does not exist or is outside what you may see.")
class NotFoundError(UserError):
    pass


@strawberry.type(description="Your role or sites do not allow this.")
class PermissionDeniedError(UserError):
    pass


@strawberry.type(description="The change conflicts with the record's state (duplicate, voided, not allowed now).")
class ConflictError(UserError):
    pass


# Every member a mutation's result union has besides its success type.
UserErrors: TypeAlias = InputError | NotFoundError | PermissionDeniedError | ConflictError


def to_user_error(error: ServiceError) -> UserErrors:
    code, message, field = ErrorCode(error.code), error.message, list(error.field)
    if isinstance(error, InvalidInput):
        problems = [
            FieldProblem(code=ErrorCode(p.code.value), message=p.message, field=list(p.field)) for p in error.problems
        ]
        return InputError(code=code, message=message, field=field, problems=problems)
    if isinstance(error, NotFound):
        return NotFoundError(code=code, message=message, field=field)
    if isinstance(error, PermissionDenied):
        return PermissionDeniedError(code=code, message=message, field=field)
    if isinstance(error, Conflict):
        return ConflictError(code=code, message=message, field=field)
    raise TypeError(f"unmapped service error {type(error).__name__}")


T = TypeVar("T")
S = TypeVar("S")


async def run_use_case(
    info: Info, use_case: Callable[[UnitOfWork], Awaitable[T]], present: Callable[[T], S]
) -> S | UserErrors:
    """Runs one use case in one transaction and turns its expected failures into typed results.
    The mutation's arguments are checked at the edge first (server.schema.common.edge)."""
    raw = info._raw_info
    if problems := argument_problems(raw.parent_type.fields[raw.field_name], raw.field_nodes[0], raw.variable_values):
        return to_user_error(InvalidInput([replace(p, field=p.field[1:]) for p in problems]))
    try:
        async with info.context.unit_of_work() as uow:
            outcome = await use_case(uow)
            await uow.commit()
    except ServiceError as error:
        return to_user_error(error)
    await info.context.forget_reads()
    return present(outcome)
