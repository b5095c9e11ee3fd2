"""The subject's dated clinical records: body measurements, lymphodepletion, CAR-T infusions,
platelet transfusions, platelet counts, therapies and procedures (splenectomy, HSCT). Created, amended with a reason, voided with a reason;
never deleted. Each kind declares its editable fields and its plausibility check once, and the
create/amend/void paths below are shared."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..db import repositories as repo
from ..db.audit import field_changes
from ..db.models import (
    BodyMeasurement,
    CarTInfusion,
    LymphodepletionCourse,
    PlateletCount,
    PlateletTransfusion,
    Procedure,
    Subject,
    Therapy,
)
from ..domain import therapies as th
from ..domain import validation as v
from ..domain.enums import AuditAction, CarTProduct, LymphodepletionAgent
from .access import RECORD, writable_subject, writable_subject_by_id
from .errors import Conflict, ErrorCode, NotFound, raise_if
from .unit_of_work import UnitOfWork

Values = dict[str, Any]
Check = Callable[[UnitOfWork, Subject, Values, "int | None"], Awaitable[list[v.Problem]]]


@dataclass(frozen=True)
class RecordKind:
    entity: str  # the GraphQL type name, also the audit trail's entity name
    model: type[Any]
    fields: tuple[str, ...]
    check: Check


async def _check_measurement(uow: UnitOfWork, _s: Subject, values: Values, _id: int | None) -> list[v.Problem]:
    return v.check_not_future(values["measured_at"], uow.now, ("measuredAt",)) + v.check_body_measurement(
        values["height_cm"], values["weight_kg"]
    )


async def _check_lymphodepletion(uow: UnitOfWork, _s: Subject, values: Values, _id: int | None) -> list[v.Problem]:
    agents = values["agents"]
    problems = v.check_lymphodepletion(
        start_date=values["start_date"],
        end_date=values["end_date"],
        agents=[(a.get("other_name") or a["agent"], a["dose_per_day"], a["days"]) for a in agents],
        now=uow.now,
    )
    for i, agent in enumerate(agents):
        if agent["agent"] == LymphodepletionAgent.OTHER.value and not (agent.get("other_name") or "").strip():
            problems.append(v.Problem(("agents", str(i), "otherName"), v.ProblemCode.REQUIRED, "name the agent"))
    return problems


async def _infusions_after_change(
    uow: UnitOfWork, subject: Subject, change: tuple[CarTProduct, datetime] | None, record_id: int | None
) -> list[tuple[CarTProduct, datetime]]:
    infusions = await repo.infusion_history(uow.session, subject.id, excluding_id=record_id)
    return infusions + ([change] if change else [])


async def _check_infusion(uow: UnitOfWork, subject: Subject, values: Values, record_id: int | None) -> list[v.Problem]:
    _version, parameters = await repo.parameters_in_force(uow.session, subject.trial_id)
    return v.check_car_t_infusion(
        infused_at=values["infused_at"],
        car_positive_cells_per_kg=values["car_positive_cells_per_kg"],
        total_car_positive_cells=values["total_car_positive_cells"],
        lot_number=values["lot_number"],
        infusions_after_change=await _infusions_after_change(
            uow, subject, (values["product"], values["infused_at"]), record_id
        ),
        parameters=parameters,
        now=uow.now,
    )


async def _check_transfusion(uow: UnitOfWork, _s: Subject, values: Values, _id: int | None) -> list[v.Problem]:
    return v.check_transfusion(
        started_at=values["started_at"],
        ended_at=values["ended_at"],
        unit_contents_e11=[u.get("content_e11") for u in values["units"]],
        storage_age_days=values["storage_age_days"],
        now=uow.now,
    ) + v.check_text(values.get("note"), ("note",), v.MAX_REASON)


async def _check_count(uow: UnitOfWork, _s: Subject, values: Values, _id: int | None) -> list[v.Problem]:
    return v.check_platelet_count(values["value_e9_per_l"]) + v.check_not_future(
        values["drawn_at"], uow.now, ("drawnAt",)
    )


async def _check_therapy(uow: UnitOfWork, _s: Subject, values: Values, _id: int | None) -> list[v.Problem]:
    return th.check_therapy(
        name=values["name"],
        therapy_class=values["therapy_class"],
        dose=values["dose"],
        dose_unit=values["dose_unit"],
        start_date=values["start_date"],
        end_date=values["end_date"],
        ongoing=values["ongoing"],
        indication=values["indication"],
        now=uow.now,
    )


async def _check_procedure(uow: UnitOfWork, subject: Subject, values: Values, record_id: int | None) -> list[v.Problem]:
    problems = th.check_procedure(
        procedure_type=values["procedure_type"],
        hsct_type=values["hsct_type"],
        performed_on=values["performed_on"],
        consent_date=subject.consent_date,
        notes=values["notes"],
        now=uow.now,
    )
    if not problems and values["procedure_type"] is th.ProcedureType.HSCT:
        others = await repo.hsct_dates(uow.session, subject.id, excluding_id=record_id)
        if values["performed_on"] in others:
            raise Conflict(ErrorCode.DUPLICATE, "the subject already has an HSCT on this date", ("performedOn",))
    return problems


BODY_MEASUREMENT = RecordKind(
    "BodyMeasurement", BodyMeasurement, ("measured_at", "height_cm", "weight_kg"), _check_measurement
)
LYMPHODEPLETION = RecordKind(
    "LymphodepletionCourse", LymphodepletionCourse, ("start_date", "end_date", "agents"), _check_lymphodepletion
)
CAR_T_INFUSION = RecordKind(
    "CarTInfusion",
    CarTInfusion,
    ("product", "infused_at", "car_positive_cells_per_kg", "total_car_positive_cells", "lot_number"),
    _check_infusion,
)
PLATELET_TRANSFUSION = RecordKind(
    "PlateletTransfusion",
    PlateletTransfusion,
    (
        "started_at",
        "ended_at",
        "units",
        "abo_compatibility",
        "hla_selected",
        "crossmatched",
        "storage_age_days",
        "note",
    ),
    _check_transfusion,
)
PLATELET_COUNT = RecordKind("PlateletCount", PlateletCount, ("drawn_at", "value_e9_per_l"), _check_count)
THERAPY = RecordKind(
    "Therapy",
    Therapy,
    (
        "name",
        "therapy_class",
        "dose",
        "dose_unit",
        "route",
        "frequency",
        "start_date",
        "end_date",
        "ongoing",
        "indication",
    ),
    _check_therapy,
)
PROCEDURE = RecordKind(
    "Procedure", Procedure, ("procedure_type", "hsct_type", "performed_on", "notes"), _check_procedure
)

KINDS = {
    kind.entity: kind
    for kind in (
        BODY_MEASUREMENT,
        LYMPHODEPLETION,
        CAR_T_INFUSION,
        PLATELET_TRANSFUSION,
        PLATELET_COUNT,
        THERAPY,
        PROCEDURE,
    )
}


def _with_prefix(prefix: tuple[str, ...], problems: Sequence[v.Problem]) -> list[v.Problem]:
    return [v.Problem((*prefix, *p.field), p.code, p.message) for p in problems]


def _insert(uow: UnitOfWork, kind: RecordKind, subject: Subject, values: Values) -> Any:
    record = kind.model(subject_id=subject.id, created_at=uow.now, updated_at=uow.now, **values)
    uow.session.add(record)
    return record


def _audit_created(uow: UnitOfWork, kind: RecordKind, record: Any, site_id: int) -> None:
    values = {name: getattr(record, name) for name in kind.fields}
    uow.audit(
        entity=kind.entity,
        entity_id=record.id,
        action=AuditAction.CREATE,
        changes=field_changes({}, values),
        subject_id=record.subject_id,
        site_id=site_id,
    )


async def create_record(uow: UnitOfWork, kind: RecordKind, subject_code: str, values: Values) -> Any:
    subject, site = await writable_subject(uow.session, uow.actor, subject_code)
    raise_if(await kind.check(uow, subject, values, None))
    record = _insert(uow, kind, subject, values)
    await uow.flush()
    _audit_created(uow, kind, record, site.id)
    return record


async def record_platelet_transfusion(
    uow: UnitOfWork,
    subject_code: str,
    values: Values,
    pre_count: Values | None,
    post_counts: Sequence[Values],
) -> tuple[PlateletTransfusion, list[PlateletCount]]:
    """A transfusion and, in the same transaction, the counts the form carried. The counts are
    ordinary subject-level counts: the response engine attributes them to transfusions by time."""
    subject, site = await writable_subject(uow.session, uow.actor, subject_code)
    problems = await PLATELET_TRANSFUSION.check(uow, subject, values, None)
    if pre_count is not None:
        problems += _with_prefix(("preCount",), await PLATELET_COUNT.check(uow, subject, pre_count, None))
        if pre_count["drawn_at"] > values["started_at"]:
            problems.append(
                v.Problem(
                    ("preCount", "drawnAt"),
                    v.ProblemCode.INVALID_ORDER,
                    "a pre-count is drawn before the transfusion starts",
                )
            )
    for i, count in enumerate(post_counts):
        prefix = ("postCounts", str(i))
        problems += _with_prefix(prefix, await PLATELET_COUNT.check(uow, subject, count, None))
        if count["drawn_at"] < values["ended_at"]:
            problems.append(
                v.Problem(
                    (*prefix, "drawnAt"),
                    v.ProblemCode.INVALID_ORDER,
                    "a post-count is drawn after the transfusion ends",
                )
            )
    raise_if(problems)
    transfusion = _insert(uow, PLATELET_TRANSFUSION, subject, values)
    await uow.flush()
    counts = [
        _insert(uow, PLATELET_COUNT, subject, {**count, "entered_with_transfusion_id": transfusion.id})
        for count in ([pre_count] if pre_count else []) + list(post_counts)
    ]
    await uow.flush()
    _audit_created(uow, PLATELET_TRANSFUSION, transfusion, site.id)
    for count in counts:
        _audit_created(uow, PLATELET_COUNT, count, site.id)
    return transfusion, counts


async def _existing(uow: UnitOfWork, kind: RecordKind, record_id: int) -> tuple[Any, Subject, int]:
    record = await repo.record_by_id(uow.session, kind.model, record_id)
    if record is None:
        raise NotFound(RECORD, ("id",))
    subject, site = await writable_subject_by_id(uow.session, uow.actor, record.subject_id, field=("id",))
    if record.voided_at is not None:
        raise Conflict(ErrorCode.ALREADY_VOIDED, f"this {kind.entity} was voided and cannot change", ("id",))
    return record, subject, site.id


async def amend_record(uow: UnitOfWork, kind: RecordKind, record_id: int, patch: Values, reason: str) -> Any:
    record, subject, site_id = await _existing(uow, kind, record_id)
    raise_if(v.check_reason(reason))
    old = {name: getattr(record, name) for name in kind.fields}
    raise_if(await kind.check(uow, subject, {**old, **patch}, record.id))
    changes = field_changes(old, patch)
    if not changes:
        raise Conflict(ErrorCode.NO_CHANGE, "the amendment changes nothing")
    for name, value in patch.items():
        setattr(record, name, value)
    record.updated_at = uow.now
    uow.audit(
        entity=kind.entity,
        entity_id=record.id,
        action=AuditAction.UPDATE,
        changes=changes,
        subject_id=subject.id,
        site_id=site_id,
        reason=reason,
    )
    return record


async def void_record(uow: UnitOfWork, kind: RecordKind, record_id: int, reason: str) -> Any:
    record, subject, site_id = await _existing(uow, kind, record_id)
    raise_if(v.check_reason(reason))
    if kind is CAR_T_INFUSION:
        _version, parameters = await repo.parameters_in_force(uow.session, subject.trial_id)
        remaining = await _infusions_after_change(uow, subject, None, record.id)
        if not parameters.allow_bcma_before_cd19 and not v.bcma_follows_cd19(remaining):
            raise Conflict(ErrorCode.NOT_ALLOWED, "void the BCMA infusion first: " + v.BCMA_ORDER_MESSAGE, ("id",))
    record.voided_at = uow.now
    record.void_reason = reason
    record.updated_at = uow.now
    uow.audit(
        entity=kind.entity,
        entity_id=record.id,
        action=AuditAction.VOID,
        changes=field_changes({"voided_at": None}, {"voided_at": uow.now}),
        subject_id=subject.id,
        site_id=site_id,
        reason=reason,
    )
    return record
