"""Protocol parameters: the rules of DOMAIN.md that a protocol amendment may change.

They are stored with the trial, versioned with an effective date, and every derived value names
the version that produced it. The defaults below are DOMAIN.md's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from enum import Enum
from typing import Any


class BsaFormula(str, Enum):
    MOSTELLER = "mosteller"
    DUBOIS = "dubois"


@dataclass(frozen=True)
class ProtocolParameters:
    # Per-transfusion response (CCI thresholds are per uL, strictly greater).
    cci_early_threshold_per_ul: float = 7500.0
    cci_late_threshold_per_ul: float = 5000.0
    # Windows are timed from the END of the transfusion, bounds inclusive.
    early_window_min_minutes: int = 10
    early_window_max_minutes: int = 60
    late_window_min_hours: int = 18
    late_window_max_hours: int = 24
    pre_count_lookback_hours: int = 24
    # Baseline refractoriness: >= N consecutive ABO-compatible transfusions with early CCI below.
    refractory_consecutive_transfusions: int = 2
    refractory_cci_threshold_per_ul: float = 7500.0
    # Sustained responsiveness: a run of >= N consecutive responsive transfusions (NE skipped)
    # within the assessment window after the first CAR-T infusion.
    sustained_consecutive_responses: int = 2
    assessment_window_months: int = 12
    loss_of_response_consecutive_failures: int = 2
    bsa_formula: BsaFormula = BsaFormula.MOSTELLER
    blood_volume_ml_per_kg: float = 70.0
    # Sequential design: CD19 first, then BCMA.
    allow_bcma_before_cd19: bool = False
    # Bleeding diary: reports older than this are accepted but flagged late; a report within the
    # gap of an open patient-reported event of the same term continues that event.
    diary_entry_window_days: int = 7
    bleeding_episode_gap_hours: int = 48
    # Lab grading: a new CTCAE grade >= this, or a worsening by >= N grades, proposes a lab-sourced
    # adverse event pending review.
    lab_event_min_grade: int = 3
    lab_event_worsening_grades: int = 1
    # B-cell aplasia: CD19+ below this % of lymphocytes, or below this many cells/uL; which rule
    # decides (the other is shown beside it).
    b_cell_aplasia_percent: float = 1.0
    b_cell_aplasia_per_ul: float = 20.0
    b_cell_aplasia_rule: str = "percent_of_lymphocytes"
    # IgG (mg/dL): low below, severe at or below.
    igg_low_below_mg_dl: float = 700.0
    igg_severe_at_or_below_mg_dl: float = 400.0
    # HLA single-antigen beads: positive when MFI >= this (the lab's cut-off when it gives one).
    hla_mfi_cutoff: float = 1000.0
    # Patients' phones: an activation code issued by site staff is valid this long (hours).
    activation_code_ttl_hours: int = 72
    # Before vs after CAR-T (DOMAIN.md): study days from the first CAR-T infusion (day 0), both
    # ends inclusive: baseline days -baseline_days..-1, follow-up days follow_up_from_day..follow_up_to_day.
    baseline_days: int = 30
    follow_up_from_day: int = 29
    follow_up_to_day: int = 365
    # Therapies (DOMAIN.md "Prior and concomitant therapies, transplant"): a transfusion within
    # this many days after an IVIG dose, or while a TPO-RA is given (when tpo_ra_confounds), is
    # flagged "confounded by therapy"; an allogeneic HSCT ends the evaluable follow-up.
    ivig_confounding_days: int = 14
    tpo_ra_confounds: bool = True
    hsct_ends_follow_up: bool = True

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["bsa_formula"] = self.bsa_formula.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProtocolParameters:
        """Builds from stored JSON; keys a newer version adds fall back to their defaults."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if "bsa_formula" in values:
            values["bsa_formula"] = BsaFormula(values["bsa_formula"])
        return cls(**values)

    def problems(self) -> list[tuple[str, str]]:
        """(field, message) for every inconsistent value; empty when the set is usable."""
        out: list[tuple[str, str]] = []
        if not 0 <= self.early_window_min_minutes <= self.early_window_max_minutes:
            out.append(("earlyWindowMaxMinutes", "early window must have 0 <= min <= max"))
        if not 0 <= self.late_window_min_hours <= self.late_window_max_hours:
            out.append(("lateWindowMaxHours", "late window must have 0 <= min <= max"))
        for name in (
            "refractory_consecutive_transfusions",
            "sustained_consecutive_responses",
            "loss_of_response_consecutive_failures",
            "assessment_window_months",
            "pre_count_lookback_hours",
            "diary_entry_window_days",
            "bleeding_episode_gap_hours",
            "lab_event_min_grade",
            "lab_event_worsening_grades",
        ):
            if getattr(self, name) < 1:
                out.append((_camel(name), "must be at least 1"))
        if not self.blood_volume_ml_per_kg > 0:  # written so that NaN fails too
            out.append(("bloodVolumeMlPerKg", "must be positive"))
        for name in ("cci_early_threshold_per_ul", "cci_late_threshold_per_ul", "refractory_cci_threshold_per_ul"):
            if not getattr(self, name) >= 0:
                out.append((_camel(name), "must not be negative"))
        if self.b_cell_aplasia_rule not in ("percent_of_lymphocytes", "absolute_per_ul"):
            out.append(("bCellAplasiaRule", "percent_of_lymphocytes or absolute_per_ul"))
        if not 1 <= self.activation_code_ttl_hours <= MAX_ACTIVATION_CODE_TTL_HOURS:
            out.append(("activationCodeTtlHours", f"must be between 1 and {MAX_ACTIVATION_CODE_TTL_HOURS} hours"))
        if not 0 <= self.ivig_confounding_days <= 365:
            out.append(("ivigConfoundingDays", "must be between 0 and 365 days"))
        if not self.igg_severe_at_or_below_mg_dl < self.igg_low_below_mg_dl:
            out.append(("iggSevereAtOrBelowMgDl", "must be below the low threshold"))
        out += self._period_problems()
        return out

    def _period_problems(self) -> list[tuple[str, str]]:
        """The before/after periods: a baseline of 1..MAX_PERIOD_DAYS days; a follow-up that starts
        after the infusion day and ends on or after it starts, within MAX_PERIOD_DAYS."""
        out: list[tuple[str, str]] = []
        if not 1 <= self.baseline_days <= MAX_PERIOD_DAYS:
            out.append(("baselineDays", f"must be between 1 and {MAX_PERIOD_DAYS} days"))
        if not 1 <= self.follow_up_from_day <= MAX_PERIOD_DAYS:
            out.append(("followUpFromDay", f"must be between day 1 and day {MAX_PERIOD_DAYS}"))
        if not self.follow_up_from_day <= self.follow_up_to_day <= MAX_PERIOD_DAYS:
            out.append(("followUpToDay", f"must be on or after followUpFromDay and at most day {MAX_PERIOD_DAYS}"))
        return out


DEFAULT_PARAMETERS = ProtocolParameters()
# A code on paper is a bearer credential: a month at most.
MAX_ACTIVATION_CODE_TTL_HOURS = 30 * 24
# A period longer than five years is a typing error, not a protocol.
MAX_PERIOD_DAYS = 5 * 366


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)
