"""CDISC SDTM conventions of the trial's standard exports (DOMAIN.md, "Standard data exports").

Pure rules: the SDTM study day, ISO 8601 dates, the pseudonymised USUBJID and the controlled
terms our stored values map to. The variables of each dataset are in `sdtm_datasets`.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

from .enums import Role

SDTM_STUDY_DAY_RULE = (
    "sdtm-study-day-v1: SDTMIG 3.4 --DY; day 1 is the date of RFSTDTC (first CAR-T infusion, UTC), "
    "the day before is -1; there is no day 0"
)

# Who may export: analysts (all sites, no free text), monitors (their sites) and admins. Site
# staff work in the API itself; an export of a whole site is a monitoring or analysis task.
EXPORTER_ROLES = frozenset({Role.ANALYST, Role.MONITOR, Role.ADMIN})


def may_export(role: Role) -> bool:
    return role in EXPORTER_ROLES


def sdtm_day_from_api_day(api_day: int) -> int:
    """The API counts the infusion day as day 0 (study_time.study_day); SDTM has no day 0: the
    reference date is day 1 and the day before it is day -1. So days on or after the reference
    move up by one and earlier days keep their number."""
    return api_day + 1 if api_day >= 0 else api_day


def sdtm_study_day(moment: datetime | date | None, reference: datetime | None) -> int | None:
    """--DY of a record: UTC calendar dates, SDTM's rule (no day 0). None without a reference
    (no CAR-T infusion recorded) or without a date."""
    if moment is None or reference is None:
        return None
    api_day = (_utc_date(moment) - _utc_date(reference)).days
    return sdtm_day_from_api_day(api_day)


def _utc_date(moment: datetime | date) -> date:
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            raise ValueError("a study day needs a timezone-aware time")
        return moment.astimezone(timezone.utc).date()
    return moment


def iso_datetime(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC to the second, with Z (times are stored as UTC)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise ValueError("store and export timezone-aware times only")
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_date(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


def usubjid(study_id: str, site_code: str, subject_code: str) -> str:
    """Unique subject identifier: study-site-subject (the subject code is already pseudonymous)."""
    return f"{study_id}-{site_code}-{subject_code}"


# --- controlled terminology ----------------------------------------------------------------------

SEX = {"female": "F", "male": "M", "unknown": "U", "other": "UNDIFFERENTIATED"}  # CDISC SEX (C66731)

OUTCOME = {  # CDISC OUT (C66768)
    "recovered_resolved": "RECOVERED/RESOLVED",
    "recovering_resolving": "RECOVERING/RESOLVING",
    "not_recovered_not_resolved": "NOT RECOVERED/NOT RESOLVED",
    "recovered_resolved_with_sequelae": "RECOVERED/RESOLVED WITH SEQUELAE",
    "fatal": "FATAL",
    "unknown": "UNKNOWN",
}

ATTRIBUTION = {  # NCI five-point attribution scale (sponsor codelist NCIREL)
    "unrelated": "UNRELATED",
    "unlikely": "UNLIKELY",
    "possible": "POSSIBLE",
    "probable": "PROBABLE",
    "definite": "DEFINITE",
}

# Our action taken is what was done for the event (AEACNOTH), not a change to a study drug (AEACN).
OTHER_ACTION = {
    "none": "NONE",
    "medication": "MEDICATION",
    "transfusion": "TRANSFUSION",
    "procedure": "PROCEDURE",
    "hospitalization": "HOSPITALIZATION",
    "other": "OTHER",
}

# ICH E2A seriousness criteria -> the AE flag variables (Y when the criterion applies).
SERIOUS_FLAGS = {
    "death": "AESDTH",
    "life_threatening": "AESLIFE",
    "hospitalization": "AESHOSP",
    "disability": "AESDISAB",
    "congenital_anomaly": "AESCONG",
    "other_important_medical_event": "AESMIE",
}

GRADING_SCALE = {"ctcae_v5": "CTCAE V5.0", "astct_2019": "ASTCT 2019"}

CAR_T_TREATMENT = {"cd19": "CD19 CAR-T CELLS", "bcma": "BCMA CAR-T CELLS"}

DOSE_UNIT = {"mg_per_m2": "mg/m2", "mg_per_kg": "mg/kg", "mg": "mg"}

# Units as CDISC UNIT writes them.
UNIT = {
    "per_ul": "/uL",
    "e9_per_l": "10^9/L",
    "g_per_dl": "g/dL",
    "g_per_l": "g/L",
    "mg_per_dl": "mg/dL",
    "percent": "%",
    "copies_per_ug_dna": "copies/ug",
}

SPECIMEN = {"blood": "BLOOD", "marrow": "BONE MARROW"}

# Lab tests: analyte -> (LBTESTCD, LBTEST, LBCAT).
LAB_TESTS: dict[str, tuple[str, str, str]] = {
    "platelets": ("PLAT", "Platelets", "HEMATOLOGY"),
    "neutrophils": ("NEUT", "Neutrophils", "HEMATOLOGY"),
    "lymphocytes": ("LYM", "Lymphocytes", "HEMATOLOGY"),
    "white_cells": ("WBC", "Leukocytes", "HEMATOLOGY"),
    "hemoglobin": ("HGB", "Hemoglobin", "HEMATOLOGY"),
    "igg": ("IGG", "Immunoglobulin G", "IMMUNOLOGY"),
    "iga": ("IGA", "Immunoglobulin A", "IMMUNOLOGY"),
    "igm": ("IGM", "Immunoglobulin M", "IMMUNOLOGY"),
    "cd19_percent_lymphocytes": ("CD19LY", "CD19 Cells/Lymphocytes", "FLOW CYTOMETRY"),
    "cd19_per_ul": ("CD19", "CD19 Cells", "FLOW CYTOMETRY"),
    "cd3_per_ul": ("CD3", "CD3 Cells", "FLOW CYTOMETRY"),
    "marrow_cd138_percent": ("PLCNCE", "Plasma Cells/Nucleated Cells", "BONE MARROW"),
}

# CAR-T transgene levels (PC): analyte -> (PCTESTCD, PCTEST, PCMETHOD).
PC_TESTS: dict[str, tuple[str, str, str]] = {
    "car_cd19_copies_per_ug_dna": ("CD19CARQ", "CD19 CAR Transgene Copies", "QPCR"),
    "car_bcma_copies_per_ug_dna": ("BCMACARQ", "BCMA CAR Transgene Copies", "QPCR"),
    "car_cd19_percent_cd3": ("CD19CARF", "CD19 CAR+ T Cells/CD3+ Cells", "FLOW CYTOMETRY"),
    "car_bcma_percent_cd3": ("BCMACARF", "BCMA CAR+ T Cells/CD3+ Cells", "FLOW CYTOMETRY"),
}

ANTIBODY_CLASS = {"hla_class_i": "HLA CLASS I", "hla_class_ii": "HLA CLASS II", "hpa": "HPA"}
ANTIBODY_METHOD = {
    "single_antigen_beads": "SINGLE ANTIGEN BEAD ASSAY",
    "maipa": "MAIPA",
    "elisa": "ELISA",
    "beads": "BEAD ASSAY",
}


def reference_range_indicator(value: float | None, low: float | None, high: float | None) -> str | None:
    """LBNRIND from the lab's own limits: LOW below the LLN, HIGH above the ULN, else NORMAL;
    None when there is no value or no limit to compare with."""
    if value is None or (low is None and high is None):
        return None
    if low is not None and value < low:
        return "LOW"
    if high is not None and value > high:
        return "HIGH"
    return "NORMAL"


def antibody_test_code(specificity: str) -> str:
    """ISTESTCD from a specificity: letters and digits only, upper case, at most 8 characters
    (SDTM's limit): "A*02:01" -> "A0201", "DRB1*04:01" -> "DRB10401", "HPA-1a" -> "HPA1A"."""
    code = "".join(ch for ch in specificity.upper() if ch.isalnum())
    return code[:8] or "UNKNOWN"


def antibody_test_name(antibody_class: str, specificity: str) -> str:
    prefix = "HLA-" if antibody_class in ("hla_class_i", "hla_class_ii") else ""
    return f"{prefix}{specificity} Antibody"[:40]


def number_text(value: float | None) -> str | None:
    """A number as --ORRES text: integers without a trailing .0."""
    if value is None:
        return None
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))
