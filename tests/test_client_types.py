"""The TypeScript example's types are generated from schema.graphql (graphql-codegen, tools/graphql)
and committed: scripts/check-client-types fails when the committed file is not what codegen makes
of the schema and the example's operations now, or when the example does not type-check against it.

Node.js and npm are dev tools here, not runtime dependencies: without npm the check is skipped on a
developer's machine, but CI (CI=true) fails rather than silently skip it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "check-client-types"
GENERATED = ROOT / "clients" / "examples" / "generated" / "graphql.ts"
# The first run installs the tools (npm ci, about 40 s); later runs take about 10 s.
TIMEOUT_S = 900


@pytest.fixture(scope="module", autouse=True)
def node_tools() -> None:
    if shutil.which("npm") and shutil.which("node"):
        return
    if IN_CI:
        pytest.fail("CI=true but node/npm is not installed: the generated client types cannot be checked")
    pytest.skip("node/npm not installed: install Node.js 20+ to check the generated client types")


def check_client_types(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *args], cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
    )


def test_committed_client_types_are_current_and_the_client_type_checks() -> None:
    # when
    result = check_client_types()
    # then
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert "up to date" in result.stdout


def test_a_stale_types_file_fails_the_check(tmp_path: Path) -> None:
    # given the types as they were when the example's hand-written ErrorCode drifted from the schema
    stale = tmp_path / "graphql.ts"
    stale.write_text(GENERATED.read_text().replace("  | 'IDEMPOTENCY_CONFLICT'\n", ""))
    assert stale.read_text() != GENERATED.read_text()
    # when
    result = check_client_types(str(stale))
    # then the check fails, shows the missing value and says how to regenerate
    assert result.returncode == 1
    assert "+  | 'IDEMPOTENCY_CONFLICT'" in result.stdout
    assert "npm run codegen" in result.stderr
