"""The Node interface and what every record type shares: the study day and cheap views."""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar

import strawberry

from ...domain.study_time import STUDY_DAY_RULE, study_day
from .context import Info

STUDY_DAY = (
    f"Days from the subject's first CAR-T infusion (day 0), by rule '{STUDY_DAY_RULE}'; null before any infusion."
)


@strawberry.interface(description="An object with a global id, fetchable with `node(id:)`.")
class Node:
    id: strawberry.ID = strawberry.field(description="Global id (opaque): fetch the object again with `node(id:)`.")


async def study_day_at(info: Info, subject_id: int, moment: dt.datetime | dt.date) -> int | None:
    return study_day(moment, await info.context.loaders.first_infusion_at.load(subject_id))


V = TypeVar("V")


def view_of(cls: type[V], attributes: dict[str, Any]) -> V:
    """An instance of a view type from its attribute values, without the dataclass __init__: a site
    view builds some 40,000 of these, and keyword processing was a measurable share of it."""
    view = object.__new__(cls)
    view.__dict__ = attributes
    return view
