"""Enrolment, subject amendment and status change."""

from __future__ import annotations

from typing import Annotated, Any, TypeAlias

import strawberry

from ...services import subjects
from ...services.unit_of_work import UnitOfWork
from ..common.context import Info
from ..common.errors import UserErrors, run_use_case
from ..common.inputs import patch_of
from .inputs import AMEND_SUBJECT, AmendSubjectInput, ChangeSubjectStatusInput, EnrollSubjectInput
from .types import Subject


@strawberry.type(description="The subject was written.")
class SubjectSuccess:
    subject: Subject = strawberry.field(description="The subject as stored.")


EnrollSubjectResult: TypeAlias = Annotated[
    SubjectSuccess | UserErrors, strawberry.union("EnrollSubjectResult", description="SubjectSuccess or a typed error.")
]


AmendSubjectResult: TypeAlias = Annotated[
    SubjectSuccess | UserErrors, strawberry.union("AmendSubjectResult", description="SubjectSuccess or a typed error.")
]


ChangeSubjectStatusResult: TypeAlias = Annotated[
    SubjectSuccess | UserErrors,
    strawberry.union("ChangeSubjectStatusResult", description="SubjectSuccess or a typed error."),
]


REQUIRED_SUBJECT = frozenset(
    {"sex", "year_of_birth", "age_at_consent", "diagnosis", "remission_status", "consent_date"}
)


def _subject_details(data: EnrollSubjectInput) -> subjects.SubjectDetails:
    return subjects.SubjectDetails(
        sex=data.sex,
        year_of_birth=data.year_of_birth,
        age_at_consent=data.age_at_consent,
        diagnosis=data.diagnosis,
        remission_status=data.remission_status,
        remission_date=data.remission_date,
        abo_group=data.abo_group,
        rhd=data.rhd,
        consent_date=data.consent_date,
    )


def _subject(row: Any) -> SubjectSuccess:
    return SubjectSuccess(subject=Subject.of(row))


@strawberry.type
class SubjectsMutation:
    @strawberry.mutation(description="Register a subject at a site (coordinators, investigators, admins).")
    async def enroll_subject(
        self,
        info: Info,
        input: Annotated[EnrollSubjectInput, strawberry.argument(description="The subject to enroll.")],
    ) -> EnrollSubjectResult:
        async def use_case(uow: UnitOfWork) -> Any:
            return await subjects.enroll_subject(
                uow, code=input.code, site_code=input.site_code, details=_subject_details(input), status=input.status
            )

        return await run_use_case(info, use_case, _subject)

    @strawberry.mutation(description="Correct a subject's details, with a reason (audited).")
    async def amend_subject(
        self,
        info: Info,
        input: Annotated[AmendSubjectInput, strawberry.argument(description="The subject's corrections.")],
    ) -> AmendSubjectResult:
        async def use_case(uow: UnitOfWork) -> Any:
            patch = patch_of(input, AMEND_SUBJECT, REQUIRED_SUBJECT)
            return await subjects.amend_subject(uow, code=input.code, patch=patch, reason=input.reason)

        return await run_use_case(info, use_case, _subject)

    @strawberry.mutation(description="Move a subject along the trial's path, with a reason.")
    async def change_subject_status(
        self,
        info: Info,
        input: Annotated[ChangeSubjectStatusInput, strawberry.argument(description="The subject and its new status.")],
    ) -> ChangeSubjectStatusResult:
        async def use_case(uow: UnitOfWork) -> Any:
            return await subjects.change_subject_status(
                uow, code=input.code, status=input.status, effective_date=input.effective_date, reason=input.reason
            )

        return await run_use_case(info, use_case, _subject)
