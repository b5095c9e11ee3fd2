"""Secondary outcomes (DOMAIN.md, "Secondary outcomes"): CAR-T kinetics, B-cell aplasia,
immunoglobulin status, HLA/HPA antibody clearance."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

KINETICS_RULE = (
    "kinetics-v1: Cmax/Tmax over quantifiable samples; AUC0-28 by the linear trapezoid on actual days; "
    "BLQ = 0 before the first and after the last quantifiable sample, missing between; Tlast = last quantifiable day"
)
B_CELL_RULE = "b-cell-aplasia-v1: CD19+ below the percent-of-lymphocytes or the absolute threshold (parameters)"
IGG_RULE = "igg-v1: low below 700 mg/dL, severe at or below 400 mg/dL"
CLEARANCE_RULE = (
    "antibody-clearance-v1: a specificity positive at baseline is cleared after two consecutive samples below "
    "the cut-off; a subject is cleared when every baseline-positive specificity is"
)


@dataclass(frozen=True)
class KineticPoint:
    day: float  # days from that product's infusion (day 0)
    value: float | None  # None: below the lower limit of quantification (BLQ)


@dataclass(frozen=True)
class Kinetics:
    cmax: float | None
    tmax: float | None
    auc_0_28: float | None  # value-unit x days
    tlast: float | None


def car_t_kinetics(points: Sequence[KineticPoint], auc_end_day: float = 28.0) -> Kinetics:
    """BLQ samples count as 0 before the first and after the last quantifiable sample and as
    missing between quantifiable ones; AUC0-28 is the linear trapezoid over samples on days 0-28."""
    ordered = sorted(points, key=lambda p: p.day)
    quantifiable = [p for p in ordered if p.value is not None]
    if not quantifiable:
        return Kinetics(None, None, 0.0 if ordered else None, None)
    first_q, last_q = quantifiable[0].day, quantifiable[-1].day
    series: list[tuple[float, float]] = []
    for p in ordered:
        if p.value is not None:
            series.append((p.day, p.value))
        elif p.day < first_q or p.day > last_q:
            series.append((p.day, 0.0))
        # BLQ between quantifiable samples: missing, skipped
    peak = max(quantifiable, key=lambda p: (p.value, -p.day))
    window = [(d, v) for d, v in series if 0 <= d <= auc_end_day]
    auc = sum((d2 - d1) * (v1 + v2) / 2 for (d1, v1), (d2, v2) in zip(window, window[1:], strict=False))
    return Kinetics(cmax=peak.value, tmax=peak.day, auc_0_28=auc, tlast=last_q)


class AplasiaRule(str, Enum):
    PERCENT = "percent_of_lymphocytes"
    ABSOLUTE = "absolute_per_ul"


@dataclass(frozen=True)
class BCellStatus:
    absolute_per_ul: float | None
    aplasia_by_percent: bool | None
    aplasia_by_absolute: bool | None

    @property
    def rules_disagree(self) -> bool:
        return (
            self.aplasia_by_percent is not None
            and self.aplasia_by_absolute is not None
            and self.aplasia_by_percent != self.aplasia_by_absolute
        )


def b_cell_status(
    cd19_percent: float | None,
    lymphocytes_per_ul: float | None,
    cd19_per_ul: float | None = None,
    percent_threshold: float = 1.0,
    absolute_threshold: float = 20.0,
) -> BCellStatus:
    """Absolute CD19+ per uL = %CD19+ of lymphocytes x lymphocytes/uL (unless measured). Aplasia by
    each rule: below the threshold (strictly)."""
    absolute = cd19_per_ul
    if absolute is None and cd19_percent is not None and lymphocytes_per_ul is not None:
        absolute = cd19_percent / 100.0 * lymphocytes_per_ul
    return BCellStatus(
        absolute_per_ul=absolute,
        aplasia_by_percent=None if cd19_percent is None else cd19_percent < percent_threshold,
        aplasia_by_absolute=None if absolute is None else absolute < absolute_threshold,
    )


class IgGStatus(str, Enum):
    NORMAL = "normal"
    LOW = "low"
    SEVERE = "severe"


def igg_status(igg_mg_per_dl: float, low_below: float = 700.0, severe_at_or_below: float = 400.0) -> IgGStatus:
    if igg_mg_per_dl <= severe_at_or_below:
        return IgGStatus.SEVERE
    return IgGStatus.LOW if igg_mg_per_dl < low_below else IgGStatus.NORMAL


class CutoffOperator(str, Enum):
    GE = "ge"  # positive when MFI >= cut-off (default)
    GT = "gt"


def is_positive(mfi: float, cutoff: float = 1000.0, operator: CutoffOperator = CutoffOperator.GE) -> bool:
    return mfi >= cutoff if operator is CutoffOperator.GE else mfi > cutoff


@dataclass(frozen=True)
class AntibodySample:
    collected_at: datetime
    positive: dict[str, bool]  # specificity (e.g. "A*02:01", "HPA-1a") -> positive in this sample
    mfi: dict[str, float]  # specificity -> MFI (bead assays); empty for positive/negative assays


@dataclass(frozen=True)
class Clearance:
    baseline_positive: tuple[str, ...]
    cleared_at: dict[str, datetime | None]  # per baseline-positive specificity
    subject_cleared_at: datetime | None
    summed_mfi: tuple[tuple[datetime, float], ...]  # over the baseline-positive specificities
    summed_mfi_reduction_percent: float | None  # latest vs baseline, %


def antibody_clearance(baseline: AntibodySample, follow_up: Sequence[AntibodySample]) -> Clearance:
    """A specificity positive at baseline is cleared at the second of two consecutive samples in
    which it is negative; the subject is cleared when every such specificity is (at the latest of
    their clearance dates). The summed MFI covers the baseline-positive specificities."""
    positive = tuple(sorted(s for s, pos in baseline.positive.items() if pos))
    samples = sorted(follow_up, key=lambda s: s.collected_at)
    cleared: dict[str, datetime | None] = {}
    for specificity in positive:
        run, when = 0, None
        for sample in samples:
            if specificity not in sample.positive:
                continue  # not tested in this sample: neither extends nor breaks the run
            run = 0 if sample.positive[specificity] else run + 1
            if run >= 2:
                when = sample.collected_at
                break
        cleared[specificity] = when
    subject_cleared = None
    if positive and all(cleared[s] is not None for s in positive):
        subject_cleared = max(c for c in cleared.values() if c is not None)

    def summed(sample: AntibodySample) -> float | None:
        values = [sample.mfi[s] for s in positive if s in sample.mfi]
        return sum(values) if values else None

    series = [(s.collected_at, total) for s in [baseline, *samples] if (total := summed(s)) is not None]
    reduction = None
    base_total = summed(baseline)
    if base_total and len(series) > 1:
        reduction = (base_total - series[-1][1]) / base_total * 100.0
    return Clearance(positive, cleared, subject_cleared, tuple(series), reduction)


class AntibodyClass(str, Enum):
    HLA_CLASS_I = "hla_class_i"
    HLA_CLASS_II = "hla_class_ii"
    HPA = "hpa"


class AntibodyMethod(str, Enum):
    SINGLE_ANTIGEN_BEADS = "single_antigen_beads"  # Luminex: MFI per specificity
    MAIPA = "maipa"
    ELISA = "elisa"
    BEADS = "beads"
