"""Patients' phones: activation codes issued by site staff, redeemed for a device whose refresh
token rotates on every use, and revoked by staff (or by the service on refresh-token reuse).

Secrets (codes, refresh tokens) are generated here with `secrets`, returned once to the caller
and stored only as keyed digests (HMAC-SHA256, domain.devices.secret_digest; the caller passes the
key, derived from the server secret); the audit trail keeps nothing derived from a code. Nothing
here logs. Policies:
- issuing a new code leaves the subject's earlier unredeemed codes valid until they expire (a
  patient may activate a second phone; the TTL is short and every code is single-use); staff
  cancel a subject's unused codes with revoke_activations, and a phone redeeming a cancelled code
  is told it has expired (for the patient the same thing: ask for a new code);
- a refresh token is replaced on every use (see refresh_device for the lost-answer retry and the
  reuse of a discarded token, which revokes the device: the patient then needs a new code);
- refused redemptions write nothing but the audit row of the attempt.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum

from ..db import devices as repo_devices
from ..db import repositories as repo
from ..db.audit import field_changes
from ..db.models import DeviceActivation, PatientDevice, Site, Subject
from ..domain import validation as v
from ..domain.auth import Actor
from ..domain.devices import (
    CODE_ALPHABET,
    CODE_LENGTH,
    group_code,
    normalize_code,
    secret_digest,
)
from ..domain.enums import AuditAction, Role
from .access import require_taking_part, writable_subject
from .errors import Conflict, ErrorCode, NotFound, PermissionDenied, raise_if
from .unit_of_work import UnitOfWork

ACTIVATION = "DeviceActivation"
DEVICE = "PatientDevice"
# The actor named in the audit trail for the unauthenticated device endpoints.
PATIENT_APP = Actor(actor_id="patient-app", role=Role.PATIENT)
REUSE_REVOKER = "system:refresh-token-reuse"
REUSE_REASON = "refresh token family reused (possible theft)"


class DeviceRefusal(str, Enum):
    ACTIVATION_CODE_INVALID = "ACTIVATION_CODE_INVALID"
    ACTIVATION_CODE_EXPIRED = "ACTIVATION_CODE_EXPIRED"
    ACTIVATION_CODE_USED = "ACTIVATION_CODE_USED"
    DEVICE_REVOKED = "DEVICE_REVOKED"
    REFRESH_TOKEN_INVALID = "REFRESH_TOKEN_INVALID"


class DeviceRefused(Exception):
    """A device endpoint's expected refusal; the HTTP layer answers 401 with its code."""

    def __init__(self, refusal: DeviceRefusal) -> None:
        super().__init__(refusal.value)
        self.refusal = refusal


@dataclass(frozen=True)
class IssuedActivation:
    code: str  # grouped for typing, "ABCDE-FGHJK"; shown once, never stored
    activation: DeviceActivation
    subject_code: str


@dataclass(frozen=True)
class DeviceCredentials:
    device: PatientDevice
    refresh_token: str  # shown once, never stored
    subject: Subject
    site: Site


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


async def issue_activation(uow: UnitOfWork, *, subject_code: str, digest_key: bytes) -> IssuedActivation:
    """Coordinators and investigators of the subject's site, and admins; not for a subject who
    left the trial (withdrawn, screen failed, completed). The code expires after the protocol
    parameter activation_code_ttl_hours (the version in force today)."""
    subject, site = await writable_subject(uow.session, uow.actor, subject_code)
    require_taking_part(subject, "no phone can be connected")
    _, parameters = await repo.parameters_in_force(uow.session, subject.trial_id, uow.now.date())
    code = new_code()
    digest = secret_digest(code, digest_key)
    activation = DeviceActivation(
        subject_id=subject.id,
        code_hash=digest,
        created_by=uow.actor.actor_id,
        created_at=uow.now,
        expires_at=uow.now + timedelta(hours=parameters.activation_code_ttl_hours),
    )
    uow.session.add(activation)
    await uow.flush()
    uow.audit(
        entity=ACTIVATION,
        entity_id=activation.id,
        action=AuditAction.CREATE,
        changes=field_changes({}, {"expires_at": activation.expires_at}),
        subject_id=subject.id,
        site_id=site.id,
    )
    return IssuedActivation(code=group_code(code), activation=activation, subject_code=subject.code)


async def redeem_activation(uow: UnitOfWork, *, code: str, label: str | None, digest_key: bytes) -> DeviceCredentials:
    """Turns a valid code into a device with its first refresh token. A refused attempt is
    audited (and committed) before DeviceRefused is raised; nothing else is written."""
    session = uow.session
    normalized = normalize_code(code)
    digest = secret_digest(normalized, digest_key) if normalized else None
    activation = await repo_devices.activation_by_hash(session, digest) if digest else None
    if activation is None:
        await _refuse(uow, DeviceRefusal.ACTIVATION_CODE_INVALID, None)
    assert activation is not None
    if activation.redeemed_at is not None:
        await _refuse(uow, DeviceRefusal.ACTIVATION_CODE_USED, activation)
    if activation.expires_at <= uow.now or activation.revoked_at is not None:
        await _refuse(uow, DeviceRefusal.ACTIVATION_CODE_EXPIRED, activation)
    subject = await repo.subject_by_id(session, activation.subject_id)
    site = await repo.site_by_id(session, subject.site_id)
    refresh_token = new_refresh_token()
    device = PatientDevice(
        public_id=uuid.uuid4().hex,
        subject_id=subject.id,
        label=label or None,
        refresh_token_hash=secret_digest(refresh_token, digest_key),
        created_at=uow.now,
        last_used_at=uow.now,
    )
    session.add(device)
    await uow.flush()
    activation.redeemed_at = uow.now
    activation.redeemed_device_id = device.id
    uow.audit(
        entity=DEVICE,
        entity_id=device.id,
        action=AuditAction.CREATE,
        changes=field_changes(
            {}, {"device_id": device.public_id, "label": device.label, "activation_id": activation.id}
        ),
        subject_id=subject.id,
        site_id=site.id,
    )
    uow.audit(
        entity=ACTIVATION,
        entity_id=activation.id,
        action=AuditAction.UPDATE,
        changes=field_changes({"redeemed_at": None}, {"redeemed_at": uow.now, "device_id": device.public_id}),
        subject_id=subject.id,
        site_id=site.id,
    )
    return DeviceCredentials(device=device, refresh_token=refresh_token, subject=subject, site=site)


async def _refuse(uow: UnitOfWork, refusal: DeviceRefusal, activation: DeviceActivation | None) -> None:
    """The audit row of a refused redemption: that it was refused and why, and the activation when
    the code matched one. An unknown code has no activation and no subject: entity_id is 0
    (audit_event.entity_id is NOT NULL). Nothing derived from the typed code is recorded."""
    site_id = None
    if activation is not None:
        subject = await repo.subject_by_id(uow.session, activation.subject_id)
        site_id = subject.site_id
    uow.audit(
        entity=ACTIVATION,
        entity_id=activation.id if activation is not None else 0,
        action=AuditAction.UPDATE,
        changes={"redemption_refused": {"old": None, "new": refusal.value}},
        subject_id=activation.subject_id if activation is not None else None,
        site_id=site_id,
        reason="failed redemption attempt",
    )
    await uow.commit()
    raise DeviceRefused(refusal)


async def refresh_device(uow: UnitOfWork, *, refresh_token: str, digest_key: bytes) -> DeviceCredentials:
    """Rotates the device's refresh token. A device keeps three digests: the current token, the
    previous one (the token the current one was rotated from) and the last superseded one.

    - The current token: the normal case; it becomes `previous` and a new one is issued.
    - The previous token: the current one has by construction never been used (using it would
      have moved `previous` on). Either the phone lost the answer that carried it (a bad network;
      it may retry minutes or days later) or someone else holds the previous token and raced the
      phone. Both get the same answer, with no time limit: rotate again from it, and remember the
      discarded current token as `superseded`.
    - The superseded token: it was handed out and then discarded, so if it comes back two parties
      hold tokens of one family (the phone and a thief, whichever rotated first). The device is
      revoked (audited, committed) and the token refused; the patient needs a new code.
    - Anything else (an unknown token, or one older than `previous`): refused, nothing revoked.

    Only the last superseded token is remembered: after two retries in a row the first discarded
    token reads as unknown (refused, not revoking)."""
    session = uow.session
    digest = secret_digest(refresh_token, digest_key)
    device = await repo_devices.device_by_refresh_hash(session, digest)
    if device is None:
        device = await repo_devices.device_by_previous_refresh_hash(session, digest)
        if device is None:
            await _refuse_superseded(uow, digest)
            raise DeviceRefused(DeviceRefusal.REFRESH_TOKEN_INVALID)
        if device.revoked_at is None:  # a lost answer's retry or a theft race: rotate again
            device.superseded_refresh_token_hash = device.refresh_token_hash
    if device.revoked_at is not None:
        raise DeviceRefused(DeviceRefusal.DEVICE_REVOKED)
    new_token = new_refresh_token()
    device.previous_refresh_token_hash = digest
    device.refresh_token_hash = secret_digest(new_token, digest_key)
    device.last_used_at = uow.now
    subject = await repo.subject_by_id(session, device.subject_id)
    site = await repo.site_by_id(session, subject.site_id)
    return DeviceCredentials(device=device, refresh_token=new_token, subject=subject, site=site)


async def _refuse_superseded(uow: UnitOfWork, digest: str) -> None:
    """A discarded token of a device presented again: revoke that device (once) and commit."""
    device = await repo_devices.device_by_superseded_refresh_hash(uow.session, digest)
    if device is not None and device.revoked_at is None:
        await _revoke(uow, device, revoked_by=REUSE_REVOKER, reason=REUSE_REASON)
        await uow.commit()


async def revoke_device(uow: UnitOfWork, *, device_id: str, reason: str) -> PatientDevice:
    """Coordinators and investigators of the device's site, and admins. Another site's device is
    not found, exactly like a missing one."""
    actor = uow.actor
    if not actor.may_write_clinical_records:
        raise PermissionDenied(f"the {actor.role.value} role cannot revoke devices")
    raise_if(v.check_reason(reason))
    device = await repo_devices.device_by_public_id(uow.session, device_id) if len(device_id) <= 64 else None
    if device is None:
        raise NotFound("device", ("id",))
    subject = await repo.subject_by_id(uow.session, device.subject_id)
    site = await repo.site_by_id(uow.session, subject.site_id)
    if not actor.may_read_subject(subject.code, site.code):
        raise NotFound("device", ("id",))
    if not actor.may_write_site(site.code):
        raise PermissionDenied(f"you cannot revoke devices of site {site.code}")
    if device.revoked_at is not None:
        raise Conflict(ErrorCode.ALREADY_VOIDED, "the device is already revoked", ("id",))
    await _revoke(uow, device, revoked_by=actor.actor_id, reason=reason)
    return device


async def revoke_activations(uow: UnitOfWork, *, subject_code: str, reason: str) -> list[DeviceActivation]:
    """Cancels the subject's unused codes (not redeemed, revoked or expired), with a reason: the
    staff who may issue codes. No unused code is a NO_CHANGE conflict."""
    subject, _site = await writable_subject(uow.session, uow.actor, subject_code)
    raise_if(v.check_reason(reason))
    activations = await void_unused_activations(uow, subject, reason=reason)
    if not activations:
        raise Conflict(ErrorCode.NO_CHANGE, f"subject {subject.code} has no unused activation code", ("subjectCode",))
    return activations


async def void_unused_activations(uow: UnitOfWork, subject: Subject, *, reason: str) -> list[DeviceActivation]:
    """Revokes each unused code of the subject (one audit row each, by the caller); the caller has
    checked that it may. Also used when a subject leaves the trial."""
    activations = list(await repo_devices.unused_activations(uow.session, subject.id, uow.now))
    for activation in activations:
        activation.revoked_at = uow.now
        activation.revoked_by = uow.actor.actor_id
        activation.revoked_reason = reason
        uow.audit(
            entity=ACTIVATION,
            entity_id=activation.id,
            action=AuditAction.VOID,
            changes=field_changes({"revoked_at": None}, {"revoked_at": uow.now}),
            subject_id=subject.id,
            site_id=subject.site_id,
            reason=reason,
        )
    return activations


async def revoke_active_devices(uow: UnitOfWork, subject: Subject, *, reason: str) -> list[PatientDevice]:
    """Revokes every active device of the subject, audited with `reason`, by the caller (a
    subject leaving the trial); the caller has checked that it may."""
    devices = list(await repo_devices.active_devices(uow.session, subject.id))
    for device in devices:
        await _revoke(uow, device, revoked_by=uow.actor.actor_id, reason=reason)
    return devices


async def _revoke(uow: UnitOfWork, device: PatientDevice, *, revoked_by: str, reason: str) -> None:
    subject = await repo.subject_by_id(uow.session, device.subject_id)
    device.revoked_at = uow.now
    device.revoked_by = revoked_by
    device.revoked_reason = reason
    uow.audit(
        entity=DEVICE,
        entity_id=device.id,
        action=AuditAction.VOID,
        changes=field_changes(
            {"revoked_at": None, "revoked_by": None},
            {"revoked_at": uow.now, "revoked_by": revoked_by, "device_id": device.public_id},
        ),
        subject_id=subject.id,
        site_id=subject.site_id,
        reason=reason,
    )
