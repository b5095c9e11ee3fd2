"""CDISC SDTM exports (Dataset-JSON v1.1 and CSV) through the service, the HTTP endpoint and the
CLI, on the demo trial, an empty trial and 5,000 bulk-inserted subjects."""

from __future__ import annotations

import csv
import io
import json
import time
import tracemalloc
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from sqlalchemy import insert, select, text

from server.cli import main as cli_main
from server.db.engine import build_engine, build_sessionmaker
from server.db.models import CarTInfusion, LymphodepletionCourse, Site, Subject, Trial
from server.demo import seed_demo_trial
from server.domain.auth import Actor
from server.domain.enums import Role
from server.domain.sdtm_datasets import DATASETS
from server.services import exports
from server.settings import get_settings
from tests.conftest import run_in_thread

SCHEMA = json.loads((Path(__file__).parents[1] / "data" / "dataset-json-1.1.schema.json").read_text())
VALIDATOR = jsonschema.Draft201909Validator(SCHEMA, format_checker=jsonschema.FormatChecker())
SECRET = "SECRET-FREE-TEXT"

ADMIN = Actor("admin-1", Role.ADMIN)
ANALYST = Actor("analyst-1", Role.ANALYST)
MONITOR_S01 = Actor("monitor-1", Role.MONITOR, frozenset({"S01"}))

# Variables every record of a dataset must fill (SDTMIG "Req", plus what the brief names).
REQUIRED_FILLED = {
    "DM": ("STUDYID", "DOMAIN", "USUBJID", "SUBJID", "SITEID", "SEX", "AGE", "AGEU", "BRTHDTC"),
    "EX": ("STUDYID", "DOMAIN", "USUBJID", "EXSEQ", "EXTRT", "EXSTDTC"),
    "AE": ("STUDYID", "DOMAIN", "USUBJID", "AESEQ", "AETERM", "AEDECOD", "AETOXGR", "AESER", "AESTDTC"),
    "SUPPAE": ("STUDYID", "RDOMAIN", "USUBJID", "IDVAR", "IDVARVAL", "QNAM", "QLABEL", "QVAL", "QORIG"),
    "LB": ("STUDYID", "DOMAIN", "USUBJID", "LBSEQ", "LBTESTCD", "LBTEST", "LBORRES", "LBSTRESC", "LBDTC"),
    "IS": ("STUDYID", "DOMAIN", "USUBJID", "ISSEQ", "ISTESTCD", "ISTEST", "ISORRES", "ISDTC"),
    "PC": ("STUDYID", "DOMAIN", "USUBJID", "PCSEQ", "PCTESTCD", "PCTEST", "PCORRES", "PCDTC"),
    "XR": ("STUDYID", "DOMAIN", "USUBJID", "XRSEQ", "XRTESTCD", "XRTEST", "XRLNKID", "XRDTC"),
    "PR": ("STUDYID", "DOMAIN", "USUBJID", "PRSEQ", "PRTRT", "PRSTDTC", "PRENDTC"),
    "QS": ("STUDYID", "DOMAIN", "USUBJID", "QSSEQ", "QSTESTCD", "QSTEST", "QSCAT", "QSDTC"),
    "CM": ("STUDYID", "DOMAIN", "USUBJID", "CMSEQ", "CMTRT", "CMCAT", "CMCLAS", "CMSTDTC"),
}


async def _collect(app: Any, actor: Actor, name: str, fmt: str = "dataset-json") -> bytes:
    async with app.state.sessionmaker() as session:
        ctx = await exports.export_context(session, actor)
        return b"".join([chunk async for chunk in exports.dataset_chunks(session, ctx, name, fmt, page_size=5)])


def _check_dataset(name: str, document: dict[str, Any]) -> list[dict[str, Any]]:
    """Valid Dataset-JSON v1.1 with the SDTM shape; returns the rows as dicts."""
    VALIDATOR.validate(document)
    spec = DATASETS[name]
    columns = document["columns"]
    assert [c["name"] for c in columns] == list(spec.names)
    assert document["name"] == name and document["itemGroupOID"] == f"IG.{name}"
    assert document["datasetJSONVersion"] == "1.1.0"
    assert document["records"] == len(document["rows"])
    assert document.get("dbLastModifiedDateTime", "") <= document["datasetJSONCreationDateTime"]
    rows = [dict(zip(spec.names, row, strict=True)) for row in document["rows"]]
    for row in rows:
        for variable in REQUIRED_FILLED[name]:
            assert row[variable] not in (None, ""), (name, variable, row)
        for column in columns:
            value = row[column["name"]]
            if value is None:
                continue
            if column["dataType"] == "string":
                assert isinstance(value, str), (name, column["name"], value)
                assert len(value) <= column["length"], (name, column["name"], value)
            elif column["dataType"] == "integer":
                assert isinstance(value, int) and not isinstance(value, bool), (name, column["name"], value)
            else:
                assert isinstance(value, int | float), (name, column["name"], value)
        for variable in ("STDY", "ENDY", "DY"):
            day = row.get(f"{name}{variable}")
            assert day != 0, (name, row)  # SDTM has no day 0
    seq = f"{name}SEQ"
    if seq in spec.names:
        keys = Counter((row["USUBJID"], row[seq]) for row in rows)
        assert all(n == 1 for n in keys.values()), f"{seq} repeats within a subject"
    return rows


async def _export_all(app: Any, actor: Actor) -> dict[str, list[dict[str, Any]]]:
    return {name: _check_dataset(name, json.loads(await _collect(app, actor, name))) for name in DATASETS}


async def _plant_free_text(app: Any) -> None:
    """Free text where the trial keeps it: an AE's verbatim, a transfusion note, a diary note."""
    async with app.state.engine.begin() as conn:
        await conn.execute(text(f"UPDATE adverse_event SET verbatim = '{SECRET} nosebleed at school'"))
        await conn.execute(text(f"UPDATE platelet_transfusion SET note = '{SECRET} note'"))
        await conn.execute(text(f"UPDATE bleeding_report SET note = '{SECRET} diary'"))


# --- the demo trial --------------------------------------------------------------------------------


async def test_demo_trial_exports_valid_sdtm_datasets_per_role(app: Any) -> None:
    # given
    await seed_demo_trial(app.state.write_sessionmaker)
    await _plant_free_text(app)
    # when
    admin = await _export_all(app, ADMIN)
    analyst = await _export_all(app, ANALYST)
    monitor = await _export_all(app, MONITOR_S01)
    # then: every dataset of the demo has records
    assert all(admin[name] for name in DATASETS), {n: len(r) for n, r in admin.items()}
    assert len(admin["DM"]) == 12
    # an admin reads the verbatim term; an analyst gets the CTCAE term in AETERM instead
    assert any(SECRET in r["AETERM"] for r in admin["AE"])
    assert all(r["AETERM"] == r["AEDECOD"] for r in analyst["AE"])
    for name in DATASETS:
        raw_json = await _collect(app, ANALYST, name)
        raw_csv = await _collect(app, ANALYST, name, "csv")
        assert SECRET.encode() not in raw_json and SECRET.encode() not in raw_csv, name
    # the analyst sees every site, like the API
    assert {r["SITEID"] for r in analyst["DM"]} == {"S01", "S02"}
    assert {n: len(r) for n, r in analyst.items()} == {n: len(r) for n, r in admin.items()}
    # a monitor of S01 gets S01's subjects only, and all of their records
    s01 = {r["USUBJID"] for r in admin["DM"] if r["SITEID"] == "S01"}
    assert {r["USUBJID"] for r in monitor["DM"]} == s01 and len(s01) == 6
    for name in DATASETS:
        assert {r["USUBJID"] for r in monitor[name]} <= s01, name
        assert len(monitor[name]) == sum(1 for r in admin[name] if r["USUBJID"] in s01), name


async def test_demo_trial_values_follow_sdtm_conventions(app: Any) -> None:
    # given
    await seed_demo_trial(app.state.write_sessionmaker)
    # when
    data = await _export_all(app, ADMIN)
    # then: RFSTDTC is the first CAR-T infusion and is study day 1 in EX
    dm = {r["USUBJID"]: r for r in data["DM"]}
    for row in data["EX"]:
        if row["EXCAT"] == "CAR-T" and row["EXSTDTC"] == dm[row["USUBJID"]]["RFSTDTC"]:
            assert row["EXSTDY"] == 1 and row["EXTRT"] == "CD19 CAR-T CELLS"
    lymphodepletion = [r for r in data["EX"] if r["EXCAT"] == "LYMPHODEPLETION"]
    assert {r["EXTRT"] for r in lymphodepletion} == {"FLUDARABINE", "CYCLOPHOSPHAMIDE"}
    assert all(r["EXSTDY"] < 0 for r in lymphodepletion)  # days -5..-3 before the infusion
    assert all(r["BRTHDTC"].isdigit() and len(r["BRTHDTC"]) == 4 for r in dm.values())
    assert all(r["USUBJID"] == f"PTR-CART-01-{r['SITEID']}-{r['SUBJID']}" for r in dm.values())
    screen_failures = [r for r in dm.values() if r["ARMNRS"] == "SCREEN FAILURE"]
    assert screen_failures and all(r["RFSTDTC"] is None and r["ACTARM"] is None for r in screen_failures)
    assert {r["ACTARMCD"] for r in dm.values()} >= {"CD19BCMA", "CD19"}
    # AE: SOC from the CTCAE list, CDISC OUT terms, grades as text; SUPPAE points at real AESEQs
    assert all(r["AEBODSYS"] for r in data["AE"])
    assert {r["AEOUT"] for r in data["AE"]} <= {
        None,
        "RECOVERED/RESOLVED",
        "RECOVERING/RESOLVING",
        "NOT RECOVERED/NOT RESOLVED",
        "RECOVERED/RESOLVED WITH SEQUELAE",
        "FATAL",
        "UNKNOWN",
    }
    ae_keys = {(r["USUBJID"], str(r["AESEQ"])) for r in data["AE"]}
    assert {(r["USUBJID"], r["IDVARVAL"]) for r in data["SUPPAE"]} <= ae_keys
    assert {"AERELC19", "AEGRSCL"} <= {r["QNAM"] for r in data["SUPPAE"]}
    # LB: standard units, reference range indicator and CTCAE grade of cytopenias
    platelets = [r for r in data["LB"] if r["LBTESTCD"] == "PLAT"]
    assert platelets and all(r["LBSTRESU"] == "10^9/L" for r in platelets)
    assert {r["LBNRIND"] for r in data["LB"]} >= {"LOW"}
    assert {r["LBTOXGR"] for r in data["LB"] if r["LBTOXGR"]} >= {"3", "4"}
    # IS: positivity by the lab's cut-off; PC: BLQ below the limit; XR: R/N/NE and CCIs
    assert {r["ISSTRESC"] for r in data["IS"] if r["ISTESTCD"] != "CPRA"} == {"POSITIVE", "NEGATIVE"}
    assert "BLQ" in {r["PCSTRESC"] for r in data["PC"]}
    assert {r["XRSTRESC"] for r in data["XR"] if r["XRTESTCD"] == "RESPCAT"} == {"R", "N", "NE"}
    assert {r["XRLNKID"] for r in data["XR"]} <= {r["PRLNKID"] for r in data["PR"]}
    assert {(r["PRCAT"], r["PRTRT"]) for r in data["PR"]} == {
        ("TRANSFUSION", "PLATELET TRANSFUSION"),
        ("SURGERY", "SPLENECTOMY"),
        ("TRANSPLANT", "ALLOGENEIC STEM CELL TRANSPLANT"),
    }
    hsct = next(r for r in data["PR"] if r["PRCAT"] == "TRANSPLANT")
    assert len(hsct["PRSTDTC"]) == 10 and hsct["PRSTDY"] > 240  # a date, at month 8
    s01_001 = [r for r in data["PR"] if r["USUBJID"] == hsct["USUBJID"]]
    assert [r["PRSEQ"] for r in s01_001] == list(range(1, len(s01_001) + 1))
    assert [r["PRSTDTC"] for r in s01_001] == sorted(r["PRSTDTC"] for r in s01_001)  # in time order
    assert "BLDWHOGR" in {r["QSTESTCD"] for r in data["QS"]}
    # CM: prior/concomitant derived, CDISC route and frequency terms, ongoing at the export
    assert {r["CMCAT"] for r in data["CM"]} == {"PRIOR", "CONCOMITANT"}
    by_drug = {r["CMTRT"]: r for r in data["CM"]}
    assert (by_drug["RITUXIMAB"]["CMCLAS"], by_drug["RITUXIMAB"]["CMDOSU"]) == (
        "ANTI-CD20 MONOCLONAL ANTIBODY",
        "mg/m2",
    )
    assert (by_drug["ELTROMBOPAG"]["CMROUTE"], by_drug["ELTROMBOPAG"]["CMDOSFRQ"]) == ("ORAL", "QD")
    assert all(r["CMSTDY"] != 0 for r in data["CM"] if r["CMSTDY"] is not None)  # SDTM has no day 0
    assert all(r["CMENRTPT"] in (None, "ONGOING") for r in data["CM"])
    assert all((r["CMENRTPT"] == "ONGOING") == (r["CMENDTC"] is None) for r in data["CM"])
    assert any(r["CMINDC"] for r in data["CM"])
    analyst = await _export_all(app, Actor("analyst-1", Role.ANALYST))
    assert [r["CMINDC"] for r in analyst["CM"]] == [None] * len(data["CM"])
    assert [r["CMTRT"] for r in analyst["CM"]] == [r["CMTRT"] for r in data["CM"]]


# --- who may export ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "actor",
    [
        Actor("coord-1", Role.COORDINATOR, frozenset({"S01"})),
        Actor("inv-1", Role.INVESTIGATOR, frozenset({"S01"})),
        Actor("patient-1", Role.PATIENT, subject_code="S01-001"),
    ],
)
async def test_site_staff_and_patients_are_refused(app: Any, actor: Actor) -> None:
    async with app.state.sessionmaker() as session:
        with pytest.raises(exports.ExportRefused):
            await exports.export_context(session, actor)


async def test_http_refuses_with_typed_errors(client: Any, token: Any) -> None:
    # when
    no_token = await client.get("/exports/dm.json")
    coordinator = await client.get(
        "/exports/dm.json", headers={"Authorization": f"Bearer {token('coordinator', 'S01')}"}
    )
    patient = await client.get(
        "/exports/define.json", headers={"Authorization": f"Bearer {token('patient', subject='S01-001')}"}
    )
    analyst = {"Authorization": f"Bearer {token('analyst')}"}
    unknown = await client.get("/exports/zz.json", headers=analyst)
    wrong_type = await client.get("/exports/dm.xpt", headers=analyst)
    # then
    assert no_token.status_code == 401
    assert no_token.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    for refused in (coordinator, patient):
        assert refused.status_code == 403, refused.text
        assert refused.json()["errors"][0]["extensions"]["code"] == "PERMISSION_DENIED"
    for missing in (unknown, wrong_type):
        assert missing.status_code == 404, missing.text
        assert missing.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_http_streams_dataset_json_csv_and_define(app: Any, client: Any, token: Any) -> None:
    # given
    await seed_demo_trial(app.state.write_sessionmaker)
    headers = {"Authorization": f"Bearer {token('monitor', 'S01')}"}
    # when
    dm = await client.get("/exports/DM.json", headers=headers)
    ae_csv = await client.get("/exports/ae.csv", headers=headers)
    define = await client.get("/exports/define.json", headers=headers)
    # then
    assert dm.status_code == 200, dm.text
    assert dm.headers["cache-control"] == "no-store"
    assert dm.headers["content-disposition"] == 'attachment; filename="dm.json"'
    assert dm.headers["content-type"].startswith("application/json")
    rows = _check_dataset("DM", dm.json())
    assert {r["SITEID"] for r in rows} == {"S01"} and len(rows) == 6
    assert ae_csv.status_code == 200 and ae_csv.headers["content-disposition"] == 'attachment; filename="ae.csv"'
    table = list(csv.DictReader(io.StringIO(ae_csv.text)))
    assert list(table[0]) == list(DATASETS["AE"].names)
    assert table and all("-S01-" in r["USUBJID"] for r in table)
    assert define.status_code == 200 and define.headers["cache-control"] == "no-store"
    document = define.json()
    assert [d["name"] for d in document["datasets"]] == list(DATASETS)
    xr = next(d for d in document["datasets"] if d["name"] == "XR")
    assert xr["sponsorDefined"] is True
    assert "no day 0" in document["conventions"]["studyDay"]
    assert {c["name"] for c in document["codelists"]} >= {"SEX", "OUT", "NY", "XRTESTCD"}


# --- an empty trial -----------------------------------------------------------------------------------


async def test_empty_trial_exports_empty_datasets(app: Any, client: Any, token: Any) -> None:
    # when
    documents = {name: json.loads(await _collect(app, ADMIN, name)) for name in DATASETS}
    over_http = await client.get("/exports/ae.json", headers={"Authorization": f"Bearer {token('analyst')}"})
    as_csv = await _collect(app, ANALYST, "LB", "csv")
    # then
    for name, document in documents.items():
        assert _check_dataset(name, document) == []
        assert document["records"] == 0 and document["rows"] == []
    assert over_http.status_code == 200 and over_http.json()["records"] == 0
    assert as_csv.decode().splitlines() == [",".join(DATASETS["LB"].names)]


# --- the CLI ----------------------------------------------------------------------------------------


def test_cli_writes_one_file_per_domain_and_define(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # given
    async def seed() -> None:
        engine = build_engine(database_url)
        try:
            await seed_demo_trial(build_sessionmaker(engine, writes=True))
        finally:
            await engine.dispose()

    run_in_thread(seed())
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    out = tmp_path / "sdtm"
    try:
        # when
        code = cli_main(["export", "--out", str(out), "--domains", "dm,AE", "--as-role", "monitor", "--site", "S02"])
        csv_code = cli_main(["export", "--format", "csv", "--out", str(out), "--domains", "EX"])
        refused = cli_main(["export", "--out", str(out), "--as-role", "monitor"])
        unknown = cli_main(["export", "--out", str(out), "--domains", "DM,XX"])
    finally:
        get_settings.cache_clear()
    # then
    assert (code, csv_code, refused, unknown) == (0, 0, 2, 2)
    assert sorted(p.name for p in out.iterdir()) == ["ae.json", "define.json", "dm.json", "ex.csv"]
    dm = _check_dataset("DM", json.loads((out / "dm.json").read_text()))
    assert {r["SITEID"] for r in dm} == {"S02"}
    _check_dataset("AE", json.loads((out / "ae.json").read_text()))
    assert (out / "ex.csv").read_text().startswith("STUDYID,DOMAIN,USUBJID,EXSEQ,EXTRT")
    assert "needs --site" in capsys.readouterr().err


# --- constant memory --------------------------------------------------------------------------------

BULK_SUBJECTS = 5000


async def _bulk_trial(app: Any, n: int) -> None:
    """n subjects with lymphodepletion and two infusions each, by Core inserts (seconds, not minutes)."""
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    async with app.state.write_sessionmaker() as session, session.begin():
        trial_id = (await session.execute(select(Trial.id))).scalar_one()
        site_id = (
            await session.execute(
                insert(Site).values(trial_id=trial_id, code="B01", name="Bulk site", created_at=now).returning(Site.id)
            )
        ).scalar_one()
        base = {
            "trial_id": trial_id,
            "site_id": site_id,
            "sex": "female",
            "year_of_birth": 1980,
            "age_at_consent": 45,
            "diagnosis": "aml",
            "remission_status": "cr1",
            "consent_date": date(2025, 6, 1),
            "status": "follow_up",
            "created_at": now,
            "updated_at": now,
        }
        await session.execute(insert(Subject), [{**base, "code": f"B01-{i:05d}"} for i in range(n)])
        ids = (await session.execute(select(Subject.id).where(Subject.site_id == site_id))).scalars().all()
        stamp = {"created_at": now, "updated_at": now}
        day0 = datetime(2025, 7, 1, 10, tzinfo=timezone.utc)
        agents = [{"agent": "fludarabine", "other_name": None, "dose_per_day": 30, "dose_unit": "mg_per_m2", "days": 3}]
        await session.execute(
            insert(LymphodepletionCourse),
            [
                {
                    "subject_id": i,
                    "start_date": date(2025, 6, 26),
                    "end_date": date(2025, 6, 28),
                    "agents": agents,
                    **stamp,
                }
                for i in ids
            ],
        )
        await session.execute(
            insert(CarTInfusion),
            [
                {
                    "subject_id": i,
                    "product": product,
                    "infused_at": day0 + timedelta(days=offset),
                    "car_positive_cells_per_kg": 1e6,
                    "total_car_positive_cells": 7e7,
                    "lot_number": f"L{i}",
                    **stamp,
                }
                for i in ids
                for product, offset in (("cd19", 0), ("bcma", 21))
            ],
        )


@pytest.mark.postgres
async def test_export_of_5000_subjects_runs_in_bounded_memory(app: Any) -> None:
    # given
    await _bulk_trial(app, BULK_SUBJECTS)
    sizes: dict[str, int] = {}
    records: dict[str, int] = {}
    # when: timed in this process's CPU seconds, not wall time, so that tests running beside it on
    # the other xdist worker (scripts/test) do not count against the export
    started = time.process_time()
    tracemalloc.start()
    try:
        async with app.state.sessionmaker() as session:
            ctx = await exports.export_context(session, ADMIN)
            for name in ("DM", "EX"):
                size, head = 0, b""
                async for chunk in exports.dataset_json(session, ctx, name):
                    size += len(chunk)  # written nowhere: only the export's own memory counts
                    head = head or chunk[:4096]
                sizes[name] = size
                records[name] = int(head.split(b'"records":', 1)[1].split(b",", 1)[0])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    elapsed = time.process_time() - started
    # then
    assert records == {"DM": BULK_SUBJECTS, "EX": 3 * BULK_SUBJECTS}
    assert sizes["EX"] > 2_000_000  # the files themselves are several MB ...
    assert peak < 50 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"  # ... the export's memory is not
    assert peak < sizes["DM"] + sizes["EX"], "memory should not hold the whole output"
    assert elapsed < 30, f"{elapsed:.1f} s of CPU"
