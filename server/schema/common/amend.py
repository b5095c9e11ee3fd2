"""Amending one record of any kind: the patch of the fields the input gives, with a reason.

Every domain's amend mutations (records, response, therapies) share this: the record's global id
must be of the kind amended, a required field given as null is refused, and the change is one
use case of server.services.records in one transaction."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, TypeVar

from ...services import records
from ...services.errors import InvalidInput, NotFound
from ...services.unit_of_work import UnitOfWork
from .context import Info
from .errors import UserErrors, run_use_case
from .ids import decode_id
from .inputs import Converter, Path, patch_of

S = TypeVar("S")


def record_pk(global_id: str, kind: records.RecordKind) -> int:
    """The primary key in a global id of this kind of record; NotFound for any other id."""
    decoded = decode_id(global_id)
    if decoded is None or decoded[0] != kind.entity:
        raise NotFound(kind.entity, ("id",))
    return decoded[1]


def required_fields(kind: records.RecordKind, nullable: tuple[str, ...] = ()) -> frozenset[str]:
    return frozenset(name for name in kind.fields if name not in nullable)


async def amend_fields(
    info: Info,
    kind: records.RecordKind,
    data: Any,
    converters: Mapping[str, tuple[str, Converter]],
    nullable: tuple[str, ...],
    present: Callable[[Any], S],
    graphql_fields: Mapping[Path, Path] | None = None,
) -> S | UserErrors:
    """graphql_fields: a problem's field path -> the path the client knows, where the input's
    GraphQL name differs from the model's (therapy_class is `class` in GraphQL)."""

    async def use_case(uow: UnitOfWork) -> Any:
        try:
            patch = patch_of(data, converters, required_fields(kind, nullable))
        except InvalidInput as error:
            if not graphql_fields:
                raise
            raise InvalidInput(
                [replace(p, field=graphql_fields.get(p.field, p.field)) for p in error.problems]
            ) from None
        return await records.amend_record(uow, kind, record_pk(data.id, kind), patch, data.reason)

    return await run_use_case(info, use_case, present)
