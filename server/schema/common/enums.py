"""The domain's vocabularies as GraphQL enums (names are the Python member names)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from enum import Enum
from typing import Any, TypeVar

import strawberry
from strawberry.types.enum import StrawberryEnumDefinition

from ...domain import adverse_events as _ae
from ...domain import bleeding as _bleeding
from ...domain import ctcae as _ctcae
from ...domain import enums as d
from ...domain import labs as _labs
from ...domain import outcomes as _outcomes
from ...domain import response as _response
from ...domain import therapies as _therapies
from ...domain.protocol import BsaFormula as _BsaFormula
from ...services.errors import ErrorCode as _ErrorCode

E = TypeVar("E", bound=type[Enum])


def describe_values(graphql_enum: E, descriptions: Mapping[str, str]) -> E:
    """Gives each value of an enum made by strawberry.enum its description, keyed by GraphQL name.

    strawberry.enum_value(description=...) only works as a member of a class strawberry decorates;
    our enums wrap the domain's, which must not import strawberry (an import-linter contract), so
    the descriptions are set on the definition strawberry.enum built, which the schema reads. A
    missing or unknown name fails at import: every value is described, none by a stale name."""
    definition: Any = getattr(graphql_enum, "__strawberry_definition__", None)
    if not isinstance(definition, StrawberryEnumDefinition):
        raise TypeError(f"{graphql_enum!r} is not a strawberry enum")
    names = {value.name for value in definition.values}
    if names != set(descriptions):
        raise ValueError(
            f"{definition.name}: values without a description {sorted(names - set(descriptions))}, "
            f"descriptions of no value {sorted(set(descriptions) - names)}"
        )
    definition.values = [
        dataclasses.replace(value, description=descriptions[value.name]) for value in definition.values
    ]
    return graphql_enum


Role = d.Role
strawberry.enum(Role, description="What the caller may do; see README 'Roles'.")
Sex = d.Sex
strawberry.enum(Sex, description="Sex as recorded on the case report form.")
Diagnosis = d.Diagnosis
strawberry.enum(Diagnosis, description="AML, ALL, mixed phenotype (MPAL) or other acute leukemia.")
RemissionStatus = d.RemissionStatus
strawberry.enum(RemissionStatus, description="Complete remission: first, second, third or later; CRi.")
AboGroup = d.AboGroup
strawberry.enum(AboGroup, description="ABO blood group.")
RhD = d.RhD
strawberry.enum(RhD, description="Rh(D) blood group.")
SubjectStatus = d.SubjectStatus
strawberry.enum(SubjectStatus, description="Where the subject is on the trial's path.")
CarTProduct = d.CarTProduct
strawberry.enum(CarTProduct, description="CD19 CAR-T is given first, then BCMA CAR-T.")
DoseBasis = d.DoseBasis
strawberry.enum(DoseBasis, description="Whether a platelet content was measured or assumed.")
PlateletUnitKind = d.PlateletUnitKind
strawberry.enum(PlateletUnitKind, description="How a platelet unit was collected.")
AboCompatibility = d.AboCompatibility
strawberry.enum(AboCompatibility, description="ABO match of the platelets to the recipient.")
LymphodepletionAgent = d.LymphodepletionAgent
strawberry.enum(LymphodepletionAgent, description="Chemotherapy agent of a lymphodepletion course.")
DoseUnit = d.DoseUnit
strawberry.enum(DoseUnit, description="mg/m^2, mg/kg or mg.")
AuditAction = d.AuditAction
strawberry.enum(AuditAction, description="What a change did to a record.")
BsaFormula = _BsaFormula
strawberry.enum(BsaFormula, description="Body surface area formula: Mosteller (default) or DuBois.")
ErrorCode = _ErrorCode
strawberry.enum(ErrorCode, description="Stable machine-readable code of an expected error.")
ResponseCategory = _response.ResponseCategory
strawberry.enum(ResponseCategory, description="Per-transfusion response: R, N or NE.")
NotEvaluableReason = _response.NotEvaluableReason
strawberry.enum(NotEvaluableReason, description="Why a transfusion is not evaluable.")
RefractoryExclusionReason = _response.RefractoryExclusion
strawberry.enum(
    RefractoryExclusionReason,
    name="RefractoryExclusionReason",
    description="Why a transfusion does not count towards baseline refractoriness: given at or after the first CAR-T infusion, ABO compatibility unknown (not recorded), ABO-incompatible, or no evaluable early CCI.",
)


@strawberry.enum(description="Population of the primary endpoint.")
class EndpointPopulation(Enum):
    INFUSED = "infused"
    PER_PROTOCOL = "per_protocol"


GradingScale = _ctcae.GradingScale
strawberry.enum(GradingScale, description="CTCAE v5.0, or ASTCT 2019 for CRS and ICANS.")
Attribution = _ae.Attribution
strawberry.enum(Attribution, description="NCI five-point attribution scale.")
SeriousCriterion = _ae.SeriousCriterion
strawberry.enum(SeriousCriterion, description="ICH E2A seriousness criteria.")
AdverseEventOutcome = _ae.Outcome
strawberry.enum(AdverseEventOutcome, name="AdverseEventOutcome", description="CDISC OUT outcome.")
ActionTaken = _ae.ActionTaken
strawberry.enum(ActionTaken, description="Action taken for an adverse event.")
AdverseEventSource = _ae.AdverseEventSource
strawberry.enum(AdverseEventSource, description="Who or what raised an adverse event.")
AdverseEventStatus = _ae.AdverseEventStatus
strawberry.enum(AdverseEventStatus, description="Where an adverse event is in the investigator's review.")
ReviewDecision = _ae.ReviewDecision
strawberry.enum(ReviewDecision, description="CONFIRM as graded, REGRADE with a new grade, or REJECT.")
BleedingSite = _bleeding.BleedingSite
strawberry.enum(BleedingSite, description="Where a patient reports bleeding in the diary.")
BleedingReportKind = _bleeding.BleedingReportKind
strawberry.enum(
    BleedingReportKind,
    description="SYMPTOMS: a bleeding report. NO_BLEEDING: the daily check-in 'no bleeding today' (no symptoms).",
)


@strawberry.enum(
    description="RECEIVED: no linked adverse event, or one still pending an investigator's review. "
    "REVIEWED: every linked adverse event confirmed or rejected by an investigator."
)
class DiaryReportStatus(Enum):
    RECEIVED = "received"
    REVIEWED = "reviewed"


RedFlag = _bleeding.RedFlag
strawberry.enum(RedFlag, description="A sign that needs the site's attention at once.")


@strawberry.enum(description="Which product (or procedure) an attribution filter looks at.")
class AttributionTarget(Enum):
    CD19_CAR_T = "attribution_cd19"
    BCMA_CAR_T = "attribution_bcma"
    LYMPHODEPLETION = "attribution_lymphodepletion"
    PLATELET_TRANSFUSION = "attribution_platelet_transfusion"


Analyte = _labs.Analyte
strawberry.enum(Analyte, description="What a lab result measures.")
LabUnit = _labs.Unit
strawberry.enum(
    LabUnit,
    name="LabUnit",
    description="Units labs report in; converted explicitly to each analyte's canonical unit.",
)
Specimen = _labs.Specimen
strawberry.enum(Specimen, description="What a lab sample was taken from.")
AntibodyClass = _outcomes.AntibodyClass
strawberry.enum(AntibodyClass, description="Which antibodies a test looks for.")
AntibodyMethod = _outcomes.AntibodyMethod
strawberry.enum(AntibodyMethod, description="SINGLE_ANTIGEN_BEADS (Luminex, MFI per specificity), MAIPA, ELISA, BEADS.")
CutoffOperator = _outcomes.CutoffOperator
strawberry.enum(CutoffOperator, description="GE: positive when MFI >= cut-off; GT: when MFI > cut-off.")
IgGStatus = _outcomes.IgGStatus
strawberry.enum(IgGStatus, description="Serum IgG level class (thresholds are protocol parameters).")


@strawberry.enum(description="How CAR-T cells are measured: QPCR transgene copies/ug DNA, or FLOW CAR+ cells/uL.")
class KineticsMeasure(Enum):
    QPCR = "qpcr"
    FLOW = "flow"


TherapyClass = _therapies.TherapyClass
strawberry.enum(
    TherapyClass,
    description="IVIG; ANTI_CD20 (rituximab); TPO_RA (eltrombopag, romiplostim, avatrombopag, hetrombopag); ANTI_PLASMA_CELL (bortezomib and other proteasome inhibitors, daratumumab); IL6_BLOCKADE (tocilizumab); CORTICOSTEROID; G_CSF; ANTI_INFECTIVE; OTHER (name required).",
)
TherapyDoseUnit = _therapies.TherapyDoseUnit
strawberry.enum(TherapyDoseUnit, description="Unit of a therapy's dose.")
TherapyRoute = _therapies.TherapyRoute
strawberry.enum(TherapyRoute, description="Route of administration (SDTM ROUTE).")
DoseFrequency = _therapies.DoseFrequency
strawberry.enum(DoseFrequency, description="Dosing frequency (CDISC FREQ terms).")
TherapyTiming = _therapies.TherapyTiming
strawberry.enum(
    TherapyTiming,
    description="PRIOR: ended before the consent date; CONCOMITANT: otherwise (derived from the dates, never entered).",
)
ProcedureType = _therapies.ProcedureType
strawberry.enum(ProcedureType, description="SPLENECTOMY, or HSCT (stem cell transplant).")
HsctType = _therapies.HsctType
strawberry.enum(HsctType, description="Donor of an HSCT: ALLOGENEIC or AUTOLOGOUS.")
EndpointExclusionReason = _therapies.EndpointExclusion
strawberry.enum(
    EndpointExclusionReason,
    name="EndpointExclusionReason",
    description="Why a transfusion is not counted for the primary endpoint: before the first CAR-T infusion, after the assessment window, or on or after an allogeneic HSCT that ended follow-up.",
)


@strawberry.enum(description="What a timeline entry is.")
class TimelineKind(Enum):
    THERAPY = "therapy"
    PROCEDURE = "procedure"
    CAR_T_INFUSION = "car_t_infusion"


# --- each value's description (describe_values) -------------------------------------------------

describe_values(
    Role,
    {
        "PATIENT": "A trial participant: reads their own subject, writes their own bleeding diary reports.",
        "INVESTIGATOR": "Site clinician: reads and writes their sites' records; reviews adverse events.",
        "COORDINATOR": "Site study coordinator: reads and writes their sites' records, lab results and antibody tests.",
        "MONITOR": "Reads their sites' records, including the audit trail; writes nothing.",
        "ANALYST": "Reads all sites pseudonymised (no free text, study days on dated records); writes nothing.",
        "ADMIN": "Reads and writes everything, including sites and protocol parameters.",
    },
)
describe_values(
    Sex,
    {
        "FEMALE": "Female.",
        "MALE": "Male.",
        "OTHER": "Neither female nor male.",
        "UNKNOWN": "Not known or not recorded.",
    },
)
describe_values(
    Diagnosis,
    {
        "AML": "Acute myeloid leukemia.",
        "ALL": "Acute lymphoblastic leukemia.",
        "MPAL": "Mixed phenotype acute leukemia.",
        "OTHER": "Another acute leukemia.",
    },
)
describe_values(
    RemissionStatus,
    {
        "CR1": "First complete remission.",
        "CR2": "Second complete remission.",
        "CR3_OR_LATER": "Third or later complete remission.",
        "CRI": "Complete remission with incomplete hematologic recovery.",
    },
)
describe_values(AboGroup, {"O": "Group O.", "A": "Group A.", "B": "Group B.", "AB": "Group AB."})
describe_values(RhD, {"POSITIVE": "RhD positive.", "NEGATIVE": "RhD negative."})
describe_values(
    SubjectStatus,
    {
        "SCREENING": "Consented, eligibility being checked.",
        "ENROLLED": "Eligible and enrolled, not yet lymphodepleted.",
        "LYMPHODEPLETED": "Lymphodepletion given, no CAR-T infusion yet.",
        "INFUSED": "Received at least one CAR-T infusion.",
        "FOLLOW_UP": "In follow-up after the infusions.",
        "COMPLETED": "Completed the trial.",
        "WITHDRAWN": "Withdrew or was withdrawn from the trial.",
        "SCREEN_FAILED": "Did not meet the eligibility criteria.",
    },
)
describe_values(
    CarTProduct,
    {
        "CD19": "CD19-directed CAR-T cells, given first.",
        "BCMA": "BCMA-directed CAR-T cells, given after CD19.",
    },
)
describe_values(
    DoseBasis,
    {
        "MEASURED": "The platelet content was measured for this unit.",
        "NOMINAL": "The platelet content is the nominal figure for the unit kind.",
    },
)
describe_values(
    PlateletUnitKind,
    {
        "APHERESIS": "Single-donor apheresis unit (about 3.0 x10^11 platelets or more).",
        "POOLED_WHOLE_BLOOD": "Pool of whole-blood-derived platelets from several donors.",
        "WHOLE_BLOOD_DERIVED": "Single whole-blood-derived unit (about 0.55-0.75 x10^11 platelets).",
    },
)
describe_values(
    AboCompatibility,
    {
        "IDENTICAL": "Same ABO group as the recipient.",
        "MAJOR_INCOMPATIBLE": "The recipient's plasma has antibodies against the platelets' ABO antigens.",
        "MINOR_INCOMPATIBLE": "The product's plasma has antibodies against the recipient's ABO antigens.",
        "BIDIRECTIONAL_INCOMPATIBLE": "Both major and minor incompatible.",
        "UNKNOWN": "Not recorded; such a transfusion does not count towards baseline refractoriness.",
    },
)
describe_values(
    LymphodepletionAgent,
    {
        "FLUDARABINE": "Fludarabine.",
        "CYCLOPHOSPHAMIDE": "Cyclophosphamide.",
        "BENDAMUSTINE": "Bendamustine.",
        "OTHER": "Another agent.",
    },
)
describe_values(
    DoseUnit,
    {
        "MG_PER_M2": "Milligrams per square metre of body surface area (mg/m^2).",
        "MG_PER_KG": "Milligrams per kilogram of body weight (mg/kg).",
        "MG": "Milligrams, total (mg).",
    },
)
describe_values(
    AuditAction,
    {
        "CREATE": "The record was created.",
        "UPDATE": "The record was amended.",
        "VOID": "The record was voided (kept, no longer counted).",
        "STATUS_CHANGE": "The subject's status changed.",
    },
)
describe_values(
    BsaFormula,
    {
        "MOSTELLER": "sqrt(height_cm * weight_kg / 3600) (default).",
        "DUBOIS": "0.007184 * height_cm^0.725 * weight_kg^0.425.",
    },
)
describe_values(
    ErrorCode,
    {
        "REQUIRED": "A value is required and missing.",
        "OUT_OF_RANGE": "A value is outside its allowed or plausible range.",
        "INVALID_FORMAT": "A value is not in the expected format.",
        "INVALID_ORDER": "Dates or times are in an impossible order (e.g. an end before its start).",
        "IN_FUTURE": "A date or time lies in the future.",
        "TOO_LONG": "A text is longer than allowed.",
        "UNIT_SUSPECT": "A value looks entered in the wrong unit (e.g. a count per uL where x10^9/L is expected).",
        "NOT_ALLOWED": "The value breaks a rule of the protocol or workflow.",
        "NOT_FOUND": "A referenced record does not exist, or is not visible to the caller.",
        "PERMISSION_DENIED": "The caller's role or sites do not allow this.",
        "DUPLICATE": "The record already exists.",
        "INVALID_TRANSITION": "The status change is not allowed from the current status.",
        "ALREADY_VOIDED": "The record was already voided.",
        "NO_CHANGE": "The amendment changes nothing.",
        "IDEMPOTENCY_CONFLICT": "The idempotency key was already used with a different request.",
    },
)
describe_values(
    ResponseCategory,
    {
        "RESPONSIVE": "R: early CCI > 7500 and late CCI > 5000 (thresholds are protocol parameters).",
        "NON_RESPONSIVE": "N: an evaluable CCI fails its threshold.",
        "NOT_EVALUABLE": "NE: neither; see the not-evaluable reason.",
    },
)
describe_values(
    NotEvaluableReason,
    {
        "NO_PRE_COUNT": "No platelet count at or before the start, within the lookback (24 h by default).",
        "PRE_COUNT_CONFOUNDED": "The only pre-count was drawn before the previous transfusion ended.",
        "NO_EARLY_COUNT": "No count in the early window (by default 10-60 min after the end).",
        "NO_LATE_COUNT": "No count in the late window (by default 18-24 h after the end).",
        "EARLY_COUNT_CONFOUNDED": "The early count was drawn at or after the start of the next transfusion.",
        "LATE_COUNT_CONFOUNDED": "The late count was drawn at or after the start of the next transfusion.",
        "NO_BSA": "No height or weight measured on or before the transfusion: no body surface area.",
        "NO_DOSE": "The platelet content of a unit given is unknown.",
    },
)
describe_values(
    RefractoryExclusionReason,
    {
        "AFTER_CAR_T": "Given at or after the first CAR-T infusion.",
        "ABO_UNKNOWN": "ABO compatibility not recorded.",
        "ABO_INCOMPATIBLE": "ABO-incompatible.",
        "NO_EARLY_CCI": "No evaluable early CCI.",
    },
)
describe_values(
    EndpointPopulation,
    {
        "INFUSED": "Subjects who received at least one CAR-T infusion.",
        "PER_PROTOCOL": "Subjects who received both CAR-T infusions (CD19 and BCMA).",
    },
)
describe_values(
    GradingScale,
    {
        "CTCAE_V5": "NCI CTCAE version 5.0.",
        "ASTCT_2019": "ASTCT 2019 consensus grading (CRS and ICANS).",
    },
)
describe_values(
    Attribution,
    {
        "UNRELATED": "Clearly not related.",
        "UNLIKELY": "Doubtfully related.",
        "POSSIBLE": "May be related.",
        "PROBABLE": "Likely related.",
        "DEFINITE": "Clearly related.",
    },
)
describe_values(
    SeriousCriterion,
    {
        "DEATH": "Results in death.",
        "LIFE_THREATENING": "Is life-threatening.",
        "HOSPITALIZATION": "Requires or prolongs hospitalization.",
        "DISABILITY": "Results in persistent or significant disability or incapacity.",
        "CONGENITAL_ANOMALY": "Is a congenital anomaly or birth defect.",
        "OTHER_IMPORTANT_MEDICAL_EVENT": "Another important medical event.",
    },
)
describe_values(
    AdverseEventOutcome,
    {
        "RECOVERED_RESOLVED": "Recovered or resolved.",
        "RECOVERING_RESOLVING": "Recovering or resolving.",
        "NOT_RECOVERED_NOT_RESOLVED": "Not recovered or not resolved.",
        "RECOVERED_RESOLVED_WITH_SEQUELAE": "Recovered or resolved with sequelae.",
        "FATAL": "Fatal.",
        "UNKNOWN": "Unknown.",
    },
)
describe_values(
    ActionTaken,
    {
        "NONE": "No action.",
        "MEDICATION": "Medication given.",
        "TRANSFUSION": "Transfusion given.",
        "PROCEDURE": "Procedure performed.",
        "HOSPITALIZATION": "Hospitalized.",
        "OTHER": "Another action.",
    },
)
describe_values(
    AdverseEventSource,
    {
        "INVESTIGATOR": "Recorded by site staff.",
        "PATIENT_REPORT": "Proposed from a patient's diary report.",
        "LAB": "Derived from a lab value graded by CTCAE.",
    },
)
describe_values(
    AdverseEventStatus,
    {
        "PENDING_REVIEW": "Waiting for an investigator's review.",
        "CONFIRMED": "Confirmed (possibly regraded) by an investigator.",
        "REJECTED": "Rejected by an investigator.",
    },
)
describe_values(
    ReviewDecision,
    {
        "CONFIRM": "Confirm the event as graded.",
        "REGRADE": "Confirm the event with a new grade.",
        "REJECT": "Reject the event.",
    },
)
describe_values(
    BleedingSite,
    {
        "NOSE": "Nosebleed (proposes Epistaxis).",
        "GUMS_MOUTH": "Gums or mouth (proposes Oral hemorrhage).",
        "SKIN_SPOTS": "Pinpoint red spots, petechiae (proposes Purpura).",
        "BRUISE": "Bruise (proposes Bruising).",
        "URINE": "Visible blood in urine (proposes Hematuria).",
        "STOOL": "Black or bloody stool (proposes Lower gastrointestinal hemorrhage).",
        "VOMIT": "Vomiting blood (proposes Upper gastrointestinal hemorrhage).",
        "SPUTUM": "Coughing up blood (proposes Bronchopulmonary hemorrhage).",
        "VAGINAL": "Vaginal bleeding or spotting (proposes Vaginal hemorrhage).",
        "EYE": "Bleeding in or around the eye (proposes Eye disorders - Other, specify).",
        "HEAD": "Head symptom such as a headache: not graded from the diary, raises a red flag.",
    },
)
describe_values(
    BleedingReportKind,
    {
        "SYMPTOMS": "A report of bleeding.",
        "NO_BLEEDING": "The daily check-in 'no bleeding today'.",
    },
)
describe_values(
    DiaryReportStatus,
    {
        "RECEIVED": "No linked adverse event, or one still pending an investigator's review.",
        "REVIEWED": "Every linked adverse event confirmed or rejected by an investigator.",
    },
)
describe_values(
    RedFlag,
    {
        "PROLONGED_OR_NOT_STOPPING": "Bleeding lasting over 60 minutes or not stopping.",
        "VOMITING_BLOOD": "Vomiting blood.",
        "BLACK_STOOL": "Black stool.",
        "SUDDEN_SEVERE_HEADACHE": "Sudden severe headache (possible intracranial bleeding).",
        "NEW_CONFUSION": "New confusion (possible intracranial bleeding).",
        "VISION_CHANGE": "Change in vision (possible intracranial bleeding).",
        "NEW_WEAKNESS": "New weakness (possible intracranial bleeding).",
    },
)
describe_values(
    AttributionTarget,
    {
        "CD19_CAR_T": "Attribution to the CD19 CAR-T product.",
        "BCMA_CAR_T": "Attribution to the BCMA CAR-T product.",
        "LYMPHODEPLETION": "Attribution to lymphodepletion.",
        "PLATELET_TRANSFUSION": "Attribution to platelet transfusion.",
    },
)
describe_values(
    Analyte,
    {
        "PLATELETS": "Platelet count (x10^9/L).",
        "NEUTROPHILS": "Absolute neutrophil count (per uL).",
        "LYMPHOCYTES": "Absolute lymphocyte count (per uL).",
        "WHITE_CELLS": "White blood cell count (per uL).",
        "HEMOGLOBIN": "Hemoglobin (g/dL).",
        "IGG": "Serum IgG (mg/dL).",
        "IGA": "Serum IgA (mg/dL).",
        "IGM": "Serum IgM (mg/dL).",
        "CD19_PERCENT_LYMPHOCYTES": "CD19+ B cells as % of lymphocytes (%).",
        "CD19_PER_UL": "Absolute CD19+ B cells (per uL).",
        "CD3_PER_UL": "Absolute CD3+ T cells (per uL).",
        "MARROW_CD138_PERCENT": "Marrow CD138+ plasma cells as % of nucleated cells (%).",
        "CAR_CD19_COPIES": "CD19 CAR transgene by qPCR (copies/ug genomic DNA).",
        "CAR_BCMA_COPIES": "BCMA CAR transgene by qPCR (copies/ug genomic DNA).",
        "CAR_CD19_PERCENT_CD3": "CD19 CAR+ cells by flow, as % of CD3+ cells (%).",
        "CAR_BCMA_PERCENT_CD3": "BCMA CAR+ cells by flow, as % of CD3+ cells (%).",
    },
)
describe_values(
    LabUnit,
    {
        "PER_UL": "Cells per microlitre (/uL); 1,000 /uL = 1 x10^9/L.",
        "E9_PER_L": "x10^9 cells per litre; 1 x10^9/L = 1,000 /uL.",
        "G_PER_DL": "Grams per decilitre (g/dL).",
        "G_PER_L": "Grams per litre (g/L); 1 g/L = 100 mg/dL = 0.1 g/dL.",
        "MG_PER_DL": "Milligrams per decilitre (mg/dL).",
        "PERCENT": "Percent (%).",
        "COPIES_PER_UG_DNA": "Transgene copies per microgram of genomic DNA.",
    },
)
describe_values(Specimen, {"BLOOD": "Peripheral blood.", "MARROW": "Bone marrow."})
describe_values(
    AntibodyClass,
    {
        "HLA_CLASS_I": "HLA class I antibodies (A, B, C).",
        "HLA_CLASS_II": "HLA class II antibodies (DR, DQ, DP).",
        "HPA": "Human platelet antigen antibodies (HPA-1a/b, -2, -3, -5, -15).",
    },
)
describe_values(
    AntibodyMethod,
    {
        "SINGLE_ANTIGEN_BEADS": "Luminex single-antigen beads: an MFI per specificity.",
        "MAIPA": "Monoclonal antibody immobilization of platelet antigens assay.",
        "ELISA": "Enzyme-linked immunosorbent assay.",
        "BEADS": "Other bead-based assay (positive/negative).",
    },
)
describe_values(
    CutoffOperator,
    {
        "GE": "Positive when MFI >= the cut-off.",
        "GT": "Positive when MFI > the cut-off.",
    },
)
describe_values(
    IgGStatus,
    {
        "NORMAL": "IgG >= 700 mg/dL (default).",
        "LOW": "IgG below 700 and above 400 mg/dL (defaults).",
        "SEVERE": "IgG at or below 400 mg/dL (default).",
    },
)
describe_values(
    KineticsMeasure,
    {
        "QPCR": "Transgene copies/ug genomic DNA by qPCR.",
        "FLOW": "CAR+ cells per uL by flow (%CAR+ of CD3+ x CD3+ per uL).",
    },
)
describe_values(
    TherapyClass,
    {
        "IVIG": "Intravenous immunoglobulin.",
        "ANTI_CD20": "Anti-CD20 antibody (rituximab).",
        "TPO_RA": "Thrombopoietin receptor agonist (eltrombopag, romiplostim, avatrombopag, hetrombopag).",
        "ANTI_PLASMA_CELL": "Anti-plasma-cell therapy (bortezomib and other proteasome inhibitors, daratumumab).",
        "IL6_BLOCKADE": "IL-6 blockade (tocilizumab).",
        "CORTICOSTEROID": "Corticosteroid.",
        "G_CSF": "Granulocyte colony-stimulating factor.",
        "ANTI_INFECTIVE": "Antibiotic, antiviral or antifungal.",
        "OTHER": "Another therapy (name required).",
    },
)
describe_values(
    TherapyDoseUnit,
    {
        "MG": "Milligrams (mg).",
        "G": "Grams (g).",
        "UG": "Micrograms (ug).",
        "MG_PER_KG": "Milligrams per kilogram of body weight (mg/kg).",
        "G_PER_KG": "Grams per kilogram of body weight (g/kg).",
        "UG_PER_KG": "Micrograms per kilogram of body weight (ug/kg).",
        "MG_PER_M2": "Milligrams per square metre of body surface area (mg/m^2).",
        "IU": "International units (IU).",
    },
)
describe_values(
    TherapyRoute,
    {
        "ORAL": "By mouth.",
        "INTRAVENOUS": "Intravenous.",
        "SUBCUTANEOUS": "Subcutaneous.",
        "INTRAMUSCULAR": "Intramuscular.",
        "TOPICAL": "Topical.",
        "INHALATION": "Inhaled.",
        "OTHER": "Another route.",
    },
)
describe_values(
    DoseFrequency,
    {
        "ONCE": "A single dose.",
        "QD": "Once a day.",
        "BID": "Twice a day.",
        "TID": "Three times a day.",
        "QID": "Four times a day.",
        "QW": "Once a week.",
        "Q2W": "Every 2 weeks.",
        "Q4W": "Every 4 weeks.",
        "PRN": "As needed.",
    },
)
describe_values(
    TherapyTiming,
    {
        "PRIOR": "Ended before the consent date.",
        "CONCOMITANT": "Not ended before the consent date (ongoing, or ended on or after it).",
    },
)
describe_values(ProcedureType, {"SPLENECTOMY": "Splenectomy.", "HSCT": "Hematopoietic stem cell transplant."})
describe_values(HsctType, {"ALLOGENEIC": "From a donor.", "AUTOLOGOUS": "From the subject's own cells."})
describe_values(
    EndpointExclusionReason,
    {
        "BEFORE_CAR_T": "Given before the first CAR-T infusion.",
        "AFTER_ASSESSMENT_WINDOW": "Given after the assessment window (12 months from the first infusion, by default).",
        "AFTER_HSCT": "Given on or after an allogeneic HSCT, which ended evaluable follow-up.",
    },
)
describe_values(
    TimelineKind,
    {
        "THERAPY": "A prior or concomitant therapy.",
        "PROCEDURE": "A procedure (splenectomy, HSCT).",
        "CAR_T_INFUSION": "A CAR-T infusion.",
    },
)
