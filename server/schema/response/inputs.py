"""Inputs of the transfusion and platelet count mutations."""

from __future__ import annotations

import datetime as dt
from typing import Any

import strawberry

from ..common import enums as e
from ..common.inputs import Converter, Path, as_is, aware


@strawberry.input(description="One platelet unit of a transfusion.")
class PlateletUnitInput:
    kind: e.PlateletUnitKind = strawberry.field(
        default=e.PlateletUnitKind.APHERESIS, description="How the unit was collected (default APHERESIS)."
    )
    content_e11: float | None = strawberry.field(
        default=None, description="Platelet content in x10^11 (an apheresis unit: about 3-4.4)."
    )
    content_basis: e.DoseBasis = strawberry.field(
        default=e.DoseBasis.MEASURED, description="Whether contentE11 was measured (default) or is the nominal figure."
    )


@strawberry.input(description="A platelet count drawn around a transfusion.")
class PlateletCountValueInput:
    value_e9_per_l: float = strawberry.field(description="Platelet count in x10^9/L (not per uL).")
    drawn_at: dt.datetime = strawberry.field(description="When drawn, with UTC offset.")


@strawberry.input(description="A platelet transfusion with its units and, optionally, the counts drawn around it.")
class RecordPlateletTransfusionInput:
    subject_code: str = strawberry.field(description="Code of the subject (e.g. from Subject.code).")
    started_at: dt.datetime = strawberry.field(description="Start, with UTC offset.")
    ended_at: dt.datetime = strawberry.field(description="End, with UTC offset.")
    units: list[PlateletUnitInput] = strawberry.field(
        description="The units given, at least one; their contents add up to the dose (x10^11)."
    )
    abo_compatibility: e.AboCompatibility = strawberry.field(
        default=e.AboCompatibility.UNKNOWN,
        description="ABO match to the recipient (default UNKNOWN: not counted for baseline refractoriness).",
    )
    hla_selected: bool = strawberry.field(
        default=False, description="Whether the platelets were HLA-selected (default false)."
    )
    crossmatched: bool = strawberry.field(
        default=False, description="Whether the platelets were crossmatched (default false)."
    )
    storage_age_days: int | None = strawberry.field(default=None, description="Age of the platelets in days.")
    note: str | None = strawberry.field(default=None, description="Free-text note (hidden from analysts).")
    pre_count: PlateletCountValueInput | None = strawberry.field(
        default=None, description="The count drawn before the transfusion, if the form carries it."
    )
    post_counts: list[PlateletCountValueInput] = strawberry.field(
        default_factory=list, description="Counts drawn after it (e.g. at 1 h and 24 h)."
    )


@strawberry.input(description="Correct a platelet transfusion, with a reason (audited). Omitted fields stay.")
class AmendPlateletTransfusionInput:
    id: strawberry.ID = strawberry.field(description="Global id of the record to correct.")
    reason: str = strawberry.field(description="Why the record is corrected (required, audited).")
    started_at: dt.datetime | None = strawberry.field(
        default=strawberry.UNSET, description="Start, with UTC offset. Omitted: unchanged."
    )
    ended_at: dt.datetime | None = strawberry.field(
        default=strawberry.UNSET, description="End, with UTC offset. Omitted: unchanged."
    )
    units: list[PlateletUnitInput] | None = strawberry.field(
        default=strawberry.UNSET, description="The units given; replaces the whole list. Omitted: unchanged."
    )
    abo_compatibility: e.AboCompatibility | None = strawberry.field(
        default=strawberry.UNSET, description="ABO match to the recipient. Omitted: unchanged."
    )
    hla_selected: bool | None = strawberry.field(
        default=strawberry.UNSET, description="Whether HLA-selected. Omitted: unchanged."
    )
    crossmatched: bool | None = strawberry.field(
        default=strawberry.UNSET, description="Whether crossmatched. Omitted: unchanged."
    )
    storage_age_days: int | None = strawberry.field(
        default=strawberry.UNSET, description="Age of the platelets in days; null clears it. Omitted: unchanged."
    )
    note: str | None = strawberry.field(
        default=strawberry.UNSET, description="Free-text note; null clears it. Omitted: unchanged."
    )


@strawberry.input(description="A platelet count not tied to a transfusion form (e.g. from the lab).")
class RecordPlateletCountInput:
    subject_code: str = strawberry.field(description="Code of the subject (e.g. from Subject.code).")
    value_e9_per_l: float = strawberry.field(description="Platelet count in x10^9/L (not per uL).")
    drawn_at: dt.datetime = strawberry.field(description="When drawn, with UTC offset.")


@strawberry.input(description="Correct a platelet count, with a reason (audited). Omitted fields stay.")
class AmendPlateletCountInput:
    id: strawberry.ID = strawberry.field(description="Global id of the record to correct.")
    reason: str = strawberry.field(description="Why the record is corrected (required, audited).")
    value_e9_per_l: float | None = strawberry.field(default=strawberry.UNSET, description="Platelet count in x10^9/L.")
    drawn_at: dt.datetime | None = strawberry.field(
        default=strawberry.UNSET, description="When drawn, with UTC offset. Omitted: unchanged."
    )


def units_value(units: list[PlateletUnitInput], _path: Path = ()) -> list[dict[str, Any]]:
    return [{"kind": u.kind.value, "content_e11": u.content_e11, "content_basis": u.content_basis.value} for u in units]


def count_value(count: PlateletCountValueInput, path: Path) -> dict[str, Any]:
    return {"value_e9_per_l": count.value_e9_per_l, "drawn_at": aware(count.drawn_at, (*path, "drawnAt"))}


AMEND_TRANSFUSION: dict[str, tuple[str, Converter]] = {
    "started_at": ("started_at", aware),
    "ended_at": ("ended_at", aware),
    "units": ("units", units_value),
    "abo_compatibility": ("abo_compatibility", as_is),
    "hla_selected": ("hla_selected", as_is),
    "crossmatched": ("crossmatched", as_is),
    "storage_age_days": ("storage_age_days", as_is),
    "note": ("note", as_is),
}


AMEND_COUNT: dict[str, tuple[str, Converter]] = {
    "value_e9_per_l": ("value_e9_per_l", as_is),
    "drawn_at": ("drawn_at", aware),
}
