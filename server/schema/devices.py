"""Mutations for patients' phones: issue an activation code, cancel unused codes, revoke a device
(site staff)."""

from __future__ import annotations

import datetime as dt
import io
from typing import Annotated, Any

import segno
import strawberry

from ..domain.devices import secret_digest_key
from ..services import devices
from ..services.unit_of_work import UnitOfWork
from .context import Info
from .device_types import DeviceActivation, PatientDevice
from .errors import result_union, run_use_case


@strawberry.input(description="The subject whose phone is to be activated.")
class IssueDeviceActivationInput:
    subject_code: str = strawberry.field(description="Code of the subject.")


@strawberry.input(description="Cancel a subject's unused activation codes.")
class RevokeDeviceActivationsInput:
    subject_code: str = strawberry.field(description="Code of the subject.")
    reason: str = strawberry.field(description="Why they are cancelled (required, audited).")


@strawberry.input(description="Revoke an activated phone: its token stops working.")
class RevokeDeviceInput:
    id: strawberry.ID = strawberry.field(description="PatientDevice.id")
    reason: str = strawberry.field(description="Why it is revoked (required, audited), e.g. a lost phone.")


@strawberry.type(
    description="A new activation code. `activationCode` is shown only in this answer: give it (or the QR code) to the patient."
)
class DeviceActivationIssued:
    activation_code: str = strawberry.field(description='The one-time code, grouped for typing ("ABCDE-FGHJK").')
    expires_at: dt.datetime = strawberry.field(description="When it stops working if unused (UTC).")
    activation_url: str = strawberry.field(description="The diary app's address with the code, for the phone.")
    qr_svg: str = strawberry.field(description="An SVG QR code of activationUrl.")
    subject_code: str = strawberry.field(description="Code of the subject.")


@strawberry.type(description="The phone was revoked.")
class DeviceRevoked:
    device: PatientDevice = strawberry.field(description="The device as stored, now revoked.")


@strawberry.type(description="The subject's unused activation codes, now cancelled.")
class DeviceActivationsRevoked:
    subject_code: str = strawberry.field(description="Code of the subject.")
    activations: list[DeviceActivation] = strawberry.field(description="The codes cancelled, oldest first.")


IssueDeviceActivationResult = result_union("IssueDeviceActivationResult", DeviceActivationIssued)
RevokeDeviceResult = result_union("RevokeDeviceResult", DeviceRevoked)
RevokeDeviceActivationsResult = result_union("RevokeDeviceActivationsResult", DeviceActivationsRevoked)


def activation_url(base_url: str, code: str) -> str:
    return f"{base_url}/diary/#activate={code}"


def qr_svg(url: str) -> str:
    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="svg", scale=4, border=2, xmldecl=True, title="Activation code")
    return out.getvalue().decode("utf-8")


@strawberry.type
class DevicesMutation:
    @strawberry.mutation(
        description="Issue a one-time activation code for a subject's phone (coordinators and investigators of the site, admins). Earlier unused codes stay valid until they expire."
    )
    async def issue_device_activation(
        self,
        info: Info,
        input: Annotated[IssueDeviceActivationInput, strawberry.argument(description="The subject.")],
    ) -> IssueDeviceActivationResult:
        async def use_case(uow: UnitOfWork) -> Any:
            digest_key = secret_digest_key(info.context.settings.jwt_secret)
            return await devices.issue_activation(uow, subject_code=input.subject_code, digest_key=digest_key)

        def present(issued: devices.IssuedActivation) -> DeviceActivationIssued:
            url = activation_url(info.context.settings.public_base_url, issued.code)
            return DeviceActivationIssued(
                activation_code=issued.code,
                expires_at=issued.activation.expires_at,
                activation_url=url,
                qr_svg=qr_svg(url),
                subject_code=issued.subject_code,
            )

        return await run_use_case(info, use_case, present)

    @strawberry.mutation(
        description="Cancel a subject's unused activation codes, with a reason (coordinators and investigators of the site, admins): a phone that tries one is told it has expired. NO_CHANGE when there is none."
    )
    async def revoke_device_activations(
        self,
        info: Info,
        input: Annotated[RevokeDeviceActivationsInput, strawberry.argument(description="The subject, and why.")],
    ) -> RevokeDeviceActivationsResult:
        async def use_case(uow: UnitOfWork) -> Any:
            return await devices.revoke_activations(uow, subject_code=input.subject_code, reason=input.reason)

        def present(rows: list[Any]) -> DeviceActivationsRevoked:
            return DeviceActivationsRevoked(
                subject_code=input.subject_code, activations=[DeviceActivation.of(r) for r in rows]
            )

        return await run_use_case(info, use_case, present)

    @strawberry.mutation(
        description="Revoke a patient's phone, with a reason (coordinators and investigators of the site, admins): its tokens stop working at once."
    )
    async def revoke_device(
        self,
        info: Info,
        input: Annotated[RevokeDeviceInput, strawberry.argument(description="The device, and why.")],
    ) -> RevokeDeviceResult:
        async def use_case(uow: UnitOfWork) -> Any:
            return await devices.revoke_device(uow, device_id=str(input.id), reason=input.reason)

        return await run_use_case(info, use_case, lambda row: DeviceRevoked(device=PatientDevice.of(row)))
