"""The analyst client and its five questions against a real demo server (`ptr-trial serve
--seed-demo`), run as a user runs them: a subprocess with an analyst token. The plots must be
written and the printed numbers must be the API's."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("pandas")
pytest.importorskip("matplotlib")

from .servers import REPO, Launch, Server, clean_env, dev_token, serving  # noqa: E402

SCRIPT = REPO / "clients" / "examples" / "analyst_questions.py"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("analyst-e2e")
    env = clean_env(PTR_DATA_DIR=str(data_dir), PTR_ENVIRONMENT="development", PTR_LOG_LEVEL="WARNING")
    with serving(env, Launch(data_dir / "server.log", ("--seed-demo",))) as (server,):
        yield server


def test_the_five_questions_print_the_apis_numbers_and_save_two_plots(demo_server: Server, tmp_path: Path) -> None:
    # given
    analyst = dev_token("analyst")
    out = tmp_path / "plots"
    # when
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(out)],
        env={**demo_server.env, "PTR_TOKEN": analyst, "PTR_API_URL": demo_server.graphql_url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    # then: it ran, wrote both plots as PNG files
    assert result.returncode == 0, result.stderr
    for name in ("analyst-cci-before-after.png", "analyst-km-b-cell-aplasia.png"):
        path = out / name
        assert path.read_bytes()[:8] == PNG_MAGIC and path.stat().st_size > 10_000, name
    summary = json.loads(result.stdout.strip().splitlines()[-1].removeprefix("SUMMARY "))
    for n in range(1, 6):
        assert f"## {n}." in result.stdout
    # and the numbers are the API's
    api = demo_server.gql(
        analyst,
        """{ trial {
          primaryEndpointBySite(population: INFUSED) { site { code } endpoint { subjects responders } }
          timeToEvent(event: B_CELL_APLASIA) { subjects medianMonths medianCiLowerMonths medianCiUpperMonths }
          beforeAfterComparison(measure: MEDIAN_CCI_EARLY) { pairs medianDifference pValue }
        }
        adverseEventSummary { events }
        subjects(first: 100, sustainedResponse: true) { edges { node { hlaClearance { baselinePositive clearedAt } } } }
        }""",
    )
    trial = api["trial"]
    assert summary["endpointBySite"] == {
        row["site"]["code"]: [row["endpoint"]["responders"], row["endpoint"]["subjects"]]
        for row in trial["primaryEndpointBySite"]
    }
    km = trial["timeToEvent"]
    assert summary["kmSubjects"] == km["subjects"] and summary["kmMedianMonths"] == km["medianMonths"]
    assert summary["kmMedianCi"] == [km["medianCiLowerMonths"], km["medianCiUpperMonths"]]
    assert f"median {km['medianMonths']:,.2f} months" in result.stdout
    cci = trial["beforeAfterComparison"]
    assert (summary["cciPairs"], summary["cciMedianDifference"], summary["cciPValue"]) == (
        cci["pairs"],
        cci["medianDifference"],
        cci["pValue"],
    )
    assert f"exact two-sided p = {cci['pValue']:,.4f}" in result.stdout
    assert summary["aeEvents"] == sum(row["events"] for row in api["adverseEventSummary"])
    responders = [edge["node"]["hlaClearance"] for edge in api["subjects"]["edges"]]
    positive = [c for c in responders if c and c["baselinePositive"]]
    assert summary["hla"] == {
        "responders": len(responders),
        "assessed": len(positive),
        "cleared": sum(1 for c in positive if c["clearedAt"]),
    }
    assert summary["kmSubjects"] >= 5 and summary["cciPairs"] >= 5


def test_the_questions_without_a_token_exit_2(demo_server: Server, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path)],
        env={**demo_server.env, "PTR_API_URL": demo_server.graphql_url},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "PTR_TOKEN" in result.stderr
