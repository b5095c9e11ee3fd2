"""Derived values of the response engine, each with its unit, rule and parameter version."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import strawberry

from ..db import models as m
from ..db import planned_reads as sql
from ..domain import response as r
from ..domain.statistics import CLOPPER_PEARSON_RULE, Proportion
from . import enums as e
from .ids import encode_id
from .sql_mapping import declare
from .therapy_types import SensitivityAnalysis, TherapyConfounding
from .types import PlateletCount, Site, view_of


@strawberry.type(
    description="Body surface area used for a CCI: latest height and weight on or before the transfusion start."
)
class BodySurfaceArea:
    value_m2: float = strawberry.field(description="Body surface area in m^2 (unrounded).")
    formula: e.BsaFormula = strawberry.field(description="The formula used.")
    height_cm: float = strawberry.field(description="Height used, in cm.")
    weight_kg: float = strawberry.field(description="Weight used, in kg.")
    height_measured_at: dt.datetime = strawberry.field(
        description="When the height used was measured (UTC): the latest on or before the transfusion."
    )
    weight_measured_at: dt.datetime = strawberry.field(
        description="When the weight used was measured (UTC): the latest on or before the transfusion."
    )

    @classmethod
    def flat(
        cls,
        value_m2: float,
        formula: e.BsaFormula,
        height_cm: float,
        weight_kg: float,
        height_measured_at: dt.datetime,
        weight_measured_at: dt.datetime,
    ) -> BodySurfaceArea:
        """From a flat derived record's columns (services.response.TransfusionResponseRecord)."""
        return view_of(
            cls,
            {
                "value_m2": value_m2,
                "formula": formula,
                "height_cm": height_cm,
                "weight_kg": weight_kg,
                "height_measured_at": height_measured_at,
                "weight_measured_at": weight_measured_at,
            },
        )


@strawberry.type(description="A platelet count attributed to a transfusion by time.")
class AttributedCount:
    count: PlateletCount = strawberry.field(description="The platelet count.")
    minutes_from_transfusion: float = strawberry.field(
        description="For a pre-count: minutes BEFORE the start (negative). For early/late counts: minutes after the END."
    )

    @strawberry.field(description="The same interval in hours.")
    def hours_from_transfusion(self) -> float:
        return self.minutes_from_transfusion / 60.0

    @classmethod
    def flat(
        cls,
        count_id: int | None,
        drawn_at: dt.datetime | None,
        value_e9_per_l: float | None,
        after_end_s: float | None,
        subject_id: int,
    ) -> AttributedCount | None:
        """From a flat derived record's columns for one count (null when no count was attributed)."""
        if count_id is None:
            return None
        count = view_of(
            PlateletCount,
            {
                "id": encode_id("PlateletCount", count_id),
                "subject_id": subject_id,
                "drawn_at": drawn_at,
                "value_e9_per_l": value_e9_per_l,
            },
        )
        return view_of(cls, {"count": count, "minutes_from_transfusion": after_end_s / 60.0})


@strawberry.type(description="The transfusion's response category, why, and by which rule and parameter version.")
class TransfusionResponse:
    category: e.ResponseCategory = strawberry.field(description="R, N or NE.")
    reason: str = strawberry.field(description="Why this category, in words (with the CCIs and thresholds).")
    not_evaluable_reasons: list[e.NotEvaluableReason] = strawberry.field(
        description="Why not evaluable; empty unless the category is NOT_EVALUABLE."
    )
    parameter_version: int = strawberry.field(description="Version of the protocol parameters applied.")
    rule: str = strawberry.field(default=r.RESPONSE_RULE, description="The classification rule, with its version.")
    confounded_by_therapy: TherapyConfounding | None = strawberry.field(
        description="The therapy (IVIG within ivigConfoundingDays, a TPO-RA while given) that confounds this transfusion; it is still classified, and left out of the sensitivity analysis. Null: not confounded."
    )
    counted_for_endpoint: bool = strawberry.field(
        description="Whether the sustained response (primary endpoint) counts this transfusion; see excludedReason."
    )
    excluded_reason: e.EndpointExclusionReason | None = strawberry.field(
        description="Why it is not counted (AFTER_HSCT: listed, but follow-up ended at an allogeneic HSCT); null when counted."
    )


# Read from the transfusion's stored result row (see PlateletTransfusion's mapping).
declare(
    sql.ObjectSql(
        "TransfusionResponse",
        {
            "category": sql.EnumName(m.StoredTransfusionResponse.category, e.ResponseCategory),
            "parameterVersion": sql.Column(m.StoredTransfusionResponse.parameter_version),
            "rule": sql.Constant(r.RESPONSE_RULE),
            "countedForEndpoint": sql.IsNull(m.StoredTransfusionResponse.endpoint_exclusion),
            "excludedReason": sql.EnumName(m.StoredTransfusionResponse.endpoint_exclusion, e.EndpointExclusionReason),
        },
    )
)


@strawberry.type(description="A transfusion left out of baseline refractoriness, and why.")
class RefractoryExclusion:
    transfusion_id: strawberry.ID = strawberry.field(description="The PlateletTransfusion's global id.")
    reason: e.RefractoryExclusionReason = strawberry.field(description="Why it was left out.")


@strawberry.type(
    description="Which transfusions counted towards baseline refractoriness and which were left out and why, in start order (every transfusion of the subject is in one of the two lists)."
)
class RefractorinessEvidence:
    counted: list[strawberry.ID] = strawberry.field(
        description="PlateletTransfusion ids counted: before the first CAR-T infusion, ABO-compatible, with an evaluable early CCI."
    )
    excluded: list[RefractoryExclusion] = strawberry.field(
        description="Transfusions left out, each with why (e.g. ABO compatibility not recorded)."
    )
    rule: str = strawberry.field(default=r.REFRACTORY_RULE, description="The refractoriness rule, with its version.")

    @classmethod
    def of(cls, records: Iterable[Any]) -> RefractorinessEvidence:
        """From the subject's flat derived records (services.response: stored or live)."""
        counted: list[strawberry.ID] = []
        excluded: list[RefractoryExclusion] = []
        for record in sorted(records, key=lambda x: (x.started_at, x.transfusion_id)):
            transfusion_id = encode_id("PlateletTransfusion", record.transfusion_id)
            if record.refractory_exclusion is None:
                counted.append(transfusion_id)
            else:
                excluded.append(RefractoryExclusion(transfusion_id=transfusion_id, reason=record.refractory_exclusion))
        return cls(counted=counted, excluded=excluded)


@strawberry.type(description="A subject's platelet transfusion response over the trial.")
class PlateletResponse:
    baseline_refractory: bool = strawberry.field(description=f"Refractory before CAR-T. Rule: {r.REFRACTORY_RULE}")
    sustained: bool = strawberry.field(description=f"The primary endpoint's responder status. Rule: {r.SUSTAINED_RULE}")
    first_infusion_at: dt.datetime | None = strawberry.field(
        description="Time of the first CAR-T infusion (UTC); null before any."
    )
    first_response_at: dt.datetime | None = strawberry.field(
        description="Start of the first responsive transfusion after the first CAR-T infusion (UTC)."
    )
    days_to_response: int | None = strawberry.field(
        description="UTC calendar days from the first CAR-T infusion to the first response."
    )
    longest_responsive_run: int = strawberry.field(
        description="Longest run of consecutive responsive transfusions after CAR-T (NE skipped)."
    )
    lost_response: bool = strawberry.field(
        description="A later run of consecutive non-responsive transfusions after a sustained response."
    )
    lost_response_at: dt.datetime | None = strawberry.field(
        description="When the response was lost (UTC): start of the transfusion that completed the failing run; null when not lost."
    )
    evaluable_transfusions: int = strawberry.field(
        description="Evaluable transfusions after CAR-T within the assessment window."
    )
    responsive_transfusions: int = strawberry.field(
        description="Responsive transfusions after CAR-T within the assessment window."
    )
    refractoriness_evidence: RefractorinessEvidence = strawberry.field(
        description="The transfusions behind baselineRefractory: which counted, which were left out and why (a missing ABO entry shows as ABO_UNKNOWN)."
    )
    follow_up_ends_on: dt.date | None = strawberry.field(
        description="The date an allogeneic HSCT ended the evaluable follow-up (hsctEndsFollowUp); null when it did not."
    )
    confounded_transfusions: int = strawberry.field(
        description="Transfusions counted for the endpoint that are confounded by therapy (still classified)."
    )
    sensitivity: SensitivityAnalysis = strawberry.field(
        description="Sensitivity analysis: the same rule without the transfusions confounded by therapy."
    )
    parameter_version: int = strawberry.field(description="Version of the protocol parameters applied.")
    rule: str = strawberry.field(
        default=r.SUSTAINED_RULE, description="The sustained-responsiveness rule, with its version."
    )

    @classmethod
    def of(cls, s: r.SubjectResponse, version: int, transfusion_records: Iterable[Any]) -> PlateletResponse:
        return cls(
            baseline_refractory=s.baseline_refractory,
            sustained=s.sustained,
            first_infusion_at=s.first_infusion_at,
            first_response_at=s.first_response_at,
            days_to_response=s.days_to_response,
            longest_responsive_run=s.longest_responsive_run,
            lost_response=s.lost_response,
            lost_response_at=s.lost_response_at,
            evaluable_transfusions=s.evaluable_transfusions,
            responsive_transfusions=s.responsive_transfusions,
            refractoriness_evidence=RefractorinessEvidence.of(transfusion_records),
            follow_up_ends_on=s.follow_up_ends_on,
            confounded_transfusions=s.confounded_transfusions,
            sensitivity=SensitivityAnalysis.of(s),
            parameter_version=version,
        )


@strawberry.type(
    description="Responders (sustained platelet transfusion responsiveness) in a population, with the exact 95% CI."
)
class PrimaryEndpoint:
    population: e.EndpointPopulation = strawberry.field(description="The population counted.")
    subjects: int = strawberry.field(
        description="Subjects in the population (INFUSED: >= 1 CAR-T infusion; PER_PROTOCOL: both products)."
    )
    responders: int = strawberry.field(description="Subjects with sustained platelet transfusion responsiveness.")
    proportion: float | None = strawberry.field(description="responders / subjects (0-1); null with no subjects.")
    ci_lower: float | None = strawberry.field(
        description="Lower bound of the exact Clopper-Pearson 95% interval (0-1)."
    )
    ci_upper: float | None = strawberry.field(
        description="Upper bound of the exact Clopper-Pearson 95% interval (0-1)."
    )
    confidence: float = strawberry.field(description="Confidence level of the Clopper-Pearson interval (0-1, e.g. 0.95).")
    parameter_version: int = strawberry.field(description="Version of the protocol parameters applied.")
    sensitivity: bool = strawberry.field(
        description="True: a SENSITIVITY ANALYSIS, responders counted without transfusions confounded by therapy; false: the primary analysis."
    )
    rule: str = strawberry.field(description="The endpoint's rule, with its version.")

    @classmethod
    def of(
        cls, population: e.EndpointPopulation, p: Proportion, version: int, sensitivity: bool = False
    ) -> PrimaryEndpoint:
        return cls(
            sensitivity=sensitivity,
            rule=f"{r.SENSITIVITY_RULE if sensitivity else r.SUSTAINED_RULE}; {CLOPPER_PEARSON_RULE}",
            population=population,
            subjects=p.trials,
            responders=p.successes,
            proportion=p.proportion,
            ci_lower=p.ci_lower,
            ci_upper=p.ci_upper,
            confidence=p.confidence,
            parameter_version=version,
        )


@strawberry.type(description="The primary endpoint of one site's subjects.")
class SiteEndpoint:
    site: Site = strawberry.field(description="The site.")
    endpoint: PrimaryEndpoint = strawberry.field(description="The primary endpoint among its subjects.")
