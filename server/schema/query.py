"""Every read: the root Query type, made of each domain's queries."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry

from ..db import models as m
from .access.queries import AccessQuery
from .access.types import Site
from .common.context import Info
from .common.ids import decode_id
from .common.node import Node
from .records.types import BodyMeasurement, CarTInfusion, LymphodepletionCourse
from .response.types import PlateletCount, PlateletTransfusion
from .safety.queries import SafetyQuery
from .subjects.queries import SubjectsQuery
from .subjects.types import Subject
from .therapies.queries import TherapiesQuery
from .therapies.types import Procedure, Therapy
from .trial import Trial

# The record types node(id:) answers from their table (Subject and Site are looked up by loader).
NODE_TYPES: dict[str, tuple[type[Any], Any]] = {
    "BodyMeasurement": (m.BodyMeasurement, BodyMeasurement),
    "LymphodepletionCourse": (m.LymphodepletionCourse, LymphodepletionCourse),
    "CarTInfusion": (m.CarTInfusion, CarTInfusion),
    "PlateletTransfusion": (m.PlateletTransfusion, PlateletTransfusion),
    "PlateletCount": (m.PlateletCount, PlateletCount),
    "Therapy": (m.Therapy, Therapy),
    "Procedure": (m.Procedure, Procedure),
}


@strawberry.type(description="Every read. Each answers only what the caller's role and sites allow.")
class Query(AccessQuery, SubjectsQuery, SafetyQuery, TherapiesQuery):
    @strawberry.field(description="The trial, with its protocol parameters.")
    async def trial(self, info: Info) -> Trial:
        trial = await info.context.loaders.trial_protocol()
        return Trial(code=trial.code, title=trial.title)

    @strawberry.field(description="Any object by its global id; null when unknown or not yours to see.")
    async def node(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="Global id of the object.")],
    ) -> Node | None:
        decoded = decode_id(id)
        if decoded is None:
            return None
        type_name, pk = decoded
        loaders = info.context.loaders
        if type_name == "Subject":
            subject = await loaders.subject.load(pk)
            return Subject.of(subject) if subject else None
        if type_name == "Site":
            site = await loaders.site.load(pk)
            return Site.of(site) if site else None
        if type_name in NODE_TYPES:
            model, graphql_type = NODE_TYPES[type_name]
            row = await loaders.record_by_id(model).load(pk)
            if row is None:
                return None
            if graphql_type is PlateletTransfusion:
                return (await PlateletTransfusion.load(info, [row]))[0]
            node: Node = graphql_type.of(row)
            return node
        return None
