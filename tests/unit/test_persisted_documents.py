"""The registries behind persisted queries (server/persisted_documents.py) and the reading of the
clients' documents (server/client_operations.py), without a server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from server import persisted_documents as pd
from server.client_operations import ClientOperationError, client_documents
from server.persisted_documents import DocumentRefused, PersistedDocuments, document_hash, load_manifest


def apq(text: str) -> dict[str, object]:
    return {"persistedQuery": {"version": 1, "sha256Hash": document_hash(text)}}


def test_the_apq_registry_forgets_the_least_recently_used_document_beyond_its_size() -> None:
    # given a registry of two documents holding a and b, a used last
    documents = PersistedDocuments({}, trusted_only=False, max_registered=2)
    for text in ("{ a }", "{ b }", "{ a }"):
        documents.resolve(text, apq(text))
    # when c is registered
    documents.resolve("{ c }", apq("{ c }"))
    # then b is forgotten, a and c are found
    assert [documents.resolve(None, apq(t)) for t in ("{ a }", "{ c }")] == ["{ a }", "{ c }"]
    with pytest.raises(DocumentRefused) as refused:
        documents.resolve(None, apq("{ b }"))
    assert (refused.value.status_code, refused.value.code) == (200, "PERSISTED_QUERY_NOT_FOUND")


def test_the_apq_registry_is_bounded_in_characters_too(monkeypatch: pytest.MonkeyPatch) -> None:
    # given a registry that may hold 100 characters of text
    monkeypatch.setattr(pd, "MAX_REGISTERED_CHARS", 100)
    documents = PersistedDocuments({}, trusted_only=False, max_registered=1_000)
    texts = [f"{{ f{i} {' ' * 40} }}" for i in range(5)]  # 47 characters each
    # when five are registered
    for text in texts:
        documents.resolve(text, apq(text))
    # then only the last two are kept, and a document over the bound still runs but is not kept
    assert list(documents.registered.values()) == texts[-2:]
    assert documents.registered_chars <= 100
    big = "{ x " + " " * 200 + "}"
    assert documents.resolve(big, apq(big)) == big
    assert document_hash(big) not in documents.registered


def test_a_manifest_whose_key_is_not_its_document_s_hash_is_refused(tmp_path: Path) -> None:
    # given a manifest edited by hand to trust a text under another text's hash
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({document_hash("{ a }"): "{ b }"}))
    # then it is refused
    with pytest.raises(ValueError, match="not the SHA-256"):
        load_manifest(path)


def test_a_client_document_built_from_an_expression_is_refused(tmp_path: Path) -> None:
    # given a client whose document interpolates something other than a constant
    (tmp_path / "examples").mkdir()
    (tmp_path / "diary" / "js").mkdir(parents=True)
    (tmp_path / "examples" / "client.ts").write_text("const Q = `query Q { ${fields()} }`;\n")
    # then reading it fails rather than recording a text the client never sends
    with pytest.raises(ClientOperationError, match="must name a `const` template literal"):
        client_documents(tmp_path)


def test_a_client_document_from_constants_is_the_text_javascript_builds(tmp_path: Path) -> None:
    # given a client with a shared selection in another file and a nested template literal elsewhere
    (tmp_path / "examples").mkdir()
    js = tmp_path / "diary" / "js"
    js.mkdir(parents=True)
    (js / "a.js").write_text("export const FIELDS = `id name`;\nconst msg = `x ${`y`} z`; // `query Not { }`\n")
    (js / "b.js").write_text('const Q = `query Q { node { ${FIELDS} } }`;\nconst s = "`{ notGraphQL }`";\n')
    # when
    found = client_documents(tmp_path)
    # then
    assert found == {"diary/js/b.js": ["query Q { node { id name } }"]}
