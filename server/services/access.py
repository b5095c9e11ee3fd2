"""Authorization of writes: who may change which subject's records (DESIGN.md rule 7).

A subject the actor may not even read is reported as not found, so codes of other sites do not
leak; a subject they may read but not change is a permission error.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from ..db import repositories as repo
from ..db.models import Site, Subject
from ..domain.auth import Actor
from ..domain.status import PARTICIPATION_ENDED
from .errors import Conflict, ErrorCode, NotFound, PermissionDenied


def require_clinical_writer(actor: Actor) -> None:
    if not actor.may_write_clinical_records:
        raise PermissionDenied(f"the {actor.role.value} role cannot change clinical records")


def require_taking_part(subject: Subject, refused: str, field: tuple[str, ...] = ("subjectCode",)) -> None:
    """A withdrawn, screen-failed or completed subject gets no new phone and sends no diary report:
    NOT_ALLOWED, the message ending with `refused` (what cannot be done)."""
    if subject.status in PARTICIPATION_ENDED:
        state = subject.status.value.replace("_", " ")
        raise Conflict(ErrorCode.NOT_ALLOWED, f"{subject.code} is no longer in the study ({state}): {refused}", field)


async def writable_subject(
    session: AsyncSession, actor: Actor, code: str, *, field: tuple[str, ...] = ("subjectCode",)
) -> tuple[Subject, Site]:
    require_clinical_writer(actor)
    # No stored code is longer than 32 characters or holds NUL (which PostgreSQL refuses in text).
    subject = None if len(code) > 32 or "\x00" in code else await repo.subject_by_code(session, code, for_update=True)
    if subject is None:
        raise NotFound("subject", field)
    return await _check_write(session, actor, subject, field, "subject")


async def writable_subject_by_id(
    session: AsyncSession, actor: Actor, subject_id: int, *, field: tuple[str, ...]
) -> tuple[Subject, Site]:
    require_clinical_writer(actor)
    subject = await repo.subject_by_id(session, subject_id, for_update=True)
    return await _check_write(session, actor, subject, field, RECORD)


# A record found by its id but outside the caller's view is answered exactly as a missing id
# (same code, message and field), so ids of other sites' records cannot be told from unused ids.
RECORD = "record"


async def _check_write(
    session: AsyncSession, actor: Actor, subject: Subject, field: tuple[str, ...], what: str
) -> tuple[Subject, Site]:
    site = await repo.site_by_id(session, subject.site_id)
    if not actor.may_read_subject(subject.code, site.code):
        raise NotFound(what, field)
    if not actor.may_write_site(site.code):
        raise PermissionDenied(f"you cannot change records of site {site.code}")
    return subject, site
