"""Access mutations: sites, device activation codes for patients' phones, device revocation."""

from __future__ import annotations

import datetime as dt
import io
from typing import Annotated, Any, TypeAlias

import segno
import strawberry

from ...domain.devices import secret_digest_key
from ...services import devices, subjects
from ...services.unit_of_work import UnitOfWork
from ..common.context import Info
from ..common.errors import UserErrors, run_use_case
from .inputs import (
    CreateSiteInput,
    IssueDeviceActivationInput,
    RevokeDeviceActivationsInput,
    RevokeDeviceInput,
    UpdateSiteInput,
)
from .types import DeviceActivation, PatientDevice, Site


@strawberry.type(description="The site was written.")
class SiteSuccess:
    site: Site = strawberry.field(description="The site as stored.")


CreateSiteResult: TypeAlias = Annotated[
    SiteSuccess | UserErrors, strawberry.union("CreateSiteResult", description="SiteSuccess or a typed error.")
]


UpdateSiteResult: TypeAlias = Annotated[
    SiteSuccess | UserErrors, strawberry.union("UpdateSiteResult", description="SiteSuccess or a typed error.")
]


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


IssueDeviceActivationResult: TypeAlias = Annotated[
    DeviceActivationIssued | UserErrors,
    strawberry.union("IssueDeviceActivationResult", description="DeviceActivationIssued or a typed error."),
]


RevokeDeviceResult: TypeAlias = Annotated[
    DeviceRevoked | UserErrors, strawberry.union("RevokeDeviceResult", description="DeviceRevoked or a typed error.")
]


RevokeDeviceActivationsResult: TypeAlias = Annotated[
    DeviceActivationsRevoked | UserErrors,
    strawberry.union("RevokeDeviceActivationsResult", description="DeviceActivationsRevoked or a typed error."),
]


def activation_url(base_url: str, code: str) -> str:
    return f"{base_url}/diary/#activate={code}"


def qr_svg(url: str) -> str:
    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="svg", scale=4, border=2, xmldecl=True, title="Activation code")
    return out.getvalue().decode("utf-8")


@strawberry.type
class AccessMutation:
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

    @strawberry.mutation(description="Open a site (admins).")
    async def create_site(
        self,
        info: Info,
        input: Annotated[CreateSiteInput, strawberry.argument(description="The new site.")],
    ) -> CreateSiteResult:
        async def use_case(uow: UnitOfWork) -> Any:
            return await subjects.create_site(uow, code=input.code, name=input.name, phone=input.phone)

        return await run_use_case(info, use_case, lambda row: SiteSuccess(site=Site.of(row)))

    @strawberry.mutation(
        description="Change a site's name or phone number, with a reason (admins, and the site's coordinators and investigators)."
    )
    async def update_site(
        self,
        info: Info,
        input: Annotated[UpdateSiteInput, strawberry.argument(description="The site's changes.")],
    ) -> UpdateSiteResult:
        async def use_case(uow: UnitOfWork) -> Any:
            return await subjects.update_site(
                uow, code=input.code, name=input.name, phone=input.phone, reason=input.reason
            )

        return await run_use_case(info, use_case, lambda row: SiteSuccess(site=Site.of(row)))
