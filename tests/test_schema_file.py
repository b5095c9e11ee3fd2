"""The committed SDL (schema.graphql) is what the code serves: client teams build against the file."""

from __future__ import annotations

import difflib
from pathlib import Path

from server.cli import export_schema_sdl

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema.graphql"


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
