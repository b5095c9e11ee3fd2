"""`ptr-trial import-labs FILE.csv`: a lab system's export loaded through the same service as the
recordLabResults mutation, on SQLite and PostgreSQL. A good file, a file with a bad row (nothing
written), the same file twice (no duplicates), a file in the wrong units, unparsable lines, --partial,
and who may import. The command itself runs as a subprocess (against the test database, and against
a SQLite data directory as a user would run it); the other cases call
server.services.lab_import.import_lab_csv in a unit of work on the app's write sessionmaker, as the
command does, and read the result back over GraphQL.

World: sites S01 and S02; S01-001 and S01-002 at S01, S02-001 at S02."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.app import create_app
from server.auth import development_token
from server.domain.auth import Actor
from server.domain.enums import Role
from server.services.errors import PermissionDenied
from server.services.lab_import import ImportReport, import_lab_csv
from server.services.unit_of_work import UnitOfWork
from server.settings import Settings
from tests.conftest import GraphQLClient

from . import fixtures_data as fx
from .test_lab_results import LABS, A, B, C

REPO = Path(__file__).resolve().parents[2]
HEADER = "subject_code,analyte,value,unit,collected_at,specimen,lln,uln,lloq,below_limit,lab,assay,comment"

GOOD = f"""{HEADER}
S01-001,platelets,20,e9_per_l,2026-03-01T08:00:00+00:00,,150,400,,,Central lab,Sysmex,grade 4
S01-001,igg,5.5,g_per_l,2026-03-01T08:00:00+00:00,,7,16,,,Central lab,,
S01-001,neutrophils,0.9,e9_per_l,2026-03-01T08:00:00+00:00,,1.8,7.5,,,,,
S01-001,hemoglobin,95,g_per_l,2026-03-01T08:00:00+00:00,,120,,,,,,
S01-001,car_cd19_copies_per_ug_dna,,copies_per_ug_dna,2026-03-01T08:00:00+00:00,,,,50,true,,qPCR,
S01-002,marrow_cd138_percent,12.5,percent,2026-03-02T09:30:00+01:00,marrow,,,0.01,,,,
"""
GOOD_ROWS = 6
# What GOOD stores, in each analyte's canonical unit: (code, analyte, value, reported value, reported unit)
GOOD_STORED = [
    (A, "CAR_CD19_COPIES", None, None, "COPIES_PER_UG_DNA"),
    (A, "HEMOGLOBIN", 9.5, 95.0, "G_PER_L"),
    (A, "IGG", 550.0, 5.5, "G_PER_L"),
    (A, "NEUTROPHILS", 900.0, 0.9, "E9_PER_L"),
    (A, "PLATELETS", 20.0, 20.0, "E9_PER_L"),
    (B, "MARROW_CD138_PERCENT", 12.5, 12.5, "PERCENT"),
]

BAD_ROW = f"""{HEADER}
S01-001,igg,550,mg_per_dl,2026-03-05T08:00:00+00:00,,,,,,,,
S01-001,igg,5.5,per_ul,2026-03-06T08:00:00+00:00,,,,,,,,
S01-001,platelets,12,e9_per_l,2026-03-05T08:00:00+00:00,,,,,,,,
S01-002,neutrophils,800,per_ul,2026-03-05T08:00:00+00:00,,,,,,,,
"""
BAD_ROW_PROBLEM = "line 3: unit: igg is reported in mg_per_dl, g_per_l, not per_ul"

WRONG_UNITS = f"""{HEADER}
S01-001,platelets,35000,e9_per_l,2026-03-01T08:00:00+00:00,,,,,,,,
S01-001,hemoglobin,95,g_per_dl,2026-03-01T08:00:00+00:00,,,,,,,,
S01-001,neutrophils,400,g_per_l,2026-03-01T08:00:00+00:00,,,,,,,,
S01-001,platelets,20000,per_ul,2026-03-02T08:00:00+00:00,,,,,,,,
"""


def labs_view(rows: list[dict[str, Any]], code: str) -> list[tuple[Any, ...]]:
    return [(code, r["analyte"], r["value"], r["valueReported"], r["unitReported"]) for r in rows]


async def stored(gql: Any, admin: str) -> list[tuple[Any, ...]]:
    rows = []
    for code in (A, B, C):
        rows += labs_view(await fx_labs(gql, admin, code), code)
    return rows


async def fx_labs(gql: Any, admin: str, code: str) -> list[dict[str, Any]]:
    return (await gql.data(admin, LABS, {"code": code, "analytes": None}))["subject"]["labResults"]


async def import_text(app: Any, text: str, *, partial: bool = False, actor: Actor | None = None) -> ImportReport:
    """What `ptr-trial import-labs` does: one unit of work, committed only when the report says so."""
    async with UnitOfWork(app.state.write_sessionmaker, actor or Actor(actor_id="lab-import", role=Role.ADMIN)) as uow:
        report = await import_lab_csv(uow, text, partial=partial)
        if report.written:
            await uow.commit()
    return report


def cli_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL" and not k.startswith("PTR_")}
    return {**env, "PTR_LOG_LEVEL": "WARNING", **values}


async def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "server.cli", *args]
    return await asyncio.to_thread(
        subprocess.run, command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
async def world(gql: Any, token: Any) -> str:
    admin = token("admin")
    await fx.create_site(gql, admin, "S01")
    await fx.create_site(gql, admin, "S02")
    for code, site in ((A, "S01"), (B, "S01"), (C, "S02")):
        await fx.enroll_subject(gql, admin, code, site)
    return admin


# --- the command, against the test database (both backends) ---------------------------------------


async def test_the_command_imports_a_good_file_once(
    gql: Any, world: str, app: Any, database_url: str, tmp_path: Path
) -> None:
    # given: a lab export with a byte-order mark and an extra column
    admin = world
    path = tmp_path / "labs.csv"
    path.write_text(GOOD, encoding="utf-8-sig")
    env = cli_env(DATABASE_URL=database_url)

    # when
    first = await run_cli(env, "import-labs", str(path), "--actor-id", "lis-nightly")
    after_first = await fx.table_row_counts(app)
    second = await run_cli(env, "import-labs", str(path))

    # then: written once, converted explicitly, audited under the given actor id
    assert (first.returncode, first.stdout) == (
        0,
        f"import-labs: {GOOD_ROWS} rows; {GOOD_ROWS} created, 0 already present\n",
    )
    assert (second.returncode, second.stdout) == (
        0,
        f"import-labs: {GOOD_ROWS} rows; 0 created, {GOOD_ROWS} already present\n",
    )
    assert await fx.table_row_counts(app) == after_first
    assert await stored(gql, admin) == GOOD_STORED
    audit = await gql.data(
        admin, '{ auditEvents(actorId: "lis-nightly", first: 100) { edges { node { entity actorRole } } } }'
    )
    entities = sorted(e["node"]["entity"] for e in audit["auditEvents"]["edges"])
    # five lab results, a platelet count, and the adverse events their grades proposed (platelets 20: G4;
    # neutrophils 900/uL: G3)
    assert entities == ["AdverseEvent", "AdverseEvent", *["LabResult"] * 5, "PlateletCount"]
    assert {e["node"]["actorRole"] for e in audit["auditEvents"]["edges"]} == {"ADMIN"}
    events = await gql.data(admin, "{ adverseEvents(sources: [LAB]) { edges { node { term grade status } } } }")
    assert sorted((e["node"]["term"], e["node"]["grade"]) for e in events["adverseEvents"]["edges"]) == [
        ("Neutrophil count decreased", 3),
        ("Platelet count decreased", 4),
    ]


# --- the command, as a user runs it against a SQLite data directory --------------------------------


async def test_the_command_against_a_sqlite_data_dir(tmp_path: Path) -> None:
    # given: `ptr-trial migrate` into a data directory, a site and subjects made over GraphQL
    data_dir = tmp_path / "var"
    env = cli_env(PTR_DATA_DIR=str(data_dir))
    migrated = await run_cli(env, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    settings = Settings(database_url=None, data_dir=data_dir)
    admin = development_token(settings, role=Role.ADMIN, sites=[], subject=None)
    application = create_app(settings)
    transport = httpx.ASGITransport(app=application)
    async with (
        application.router.lifespan_context(application),
        httpx.AsyncClient(transport=transport, base_url="http://t") as client,
    ):
        gql = GraphQLClient(client, application)
        await fx.create_site(gql, admin, "S01")
        await fx.enroll_subject(gql, admin, A, "S01")
        await fx.enroll_subject(gql, admin, B, "S01")
        bad, good = tmp_path / "bad.csv", tmp_path / "good.csv"
        bad.write_text(BAD_ROW)
        good.write_text(GOOD)

        # when / then: a bad row: exit 1, the line named, nothing written
        before = await fx.table_row_counts(application)
        refused = await run_cli(env, "import-labs", str(bad))
        assert refused.returncode == 1, refused.stderr
        assert refused.stdout == f"import-labs: 4 rows; nothing written\n  {BAD_ROW_PROBLEM}\n"
        assert await fx.table_row_counts(application) == before

        # when / then: --partial writes the good rows and still names the bad one
        partial = await run_cli(env, "import-labs", str(bad), "--partial")
        assert partial.returncode == 0, partial.stderr
        assert partial.stdout == f"import-labs: 4 rows; 3 created, 0 already present\n  {BAD_ROW_PROBLEM}\n"
        assert [(r[1], r[2]) for r in await stored_at(gql, admin, A)] == [("IGG", 550.0), ("PLATELETS", 12.0)]

        # when / then: a good file: exit 0
        imported = await run_cli(env, "import-labs", str(good))
        assert imported.returncode == 0, imported.stderr
        assert imported.stdout == f"import-labs: {GOOD_ROWS} rows; {GOOD_ROWS} created, 0 already present\n"
        assert len(await stored_at(gql, admin, A)) == 7

        # a file that cannot be read: exit 2
        missing = await run_cli(env, "import-labs", str(tmp_path / "nope.csv"))
        assert missing.returncode == 2
        assert missing.stderr.startswith(f"cannot read {tmp_path / 'nope.csv'}")


async def stored_at(gql: Any, admin: str, code: str) -> list[tuple[Any, ...]]:
    return labs_view(await fx_labs(gql, admin, code), code)


# --- the import service (both backends) ------------------------------------------------------------


async def test_a_good_file_is_written(gql: Any, world: str, app: Any) -> None:
    # when
    report = await import_text(app, GOOD)

    # then
    assert (report.rows, report.created, report.already_present, report.problems, report.written) == (
        GOOD_ROWS,
        GOOD_ROWS,
        0,
        [],
        True,
    )
    assert await stored(gql, world) == GOOD_STORED


async def test_a_file_with_a_bad_row_writes_nothing(gql: Any, world: str, app: Any) -> None:
    # given
    before = await fx.table_row_counts(app)

    # when
    report = await import_text(app, BAD_ROW)

    # then
    assert (report.rows, report.written, report.problems) == (4, False, [BAD_ROW_PROBLEM])
    assert str(report) == f"import-labs: 4 rows; nothing written\n  {BAD_ROW_PROBLEM}"
    assert await fx.table_row_counts(app) == before


async def test_partial_writes_the_good_rows_and_reports_the_bad(gql: Any, world: str, app: Any) -> None:
    # when
    report = await import_text(app, BAD_ROW, partial=True)

    # then
    assert (report.created, report.already_present, report.written, report.problems) == (3, 0, True, [BAD_ROW_PROBLEM])
    assert await stored(gql, world) == [
        (A, "IGG", 550.0, 550.0, "MG_PER_DL"),
        (A, "PLATELETS", 12.0, 12.0, "E9_PER_L"),
        (B, "NEUTROPHILS", 800.0, 800.0, "PER_UL"),
    ]


async def test_the_same_file_twice_makes_no_duplicates(gql: Any, world: str, app: Any) -> None:
    # given
    await import_text(app, GOOD)
    before = await fx.table_row_counts(app)

    # when
    report = await import_text(app, GOOD)

    # then
    assert (report.created, report.already_present, report.written) == (0, GOOD_ROWS, True)
    assert await fx.table_row_counts(app) == before
    assert await stored(gql, world) == GOOD_STORED


async def test_a_file_in_the_wrong_units_names_every_line(gql: Any, world: str, app: Any) -> None:
    # given
    before = await fx.table_row_counts(app)

    # when
    report = await import_text(app, WRONG_UNITS)

    # then: a per-uL platelet count labelled x10^9/L, hemoglobin in g/L labelled g/dL, and a unit neutrophils
    # are never reported in; the per-uL platelet count labelled per uL (line 5) is fine
    assert report.written is False
    assert report.problems == [
        "line 2: value: 35000 x10^9/L is not plausible; counts are x10^9/L (a count of 35000/uL is 35 x10^9/L)",
        "line 3: value: hemoglobin (g_per_dl) must be between 1 and 25",
        "line 4: unit: neutrophils is reported in per_ul, e9_per_l, not g_per_l",
    ]
    assert await fx.table_row_counts(app) == before


async def test_unparsable_lines_are_named_and_nothing_is_written(gql: Any, world: str, app: Any) -> None:
    # given
    before = await fx.table_row_counts(app)
    text = f"""{HEADER}
S01-001,igg,550,mg_per_dl,2026-03-01T08:00:00+00:00,,,,,,,,
S01-001,ferritin,300,mg_per_dl,2026-03-01T08:00:00+00:00,,,,,,,,
S01-001,igg,lots,mg_per_dl,2026-03-02T08:00:00+00:00,,,,,,,,
S01-001,igg,550,mg_per_dl,2026-03-03T08:00:00,,,,,,,,
S01-001,igg,550,mg_per_dl,03/04/2026,,,,,,,,
S09-001,igg,550,mg_per_dl,2026-03-01T08:00:00+00:00,,,,,,,,
"""

    # when
    report = await import_text(app, text)

    # then
    assert report.rows == 6 and report.written is False
    assert [p.split(":")[0] for p in report.problems] == ["line 3", "line 4", "line 5", "line 6", "line 7"]
    assert "ferritin" in report.problems[0]
    assert "lots" in report.problems[1]
    assert "UTC offset" in report.problems[2]
    assert report.problems[4] == "line 7: subjectCode: subject not found"
    assert await fx.table_row_counts(app) == before

    # when: --partial writes the one good line
    partial = await import_text(app, text, partial=True)

    # then
    assert (partial.created, partial.written, len(partial.problems)) == (1, True, 5)
    assert await stored_at(gql, world, A) == [(A, "IGG", 550.0, 550.0, "MG_PER_DL")]


async def test_a_header_without_the_required_columns_is_refused(world: str, app: Any) -> None:
    # when
    report = await import_text(app, "subject,analyte,value\nS01-001,igg,550\n")

    # then
    assert report.written is False
    assert report.problems == ["line 1: header lacks the columns subject_code, unit, collected_at"]


async def test_a_below_limit_platelet_row_does_not_stop_a_partial_import(gql: Any, world: str, app: Any) -> None:
    # given: platelets have no below-limit form: the row is bad, the others are good
    text = f"""{HEADER}
S01-001,platelets,,e9_per_l,2026-03-01T08:00:00+00:00,,,,,true,,,
S01-001,igg,600,mg_per_dl,2026-03-01T08:00:00+00:00,,,,,,,,
"""

    # when
    report = await import_text(app, text, partial=True)

    # then
    assert (report.created, report.written, report.problems) == (
        1,
        True,
        ["line 2: value: a platelet count needs a value"],
    )
    assert await stored_at(gql, world, A) == [(A, "IGG", 600.0, 600.0, "MG_PER_DL")]


async def test_imports_follow_the_lab_write_rules(gql: Any, world: str, app: Any) -> None:
    # given
    before = await fx.table_row_counts(app)
    investigator = Actor(actor_id="inv-1", role=Role.INVESTIGATOR, site_codes=frozenset({"S01"}))
    coordinator = Actor(actor_id="coord-1", role=Role.COORDINATOR, site_codes=frozenset({"S01"}))
    text = f"""{HEADER}
S01-001,igg,600,mg_per_dl,2026-03-01T08:00:00+00:00,,,,,,,,
S02-001,igg,650,mg_per_dl,2026-03-01T08:00:00+00:00,,,,,,,,
"""

    # when / then: an investigator may not import at all
    with pytest.raises(PermissionDenied):
        await import_text(app, text, actor=investigator)

    # when / then: a site-1 coordinator cannot write a site-2 subject (unknown to them): nothing is written
    report = await import_text(app, text, actor=coordinator)
    assert (report.written, report.problems) == (False, ["line 3: subjectCode: subject not found"])
    assert await fx.table_row_counts(app) == before
