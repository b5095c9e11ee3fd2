"""Persisted and trusted documents (issue 11): which document text a GraphQL request runs.

Two registries of documents, keyed by the SHA-256 of their exact text (lowercase hex):

- **trusted documents**: the operations of this project's own clients (the diary app and the
  example clients), collected by `ptr-trial trusted-documents` into a manifest committed beside
  them (clients/trusted-documents.json, {sha256: text}). With `PTR_TRUSTED_DOCUMENTS_ONLY` on,
  nothing else runs: a request names a trusted document by its hash or sends its exact text.
- **automatic persisted queries** (Apollo's APQ protocol, version 1): a client sends
  `extensions: {"persistedQuery": {"version": 1, "sha256Hash": ...}}` without `query`; an unknown
  hash is answered `PERSISTED_QUERY_NOT_FOUND` (HTTP 200, as Apollo Server does), and the client
  sends the text with the hash once, which registers it. The registry is a per-process LRU bounded
  in documents and characters, so nobody can grow the server's memory by registering documents.
  With `PTR_TRUSTED_DOCUMENTS_ONLY` on nothing is registered.

This module only turns a request's `query` and `extensions` into the text to run. Parsing and
validation stay strawberry's (ParserCache, then server/schema/execution/limits.py's validation cache), both
keyed by that text, so a persisted document is parsed and validated once per process like any
other document a client repeats; in trusted-only mode those caches only ever hold trusted
documents, which a flood of other documents cannot evict.

Refusals are `DocumentRefused`: an HTTP status, a stable code and a message, which server/app.py
answers as a GraphQL error body (and the WebSocket handler as an `error` message).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path

from cross_web import HTTPException
from graphql import GraphQLFormattedError

from .settings import Settings

log = logging.getLogger("ptr_trial.documents")

APQ_VERSION = 1
NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"  # Apollo's code and message: Apollo clients retry on it
HASH_MISMATCH = "PERSISTED_QUERY_HASH_MISMATCH"
NOT_ALLOWED = "PERSISTED_QUERY_NOT_ALLOWED"
BAD_REQUEST = "BAD_REQUEST"
SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")
# Characters of registered text per process, besides the count (PTR_PERSISTED_QUERIES_MAX): a
# document may be up to the 1 MB body limit, and 5,000 of those would be 5 GB.
MAX_REGISTERED_CHARS = 16_000_000


class DocumentRefused(HTTPException):
    """A request whose document cannot run: answered with `status_code` and a GraphQL error
    carrying `code` (server/app.py TrialGraphQL.__call__)."""

    def __init__(self, status_code: int, code: str, message: str) -> None:
        super().__init__(status_code, message)
        self.code = code

    @property
    def formatted(self) -> GraphQLFormattedError:
        return {"message": self.reason, "extensions": {"code": self.code}}


def document_hash(text: str) -> str:
    """Apollo's APQ hash: SHA-256 of the document's UTF-8 text, lowercase hex. A text that is not
    valid Unicode (a lone surrogate from a JSON escape) cannot be hashed: refused."""
    try:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()
    except UnicodeEncodeError as error:
        raise DocumentRefused(400, BAD_REQUEST, "the query is not valid Unicode text") from error


def load_manifest(path: Path) -> dict[str, str]:
    """{sha256: text} from the manifest file; every key must be the hash of its text (a manifest
    edited by hand would otherwise trust a text under another text's hash)."""
    manifest = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(manifest, dict) or not all(isinstance(text, str) for text in manifest.values()):
        raise ValueError(f"{path}: a trusted-documents manifest is a JSON object of sha256 -> document text")
    wrong = [key for key, text in manifest.items() if document_hash(text) != key]
    if wrong:
        raise ValueError(f"{path}: {len(wrong)} key(s) are not the SHA-256 of their document, e.g. {wrong[0]}")
    return manifest


class PersistedDocuments:
    """The trusted documents of one process and the documents APQ registered in it."""

    def __init__(self, trusted: Mapping[str, str], *, trusted_only: bool, max_registered: int) -> None:
        self.trusted = dict(trusted)
        self.trusted_only = trusted_only
        self.max_registered = max_registered
        self.registered: OrderedDict[str, str] = OrderedDict()  # least recently used first
        self.registered_chars = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> PersistedDocuments:
        """Trusted-only mode without its manifest refuses to start (it would refuse every request);
        otherwise a missing manifest only means no document is trusted."""
        path = settings.effective_trusted_documents_file
        if path.is_file():
            trusted = load_manifest(path)
        elif settings.trusted_documents_only:
            raise ValueError(f"PTR_TRUSTED_DOCUMENTS_ONLY is on but the manifest {path} does not exist")
        else:
            log.info("no trusted-documents manifest at %s: no document is trusted", path)
            trusted = {}
        return cls(trusted, trusted_only=settings.trusted_documents_only, max_registered=settings.persisted_queries_max)

    def resolve(self, query: object, extensions: object) -> str | None:
        """The document text to run for a request's `query` and `extensions` (the query itself,
        None included, when no persisted query is named), or DocumentRefused."""
        if query is not None and not isinstance(query, str):
            raise DocumentRefused(400, BAD_REQUEST, "`query` must be a string")
        persisted = extensions.get("persistedQuery") if isinstance(extensions, Mapping) else None
        if persisted is None:
            if self.trusted_only and query is not None and document_hash(query) not in self.trusted:
                raise self._not_allowed()
            return query
        wanted = _requested_hash(persisted)
        if query is None:
            return self._lookup(wanted)
        if "\x00" in query:  # no GraphQL document holds one: refused before it is registered
            raise DocumentRefused(400, BAD_REQUEST, "the query contains a NUL character")
        if document_hash(query) != wanted:
            raise DocumentRefused(400, HASH_MISMATCH, "provided sha does not match query")
        if wanted not in self.trusted:
            if self.trusted_only:
                raise self._not_allowed()
            self._register(wanted, query)
        return query

    def _lookup(self, wanted: str) -> str:
        if (text := self.trusted.get(wanted)) is not None:
            return text
        if self.trusted_only:
            # Not "not found": the client must not retry with the text, which would be refused too.
            raise self._not_allowed()
        if (text := self.registered.get(wanted)) is None:
            raise DocumentRefused(200, NOT_FOUND, "PersistedQueryNotFound")
        self.registered.move_to_end(wanted)
        return text

    def _register(self, key: str, text: str) -> None:
        if key in self.registered:
            self.registered.move_to_end(key)
            return
        if self.max_registered == 0 or len(text) > MAX_REGISTERED_CHARS:
            return  # runs, but is not kept
        self.registered[key] = text
        self.registered_chars += len(text)
        while len(self.registered) > self.max_registered or self.registered_chars > MAX_REGISTERED_CHARS:
            _, evicted = self.registered.popitem(last=False)
            self.registered_chars -= len(evicted)

    @staticmethod
    def _not_allowed() -> DocumentRefused:
        return DocumentRefused(
            400,
            NOT_ALLOWED,
            "this server runs only its clients' trusted documents (PTR_TRUSTED_DOCUMENTS_ONLY); "
            "send one of them, by its sha256 hash or its exact text",
        )


def _requested_hash(persisted: object) -> str:
    """The lowercase hash of a well-formed `persistedQuery` extension (version 1)."""
    if not isinstance(persisted, Mapping):
        raise DocumentRefused(400, BAD_REQUEST, "`extensions.persistedQuery` must be an object")
    version = persisted.get("version")
    if version != APQ_VERSION or isinstance(version, bool):
        raise DocumentRefused(400, BAD_REQUEST, "unsupported persisted query version: only version 1 is supported")
    wanted = persisted.get("sha256Hash")
    if not isinstance(wanted, str) or not SHA256_HEX.fullmatch(wanted):
        raise DocumentRefused(
            400, BAD_REQUEST, "`extensions.persistedQuery.sha256Hash` must be a SHA-256 digest: 64 hexadecimal digits"
        )
    return wanted.lower()
