"""The committed trusted-documents manifest (clients/trusted-documents.json) is what the clients
send, and every document in it is valid against the schema: PTR_TRUSTED_DOCUMENTS_ONLY would
otherwise refuse a client's operation, or trust one that can only fail."""

from __future__ import annotations

import difflib

import pytest
from graphql import parse, validate

from server.client_operations import CLIENTS_DIR, client_documents, manifest_json, trusted_manifest
from server.persisted_documents import document_hash, load_manifest
from server.schema.schema import build_schema
from server.settings import Settings

MANIFEST = CLIENTS_DIR / "trusted-documents.json"


def test_committed_manifest_matches_the_clients() -> None:
    # given
    committed = MANIFEST.read_text(encoding="utf-8")
    # when
    collected = manifest_json(trusted_manifest())
    # then
    if committed != collected:
        diff = "".join(
            difflib.unified_diff(
                committed.splitlines(keepends=True), collected.splitlines(keepends=True), "committed", "clients", n=1
            )
        )
        raise AssertionError(
            f"{MANIFEST.name} is out of date: run `ptr-trial trusted-documents` and commit the file.\n{diff[:4000]}"
        )


def test_every_client_contributes_its_operations() -> None:
    # when the clients' sources are read
    found = client_documents()
    # then every client that talks GraphQL is represented, with the operations it sends
    names = {
        path: sorted(
            definition.name.value if definition.name else "(anonymous)"  # type: ignore[attr-defined]
            for text in texts
            for definition in parse(text).definitions
        )
        for path, texts in found.items()
    }
    assert names == {
        "diary/js/app.js": ["Site", "Sync"],
        "diary/js/queue.js": ["Submit"],
        "examples/analyst.py": ["SubjectsPage"],
        "examples/analyst_questions.py": ["(anonymous)"] * 5,
        "examples/client.ts": ["EnrollSubject", "RecordPlateletTransfusion"],
        "examples/curl.sh": ["Enroll", "FirstLook"],
    }


@pytest.mark.parametrize("digest", sorted(load_manifest(MANIFEST)))
def test_every_trusted_document_is_valid_against_the_schema(digest: str) -> None:
    # given a trusted document
    text = load_manifest(MANIFEST)[digest]
    # when it is validated against the schema the service serves (its limits' rules included)
    schema = build_schema(Settings())
    errors = validate(schema._schema, parse(text), schema.query_limits.rules)  # type: ignore[attr-defined]
    # then
    assert errors == [], f"{digest}: {[e.message for e in errors]}\n{text}"
    assert document_hash(text) == digest
