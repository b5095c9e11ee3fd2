"""CTCAE v5.0 terms this trial uses (the list ships in server/data/ctcae_v5_trial_terms.csv,
written from NCI's CTCAE v5.0 spreadsheet and checked against it by a test)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from enum import Enum

CTCAE_VERSION = "CTCAE v5.0"

# MedDRA codes the rules below refer to.
EPISTAXIS = 10015090
ORAL_HEMORRHAGE = 10030980
UPPER_GI_HEMORRHAGE = 10055356
LOWER_GI_HEMORRHAGE = 10051746
HEMATURIA = 10019450
BRONCHOPULMONARY_HEMORRHAGE = 10065746
VAGINAL_HEMORRHAGE = 10046912
PURPURA = 10037549
BRUISING = 10006504
EYE_DISORDERS_OTHER = 10015919  # v5.0 has no retinal hemorrhage term
CYTOKINE_RELEASE_SYNDROME = 10052015
NERVOUS_SYSTEM_OTHER = 10029205  # ICANS has no v5.0 term: recorded here with the ASTCT grade


class GradingScale(str, Enum):
    CTCAE_V5 = "ctcae_v5"
    ASTCT_2019 = "astct_2019"  # CRS and ICANS (ASTCT consensus, Lee et al. 2019)


# Terms graded by the ASTCT 2019 consensus rather than CTCAE.
ASTCT_TERMS = frozenset({CYTOKINE_RELEASE_SYNDROME, NERVOUS_SYSTEM_OTHER})


@dataclass(frozen=True)
class Term:
    meddra_code: int
    name: str
    soc: str  # MedDRA system organ class
    grades: frozenset[int]  # grades the term defines (e.g. Bruising: 1-2 only)

    def allowed_scales(self) -> frozenset[GradingScale]:
        if self.meddra_code == CYTOKINE_RELEASE_SYNDROME:
            return frozenset({GradingScale.ASTCT_2019})
        if self.meddra_code == NERVOUS_SYSTEM_OTHER:
            return frozenset({GradingScale.ASTCT_2019, GradingScale.CTCAE_V5})
        return frozenset({GradingScale.CTCAE_V5})


def parse_term_list(text: str) -> dict[int, Term]:
    """Reads the trial's term list (columns meddra_code, term, soc, grades as '1|2|3')."""
    terms: dict[int, Term] = {}
    for row in csv.DictReader(io.StringIO(text)):
        term = Term(
            meddra_code=int(row["meddra_code"]),
            name=row["term"],
            soc=row["soc"],
            grades=frozenset(int(g) for g in row["grades"].split("|")),
        )
        terms[term.meddra_code] = term
    return terms
