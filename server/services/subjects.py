"""Enrolment, status changes and corrections of subjects."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from sqlalchemy.exc import IntegrityError

from ..db import repositories as repo
from ..db.audit import field_changes
from ..db.models import Site, Subject, SubjectStatusChange
from ..domain import validation as v
from ..domain.enums import AboGroup, AuditAction, Diagnosis, RemissionStatus, RhD, Role, Sex, SubjectStatus
from ..domain.status import PARTICIPATION_ENDED, may_change_status
from .access import require_clinical_writer, writable_subject
from .devices import revoke_active_devices, void_unused_activations
from .errors import Conflict, ErrorCode, NotFound, PermissionDenied, raise_if
from .unit_of_work import UnitOfWork

ENTITY = "Subject"


@dataclass(frozen=True)
class SubjectDetails:
    """The fields of a subject that can be corrected after enrolment (never code or site)."""

    sex: Sex
    year_of_birth: int
    age_at_consent: int
    diagnosis: Diagnosis
    remission_status: RemissionStatus
    remission_date: date | None
    abo_group: AboGroup | None
    rhd: RhD | None
    consent_date: date


AMENDABLE_FIELDS = tuple(SubjectDetails.__dataclass_fields__)


def _check_details(uow: UnitOfWork, code: str, details: SubjectDetails, status: SubjectStatus) -> None:
    raise_if(
        v.check_subject(
            code=code,
            year_of_birth=details.year_of_birth,
            age_at_consent=details.age_at_consent,
            consent_date=details.consent_date,
            remission_date=details.remission_date,
            initial_status=status,
            now=uow.now,
        )
    )


# Subject codes are unique trial-wide. Saying "already in use" about a subject the caller cannot
# see would tell a site that the code exists elsewhere (an existence oracle). A code taken by a
# subject the caller can see gets DUPLICATE; any other refusal of a valid code gets the same
# neutral NOT_ALLOWED answer, whatever the reason (taken at another site, or taken by a concurrent
# enrolment not yet visible). The refusal itself cannot be avoided while codes are trial-wide;
# site-prefixed codes (S01-...) keep sites from colliding in practice.
def _code_refused_neutrally() -> Conflict:
    return Conflict(
        ErrorCode.NOT_ALLOWED, "this subject code cannot be used; ask the data manager for a code", ("code",)
    )


async def _code_refused(uow: UnitOfWork, taken: Subject) -> Conflict:
    site = await repo.site_by_id(uow.session, taken.site_id)
    if uow.actor.may_read_subject(taken.code, site.code):
        return Conflict(ErrorCode.DUPLICATE, f"subject code {taken.code} is already in use", ("code",))
    return _code_refused_neutrally()


async def enroll_subject(
    uow: UnitOfWork,
    *,
    code: str,
    site_code: str,
    details: SubjectDetails,
    status: SubjectStatus = SubjectStatus.SCREENING,
) -> Subject:
    require_clinical_writer(uow.actor)
    session = uow.session
    raise_if(v.check_text(site_code, ("siteCode",)))
    site = await repo.site_by_code(session, site_code)
    if site is None:
        raise NotFound("site", ("siteCode",))
    if not uow.actor.may_write_site(site.code):
        raise PermissionDenied(f"you cannot enrol subjects at site {site.code}")
    _check_details(uow, code, details, status)
    if (taken := await repo.subject_by_code(session, code)) is not None:
        raise await _code_refused(uow, taken)
    trial = await repo.the_trial(session)
    subject = Subject(
        trial_id=trial.id,
        site_id=site.id,
        code=code,
        status=status,
        created_at=uow.now,
        updated_at=uow.now,
        **asdict(details),
    )
    session.add(subject)
    try:
        await uow.flush()
    except IntegrityError as error:  # a concurrent enrolment took the code between check and insert
        raise _code_refused_neutrally() from error
    session.add(
        SubjectStatusChange(
            subject_id=subject.id,
            from_status=None,
            to_status=status,
            effective_date=details.consent_date,
            changed_at=uow.now,
            reason=None,
            actor_id=uow.actor.actor_id,
        )
    )
    new_values: dict[str, Any] = {"code": code, "site": site.code, "status": status, **asdict(details)}
    uow.audit(
        entity=ENTITY,
        entity_id=subject.id,
        action=AuditAction.CREATE,
        changes=field_changes({}, new_values),
        subject_id=subject.id,
        site_id=site.id,
    )
    return subject


async def change_subject_status(
    uow: UnitOfWork, *, code: str, status: SubjectStatus, effective_date: date, reason: str
) -> Subject:
    """A step on the subject's path. Leaving the trial (withdrawn, screen failed, completed)
    also revokes the subject's active phones and cancels their unused activation codes, audited
    with the reason "subject withdrawn" (or screen failed, completed)."""
    subject, site = await writable_subject(uow.session, uow.actor, code, field=("code",))
    raise_if(v.check_reason(reason))
    if not may_change_status(subject.status, status):
        raise Conflict(
            ErrorCode.INVALID_TRANSITION,
            f"a subject in {subject.status.value} cannot move to {status.value}",
            ("status",),
        )
    problems = v.check_not_future(effective_date, uow.now, ("effectiveDate",))
    if effective_date < subject.consent_date:
        problems.append(v.Problem(("effectiveDate",), v.ProblemCode.INVALID_ORDER, "before the consent date"))
    raise_if(problems)
    old = subject.status
    subject.status = status
    subject.updated_at = uow.now
    uow.session.add(
        SubjectStatusChange(
            subject_id=subject.id,
            from_status=old,
            to_status=status,
            effective_date=effective_date,
            changed_at=uow.now,
            reason=reason,
            actor_id=uow.actor.actor_id,
        )
    )
    uow.audit(
        entity=ENTITY,
        entity_id=subject.id,
        action=AuditAction.STATUS_CHANGE,
        changes=field_changes(
            {"status": old, "effective_date": None}, {"status": status, "effective_date": effective_date}
        ),
        subject_id=subject.id,
        site_id=site.id,
        reason=reason,
    )
    if status in PARTICIPATION_ENDED:  # their phones stop working in the same transaction
        left = f"subject {status.value.replace('_', ' ')}"
        await revoke_active_devices(uow, subject, reason=left)
        await void_unused_activations(uow, subject, reason=left)
    return subject


async def amend_subject(uow: UnitOfWork, *, code: str, patch: dict[str, Any], reason: str) -> Subject:
    subject, site = await writable_subject(uow.session, uow.actor, code, field=("code",))
    raise_if(v.check_reason(reason))
    old = {name: getattr(subject, name) for name in AMENDABLE_FIELDS}
    merged = SubjectDetails(**{**old, **patch})
    # The initial-status rule does not apply to a correction; validate as if newly screened.
    _check_details(uow, subject.code, merged, SubjectStatus.SCREENING)
    changes = field_changes(old, patch)
    if not changes:
        raise Conflict(ErrorCode.NO_CHANGE, "the amendment changes nothing")
    for name, value in patch.items():
        setattr(subject, name, value)
    subject.updated_at = uow.now
    uow.audit(
        entity=ENTITY,
        entity_id=subject.id,
        action=AuditAction.UPDATE,
        changes=changes,
        subject_id=subject.id,
        site_id=site.id,
        reason=reason,
    )
    return subject


async def create_site(uow: UnitOfWork, *, code: str, name: str, phone: str | None = None) -> Site:
    if not uow.actor.is_admin:
        raise PermissionDenied("only an admin can open a site")
    phone = phone.strip() if phone is not None else None
    problems = v.check_text(code, ("code",), 32) + v.check_text(name, ("name",), 200) + v.check_phone(phone)
    if not code.strip():
        problems.append(v.Problem(("code",), v.ProblemCode.REQUIRED, "a site code is required"))
    if not name.strip():
        problems.append(v.Problem(("name",), v.ProblemCode.REQUIRED, "a site name is required"))
    raise_if(problems)
    if await repo.site_by_code(uow.session, code) is not None:
        raise Conflict(ErrorCode.DUPLICATE, f"site {code} exists", ("code",))
    trial = await repo.the_trial(uow.session)
    site = Site(trial_id=trial.id, code=code, name=name, phone=phone, created_at=uow.now)
    uow.session.add(site)
    await uow.flush()
    uow.audit(
        entity="Site",
        entity_id=site.id,
        action=AuditAction.CREATE,
        changes=field_changes({}, {"code": code, "name": name, "phone": phone}),
        subject_id=None,
        site_id=site.id,
    )
    return site


SITE_EDITORS = frozenset({Role.ADMIN, Role.COORDINATOR, Role.INVESTIGATOR})


async def update_site(
    uow: UnitOfWork, *, code: str, name: str | None = None, phone: str | None = None, reason: str
) -> Site:
    """A site's name or phone number (the diary app's "call your site now"), by an admin or that
    site's coordinators and investigators; another site answers not found."""
    actor = uow.actor
    if actor.role not in SITE_EDITORS:
        raise PermissionDenied("admins and the site's coordinators and investigators update a site")
    if not actor.may_write_site(code):
        raise NotFound("site", ("code",))
    phone = phone.strip() if phone is not None else None
    problems = v.check_reason(reason) + v.check_phone(phone)
    if name is not None:
        problems += v.check_text(name, ("name",), 200)
        if not name.strip():
            problems.append(v.Problem(("name",), v.ProblemCode.REQUIRED, "a site name is required"))
    raise_if(problems)
    site = await repo.site_by_code(uow.session, code)
    if site is None:
        raise NotFound("site", ("code",))
    patch = {k: val for k, val in (("name", name), ("phone", phone)) if val is not None}
    changes = field_changes({k: getattr(site, k) for k in patch}, patch)
    if not changes:
        raise Conflict(ErrorCode.NO_CHANGE, "the change changes nothing")
    for k, val in patch.items():
        setattr(site, k, val)
    uow.audit(
        entity="Site",
        entity_id=site.id,
        action=AuditAction.UPDATE,
        changes=changes,
        subject_id=None,
        site_id=site.id,
        reason=reason,
    )
    return site
