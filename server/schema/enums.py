"""The domain's vocabularies as GraphQL enums (names are the Python member names)."""

from __future__ import annotations

from enum import Enum

import strawberry

from ..domain import adverse_events as _ae
from ..domain import bleeding as _bleeding
from ..domain import ctcae as _ctcae
from ..domain import enums as d
from ..domain import labs as _labs
from ..domain import outcomes as _outcomes
from ..domain import response as _response
from ..domain import therapies as _therapies
from ..domain.protocol import BsaFormula as _BsaFormula
from ..services.errors import ErrorCode as _ErrorCode

Role = strawberry.enum(d.Role, description="What the caller may do; see README 'Roles'.")
Sex = strawberry.enum(d.Sex)
Diagnosis = strawberry.enum(d.Diagnosis, description="AML, ALL, mixed phenotype (MPAL) or other acute leukemia.")
RemissionStatus = strawberry.enum(
    d.RemissionStatus, description="Complete remission: first, second, third or later; CRi."
)
AboGroup = strawberry.enum(d.AboGroup)
RhD = strawberry.enum(d.RhD)
SubjectStatus = strawberry.enum(d.SubjectStatus, description="Where the subject is on the trial's path.")
CarTProduct = strawberry.enum(d.CarTProduct, description="CD19 CAR-T is given first, then BCMA CAR-T.")
DoseBasis = strawberry.enum(d.DoseBasis, description="Whether a platelet content was measured or assumed.")
PlateletUnitKind = strawberry.enum(d.PlateletUnitKind)
AboCompatibility = strawberry.enum(d.AboCompatibility, description="ABO match of the platelets to the recipient.")
LymphodepletionAgent = strawberry.enum(d.LymphodepletionAgent)
DoseUnit = strawberry.enum(d.DoseUnit, description="mg/m^2, mg/kg or mg.")
AuditAction = strawberry.enum(d.AuditAction)
BsaFormula = strawberry.enum(_BsaFormula, description="Body surface area formula: Mosteller (default) or DuBois.")
ErrorCode = strawberry.enum(_ErrorCode, description="Stable machine-readable code of an expected error.")
ResponseCategory = strawberry.enum(_response.ResponseCategory, description="Per-transfusion response: R, N or NE.")
NotEvaluableReason = strawberry.enum(_response.NotEvaluableReason, description="Why a transfusion is not evaluable.")
RefractoryExclusionReason = strawberry.enum(
    _response.RefractoryExclusion,
    name="RefractoryExclusionReason",
    description="Why a transfusion does not count towards baseline refractoriness: given at or after the first CAR-T infusion, ABO compatibility unknown (not recorded), ABO-incompatible, or no evaluable early CCI.",
)


@strawberry.enum(description="Population of the primary endpoint.")
class EndpointPopulation(Enum):
    INFUSED = "infused"
    PER_PROTOCOL = "per_protocol"


GradingScale = strawberry.enum(_ctcae.GradingScale, description="CTCAE v5.0, or ASTCT 2019 for CRS and ICANS.")
Attribution = strawberry.enum(_ae.Attribution, description="NCI five-point attribution scale.")
SeriousCriterion = strawberry.enum(_ae.SeriousCriterion, description="ICH E2A seriousness criteria.")
AdverseEventOutcome = strawberry.enum(_ae.Outcome, name="AdverseEventOutcome", description="CDISC OUT outcome.")
ActionTaken = strawberry.enum(_ae.ActionTaken)
AdverseEventSource = strawberry.enum(_ae.AdverseEventSource)
AdverseEventStatus = strawberry.enum(_ae.AdverseEventStatus)
ReviewDecision = strawberry.enum(
    _ae.ReviewDecision, description="CONFIRM as graded, REGRADE with a new grade, or REJECT."
)
BleedingSite = strawberry.enum(_bleeding.BleedingSite)
BleedingReportKind = strawberry.enum(
    _bleeding.BleedingReportKind,
    description="SYMPTOMS: a bleeding report. NO_BLEEDING: the daily check-in 'no bleeding today' (no symptoms).",
)


@strawberry.enum(
    description="RECEIVED: no linked adverse event, or one still pending an investigator's review. "
    "REVIEWED: every linked adverse event confirmed or rejected by an investigator."
)
class DiaryReportStatus(Enum):
    RECEIVED = "received"
    REVIEWED = "reviewed"


RedFlag = strawberry.enum(_bleeding.RedFlag, description="A sign that needs the site's attention at once.")


@strawberry.enum(description="Which product (or procedure) an attribution filter looks at.")
class AttributionTarget(Enum):
    CD19_CAR_T = "attribution_cd19"
    BCMA_CAR_T = "attribution_bcma"
    LYMPHODEPLETION = "attribution_lymphodepletion"
    PLATELET_TRANSFUSION = "attribution_platelet_transfusion"


Analyte = strawberry.enum(_labs.Analyte, description="What a lab result measures.")
LabUnit = strawberry.enum(
    _labs.Unit,
    name="LabUnit",
    description="Units labs report in; converted explicitly to each analyte's canonical unit.",
)
Specimen = strawberry.enum(_labs.Specimen)
AntibodyClass = strawberry.enum(_outcomes.AntibodyClass)
AntibodyMethod = strawberry.enum(
    _outcomes.AntibodyMethod, description="SINGLE_ANTIGEN_BEADS (Luminex, MFI per specificity), MAIPA, ELISA, BEADS."
)
CutoffOperator = strawberry.enum(
    _outcomes.CutoffOperator, description="GE: positive when MFI >= cut-off; GT: when MFI > cut-off."
)
IgGStatus = strawberry.enum(_outcomes.IgGStatus)


@strawberry.enum(description="How CAR-T cells are measured: QPCR transgene copies/ug DNA, or FLOW CAR+ cells/uL.")
class KineticsMeasure(Enum):
    QPCR = "qpcr"
    FLOW = "flow"


TherapyClass = strawberry.enum(
    _therapies.TherapyClass,
    description="IVIG; ANTI_CD20 (rituximab); TPO_RA (eltrombopag, romiplostim, avatrombopag, hetrombopag); ANTI_PLASMA_CELL (bortezomib and other proteasome inhibitors, daratumumab); IL6_BLOCKADE (tocilizumab); CORTICOSTEROID; G_CSF; ANTI_INFECTIVE; OTHER (name required).",
)
TherapyDoseUnit = strawberry.enum(_therapies.TherapyDoseUnit, description="Unit of a therapy's dose.")
TherapyRoute = strawberry.enum(_therapies.TherapyRoute, description="Route of administration (SDTM ROUTE).")
DoseFrequency = strawberry.enum(_therapies.DoseFrequency, description="Dosing frequency (CDISC FREQ terms).")
TherapyTiming = strawberry.enum(
    _therapies.TherapyTiming,
    description="PRIOR: ended before the consent date; CONCOMITANT: otherwise (derived from the dates, never entered).",
)
ProcedureType = strawberry.enum(_therapies.ProcedureType, description="SPLENECTOMY, or HSCT (stem cell transplant).")
HsctType = strawberry.enum(_therapies.HsctType, description="Donor of an HSCT: ALLOGENEIC or AUTOLOGOUS.")
EndpointExclusionReason = strawberry.enum(
    _therapies.EndpointExclusion,
    name="EndpointExclusionReason",
    description="Why a transfusion is not counted for the primary endpoint: before the first CAR-T infusion, after the assessment window, or on or after an allogeneic HSCT that ended follow-up.",
)


@strawberry.enum(description="What a timeline entry is.")
class TimelineKind(Enum):
    THERAPY = "therapy"
    PROCEDURE = "procedure"
    CAR_T_INFUSION = "car_t_infusion"
