"""The GraphQL documents this project's own clients send, exactly as they send them: the source of
the trusted-documents manifest (`ptr-trial trusted-documents`, server/persisted_documents.py).

A trusted document is matched by the SHA-256 of its exact text, so each document is read out of
the client's source the way the client's language builds the string, without running the client:

- `.graphql` files: the whole file;
- Python (analyst.py, analyst_questions.py): every string constant whose text starts with a
  GraphQL operation (`query`, `mutation`, `subscription`, `fragment` or `{`), read with Python's
  own parser (`ast`), so quoting and escapes are Python's;
- JavaScript and TypeScript (client.ts, the diary's js/): every template literal starting with an
  operation; a `${NAME}` inside it is replaced by the template literal assigned to `const NAME` in
  the same client (the diary's REPORT_FIELDS, client.ts's USER_ERROR_FIELDS), as JavaScript does.
  Anything else inside `${}` or a backslash (an escape JavaScript would rewrite) is refused, so a
  document is never recorded differently from what the client sends;
- shell (curl.sh): the string value of each JSON `"query":` member, with the heredoc's `\\$` read
  as `$`.

A string that starts like an operation but is not a GraphQL document is an error, not skipped:
better a failing `ptr-trial trusted-documents` than a client whose operation is silently untrusted.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from pathlib import Path

from graphql import GraphQLSyntaxError, parse

CLIENTS_DIR = Path(__file__).resolve().parent.parent / "clients"
# Each client is a directory: `${NAME}` resolves among the constants of one client's files.
CLIENT_DIRS = ("examples", "diary/js")
SUFFIXES = (".graphql", ".py", ".js", ".ts", ".sh")
OPERATION_START = re.compile(r"\s*(?:(?:query|mutation|subscription|fragment)\b[^{}]*\{|\{\s*[_A-Za-z])")
JS_CONST = re.compile(r"\bconst\s+([A-Za-z_$][\w$]*)\s*=\s*$")
JS_NAME = re.compile(r"[A-Za-z_$][\w$]*")
JSON_QUERY = re.compile(r'"query"\s*:\s*("(?:[^"\\]|\\.)*")')


class ClientOperationError(ValueError):
    pass


def client_documents(clients_dir: Path = CLIENTS_DIR) -> dict[str, list[str]]:
    """Every client's documents, by the file (relative to clients_dir) they come from."""
    found: dict[str, list[str]] = {}
    for client in CLIENT_DIRS:
        directory = clients_dir / client
        files = sorted(p for p in directory.glob("*") if p.is_file() and p.suffix in SUFFIXES)
        constants: dict[str, str] = {}
        for path in files:
            if path.suffix in (".js", ".ts"):
                constants.update((name, body) for name, body, _ in _template_literals(path) if name)
        for path in files:
            documents = list(_documents_in(path, constants))
            for text in documents:
                _check_is_graphql(text, path)
            if documents:
                found[str(path.relative_to(clients_dir))] = documents
    return found


def _documents_in(path: Path, constants: dict[str, str]) -> Iterator[str]:
    source = path.read_text(encoding="utf-8")
    if path.suffix == ".graphql":
        yield source
    elif path.suffix == ".py":
        yield from _python_documents(source)
    elif path.suffix in (".js", ".ts"):
        for _, body, line in _template_literals(path):
            if OPERATION_START.match(body):
                yield _substitute(body, constants, f"{path}:{line}")
    elif path.suffix == ".sh":
        for match in JSON_QUERY.finditer(source):
            yield json.loads(match.group(1).replace("\\$", "$"))


def _python_documents(source: str) -> Iterator[str]:
    tree = ast.parse(source)
    in_fstrings = {id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for part in node.values}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in in_fstrings
            and OPERATION_START.match(node.value)
        ):
            yield node.value


def _template_literals(path: Path) -> list[tuple[str | None, str, int]]:
    """(name of the `const` it is assigned to or None, raw body, line) of every template literal
    of a JavaScript/TypeScript file, nested ones included. A small scanner of comments, quoted
    strings and template literals with their `${}` substitutions; enough for these clients (a
    regular-expression literal holding a quote or a backtick would confuse it: the drift test
    then fails loudly rather than trusting a wrong text)."""
    source = path.read_text(encoding="utf-8")
    found: list[tuple[str | None, str, int]] = []
    _scan_code(source, 0, found, inside_substitution=False)
    return found


def _scan_code(source: str, i: int, found: list[tuple[str | None, str, int]], *, inside_substitution: bool) -> int:
    """Scans code from i to the end, or (inside a `${}`) to just after its closing brace."""
    depth = 0
    while i < len(source):
        c = source[i]
        if source.startswith("//", i):
            end = source.find("\n", i)
            i = len(source) if end < 0 else end
        elif source.startswith("/*", i):
            end = source.find("*/", i + 2)
            i = len(source) if end < 0 else end + 2
        elif c in "'\"":
            i = _skip_quoted(source, i)
        elif c == "`":
            i = _scan_template(source, i, found)
        else:
            if c == "{":
                depth += 1
            elif c == "}":
                if depth == 0 and inside_substitution:
                    return i + 1
                depth -= 1
            i += 1
    return i


def _skip_quoted(source: str, i: int) -> int:
    quote, i = source[i], i + 1
    while i < len(source) and source[i] not in (quote, "\n"):
        i += 2 if source[i] == "\\" else 1
    return i + 1


def _scan_template(source: str, start: int, found: list[tuple[str | None, str, int]]) -> int:
    """Records the template literal whose backtick is at `start`; returns the index after it."""
    i = start + 1
    while i < len(source) and source[i] != "`":
        if source[i] == "\\":
            i += 2
        elif source.startswith("${", i):
            i = _scan_code(source, i + 2, found, inside_substitution=True)
        else:
            i += 1
    assigned = JS_CONST.search(source[max(0, start - 200) : start])
    found.append((assigned.group(1) if assigned else None, source[start + 1 : i], source.count("\n", 0, start) + 1))
    return i + 1


def _substitute(body: str, constants: dict[str, str], where: str, depth: int = 0) -> str:
    """The string JavaScript builds from a template literal whose substitutions are all `${NAME}`
    of constant template literals."""
    if "\\" in body:
        raise ClientOperationError(f"{where}: a GraphQL document with a backslash escape is not supported")

    def constant(match: re.Match[str]) -> str:
        name = match.group(1).strip()
        if not JS_NAME.fullmatch(name) or name not in constants or depth > 5:
            raise ClientOperationError(
                f"{where}: `${{{name}}}` in a GraphQL document must name a `const` template literal of the same client"
            )
        return _substitute(constants[name], constants, where, depth + 1)

    return re.sub(r"\$\{([^}]*)\}", constant, body)


def _check_is_graphql(text: str, path: Path) -> None:
    try:
        parse(text)
    except GraphQLSyntaxError as error:
        raise ClientOperationError(
            f"{path}: a string that starts like a GraphQL operation does not parse: {error.message}"
        ) from error


def trusted_manifest(clients_dir: Path = CLIENTS_DIR) -> dict[str, str]:
    """{sha256: text} of every client document, sorted by hash (a stable file)."""
    from .persisted_documents import document_hash

    documents = {document_hash(text): text for texts in client_documents(clients_dir).values() for text in texts}
    return dict(sorted(documents.items()))


def manifest_json(manifest: dict[str, str]) -> str:
    return json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
