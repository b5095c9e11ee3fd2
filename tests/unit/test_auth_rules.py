"""Who may do what: the Actor role rules (DESIGN.md rule 7)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.domain.auth import Actor
from server.domain.enums import Role

R = Role


def actor(role: Role, sites: tuple[str, ...] = ("S01",), subject: str | None = None) -> Actor:
    return Actor(actor_id=f"{role.value}-1", role=role, site_codes=frozenset(sites), subject_code=subject)


# role, own site S01, other site S02
@pytest.mark.parametrize(
    ("role", "own", "other"),
    [
        (R.PATIENT, False, False),
        (R.INVESTIGATOR, True, False),
        (R.COORDINATOR, True, False),
        (R.MONITOR, True, False),
        (R.ANALYST, True, True),
        (R.ADMIN, True, True),
    ],
    ids=lambda v: v.value if isinstance(v, Role) else None,
)
def test_may_read_site(role: Role, own: bool, other: bool) -> None:
    a = actor(role, sites=("S01",))
    assert a.may_read_site("S01") is own
    assert a.may_read_site("S02") is other


@pytest.mark.parametrize("role", [R.INVESTIGATOR, R.COORDINATOR, R.MONITOR], ids=lambda r: r.value)
def test_site_bound_roles_without_sites_read_nothing(role: Role) -> None:
    a = actor(role, sites=())
    assert not a.may_read_site("S01")
    assert not a.may_read_subject("S01-001", "S01")
    assert not a.may_write_site("S01")


@pytest.mark.parametrize("role", [R.INVESTIGATOR, R.COORDINATOR, R.MONITOR], ids=lambda r: r.value)
def test_site_bound_roles_with_several_sites(role: Role) -> None:
    a = actor(role, sites=("S01", "S03"))
    assert a.may_read_site("S01")
    assert a.may_read_site("S03")
    assert not a.may_read_site("S02")


def test_patient_with_sites_in_token_still_reads_no_site() -> None:
    assert not actor(R.PATIENT, sites=("S01",), subject="S01-001").may_read_site("S01")


# role, subject S01-001 at S01 (own site / own subject), S02-001 at S02, S01-002 at S01
@pytest.mark.parametrize(
    ("role", "own_subject", "other_site_subject", "same_site_other_subject"),
    [
        (R.PATIENT, True, False, False),
        (R.INVESTIGATOR, True, False, True),
        (R.COORDINATOR, True, False, True),
        (R.MONITOR, True, False, True),
        (R.ANALYST, True, True, True),
        (R.ADMIN, True, True, True),
    ],
    ids=lambda v: v.value if isinstance(v, Role) else None,
)
def test_may_read_subject(
    role: Role, own_subject: bool, other_site_subject: bool, same_site_other_subject: bool
) -> None:
    a = actor(role, sites=("S01",), subject="S01-001" if role is R.PATIENT else None)
    assert a.may_read_subject("S01-001", "S01") is own_subject
    assert a.may_read_subject("S02-001", "S02") is other_site_subject
    assert a.may_read_subject("S01-002", "S01") is same_site_other_subject


def test_patient_without_subject_reads_no_subject() -> None:
    assert not actor(R.PATIENT, sites=("S01",), subject=None).may_read_subject("S01-001", "S01")


def test_patient_subject_match_is_exact() -> None:
    a = actor(R.PATIENT, sites=(), subject="S01-001")
    assert not a.may_read_subject("s01-001", "S01")
    assert not a.may_read_subject("S01-0011", "S01")
    assert not a.may_read_subject("", "S01")


@pytest.mark.parametrize(
    ("role", "own", "other"),
    [
        (R.PATIENT, False, False),
        (R.INVESTIGATOR, True, False),
        (R.COORDINATOR, True, False),
        (R.MONITOR, False, False),
        (R.ANALYST, False, False),
        (R.ADMIN, True, True),
    ],
    ids=lambda v: v.value if isinstance(v, Role) else None,
)
def test_may_write_site(role: Role, own: bool, other: bool) -> None:
    a = actor(role, sites=("S01",), subject="S01-001" if role is R.PATIENT else None)
    assert a.may_write_site("S01") is own
    assert a.may_write_site("S02") is other


@pytest.mark.parametrize(
    ("role", "write_clinical", "read_audit", "free_text", "all_sites", "is_admin"),
    [
        (R.PATIENT, False, False, True, False, False),
        (R.INVESTIGATOR, True, False, True, False, False),
        (R.COORDINATOR, True, False, True, False, False),
        (R.MONITOR, False, True, True, False, False),
        (R.ANALYST, False, False, False, True, False),
        (R.ADMIN, True, True, True, True, True),
    ],
    ids=lambda v: v.value if isinstance(v, Role) else None,
)
def test_role_flags(
    role: Role, write_clinical: bool, read_audit: bool, free_text: bool, all_sites: bool, is_admin: bool
) -> None:
    a = actor(role)
    assert a.may_write_clinical_records is write_clinical
    assert a.may_read_audit_trail is read_audit
    assert a.sees_free_text is free_text
    assert a.sees_all_sites is all_sites
    assert a.is_admin is is_admin


def test_actor_is_frozen() -> None:
    a = actor(R.COORDINATOR)
    with pytest.raises(AttributeError):
        a.role = R.ADMIN  # type: ignore[misc]


site_codes = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=6)


@given(st.sampled_from(Role), st.frozensets(site_codes, max_size=4), site_codes)
def test_write_implies_read(role: Role, sites: frozenset[str], site: str) -> None:
    a = Actor(actor_id="x", role=role, site_codes=sites)
    if a.may_write_site(site):
        assert a.may_read_site(site)
        assert a.may_write_clinical_records


@given(st.sampled_from([R.INVESTIGATOR, R.COORDINATOR, R.MONITOR]), st.frozensets(site_codes, max_size=4), site_codes)
def test_site_bound_read_iff_site_in_token(role: Role, sites: frozenset[str], site: str) -> None:
    a = Actor(actor_id="x", role=role, site_codes=sites)
    assert a.may_read_site(site) is (site in sites)
    assert a.may_read_subject(f"{site}-001", site) is (site in sites)
