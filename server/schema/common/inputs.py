"""Helpers of every domain's mutation inputs: UTC times required, patches of amendments."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any, TypeAlias

import strawberry

from ...domain.validation import Problem, ProblemCode
from ...services.errors import InvalidInput

Path = tuple[str, ...]
# convert(value, path): the model value of an input value, or InvalidInput naming the path.
Converter: TypeAlias = Callable[[Any, Path], Any]


def aware(value: dt.datetime, field: Path) -> dt.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(
            [Problem(field, ProblemCode.INVALID_FORMAT, "include the UTC offset, e.g. 2026-03-01T08:30:00Z")]
        )
    return value.astimezone(dt.timezone.utc)


def patch_of(data: Any, converters: Mapping[str, tuple[str, Converter]], required: frozenset[str]) -> dict[str, Any]:
    """{model field: value} for the amend input's given fields. converters: graphql attribute ->
    (model field, convert(value, path)); a required field given as null is refused."""
    patch: dict[str, Any] = {}
    problems: list[Problem] = []
    for attribute, (column, convert) in converters.items():
        value = getattr(data, attribute)
        if value is strawberry.UNSET:
            continue
        path = (_camel(attribute),)
        if value is None:
            if column in required:
                problems.append(Problem(path, ProblemCode.REQUIRED, "cannot be cleared"))
                continue
            patch[column] = None
            continue
        patch[column] = convert(value, path)
    if problems:
        raise InvalidInput(problems)
    return patch


def as_is(value: Any, _path: Path) -> Any:
    return value


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)
