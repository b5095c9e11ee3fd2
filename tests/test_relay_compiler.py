"""relay-compiler (tools/graphql) accepts schema.graphql and the Relay example operations in
clients/examples/relay/ (pagination fragments both ways with @connection and @refetchable, a node
query), and the committed artifacts are what it makes of them: scripts/check-relay.

Node.js and npm are dev tools here, not runtime dependencies: without them the check is skipped on
a developer's machine, but CI (CI=true) fails rather than silently skip it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "check-relay"
# The first run installs the tools (npm ci, about 70 s); later runs take a few seconds.
TIMEOUT_S = 900


@pytest.fixture(scope="module", autouse=True)
def node_tools() -> None:
    if shutil.which("npm") and shutil.which("node"):
        return
    if IN_CI:
        pytest.fail("CI=true but node/npm is not installed: the schema cannot be checked with relay-compiler")
    pytest.skip("node/npm not installed: install Node.js 20+ to check the schema with relay-compiler")


def check_relay(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *args], cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
    )


def test_relay_compiler_accepts_the_schema_and_the_example_operations() -> None:
    # when
    result = check_relay()
    # then
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert "artifacts are current" in result.stdout


def test_a_page_info_without_the_backward_fields_is_refused(tmp_path: Path) -> None:
    # given the schema as it was before the Relay work: PageInfo with the forward fields only
    schema = (ROOT / "schema.graphql").read_text()
    old = re.sub(r"\n(\s+\"\"\"[^\"]*\"\"\"\n)?\s+(hasPreviousPage: Boolean!|startCursor: String)\n", "\n", schema)
    assert "hasPreviousPage: Boolean!" not in old and "startCursor: String" not in old
    (tmp_path / "schema.graphql").write_text(old)
    config = json.loads((ROOT / "tools" / "graphql" / "relay.config.json").read_text())
    config |= {"src": str(ROOT / "clients" / "examples" / "relay"), "schema": str(tmp_path / "schema.graphql")}
    (tmp_path / "relay.config.json").write_text(json.dumps(config))
    # when
    result = check_relay(str(tmp_path / "relay.config.json"))
    # then relay-compiler refuses the backward connection of the audit-trail example
    assert result.returncode == 1
    assert "hasPreviousPage" in result.stdout + result.stderr
    assert "npm run relay" in result.stderr
