"""The SDTM datasets the trial exports: variables (SDTMIG 3.4 names), labels, types, lengths, keys
and codelists. One table drives the Dataset-JSON columns, the CSV header and define.json.

XR ("Transfusion Response") is a sponsor-defined findings domain: the per-transfusion corrected
count increments and the R/N/NE category are results of this trial's rule (DOMAIN.md, "Platelet
transfusion response") computed from several records (counts, BSA, dose), not findings collected
about one event or intervention, which is what FA is for; a custom findings domain keeps them
with their rule version and their link to the PR record, and says plainly that it is ours.
"""

from __future__ import annotations

from dataclasses import dataclass

SDTMIG_VERSION = "3.4"
DATASET_JSON_VERSION = "1.1.0"


@dataclass(frozen=True)
class Variable:
    name: str
    label: str
    data_type: str = "string"  # Dataset-JSON dataType: string, integer, double
    length: int | None = None  # planned length of a string
    key: int | None = None  # keySequence
    core: str = "Perm"  # SDTMIG core: Req, Exp, Perm
    codelist: str | None = None
    origin: str = "Collected"


@dataclass(frozen=True)
class Dataset:
    name: str
    label: str
    sdtm_class: str
    structure: str
    variables: tuple[Variable, ...]
    sponsor_defined: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.variables)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.variables if v.core == "Req")


def _v(
    name: str,
    label: str,
    data_type: str = "string",
    length: int | None = None,
    *,
    key: int | None = None,
    core: str = "Perm",
    codelist: str | None = None,
    origin: str = "Collected",
) -> Variable:
    if data_type == "string" and length is None:
        length = 200
    return Variable(name, label, data_type, length, key, core, codelist, origin)


def _identifiers(domain: str, seq_key: int | None = None) -> tuple[Variable, ...]:
    return (
        _v("STUDYID", "Study Identifier", length=32, key=1, core="Req", origin="Assigned"),
        _v("DOMAIN", "Domain Abbreviation", length=2, core="Req", origin="Assigned"),
        _v("USUBJID", "Unique Subject Identifier", length=100, key=2, core="Req", origin="Derived"),
        _v(f"{domain}SEQ", "Sequence Number", "integer", key=seq_key, core="Req", origin="Derived"),
    )


def _findings(domain: str, test_label: str, extra: tuple[Variable, ...], dtc_label: str) -> tuple[Variable, ...]:
    d = domain
    return (
        *_identifiers(d, seq_key=5),
        _v(f"{d}TESTCD", f"{test_label} Short Name", length=8, key=3, core="Req", codelist=f"{d}TESTCD"),
        _v(f"{d}TEST", f"{test_label} Name", length=40, core="Req", codelist=f"{d}TEST"),
        *extra,
        _v(f"{d}DTC", dtc_label, length=20, key=4, core="Exp"),
        _v(f"{d}DY", "Study Day of Specimen Collection", "integer", core="Perm", origin="Derived"),
    )


DM = Dataset(
    "DM",
    "Demographics",
    "SPECIAL PURPOSE",
    "One record per subject",
    (
        _v("STUDYID", "Study Identifier", length=32, key=1, core="Req", origin="Assigned"),
        _v("DOMAIN", "Domain Abbreviation", length=2, core="Req", origin="Assigned"),
        _v("USUBJID", "Unique Subject Identifier", length=100, key=2, core="Req", origin="Derived"),
        _v("SUBJID", "Subject Identifier for the Study", length=32, core="Req"),
        _v("RFSTDTC", "Subject Reference Start Date/Time", length=20, core="Exp", origin="Derived"),
        _v("RFXSTDTC", "Date/Time of First Study Treatment", length=20, core="Exp", origin="Derived"),
        _v("RFICDTC", "Date/Time of Informed Consent", length=10, core="Exp"),
        _v("SITEID", "Study Site Identifier", length=32, core="Req"),
        _v("BRTHDTC", "Date/Time of Birth", length=4, core="Perm"),
        _v("AGE", "Age", "integer", core="Exp"),
        _v("AGEU", "Age Units", length=5, core="Exp", codelist="AGEU"),
        _v("SEX", "Sex", length=16, core="Req", codelist="SEX"),
        _v("ARMCD", "Planned Arm Code", length=20, core="Exp", origin="Assigned"),
        _v("ARM", "Description of Planned Arm", length=40, core="Exp", origin="Assigned"),
        _v("ACTARMCD", "Actual Arm Code", length=20, core="Exp", origin="Derived"),
        _v("ACTARM", "Description of Actual Arm", length=40, core="Exp", origin="Derived"),
        _v("ARMNRS", "Reason Arm and/or Actual Arm is Null", length=40, core="Exp", codelist="ARMNULRS"),
    ),
)

EX = Dataset(
    "EX",
    "Exposure",
    "INTERVENTIONS",
    "One record per constant-dosing interval per treatment per subject",
    (
        *_identifiers("EX", seq_key=5),
        _v("EXTRT", "Name of Treatment", length=40, key=3, core="Req"),
        _v("EXCAT", "Category of Treatment", length=20, core="Perm"),
        _v("EXDOSE", "Dose", "double", core="Exp"),
        _v("EXDOSU", "Dose Units", length=20, core="Exp", codelist="UNIT"),
        _v("EXDOSFRQ", "Dosing Frequency per Interval", length=10, core="Perm", codelist="FREQ"),
        _v("EXLOT", "Lot Number", length=64, core="Perm"),
        _v("EXSTDTC", "Start Date/Time of Treatment", length=20, key=4, core="Exp"),
        _v("EXENDTC", "End Date/Time of Treatment", length=20, core="Exp"),
        _v("EXSTDY", "Study Day of Start of Treatment", "integer", core="Perm", origin="Derived"),
        _v("EXENDY", "Study Day of End of Treatment", "integer", core="Perm", origin="Derived"),
    ),
)

AE = Dataset(
    "AE",
    "Adverse Events",
    "EVENTS",
    "One record per adverse event per subject",
    (
        *_identifiers("AE", seq_key=5),
        _v("AESPID", "Sponsor-Defined Identifier", length=20, core="Perm", origin="Assigned"),
        _v("AETERM", "Reported Term for the Adverse Event", length=200, core="Req"),
        _v("AELLT", "Lowest Level Term", length=120, core="Exp"),
        _v("AELLTCD", "Lowest Level Term Code", "integer", core="Exp"),
        _v("AEDECOD", "Dictionary-Derived Term", length=120, key=3, core="Req"),
        _v("AEPTCD", "Preferred Term Code", "integer", core="Exp"),
        _v("AEBODSYS", "Body System or Organ Class", length=120, core="Exp"),
        _v("AESER", "Serious Event", length=1, core="Exp", codelist="NY"),
        _v("AEACNOTH", "Other Action Taken", length=20, core="Perm", codelist="AEACNOTH"),
        _v("AEOUT", "Outcome of Adverse Event", length=40, core="Perm", codelist="OUT"),
        _v("AESCONG", "Congenital Anomaly or Birth Defect", length=1, core="Perm", codelist="NY"),
        _v("AESDISAB", "Persist or Signif Disability/Incapacity", length=1, core="Perm", codelist="NY"),
        _v("AESDTH", "Results in Death", length=1, core="Perm", codelist="NY"),
        _v("AESHOSP", "Requires or Prolongs Hospitalization", length=1, core="Perm", codelist="NY"),
        _v("AESLIFE", "Is Life Threatening", length=1, core="Perm", codelist="NY"),
        _v("AESMIE", "Other Medically Important Serious Event", length=1, core="Perm", codelist="NY"),
        _v("AETOXGR", "Standard Toxicity Grade", length=1, core="Perm", codelist="TOXGR"),
        _v("AESTDTC", "Start Date/Time of Adverse Event", length=10, key=4, core="Exp"),
        _v("AEENDTC", "End Date/Time of Adverse Event", length=10, core="Exp"),
        _v("AESTDY", "Study Day of Start of Adverse Event", "integer", core="Perm", origin="Derived"),
        _v("AEENDY", "Study Day of End of Adverse Event", "integer", core="Perm", origin="Derived"),
    ),
)

SUPPAE = Dataset(
    "SUPPAE",
    "Supplemental Qualifiers for AE",
    "RELATIONSHIP",
    "One record per IDVAR, IDVARVAL, and QNAM value per subject",
    (
        _v("STUDYID", "Study Identifier", length=32, key=1, core="Req", origin="Assigned"),
        _v("RDOMAIN", "Related Domain Abbreviation", length=2, key=2, core="Req", origin="Assigned"),
        _v("USUBJID", "Unique Subject Identifier", length=100, key=3, core="Req", origin="Derived"),
        _v("IDVAR", "Identifying Variable", length=8, key=4, core="Exp", origin="Assigned"),
        _v("IDVARVAL", "Identifying Variable Value", length=20, key=5, core="Exp", origin="Assigned"),
        _v("QNAM", "Qualifier Variable Name", length=8, key=6, core="Req", codelist="SUPPAE.QNAM"),
        _v("QLABEL", "Qualifier Variable Label", length=40, core="Req"),
        _v("QVAL", "Data Value", length=40, core="Req"),
        _v("QORIG", "Origin", length=20, core="Req", origin="Assigned"),
        _v("QEVAL", "Evaluator", length=20, core="Exp", origin="Assigned"),
    ),
)

LB = Dataset(
    "LB",
    "Laboratory Test Results",
    "FINDINGS",
    "One record per lab test per time point per visit per subject",
    _findings(
        "LB",
        "Lab Test or Examination",
        (
            _v("LBCAT", "Category for Lab Test", length=20),
            _v("LBORRES", "Result or Finding in Original Units", length=20, core="Exp"),
            _v("LBORRESU", "Original Units", length=20, core="Exp", codelist="UNIT"),
            _v("LBORNRLO", "Reference Range Lower Limit in Orig Unit", length=20, core="Exp"),
            _v("LBORNRHI", "Reference Range Upper Limit in Orig Unit", length=20, core="Exp"),
            _v("LBSTRESC", "Character Result/Finding in Std Format", length=20, core="Exp", origin="Derived"),
            _v("LBSTRESN", "Numeric Result/Finding in Standard Units", "double", core="Exp", origin="Derived"),
            _v("LBSTRESU", "Standard Units", length=20, core="Exp", codelist="UNIT", origin="Derived"),
            _v("LBSTNRLO", "Reference Range Lower Limit-Std Units", "double", core="Exp", origin="Derived"),
            _v("LBSTNRHI", "Reference Range Upper Limit-Std Units", "double", core="Exp", origin="Derived"),
            _v("LBNRIND", "Reference Range Indicator", length=10, core="Exp", codelist="NRIND", origin="Derived"),
            _v("LBNAM", "Vendor Name", length=64),
            _v("LBSPEC", "Specimen Type", length=20, core="Perm", codelist="SPECTYPE"),
            _v("LBMETHOD", "Method of Test or Examination", length=64),
            _v("LBLLOQ", "Lower Limit of Quantitation", "double"),
            _v("LBTOX", "Toxicity", length=60, origin="Derived"),
            _v("LBTOXGR", "Standard Toxicity Grade", length=1, codelist="TOXGR", origin="Derived"),
        ),
        "Date/Time of Specimen Collection",
    ),
)

IS = Dataset(
    "IS",
    "Immunogenicity Specimen Assessments",
    "FINDINGS",
    "One record per test per specimen per subject",
    _findings(
        "IS",
        "Immunogenicity Test/Exam",
        (
            _v("ISCAT", "Category for Immunogenicity Test", length=20),
            _v("ISORRES", "Result or Finding in Original Units", length=20, core="Exp"),
            _v("ISORRESU", "Original Units", length=10, core="Exp", codelist="UNIT"),
            _v("ISSTRESC", "Character Result/Finding in Std Format", length=20, core="Exp", origin="Derived"),
            _v("ISSTRESN", "Numeric Result/Finding in Standard Units", "double", core="Exp", origin="Derived"),
            _v("ISSTRESU", "Standard Units", length=10, core="Exp", codelist="UNIT"),
            _v("ISNAM", "Laboratory/Vendor Name", length=64),
            _v("ISSPEC", "Specimen Type", length=20, codelist="SPECTYPE"),
            _v("ISMETHOD", "Method of Test or Examination", length=80),
        ),
        "Date/Time of Collection",
    ),
)

PC = Dataset(
    "PC",
    "Pharmacokinetics Concentrations",
    "FINDINGS",
    "One record per sample characteristic or time-point concentration per reference time point or per analyte per subject",
    _findings(
        "PC",
        "Pharmacokinetic Test",
        (
            _v("PCORRES", "Result or Finding in Original Units", length=20, core="Exp"),
            _v("PCORRESU", "Original Units", length=20, core="Exp", codelist="UNIT"),
            _v("PCSTRESC", "Character Result/Finding in Std Format", length=20, core="Exp", origin="Derived"),
            _v("PCSTRESN", "Numeric Result/Finding in Standard Units", "double", core="Exp", origin="Derived"),
            _v("PCSTRESU", "Standard Units", length=20, core="Exp", codelist="UNIT"),
            _v("PCNAM", "Vendor Name", length=64),
            _v("PCSPEC", "Specimen Material Type", length=20, core="Exp", codelist="SPECTYPE"),
            _v("PCMETHOD", "Method of Test or Examination", length=20),
            _v("PCLLOQ", "Lower Limit of Quantitation", "double", core="Exp"),
        ),
        "Date/Time of Specimen Collection",
    ),
)

XR = Dataset(
    "XR",
    "Transfusion Response",
    "FINDINGS",
    "One record per test per platelet transfusion per subject",
    _findings(
        "XR",
        "Transfusion Response Test",
        (
            _v("XRLNKID", "Link ID", length=20, origin="Assigned"),
            _v("XRORRES", "Result or Finding in Original Units", length=20, core="Exp", origin="Derived"),
            _v("XRORRESU", "Original Units", length=40, core="Exp", origin="Derived"),
            _v("XRSTRESC", "Character Result/Finding in Std Format", length=20, core="Exp", origin="Derived"),
            _v("XRSTRESN", "Numeric Result/Finding in Standard Units", "double", core="Exp", origin="Derived"),
            _v("XRSTRESU", "Standard Units", length=40, core="Exp", origin="Derived"),
            _v("XRSTAT", "Completion Status", length=8, codelist="ND"),
            _v("XRREASND", "Reason Not Done", length=100, origin="Derived"),
            _v("XRMETHOD", "Method of Test or Examination", length=60, origin="Assigned"),
        ),
        "Date/Time of Assessment",
    ),
    sponsor_defined=True,
)

PR = Dataset(
    "PR",
    "Procedures",
    "INTERVENTIONS",
    "One record per recorded procedure per occurrence per subject",
    (
        *_identifiers("PR", seq_key=5),
        _v("PRLNKID", "Link ID", length=20, origin="Assigned"),
        _v("PRTRT", "Reported Name of Procedure", length=40, key=3, core="Req"),
        _v("PRCAT", "Category", length=20),  # TRANSFUSION, SURGERY (splenectomy), TRANSPLANT (HSCT)
        _v("PRDOSE", "Dose", "double"),
        _v("PRDOSU", "Dose Units", length=20, codelist="UNIT"),
        _v("PRSTDTC", "Start Date/Time of Procedure", length=20, key=4, core="Exp"),
        _v("PRENDTC", "End Date/Time of Procedure", length=20),
        _v("PRSTDY", "Study Day of Start of Procedure", "integer", origin="Derived"),
        _v("PRENDY", "Study Day of End of Procedure", "integer", origin="Derived"),
    ),
)

CM = Dataset(
    "CM",
    "Concomitant/Prior Medications",
    "INTERVENTIONS",
    "One record per recorded intervention occurrence or constant-dosing interval per subject",
    (
        *_identifiers("CM", seq_key=5),
        _v("CMSPID", "Sponsor-Defined Identifier", length=20, origin="Assigned"),
        _v("CMTRT", "Reported Name of Drug, Med, or Therapy", length=120, key=3, core="Req"),
        _v("CMCAT", "Category for Medication", length=20, origin="Derived"),
        _v("CMCLAS", "Medication Class", length=60, codelist="CMCLAS"),
        _v("CMINDC", "Indication", length=200),
        _v("CMDOSE", "Dose per Administration", "double"),
        _v("CMDOSU", "Dose Units", length=20, codelist="UNIT"),
        _v("CMDOSFRQ", "Dosing Frequency per Interval", length=10, codelist="FREQ"),
        _v("CMROUTE", "Route of Administration", length=40, codelist="ROUTE"),
        _v("CMSTDTC", "Start Date/Time of Medication", length=20, key=4, core="Exp"),
        _v("CMENDTC", "End Date/Time of Medication", length=20, core="Exp"),
        _v("CMSTDY", "Study Day of Start of Medication", "integer", origin="Derived"),
        _v("CMENDY", "Study Day of End of Medication", "integer", origin="Derived"),
        _v("CMENRTPT", "End Relative to Reference Time Point", length=10, codelist="STENRF"),
        _v("CMENTPT", "End Reference Time Point", length=20, origin="Assigned"),
    ),
)

QS = Dataset(
    "QS",
    "Questionnaires",
    "FINDINGS",
    "One record per questionnaire per question per time point per visit per subject",
    (
        *_identifiers("QS", seq_key=6),
        _v("QSSPID", "Sponsor-Defined Identifier", length=20, origin="Assigned"),
        _v("QSTESTCD", "Question Short Name", length=8, key=4, core="Req", codelist="QSTESTCD"),
        _v("QSTEST", "Question Name", length=40, core="Req", codelist="QSTEST"),
        _v("QSCAT", "Category of Question", length=40, key=3, core="Req"),
        _v("QSORRES", "Finding in Original Units", length=20, core="Exp"),
        _v("QSSTRESC", "Character Result/Finding in Std Format", length=20, core="Exp", origin="Derived"),
        _v("QSSTRESN", "Numeric Finding in Standard Units", "double", core="Perm", origin="Derived"),
        _v("QSSTAT", "Completion Status", length=8, codelist="ND"),
        _v("QSREASND", "Reason Not Performed", length=60),
        _v("QSEVLINT", "Evaluation Interval", length=10),
        _v("QSDTC", "Date/Time of Finding", length=20, key=5, core="Exp"),
        _v("QSDY", "Study Day of Finding", "integer", origin="Derived"),
    ),
)

DATASETS: dict[str, Dataset] = {d.name: d for d in (DM, EX, AE, SUPPAE, LB, IS, PC, XR, PR, QS, CM)}

# Codelists a value of which appears in the exports (define.json lists them with their terms).
CODELISTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "SEX": ("CDISC CT C66731", ("F", "M", "U", "UNDIFFERENTIATED")),
    "AGEU": ("CDISC CT C66781", ("YEARS",)),
    "NY": ("CDISC CT C66742", ("N", "Y")),
    "OUT": (
        "CDISC CT C66768",
        (
            "FATAL",
            "NOT RECOVERED/NOT RESOLVED",
            "RECOVERED/RESOLVED",
            "RECOVERED/RESOLVED WITH SEQUELAE",
            "RECOVERING/RESOLVING",
            "UNKNOWN",
        ),
    ),
    "TOXGR": ("CDISC CT C87169 (grades as text)", ("0", "1", "2", "3", "4", "5")),
    "NRIND": ("CDISC CT C78736", ("HIGH", "LOW", "NORMAL")),
    "ND": ("CDISC CT C66789", ("NOT DONE",)),
    "ARMNULRS": ("CDISC CT C142179", ("ASSIGNED, NOT TREATED", "NOT ASSIGNED", "SCREEN FAILURE")),
    "SPECTYPE": ("CDISC CT C78734", ("BLOOD", "BONE MARROW", "SERUM")),
    "FREQ": ("CDISC CT C71113", ("BID", "ONCE", "PRN", "Q2W", "Q4W", "QD", "QID", "QW", "TID")),
    "ROUTE": (
        "CDISC CT C66729",
        ("INHALATION", "INTRAMUSCULAR", "INTRAVENOUS", "ORAL", "OTHER", "SUBCUTANEOUS", "TOPICAL"),
    ),
    "STENRF": ("CDISC CT C66728", ("ONGOING",)),
    "CMCLAS": (
        "sponsor: therapy classes of DOMAIN.md",
        (
            "ANTI-CD20 MONOCLONAL ANTIBODY",
            "ANTI-INFECTIVE",
            "ANTI-PLASMA-CELL THERAPY",
            "CORTICOSTEROID",
            "GRANULOCYTE COLONY-STIMULATING FACTOR",
            "IMMUNOGLOBULINS, INTRAVENOUS",
            "INTERLEUKIN-6 BLOCKADE",
            "OTHER",
            "THROMBOPOIETIN RECEPTOR AGONIST",
        ),
    ),
    "UNIT": ("CDISC CT C71620 (sponsor extensions marked in define.json)", ()),
    "AEACNOTH": ("sponsor", ("HOSPITALIZATION", "MEDICATION", "NONE", "OTHER", "PROCEDURE", "TRANSFUSION")),
    "NCIREL": ("sponsor: NCI five-point attribution", ("DEFINITE", "POSSIBLE", "PROBABLE", "UNLIKELY", "UNRELATED")),
    "SUPPAE.QNAM": ("sponsor", ("AERELC19", "AERELBCM", "AERELLD", "AERELPLT", "AEGRSCL", "AEREVST", "AEEXPECT")),
    "LBTESTCD": ("CDISC CT C65047 (sponsor extensions for flow cytometry)", ()),
    "LBTEST": ("CDISC CT C67154", ()),
    "ISTESTCD": ("sponsor: specificity without punctuation (A*02:01 -> A0201)", ()),
    "ISTEST": ("sponsor", ()),
    "PCTESTCD": ("sponsor", ("BCMACARF", "BCMACARQ", "CD19CARF", "CD19CARQ")),
    "PCTEST": ("sponsor", ()),
    "XRTESTCD": ("sponsor", ("CCIEARLY", "CCILATE", "PPREARLY", "RESPCAT")),
    "XRTEST": ("sponsor", ()),
    "QSTESTCD": ("sponsor", ("BLDWHOGR", "PCBRUISE", "PCNOSFRQ", "PCNOSSEV")),
    "QSTEST": ("sponsor", ()),
}
