"""The trial's CTCAE v5.0 term list (server/data/ctcae_v5_trial_terms.csv): it parses, holds every
term DOMAIN.md names with its code, and matches NCI's list whenever that file is present."""

from __future__ import annotations

import csv
from importlib import resources
from pathlib import Path

import pytest

from server.domain import ctcae
from server.domain.ctcae import GradingScale, Term, parse_term_list
from server.services.terms import TERM_LIST_FILE, trial_terms

# NCI's spreadsheet sits in shared/data beside the repository (DOMAIN.md, "The official term list").
NCI_TERM_LIST = Path(__file__).parents[2].parent / "shared/data/ctcae_v5_terms.csv"
NCI_TERM_COUNT = 837

ALL = frozenset({1, 2, 3, 4, 5})

# Every term DOMAIN.md names, with the MedDRA code it gives.
DOMAIN_TERMS = [
    (10015090, "Epistaxis"),
    (10030980, "Oral hemorrhage"),
    (10055356, "Upper gastrointestinal hemorrhage"),
    (10051746, "Lower gastrointestinal hemorrhage"),
    (10038064, "Rectal hemorrhage"),
    (10019450, "Hematuria"),
    (10065746, "Bronchopulmonary hemorrhage"),
    (10046912, "Vaginal hemorrhage"),
    (10022763, "Intracranial hemorrhage"),
    (10037549, "Purpura"),
    (10006504, "Bruising"),
    (10019428, "Hematoma"),
    (10047656, "Vitreous hemorrhage"),
    (10015919, "Eye disorders - Other, specify"),
    (10052015, "Cytokine release syndrome"),
    (10051792, "Infusion related reaction"),
    (10016288, "Febrile neutropenia"),
    (10016558, "Fever"),
    (10035528, "Platelet count decreased"),
    (10029366, "Neutrophil count decreased"),
    (10025256, "Lymphocyte count decreased"),
    (10049182, "White blood cell decreased"),
    (10002272, "Anemia"),
    (10029205, "Nervous system disorders - Other, specify"),
]


def _packaged_text() -> str:
    return resources.files("server").joinpath("data", TERM_LIST_FILE).read_text(encoding="utf-8")


def test_the_packaged_list_parses_one_term_per_row() -> None:
    # given
    text = _packaged_text()
    rows = list(csv.DictReader(text.splitlines()))

    # when
    terms = trial_terms()

    # then
    assert len(rows) == 34
    assert len(terms) == len(rows)  # no MedDRA code appears twice
    assert terms == parse_term_list(text)
    for code, term in terms.items():
        assert term.meddra_code == code
        assert term.name and term.name == term.name.strip()
        assert term.soc and term.soc == term.soc.strip()
        assert term.grades and term.grades <= ALL


def test_parse_term_list() -> None:
    # given
    text = 'meddra_code,term,soc,grades\n10006504,Bruising,"Injury, poisoning and procedural complications",1|2\n'

    # when
    terms = parse_term_list(text)

    # then
    assert terms == {
        10006504: Term(10006504, "Bruising", "Injury, poisoning and procedural complications", frozenset({1, 2}))
    }


@pytest.mark.parametrize(("code", "name"), DOMAIN_TERMS)
def test_every_term_domain_names_is_in_the_list_with_its_code(code: int, name: str) -> None:
    assert trial_terms()[code].name == name


def test_the_code_constants_name_the_domain_terms() -> None:
    terms = trial_terms()
    named = {
        ctcae.EPISTAXIS: "Epistaxis",
        ctcae.ORAL_HEMORRHAGE: "Oral hemorrhage",
        ctcae.UPPER_GI_HEMORRHAGE: "Upper gastrointestinal hemorrhage",
        ctcae.LOWER_GI_HEMORRHAGE: "Lower gastrointestinal hemorrhage",
        ctcae.HEMATURIA: "Hematuria",
        ctcae.BRONCHOPULMONARY_HEMORRHAGE: "Bronchopulmonary hemorrhage",
        ctcae.VAGINAL_HEMORRHAGE: "Vaginal hemorrhage",
        ctcae.PURPURA: "Purpura",
        ctcae.BRUISING: "Bruising",
        ctcae.EYE_DISORDERS_OTHER: "Eye disorders - Other, specify",
        ctcae.CYTOKINE_RELEASE_SYNDROME: "Cytokine release syndrome",
        ctcae.NERVOUS_SYSTEM_OTHER: "Nervous system disorders - Other, specify",
    }
    assert {code: terms[code].name for code in named} == named


@pytest.mark.parametrize(
    ("code", "soc"),
    [
        (10015090, "Respiratory, thoracic and mediastinal disorders"),
        (10030980, "Gastrointestinal disorders"),
        (10019450, "Renal and urinary disorders"),
        (10037549, "Skin and subcutaneous tissue disorders"),
        (10006504, "Injury, poisoning and procedural complications"),
        (10035528, "Investigations"),
        (10002272, "Blood and lymphatic system disorders"),
    ],
)
def test_system_organ_classes_domain_names(code: int, soc: str) -> None:
    assert trial_terms()[code].soc == soc


@pytest.mark.parametrize(
    ("code", "grades"),
    [
        (10037549, {1, 2, 3}),  # Purpura: no G4/G5
        (10006504, {1, 2}),  # Bruising: no G3-5
        (10016288, {3, 4, 5}),  # Febrile neutropenia: G3-5 only
        (10047656, {1, 2, 3, 4}),  # Vitreous hemorrhage
        (10015090, {1, 2, 3, 4, 5}),  # Epistaxis G1-G5
        (10035528, {1, 2, 3, 4}),  # lab terms: grade 5 never comes from a lab value
        (10029366, {1, 2, 3, 4}),
        (10025256, {1, 2, 3, 4}),
        (10049182, {1, 2, 3, 4}),
    ],
)
def test_known_grades(code: int, grades: set[int]) -> None:
    assert trial_terms()[code].grades == grades


def test_allowed_scales() -> None:
    terms = trial_terms()
    assert terms[ctcae.CYTOKINE_RELEASE_SYNDROME].allowed_scales() == {GradingScale.ASTCT_2019}
    assert terms[ctcae.NERVOUS_SYSTEM_OTHER].allowed_scales() == {GradingScale.ASTCT_2019, GradingScale.CTCAE_V5}
    others = [t for code, t in terms.items() if code not in ctcae.ASTCT_TERMS]
    assert {frozenset(t.allowed_scales()) for t in others} == {frozenset({GradingScale.CTCAE_V5})}


def _nci_rows() -> dict[int, dict[str, str]]:
    with NCI_TERM_LIST.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    by_code = {int(row["meddra_code"]): row for row in rows}
    assert len(by_code) == len(rows) == NCI_TERM_COUNT
    return by_code


def _nci_grades(row: dict[str, str]) -> frozenset[int]:
    """A grade exists when its cell is not "-"."""
    return frozenset(g for g in range(1, 6) if row[f"grade{g}"].strip() != "-")


@pytest.mark.skipif(
    not NCI_TERM_LIST.is_file(),
    reason=f"NCI's CTCAE v5.0 term list is not present at {NCI_TERM_LIST}: cannot check the packaged list against it",
)
def test_every_packaged_term_matches_ncis_row_exactly() -> None:
    # given
    nci = _nci_rows()

    # when
    mismatches: list[tuple[int, object, object]] = []
    for code, term in sorted(trial_terms().items()):
        row = nci.get(code)
        if row is None:
            mismatches.append((code, term.name, "not in NCI's list"))
            continue
        ours = (term.name, term.soc, term.grades)
        theirs = (row["term"], row["soc"], _nci_grades(row))
        if ours != theirs:
            mismatches.append((code, ours, theirs))

    # then
    assert mismatches == []
    assert _nci_grades(nci[10037549]) == {1, 2, 3}
    assert _nci_grades(nci[10006504]) == {1, 2}
    assert _nci_grades(nci[10016288]) == {3, 4, 5}
    assert _nci_grades(nci[10047656]) == {1, 2, 3, 4}
