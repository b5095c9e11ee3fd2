"""Inputs of the safety mutations (bleeding diary, adverse events, alerts) and their translation
to the services' values."""

from __future__ import annotations

import datetime as dt
from typing import Any

import strawberry

from ...domain import bleeding as b
from ...domain.validation import Problem, ProblemCode
from ...services import adverse_events as ae
from ...services import diary
from ...services.errors import InvalidInput
from ..common import enums as e
from ..common.inputs import aware


@strawberry.input(description="One bleeding symptom. Fill what applies to the site.")
class BleedingSymptomInput:
    site: e.BleedingSite = strawberry.field(description="Where the bleeding is.")
    duration_minutes: int | None = strawberry.field(default=None, description="Total bleeding time today, in minutes.")
    size_cm: float | None = strawberry.field(default=None, description="Bruise size in cm (1 inch = 2.54 cm).")
    stopped: bool | None = strawberry.field(default=None, description="Has it stopped? false raises a red flag.")
    medical_help_needed: bool = strawberry.field(
        default=False, description="Needed packing, cautery or a clinic visit."
    )
    black_or_tarry: bool = strawberry.field(default=False, description="Stool: black or tarry.")
    beyond_spotting: bool = strawberry.field(default=False, description="Vaginal: heavier than spotting.")
    deep_swelling: bool = strawberry.field(default=False, description="Bruise: a spontaneous deep swelling.")


@strawberry.input(
    description="A diary report from the patient's phone. Resubmitting the same clientReportId with the same content returns the original result."
)
class SubmitBleedingReportInput:
    client_report_id: str = strawberry.field(description="A UUID generated on the phone when the entry is made.")
    noticed_at: dt.datetime = strawberry.field(
        description="When the bleeding was noticed, with the phone's UTC offset."
    )
    device_entered_at: dt.datetime = strawberry.field(
        description="When the entry was made, with the phone's UTC offset (kept)."
    )
    symptoms: list[BleedingSymptomInput] = strawberry.field(
        default_factory=list, description="At least one for SYMPTOMS; none for a NO_BLEEDING check-in."
    )
    kind: e.BleedingReportKind = strawberry.field(
        default=e.BleedingReportKind.SYMPTOMS,
        description="NO_BLEEDING: the daily check-in 'no bleeding today' (no symptoms, no neurological signs); it makes the day observed.",
    )
    device_submitted_at: dt.datetime | None = strawberry.field(
        default=None, description="When the phone sent it (may change on retries)."
    )
    sudden_severe_headache: bool = strawberry.field(
        default=False, description="Sudden severe headache (a red flag; default false)."
    )
    new_confusion: bool = strawberry.field(default=False, description="New confusion (a red flag; default false).")
    vision_change: bool = strawberry.field(default=False, description="A change in vision (a red flag; default false).")
    new_weakness: bool = strawberry.field(default=False, description="New weakness (a red flag; default false).")
    pro_ctcae_bruising: bool | None = strawberry.field(
        default=None, description="PRO-CTCAE, last 7 days: any bruising."
    )
    pro_ctcae_nosebleed_frequency: int | None = strawberry.field(
        default=None, description="PRO-CTCAE, last 7 days: 0 never - 4 almost constantly."
    )
    pro_ctcae_nosebleed_severity: int | None = strawberry.field(
        default=None, description="PRO-CTCAE, last 7 days: 0 none - 4 very severe."
    )
    note: str | None = strawberry.field(default=None, description="The patient's own words, optional.")
    subject_code: str | None = strawberry.field(default=None, description="Optional; must be your own subject.")


@strawberry.input(
    description="Attribution on the NCI five-point scale to each product and procedure; omitted: not assessed."
)
class AttributionInput:
    cd19_car_t: e.Attribution | None = strawberry.field(
        default=None, description="Attribution to the CD19 CAR-T product."
    )
    bcma_car_t: e.Attribution | None = strawberry.field(
        default=None, description="Attribution to the BCMA CAR-T product."
    )
    lymphodepletion: e.Attribution | None = strawberry.field(
        default=None, description="Attribution to lymphodepletion."
    )
    platelet_transfusion: e.Attribution | None = strawberry.field(
        default=None, description="Attribution to platelet transfusion."
    )


@strawberry.input(description="A new adverse event reported by site staff.")
class ReportAdverseEventInput:
    subject_code: str = strawberry.field(description="Code of the subject.")
    meddra_code: int = strawberry.field(description="MedDRA code of a CTCAE v5.0 term in the trial's list.")
    grade: int = strawberry.field(description="Grade 1-5 on gradingScale.")
    onset_date: dt.date = strawberry.field(description="Date of onset (not in the future).")
    awareness_at: dt.datetime = strawberry.field(description="When the site became aware, with UTC offset.")
    grading_scale: e.GradingScale = strawberry.field(
        default=e.GradingScale.CTCAE_V5, description="CTCAE_V5 (default), or ASTCT_2019 for CRS and ICANS."
    )
    serious: bool = strawberry.field(
        default=False, description="Whether the event is serious (default false); then give seriousCriteria."
    )
    serious_criteria: list[e.SeriousCriterion] = strawberry.field(
        default_factory=list, description="The ICH E2A criteria met (default none)."
    )
    verbatim: str | None = strawberry.field(default=None, description="The event in the reporter's words, optional.")
    resolution_date: dt.date | None = strawberry.field(default=None, description="Date resolved; omit while ongoing.")
    attribution: AttributionInput | None = strawberry.field(
        default=None, description="Attribution to each product and procedure; omitted: not assessed."
    )
    expected: bool | None = strawberry.field(
        default=None, description="Whether the event is expected; omitted: not assessed."
    )
    action_taken: e.ActionTaken | None = strawberry.field(default=None, description="Action taken, optional.")
    outcome: e.AdverseEventOutcome | None = strawberry.field(default=None, description="Outcome (CDISC OUT), optional.")
    sponsor_reported_at: dt.datetime | None = strawberry.field(
        default=None, description="When a serious event was reported to the sponsor, with UTC offset."
    )


@strawberry.input(description="Change an adverse event, with a reason; fields left out keep their value.")
class UpdateAdverseEventInput:
    id: strawberry.ID = strawberry.field(description="Global id of the adverse event.")
    reason: str = strawberry.field(description="Why it is changed (required, audited).")
    meddra_code: int | None = strawberry.field(
        default=strawberry.UNSET,
        description="MedDRA code of a CTCAE v5.0 term in the trial's list. Omitted: unchanged.",
    )
    grade: int | None = strawberry.field(default=strawberry.UNSET, description="Grade 1-5. Omitted: unchanged.")
    grading_scale: e.GradingScale | None = strawberry.field(
        default=strawberry.UNSET, description="Grading scale. Omitted: unchanged."
    )
    onset_date: dt.date | None = strawberry.field(
        default=strawberry.UNSET, description="Date of onset. Omitted: unchanged."
    )
    awareness_at: dt.datetime | None = strawberry.field(
        default=strawberry.UNSET, description="When the site became aware, with UTC offset. Omitted: unchanged."
    )
    serious: bool | None = strawberry.field(
        default=strawberry.UNSET, description="Whether serious. Omitted: unchanged."
    )
    serious_criteria: list[e.SeriousCriterion] | None = strawberry.field(
        default=strawberry.UNSET, description="The ICH E2A criteria met; replaces the list. Omitted: unchanged."
    )
    verbatim: str | None = strawberry.field(
        default=strawberry.UNSET, description="Verbatim text; null clears it. Omitted: unchanged."
    )
    resolution_date: dt.date | None = strawberry.field(
        default=strawberry.UNSET, description="Date resolved; null clears it. Omitted: unchanged."
    )
    attribution_cd19: e.Attribution | None = strawberry.field(
        default=strawberry.UNSET,
        description="Attribution to the CD19 CAR-T product; null clears it. Omitted: unchanged.",
    )
    attribution_bcma: e.Attribution | None = strawberry.field(
        default=strawberry.UNSET,
        description="Attribution to the BCMA CAR-T product; null clears it. Omitted: unchanged.",
    )
    attribution_lymphodepletion: e.Attribution | None = strawberry.field(
        default=strawberry.UNSET, description="Attribution to lymphodepletion; null clears it. Omitted: unchanged."
    )
    attribution_platelet_transfusion: e.Attribution | None = strawberry.field(
        default=strawberry.UNSET, description="Attribution to platelet transfusion; null clears it. Omitted: unchanged."
    )
    expected: bool | None = strawberry.field(
        default=strawberry.UNSET, description="Whether expected; null clears it. Omitted: unchanged."
    )
    action_taken: e.ActionTaken | None = strawberry.field(
        default=strawberry.UNSET, description="Action taken; null clears it. Omitted: unchanged."
    )
    outcome: e.AdverseEventOutcome | None = strawberry.field(
        default=strawberry.UNSET, description="Outcome; null clears it. Omitted: unchanged."
    )
    sponsor_reported_at: dt.datetime | None = strawberry.field(
        default=strawberry.UNSET,
        description="When reported to the sponsor, with UTC offset; null clears it. Omitted: unchanged.",
    )


@strawberry.input(description="An investigator's decision on a pending adverse event.")
class ReviewAdverseEventInput:
    id: strawberry.ID = strawberry.field(description="Global id of the adverse event.")
    decision: e.ReviewDecision = strawberry.field(description="CONFIRM, REGRADE (give grade) or REJECT.")
    reason: str = strawberry.field(description="Why (required, audited).")
    grade: int | None = strawberry.field(default=None, description="The new grade, with REGRADE.")


@strawberry.input(description="An adverse event's resolution.")
class ResolveAdverseEventInput:
    id: strawberry.ID = strawberry.field(description="Global id of the adverse event.")
    resolution_date: dt.date = strawberry.field(description="Date the event resolved.")
    outcome: e.AdverseEventOutcome = strawberry.field(
        description="RECOVERED_RESOLVED, RECOVERED_RESOLVED_WITH_SEQUELAE or FATAL."
    )
    reason: str | None = strawberry.field(
        default=None, description="Why it is resolved: required (audited), although the type allows null."
    )


@strawberry.input(description="A staff note on a diary report.")
class AnnotateBleedingReportInput:
    id: strawberry.ID = strawberry.field(description="Global id of the diary report.")
    text: str = strawberry.field(description="The note or correction.")
    reason: str = strawberry.field(description="Why it is added (required, audited).")


@strawberry.input(description="The alert to mark as seen.")
class AcknowledgeAlertInput:
    id: strawberry.ID = strawberry.field(description="Global id of the alert.")


def _as_is(value: Any, _path: tuple[str, ...]) -> Any:
    return value


UPDATE_FIELDS: dict[str, Any] = {
    name: (name, aware if name in ("awareness_at", "sponsor_reported_at") else _as_is)
    for name in UpdateAdverseEventInput.__annotations__
    if name not in ("id", "reason")
}


UPDATE_FIELDS["serious_criteria"] = ("serious_criteria", lambda value, _p: tuple(value))


REQUIRED_AE = frozenset(
    {"meddra_code", "grade", "grading_scale", "onset_date", "awareness_at", "serious", "serious_criteria"}
)


def diary_submission(data: SubmitBleedingReportInput) -> diary.DiarySubmission:
    entered = aware(data.device_entered_at, ("deviceEnteredAt",))
    offset = data.device_entered_at.utcoffset()
    if len(data.symptoms) > 20:
        raise InvalidInput([Problem(("symptoms",), ProblemCode.OUT_OF_RANGE, "at most 20 symptoms in one report")])
    return diary.DiarySubmission(
        client_report_id=data.client_report_id.strip().lower()[:64],
        noticed_at=aware(data.noticed_at, ("noticedAt",)),
        device_entered_at=entered,
        device_utc_offset_minutes=int(offset.total_seconds() // 60) if offset is not None else 0,
        device_submitted_at=aware(data.device_submitted_at, ("deviceSubmittedAt",))
        if data.device_submitted_at
        else None,
        symptoms=tuple(
            b.Symptom(
                site=s.site,
                duration_minutes=s.duration_minutes,
                size_cm=s.size_cm,
                stopped=s.stopped,
                medical_help_needed=s.medical_help_needed,
                black_or_tarry=s.black_or_tarry,
                beyond_spotting=s.beyond_spotting,
                deep_swelling=s.deep_swelling,
            )
            for s in data.symptoms
        ),
        signs=b.NeurologicalSigns(
            sudden_severe_headache=data.sudden_severe_headache,
            new_confusion=data.new_confusion,
            vision_change=data.vision_change,
            new_weakness=data.new_weakness,
        ),
        pro_ctcae={
            k: v
            for k, v in (
                ("bruising", data.pro_ctcae_bruising),
                ("nosebleedFrequency", data.pro_ctcae_nosebleed_frequency),
                ("nosebleedSeverity", data.pro_ctcae_nosebleed_severity),
            )
            if v is not None
        },
        note=data.note,
        kind=data.kind,
    )


def adverse_event_details(data: ReportAdverseEventInput) -> ae.AdverseEventDetails:
    attribution = data.attribution or AttributionInput()
    return ae.AdverseEventDetails(
        meddra_code=data.meddra_code,
        grade=data.grade,
        grading_scale=data.grading_scale,
        onset_date=data.onset_date,
        awareness_at=aware(data.awareness_at, ("awarenessAt",)),
        serious=data.serious,
        serious_criteria=tuple(data.serious_criteria),
        verbatim=data.verbatim,
        resolution_date=data.resolution_date,
        attribution_cd19=attribution.cd19_car_t,
        attribution_bcma=attribution.bcma_car_t,
        attribution_lymphodepletion=attribution.lymphodepletion,
        attribution_platelet_transfusion=attribution.platelet_transfusion,
        expected=data.expected,
        action_taken=data.action_taken,
        outcome=data.outcome,
        sponsor_reported_at=aware(data.sponsor_reported_at, ("sponsorReportedAt",))
        if data.sponsor_reported_at
        else None,
    )
