"""Body surface area (m^2) for the corrected count increment."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from .protocol import BsaFormula


def mosteller_bsa(height_cm: float, weight_kg: float) -> float:
    """Mosteller (N Engl J Med 1987;317:1098): sqrt(height_cm * weight_kg / 3600), in m^2."""
    return math.sqrt(height_cm * weight_kg / 3600.0)


def dubois_bsa(height_cm: float, weight_kg: float) -> float:
    """DuBois & DuBois (1916): 0.007184 * height_cm^0.725 * weight_kg^0.425, in m^2."""
    return float(0.007184 * height_cm**0.725 * weight_kg**0.425)


def body_surface_area(height_cm: float, weight_kg: float, formula: BsaFormula = BsaFormula.MOSTELLER) -> float:
    if height_cm <= 0 or weight_kg <= 0:
        raise ValueError("height and weight must be positive")
    return mosteller_bsa(height_cm, weight_kg) if formula is BsaFormula.MOSTELLER else dubois_bsa(height_cm, weight_kg)


@dataclass(frozen=True)
class Measurement:
    measured_at: datetime
    height_cm: float | None
    weight_kg: float | None


@dataclass(frozen=True)
class BodySurfaceArea:
    value_m2: float
    formula: BsaFormula
    height_cm: float
    weight_kg: float
    height_measured_at: datetime
    weight_measured_at: datetime


def body_surface_area_at(
    measurements: Sequence[Measurement], moment: datetime, formula: BsaFormula
) -> BodySurfaceArea | None:
    """BSA from the latest height and the latest weight measured on or before `moment` (they may
    come from different measurements); None when either is missing, and then the CCI is not
    evaluable (DOMAIN.md)."""
    height: tuple[datetime, float] | None = None
    weight: tuple[datetime, float] | None = None
    for m in measurements:
        if m.measured_at > moment:
            continue
        if m.height_cm is not None and (height is None or m.measured_at >= height[0]):
            height = (m.measured_at, m.height_cm)
        if m.weight_kg is not None and (weight is None or m.measured_at >= weight[0]):
            weight = (m.measured_at, m.weight_kg)
    if height is None or weight is None:
        return None
    return BodySurfaceArea(
        value_m2=body_surface_area(height[1], weight[1], formula),
        formula=formula,
        height_cm=height[1],
        weight_kg=weight[1],
        height_measured_at=height[0],
        weight_measured_at=weight[0],
    )
