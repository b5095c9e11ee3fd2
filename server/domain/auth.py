"""Who may do what: the role rules every service and read query applies (DESIGN.md rule 7)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from .enums import Role

STAFF_WRITERS = frozenset({Role.COORDINATOR, Role.INVESTIGATOR, Role.ADMIN})
SITE_BOUND = frozenset({Role.COORDINATOR, Role.INVESTIGATOR, Role.MONITOR})
ALL_SITES = frozenset({Role.ANALYST, Role.ADMIN})
AUDIT_READERS = frozenset({Role.MONITOR, Role.ADMIN})


@dataclass(frozen=True)
class Actor:
    """The authenticated caller, as the token describes them. Holds no name or contact."""

    actor_id: str
    role: Role
    site_codes: frozenset[str] = field(default_factory=frozenset)
    subject_code: str | None = None
    # A patient's phone (server.services.devices): the device's public id; its token stops
    # working when the device is revoked.
    device_id: str | None = None
    # The token's `exp` (UTC): a long-lived WebSocket is closed when it passes (server.app).
    expires_at: datetime | None = None

    @property
    def sees_all_sites(self) -> bool:
        return self.role in ALL_SITES

    @property
    def may_write_clinical_records(self) -> bool:
        return self.role in STAFF_WRITERS

    @property
    def may_read_audit_trail(self) -> bool:
        return self.role in AUDIT_READERS

    @property
    def sees_free_text(self) -> bool:
        """Analysts work on pseudonymised data and never see notes or verbatim text."""
        return self.role is not Role.ANALYST

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    def may_read_site(self, site_code: str) -> bool:
        if self.sees_all_sites:
            return True
        return self.role in SITE_BOUND and site_code in self.site_codes

    def may_read_subject(self, subject_code: str, site_code: str) -> bool:
        if self.role is Role.PATIENT:
            return self.subject_code is not None and self.subject_code == subject_code
        return self.may_read_site(site_code)

    def may_write_site(self, site_code: str) -> bool:
        if self.role is Role.ADMIN:
            return True
        return self.role in STAFF_WRITERS and site_code in self.site_codes
