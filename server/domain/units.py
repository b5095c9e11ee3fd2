"""Units of the platelet records, with their explicit conversions (DESIGN.md rule 4)."""

from __future__ import annotations

# 1 x10^9/L = 10^9 per litre = 10^9 / 10^6 per uL = 1,000 per uL.
PER_UL_PER_E9_PER_L = 1000

# A platelet count above this in x10^9/L is not physiological (thrombocytosis rarely passes
# 1,500); values past it are almost always a per-uL figure sent by mistake.
MAX_PLATELET_COUNT_E9_PER_L = 2000.0


def platelets_per_ul(count_e9_per_l: float) -> float:
    """x10^9/L -> per uL (multiply by 1000)."""
    return count_e9_per_l * PER_UL_PER_E9_PER_L
