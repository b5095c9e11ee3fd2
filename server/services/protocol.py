"""Protocol parameter amendments: a new version, never an edit of an old one (admins only)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timezone
from typing import Any

from sqlalchemy import func, select

from ..db import repositories as repo
from ..db.audit import field_changes
from ..db.models import ProtocolParameterSet
from ..domain import validation as v
from ..domain.enums import AuditAction
from ..domain.protocol import ProtocolParameters
from .errors import Conflict, ErrorCode, PermissionDenied, raise_if
from .unit_of_work import UnitOfWork


async def amend_protocol_parameters(
    uow: UnitOfWork, *, changes: dict[str, Any], effective_from: date, reason: str
) -> ProtocolParameterSet:
    if not uow.actor.is_admin:
        raise PermissionDenied("only an admin can amend the protocol parameters")
    raise_if(v.check_reason(reason))
    session = uow.session
    trial = await repo.the_trial(session)
    latest = (
        await session.execute(
            select(ProtocolParameterSet)
            .where(ProtocolParameterSet.trial_id == trial.id)
            .order_by(ProtocolParameterSet.version.desc())
            .limit(1)
            .with_for_update()
        )
    ).scalar_one()
    old = ProtocolParameters.from_dict(latest.parameters)
    new = replace(old, **changes)
    raise_if([v.Problem((field,), v.ProblemCode.OUT_OF_RANGE, message) for field, message in new.problems()])
    if effective_from < latest.effective_from:
        raise_if(
            [v.Problem(("effectiveFrom",), v.ProblemCode.INVALID_ORDER, "before the current version's effective date")]
        )
    diff = field_changes(old.to_dict(), new.to_dict())
    if not diff:
        raise Conflict(ErrorCode.NO_CHANGE, "the amendment changes nothing")
    version = int((await session.execute(select(func.max(ProtocolParameterSet.version)))).scalar_one()) + 1
    row = ProtocolParameterSet(
        trial_id=trial.id,
        version=version,
        effective_from=effective_from,
        parameters=new.to_dict(),
        reason=reason,
        created_at=uow.now,
        created_by=uow.actor.actor_id,
    )
    session.add(row)
    await uow.flush()
    if effective_from <= uow.now.astimezone(timezone.utc).date():
        # In force today: every stored response is recomputed under it before this commits. A
        # future version is picked up by readers (live evaluation) until `refresh-responses`.
        uow.response_inputs_changed(None)
    diff["version"] = {"old": latest.version, "new": version}
    uow.audit(
        entity="ProtocolParameters",
        entity_id=row.id,
        action=AuditAction.CREATE,
        changes=diff,
        subject_id=None,
        site_id=None,
        reason=reason,
    )
    return row
