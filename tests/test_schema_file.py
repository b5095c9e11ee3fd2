"""The committed SDL (schema.graphql) is what the code serves: client teams build against the file.

And it does not break them unannounced: every breaking change since schema.baseline.graphql (the
schema of the last release) must be listed, with its reason, in schema-changes.allowed.json;
dangerous changes (an enum value or a union member added, an argument's default changed) are
reported but pass. A field is retired with `@deprecated(reason: ...)`, which is not breaking."""

from __future__ import annotations

import difflib
import json
import warnings
from pathlib import Path

import pytest
from graphql import build_schema, find_breaking_changes, find_dangerous_changes

from server.cli import export_schema_sdl

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_FILE = ROOT / "schema.graphql"
BASELINE_FILE = ROOT / "schema.baseline.graphql"
ALLOWED_FILE = ROOT / "schema-changes.allowed.json"


def test_committed_schema_matches_the_code():
    # given
    committed = SCHEMA_FILE.read_text()
    # when
    exported = export_schema_sdl()
    # then
    if committed != exported:
        diff = "".join(
            difflib.unified_diff(
                committed.splitlines(keepends=True),
                exported.splitlines(keepends=True),
                "schema.graphql (committed)",
                "export_schema_sdl() (code)",
                n=2,
            )
        )
        raise AssertionError(
            f"schema.graphql is out of date: run `ptr-trial export-schema` and commit the file.\n{diff[:4000]}"
        )


def breaking_changes(old_sdl: str, new_sdl: str) -> list[str]:
    """Each breaking change as "TYPE: description", e.g. "FIELD_REMOVED: Field Subject.code was removed."."""
    changes = find_breaking_changes(build_schema(old_sdl), build_schema(new_sdl))
    return sorted(f"{change.type.name}: {change.description}" for change in changes)


def dangerous_changes(old_sdl: str, new_sdl: str) -> list[str]:
    changes = find_dangerous_changes(build_schema(old_sdl), build_schema(new_sdl))
    return sorted(f"{change.type.name}: {change.description}" for change in changes)


def unapproved(changes: list[str], allowed: list[dict[str, str]]) -> list[str]:
    approved = {entry["change"] for entry in allowed}
    return [change for change in changes if change not in approved]


def allowed_entries() -> list[dict[str, str]]:
    entries: list[dict[str, str]] = json.loads(ALLOWED_FILE.read_text(encoding="utf-8"))["allowed"]
    return entries


def test_no_unannounced_breaking_change_since_the_baseline():
    # given the schema of the last release and the breaking changes announced since
    baseline = BASELINE_FILE.read_text(encoding="utf-8")
    allowed = allowed_entries()
    # when the code's schema is compared with it
    current = export_schema_sdl()
    dangerous = dangerous_changes(baseline, current)
    # then dangerous changes are reported (clients with an exhaustive switch may need a new case) ...
    if dangerous:
        warnings.warn(
            "dangerous (not breaking) schema changes since schema.baseline.graphql:\n  " + "\n  ".join(dangerous),
            stacklevel=1,
        )
    # ... and every breaking one must be announced
    missing = unapproved(breaking_changes(baseline, current), allowed)
    entries = json.dumps([{"change": change, "reason": "..."} for change in missing], indent=2)
    assert not missing, (
        f"breaking schema changes since {BASELINE_FILE.name}:\n  " + "\n  ".join(missing) + "\n"
        "Prefer a compatible change (deprecate with @deprecated(reason: ...) and add the new field beside it). "
        f'If the break is intended, tell the client teams and add to {ALLOWED_FILE.name}\'s "allowed":\n{entries}'
    )


def test_every_announced_breaking_change_is_real_and_has_a_reason():
    # given the announced breaking changes
    allowed = allowed_entries()
    # when the code's schema is compared with the baseline
    changes = breaking_changes(BASELINE_FILE.read_text(encoding="utf-8"), export_schema_sdl())
    # then each entry names a change that happens (a stale entry would let it slip back in unannounced
    # after a release) and gives the reason
    stale = [entry["change"] for entry in allowed if entry["change"] not in changes]
    assert stale == [], f"not a breaking change since {BASELINE_FILE.name} (any more): remove from {ALLOWED_FILE.name}"
    assert [entry["change"] for entry in allowed if not entry.get("reason", "").strip()] == [], "give the reason"


OLD_SDL = """
type Query { subject(code: String!): Subject }
type Subject { code: String! weightKg: Float heightCm: Float status: Status! }
enum Status { ENROLLED WITHDRAWN }
"""


@pytest.mark.parametrize(
    ("new_sdl", "expected"),
    [
        pytest.param(
            OLD_SDL.replace(" weightKg: Float", ""),
            ["FIELD_REMOVED: Field Subject.weightKg was removed."],
            id="field removed",
        ),
        pytest.param(
            OLD_SDL.replace("weightKg: Float", "weightKg: Int"),
            ["FIELD_CHANGED_KIND: Field Subject.weightKg changed type from Float to Int."],
            id="field type changed",
        ),
        pytest.param(
            OLD_SDL.replace("subject(code: String!)", "subject(code: String!, site: String!)"),
            ["REQUIRED_ARG_ADDED: A required argument Query.subject(site:) was added."],
            id="required argument added",
        ),
        pytest.param(
            OLD_SDL.replace(" weightKg: Float", ' weightKg: Float @deprecated(reason: "use weight")'),
            [],
            id="field deprecated",
        ),
    ],
)
def test_the_check_tells_breaking_changes_from_deprecations(new_sdl: str, expected: list[str]):
    # when
    changes = breaking_changes(OLD_SDL, new_sdl)
    # then
    assert changes == expected
    assert unapproved(changes, [{"change": c, "reason": "announced"} for c in expected]) == []


def test_an_added_enum_value_is_dangerous_not_breaking():
    # given
    new_sdl = OLD_SDL.replace("ENROLLED WITHDRAWN", "ENROLLED WITHDRAWN COMPLETED")
    # when / then
    assert breaking_changes(OLD_SDL, new_sdl) == []
    assert dangerous_changes(OLD_SDL, new_sdl) == ["VALUE_ADDED_TO_ENUM: Enum value Status.COMPLETED was added."]
