"""Controlled vocabularies of the trial's records. Values are stable: they are stored and exported."""

from __future__ import annotations

from enum import Enum


class Role(str, Enum):
    PATIENT = "patient"
    INVESTIGATOR = "investigator"
    COORDINATOR = "coordinator"
    MONITOR = "monitor"
    ANALYST = "analyst"
    ADMIN = "admin"


class Sex(str, Enum):
    FEMALE = "female"
    MALE = "male"
    OTHER = "other"
    UNKNOWN = "unknown"


class Diagnosis(str, Enum):
    AML = "aml"
    ALL = "all"
    MPAL = "mpal"
    OTHER = "other"


class RemissionStatus(str, Enum):
    CR1 = "cr1"
    CR2 = "cr2"
    CR3_OR_LATER = "cr3_or_later"
    CRI = "cri"


class AboGroup(str, Enum):
    O = "o"  # noqa: E741 - the blood group is called O
    A = "a"
    B = "b"
    AB = "ab"


class RhD(str, Enum):
    POSITIVE = "positive"
    NEGATIVE = "negative"


class SubjectStatus(str, Enum):
    SCREENING = "screening"
    ENROLLED = "enrolled"
    LYMPHODEPLETED = "lymphodepleted"
    INFUSED = "infused"
    FOLLOW_UP = "follow_up"
    COMPLETED = "completed"
    WITHDRAWN = "withdrawn"
    SCREEN_FAILED = "screen_failed"


class CarTProduct(str, Enum):
    CD19 = "cd19"
    BCMA = "bcma"


class DoseBasis(str, Enum):
    """Whether a platelet unit's content was counted (measured) or assumed from its type."""

    MEASURED = "measured"
    NOMINAL = "nominal"


class PlateletUnitKind(str, Enum):
    APHERESIS = "apheresis"
    POOLED_WHOLE_BLOOD = "pooled_whole_blood"
    WHOLE_BLOOD_DERIVED = "whole_blood_derived"


class AboCompatibility(str, Enum):
    IDENTICAL = "identical"
    MAJOR_INCOMPATIBLE = "major_incompatible"
    MINOR_INCOMPATIBLE = "minor_incompatible"
    BIDIRECTIONAL_INCOMPATIBLE = "bidirectional_incompatible"
    UNKNOWN = "unknown"

    @property
    def is_compatible(self) -> bool:
        """ABO-compatible for refractoriness: no major incompatibility (donor A/B antigens the
        recipient lacks lower the increment); minor (plasma) incompatibility does not."""
        return self in (AboCompatibility.IDENTICAL, AboCompatibility.MINOR_INCOMPATIBLE)

    @property
    def compatible_if_known(self) -> bool | None:
        """is_compatible, or None when the compatibility was not recorded (UNKNOWN)."""
        return None if self is AboCompatibility.UNKNOWN else self.is_compatible


class LymphodepletionAgent(str, Enum):
    FLUDARABINE = "fludarabine"
    CYCLOPHOSPHAMIDE = "cyclophosphamide"
    BENDAMUSTINE = "bendamustine"
    OTHER = "other"


class DoseUnit(str, Enum):
    MG_PER_M2 = "mg_per_m2"
    MG_PER_KG = "mg_per_kg"
    MG = "mg"


class AuditAction(str, Enum):
    CREATE = "create"
    UPDATE = "update"
    VOID = "void"
    STATUS_CHANGE = "status_change"
