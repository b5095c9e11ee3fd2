"""Platelet transfusions, counts and what the response engine derives from them (CCI, response,
refractoriness, the primary endpoint)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import strawberry

from ...db import models as m
from ...db import planned_reads as sql
from ...domain import response as r
from ...domain.response import CCI_RULE, PPR_RULE, RESPONSE_RULE, not_evaluable_reasons, response_reason
from ...domain.statistics import CLOPPER_PEARSON_RULE, Proportion
from ...domain.units import PER_UL_PER_E9_PER_L, platelets_per_ul
from ...services.response import TRANSFUSION_RESPONSE_COLUMNS, ResponseReading
from ..access.types import Site
from ..common import enums as e
from ..common.context import Info
from ..common.ids import encode_id
from ..common.node import STUDY_DAY, Node, study_day_at, view_of
from ..common.sql_mapping import declare
from ..therapies.types import SensitivityAnalysis, TherapyConfounding, confounding_of
from .loaders import ResponseLoaders


@strawberry.type(description="One platelet unit given in a transfusion.")
class PlateletUnit:
    kind: e.PlateletUnitKind = strawberry.field(description="How the unit was collected.")
    content_e11: float | None = strawberry.field(description="Platelet content in x10^11 platelets; null when unknown.")
    content_basis: e.DoseBasis = strawberry.field(
        description="Whether contentE11 was measured or is the nominal figure."
    )


@strawberry.type(description="A platelet count (a subject-level lab value).")
class PlateletCount(Node):
    subject_id: strawberry.Private[int]
    drawn_at: dt.datetime = strawberry.field(description="When the sample was drawn (UTC).")
    value_e9_per_l: float = strawberry.field(description="Platelet count in x10^9/L, as the lab reports it.")

    @strawberry.field(description=f"Platelet count per uL (x10^9/L x {PER_UL_PER_E9_PER_L}).")
    def value_per_ul(self) -> float:
        return platelets_per_ul(self.value_e9_per_l)

    @strawberry.field(description=STUDY_DAY)
    async def study_day(self, info: Info) -> int | None:
        return await study_day_at(info, self.subject_id, self.drawn_at)

    @classmethod
    def of(cls, row: m.PlateletCount) -> PlateletCount:
        return cls(
            id=encode_id("PlateletCount", row.id),
            subject_id=row.subject_id,
            drawn_at=row.drawn_at,
            value_e9_per_l=row.value_e9_per_l,
        )


# The columns _derived unpacks, in order; checked against the stored table when this module loads,
# so a column added or moved there cannot silently shift every value here.
_DERIVED_COLUMNS = (
    "transfusion_id", "subject_id", "parameter_version", "started_at", "ended_at", "abo_compatible", "dose_e11",
    "bsa_m2", "bsa_formula", "bsa_height_cm", "bsa_weight_kg", "bsa_height_measured_at", "bsa_weight_measured_at",
    "pre_count_id", "pre_drawn_at", "pre_value_e9_per_l", "pre_after_end_s",
    "early_count_id", "early_drawn_at", "early_value_e9_per_l", "early_after_end_s",
    "late_count_id", "late_drawn_at", "late_value_e9_per_l", "late_after_end_s",
    "early_confounded", "late_confounded", "cci_early", "cci_late", "ppr_early", "category", "reasons",
    "refractory_exclusion", "confounding_therapy_id", "confounding_class", "endpoint_exclusion",
)  # fmt: skip


if _DERIVED_COLUMNS != TRANSFUSION_RESPONSE_COLUMNS:
    raise RuntimeError("transfusion_response columns changed: update _DERIVED_COLUMNS and _derived")


def _derived(record: Any) -> dict[str, Any]:
    """The transfusion's derived fields from its flat derived record (a stored
    `transfusion_response` row or a live TransfusionResponseRecord; services.response), unpacked
    by position: a site view does this 2,000 times."""

    (
        _transfusion_id, subject_id, version, _started_at, _ended_at, _abo_compatible, dose_e11,
        bsa_m2, bsa_formula, height_cm, weight_kg, height_measured_at, weight_measured_at,
        pre_id, pre_drawn_at, pre_value, pre_after_s,
        early_id, early_drawn_at, early_value, early_after_s,
        late_id, late_drawn_at, late_value, late_after_s,
        _early_confounded, _late_confounded, cci_early, cci_late, ppr_early, category, joined_reasons,
        _refractory_exclusion, confounding_therapy_id, confounding_class, endpoint_exclusion,
    ) = record  # fmt: skip
    reasons = not_evaluable_reasons(joined_reasons)
    bsa = None
    if bsa_m2 is not None:
        bsa = BodySurfaceArea.flat(bsa_m2, bsa_formula, height_cm, weight_kg, height_measured_at, weight_measured_at)
    return {
        "dose_e11": dose_e11,
        "bsa": bsa,
        "pre_count": AttributedCount.flat(pre_id, pre_drawn_at, pre_value, pre_after_s, subject_id),
        "early_count": AttributedCount.flat(early_id, early_drawn_at, early_value, early_after_s, subject_id),
        "late_count": AttributedCount.flat(late_id, late_drawn_at, late_value, late_after_s, subject_id),
        "cci_early": cci_early,
        "cci_late": cci_late,
        "ppr_early": ppr_early,
        "response": view_of(
            TransfusionResponse,
            {
                "category": category,
                "reason": response_reason(category, reasons),
                "not_evaluable_reasons": list(reasons),
                "parameter_version": version,
                "rule": RESPONSE_RULE,
                "confounded_by_therapy": confounding_of(confounding_therapy_id, confounding_class),
                "counted_for_endpoint": endpoint_exclusion is None,
                "excluded_reason": endpoint_exclusion,
            },
        ),
    }


@strawberry.type(description="A platelet transfusion. Its counts are the subject's counts, attributed by time.")
class PlateletTransfusion(Node):
    db_id: strawberry.Private[int]
    subject_id: strawberry.Private[int]
    started_at: dt.datetime = strawberry.field(description="Start of the transfusion (UTC).")
    ended_at: dt.datetime = strawberry.field(
        description="End of the transfusion (UTC); response windows are timed from it."
    )
    stored_units: strawberry.Private[list[dict[str, Any]]]
    abo_compatibility: e.AboCompatibility = strawberry.field(
        description="ABO match to the recipient; UNKNOWN when not recorded."
    )
    hla_selected: bool = strawberry.field(description="Whether the platelets were HLA-selected.")
    crossmatched: bool = strawberry.field(description="Whether the platelets were crossmatched.")
    storage_age_days: int | None = strawberry.field(description="Age of the platelets at transfusion, in days.")
    note: str | None = strawberry.field(description="Free-text note; null for analysts.")

    @strawberry.field(description=STUDY_DAY)
    async def study_day(self, info: Info) -> int | None:
        return await study_day_at(info, self.subject_id, self.started_at)

    @strawberry.field(description="The units given; their contents add up to the dose (x10^11).")
    def units(self) -> list[PlateletUnit]:
        return [
            PlateletUnit(
                kind=e.PlateletUnitKind(u["kind"]),
                content_e11=u.get("content_e11"),
                content_basis=e.DoseBasis(u["content_basis"]),
            )
            for u in self.stored_units
        ]

    dose_e11: float | None = strawberry.field(
        description="Total platelet dose in x10^11 platelets; null when any unit's content is unknown."
    )

    @strawberry.field(description="MEASURED when every unit's content was measured, else NOMINAL.")
    def dose_basis(self) -> e.DoseBasis:
        measured = all(u["content_basis"] == e.DoseBasis.MEASURED.value for u in self.stored_units)
        return e.DoseBasis.MEASURED if measured else e.DoseBasis.NOMINAL

    # Derived values are plain attributes computed at construction from the subject's evaluation
    # (one per subject): a site view has thousands of transfusions, and a resolver per field of
    # each would dominate the response time.
    bsa: BodySurfaceArea | None = strawberry.field(
        description="Body surface area used for the CCI; null when no height or weight was measured on or before the start."
    )
    pre_count: AttributedCount | None = strawberry.field(
        description="The pre-transfusion count used: the last drawn before the start, within the look-back."
    )
    early_count: AttributedCount | None = strawberry.field(
        description="The early count used: the earliest in the early window after the end (default 10-60 min)."
    )
    late_count: AttributedCount | None = strawberry.field(
        description="The late count used: the earliest in the late window after the end (default 18-24 h)."
    )
    cci_early: float | None = strawberry.field(
        description=f"Early corrected count increment, per uL (unrounded); null when not evaluable. Rule: {CCI_RULE}"
    )
    cci_late: float | None = strawberry.field(
        description=f"Late corrected count increment, per uL (unrounded); null when not evaluable. Rule: {CCI_RULE}"
    )
    ppr_early: float | None = strawberry.field(
        description=f"Early percent platelet recovery, in % (unrounded). Rule: {PPR_RULE}"
    )
    response: TransfusionResponse = strawberry.field(
        description="Responsive, non-responsive or not evaluable, with the reason and parameter version."
    )

    @classmethod
    async def load(cls, info: Info, rows: Sequence[m.PlateletTransfusion]) -> list[PlateletTransfusion]:
        """Views of stored transfusions with their derived values (from their subjects' evaluations)."""
        evaluations = await info.context.loaders.of(ResponseLoaders).evaluation.load_many([r.subject_id for r in rows])
        return [cls.of(row, evaluation) for row, evaluation in zip(rows, evaluations, strict=True)]

    @classmethod
    def of(cls, row: m.PlateletTransfusion, evaluation: ResponseReading) -> PlateletTransfusion:
        return view_of(
            cls,
            {
                "id": encode_id("PlateletTransfusion", row.id),
                "db_id": row.id,
                "subject_id": row.subject_id,
                "started_at": row.started_at,
                "ended_at": row.ended_at,
                "stored_units": row.units,
                "abo_compatibility": row.abo_compatibility,
                "hla_selected": row.hla_selected,
                "crossmatched": row.crossmatched,
                "storage_age_days": row.storage_age_days,
                "note": row.note,
                **_derived(evaluation.by_transfusion[row.id]),
            },
        )


# What one SQL statement can read of a transfusion: its own row and its stored result
# (transfusion_response, joined by the Subject.transfusions mapping below).
_stored = m.StoredTransfusionResponse


declare(
    sql.ObjectSql(
        "PlateletTransfusion",
        {
            "id": sql.GlobalId("PlateletTransfusion", m.PlateletTransfusion.id),
            "startedAt": sql.Timestamp(m.PlateletTransfusion.started_at),
            "endedAt": sql.Timestamp(m.PlateletTransfusion.ended_at),
            "aboCompatibility": sql.EnumName(m.PlateletTransfusion.abo_compatibility, e.AboCompatibility),
            "hlaSelected": sql.Column(m.PlateletTransfusion.hla_selected),
            "crossmatched": sql.Column(m.PlateletTransfusion.crossmatched),
            "storageAgeDays": sql.Column(m.PlateletTransfusion.storage_age_days),
            "note": sql.FreeText(m.PlateletTransfusion.note),
            "doseE11": sql.Column(_stored.dose_e11),
            "cciEarly": sql.Column(_stored.cci_early),
            "cciLate": sql.Column(_stored.cci_late),
            "pprEarly": sql.Column(_stored.ppr_early),
            "response": sql.Embedded(),
        },
        reads_stored_responses=frozenset({"doseE11", "cciEarly", "cciLate", "pprEarly", "response"}),
    )
)


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
        if count_id is None or after_end_s is None:  # both or neither: the count and its interval
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
    confidence: float = strawberry.field(
        description="Confidence level of the Clopper-Pearson interval (0-1, e.g. 0.95)."
    )
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
