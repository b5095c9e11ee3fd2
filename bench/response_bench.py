"""Latency of the platelet response views: GraphQL against plain SQL on the same data, same run.

    .venv/bin/python bench/response_bench.py --database-url postgresql://postgres@127.0.0.1/ptr_bench \\
        --subjects 500 --transfusions 40 --repeat 20 [--profile]

1. Builds the synthetic cohort (bench/cohort.py): resets the given PostgreSQL database (DROP
   SCHEMA public CASCADE), migrates it with alembic, seeds N subjects x T transfusions with COPY
   and stores every subject's platelet responses, printing the time each step took. Never point
   it at a database you want to keep.
2. Times, after warm-up, --repeat runs of each:
   - graphql site view: the investigator's view of one site (N/10 subjects x T transfusions with
     the attributed counts, CCIs, PPR, response and the subject's sustained response), POSTed to
     the ASGI app IN-PROCESS through httpx.ASGITransport (no socket, no uvicorn: the figure is the
     app's own cost: auth, GraphQL parsing/validation, resolvers, SQL, JSON encoding);
   - sql site view, rows only: the same rows (subjects, transfusions, counts, measurements,
     infusions of the site) fetched with plain SQL through asyncpg and encoded to JSON, with NO
     CCI computation: the floor any API pays;
   - sql site view + engine: the same rows, the domain's response engine run on them
     (server.domain: count attribution, BSA, CCI, PPR, classification, sustained response) and the
     same information as the GraphQL answer encoded to JSON: a hand-written endpoint's cost;
   - sql site view, stored results: the same information as the GraphQL answer fetched by plain
     SQL from the stored results (transfusion_response, subject_response) that the app reads;
   - graphql endpoint / sql endpoint + engine / sql endpoint from stored results: the analyst's
     primary endpoint (INFUSED and PER_PROTOCOL, and per site) over the whole cohort, through
     GraphQL and by hand.
3. Prints a table of p50 and p90 (ms) and the ratios. --profile then runs the GraphQL site view
   under cProfile and splits its time by layer (SQL driver, ORM, domain, strawberry/graphql-core,
   JSON, event loop/I-O), with the SQL wall time measured by SQLAlchemy cursor events.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import math
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.cohort import BENCH_SITE, SITES, asyncpg_dsn, build_cohort  # noqa: E402
from server.app import create_app  # noqa: E402
from server.auth import development_token  # noqa: E402
from server.domain.bsa import Measurement  # noqa: E402
from server.domain.enums import Role  # noqa: E402
from server.domain.protocol import ProtocolParameters  # noqa: E402
from server.domain.response import (  # noqa: E402
    Count,
    NotEvaluableReason,
    Transfusion,
    assess_subject,
    evaluate_transfusions,
)
from server.domain.statistics import clopper_pearson  # noqa: E402
from server.settings import Settings  # noqa: E402

COMPATIBLE = ("identical", "minor_incompatible")

# --- 3. the measured operations ------------------------------------------------------------------

ATTRIBUTED = "minutesFromTransfusion count { id valueE9PerL drawnAt }"
SITE_VIEW = f"""query SiteView($sites: [String!], $first: Int) {{
  subjects(first: $first, siteCodes: $sites) {{
    totalCount
    edges {{ node {{
      code firstInfusionAt
      transfusions {{
        id startedAt endedAt doseE11
        bsa {{ valueM2 }}
        preCount {{ {ATTRIBUTED} }} earlyCount {{ {ATTRIBUTED} }} lateCount {{ {ATTRIBUTED} }}
        cciEarly cciLate pprEarly
        response {{ category notEvaluableReasons parameterVersion }}
      }}
      plateletResponse {{
        baselineRefractory sustained firstResponseAt daysToResponse longestResponsiveRun
        evaluableTransfusions responsiveTransfusions parameterVersion
      }}
    }} }}
  }}
}}"""

ENDPOINT_FIELDS = "subjects responders proportion ciLower ciUpper parameterVersion"
ENDPOINT_VIEW = f"""{{
  trial {{
    infused: primaryEndpoint(population: INFUSED) {{ {ENDPOINT_FIELDS} }}
    perProtocol: primaryEndpoint(population: PER_PROTOCOL) {{ {ENDPOINT_FIELDS} }}
    primaryEndpointBySite(population: PER_PROTOCOL) {{ site {{ code }} endpoint {{ {ENDPOINT_FIELDS} }} }}
  }}
}}"""


class GraphQLTimer:
    def __init__(self, client: httpx.AsyncClient, token: str, query: str, variables: dict[str, Any]) -> None:
        self.client, self.query, self.variables = client, query, variables
        self.headers = {"Authorization": f"Bearer {token}"}
        self.last_size = 0

    async def __call__(self) -> bytes:
        response = await self.client.post(
            "/graphql", json={"query": self.query, "variables": self.variables}, headers=self.headers
        )
        response.raise_for_status()
        self.last_size = len(response.content)
        return response.content


SQL_SUBJECTS = """SELECT s.id, s.code FROM subject s JOIN site ON site.id = s.site_id
  WHERE site.code = $1 ORDER BY s.id LIMIT $2"""
SQL_INFUSED_SUBJECTS = """SELECT s.id, s.code, s.site_id, site.code AS site_code FROM subject s
  JOIN site ON site.id = s.site_id
  WHERE s.id IN (SELECT subject_id FROM car_t_infusion WHERE voided_at IS NULL) ORDER BY s.id"""
SQL_CHILDREN = {
    "transfusions": """SELECT id, subject_id, started_at, ended_at, units, abo_compatibility FROM platelet_transfusion
      WHERE subject_id = ANY($1) AND voided_at IS NULL ORDER BY subject_id, started_at, id""",
    "counts": """SELECT id, subject_id, drawn_at, value_e9_per_l FROM platelet_count
      WHERE subject_id = ANY($1) AND voided_at IS NULL ORDER BY subject_id, drawn_at, id""",
    "measurements": """SELECT id, subject_id, measured_at, height_cm, weight_kg FROM body_measurement
      WHERE subject_id = ANY($1) AND voided_at IS NULL ORDER BY subject_id, measured_at, id""",
    "infusions": """SELECT id, subject_id, product, infused_at FROM car_t_infusion
      WHERE subject_id = ANY($1) AND voided_at IS NULL ORDER BY subject_id, infused_at, id""",
}


async def fetch_children(conn: asyncpg.Connection, ids: list[int]) -> dict[str, dict[int, list[asyncpg.Record]]]:
    grouped: dict[str, dict[int, list[asyncpg.Record]]] = {}
    for name, sql in SQL_CHILDREN.items():
        per_subject: dict[int, list[asyncpg.Record]] = defaultdict(list)
        for row in await conn.fetch(sql, ids):
            per_subject[row["subject_id"]].append(row)
        grouped[name] = per_subject
    return grouped


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


async def sql_rows_only(pool: asyncpg.Pool, site: str, first: int) -> bytes:
    """The site's rows, nested per subject and encoded to JSON; no derived values."""
    async with pool.acquire() as conn:
        subjects = await conn.fetch(SQL_SUBJECTS, site, first)
        children = await fetch_children(conn, [s["id"] for s in subjects])
    out = []
    for s in subjects:
        sid = s["id"]
        out.append(
            {
                "code": s["code"],
                "infusions": [
                    {"product": r["product"], "infusedAt": _iso(r["infused_at"])} for r in children["infusions"][sid]
                ],
                "measurements": [
                    {"measuredAt": _iso(r["measured_at"]), "heightCm": r["height_cm"], "weightKg": r["weight_kg"]}
                    for r in children["measurements"][sid]
                ],
                "transfusions": [
                    {
                        "id": r["id"],
                        "startedAt": _iso(r["started_at"]),
                        "endedAt": _iso(r["ended_at"]),
                        "units": json.loads(r["units"]),
                    }
                    for r in children["transfusions"][sid]
                ],
                "plateletCounts": [
                    {"id": r["id"], "drawnAt": _iso(r["drawn_at"]), "valueE9PerL": r["value_e9_per_l"]}
                    for r in children["counts"][sid]
                ],
            }
        )
    return json.dumps({"data": {"subjects": out}}).encode()


async def protocol(conn: asyncpg.Connection) -> tuple[int, ProtocolParameters]:
    row = await conn.fetchrow(
        "SELECT version, parameters FROM protocol_parameter_set WHERE effective_from <= $1"
        " ORDER BY version DESC LIMIT 1",
        datetime.now(timezone.utc).date(),
    )
    return row["version"], ProtocolParameters.from_dict(json.loads(row["parameters"]))


def dose_e11(units: list[dict[str, Any]]) -> float | None:
    contents = [u.get("content_e11") for u in units]
    return None if not contents or any(c is None for c in contents) else float(sum(contents))


def evaluate(children: dict[str, dict[int, list[asyncpg.Record]]], sid: int, params: ProtocolParameters) -> Any:
    transfusions = [
        Transfusion(
            r["id"],
            r["started_at"],
            r["ended_at"],
            dose_e11(json.loads(r["units"])),
            r["abo_compatibility"] in COMPATIBLE,
        )
        for r in children["transfusions"][sid]
    ]
    counts = [Count(r["id"], r["drawn_at"], r["value_e9_per_l"]) for r in children["counts"][sid]]
    measurements = [
        Measurement(r["measured_at"], r["height_cm"], r["weight_kg"]) for r in children["measurements"][sid]
    ]
    first = min((r["infused_at"] for r in children["infusions"][sid]), default=None)
    results = evaluate_transfusions(transfusions, counts, measurements, params)
    return first, results, assess_subject(results, first, params)


def _attributed(a: Any) -> dict[str, Any] | None:
    if a is None:
        return None
    c = a.count
    return {
        "minutesFromTransfusion": a.after_end.total_seconds() / 60,
        "count": {"id": c.count_id, "valueE9PerL": c.value_e9_per_l, "drawnAt": c.drawn_at.isoformat()},
    }


async def sql_with_engine(pool: asyncpg.Pool, site: str, first: int) -> bytes:
    """The site's rows, the response engine run on them, the GraphQL answer's information as JSON."""
    async with pool.acquire() as conn:
        version, params = await protocol(conn)
        subjects = await conn.fetch(SQL_SUBJECTS, site, first)
        total = await conn.fetchval(
            "SELECT count(*) FROM subject s JOIN site ON site.id = s.site_id WHERE site.code = $1", site
        )
        children = await fetch_children(conn, [s["id"] for s in subjects])
    edges = []
    for s in subjects:
        first_at, results, subject = evaluate(children, s["id"], params)
        edges.append(
            {
                "node": {
                    "code": s["code"],
                    "firstInfusionAt": _iso(first_at),
                    "transfusions": [
                        {
                            "id": r.transfusion.transfusion_id,
                            "startedAt": r.transfusion.started_at.isoformat(),
                            "endedAt": r.transfusion.ended_at.isoformat(),
                            "doseE11": r.transfusion.dose_e11,
                            "bsa": {"valueM2": r.bsa.value_m2} if r.bsa else None,
                            "preCount": _attributed(r.attribution.pre),
                            "earlyCount": _attributed(r.attribution.early),
                            "lateCount": _attributed(r.attribution.late),
                            "cciEarly": r.cci_early,
                            "cciLate": r.cci_late,
                            "pprEarly": r.ppr_early,
                            "response": {
                                "category": r.category.name,
                                "notEvaluableReasons": [x.name for x in r.reasons],
                                "parameterVersion": version,
                            },
                        }
                        for r in results
                    ],
                    "plateletResponse": {
                        "baselineRefractory": subject.baseline_refractory,
                        "sustained": subject.sustained,
                        "firstResponseAt": _iso(subject.first_response_at),
                        "daysToResponse": subject.days_to_response,
                        "longestResponsiveRun": subject.longest_responsive_run,
                        "evaluableTransfusions": subject.evaluable_transfusions,
                        "responsiveTransfusions": subject.responsive_transfusions,
                        "parameterVersion": version,
                    },
                }
            }
        )
    return json.dumps({"data": {"subjects": {"totalCount": total, "edges": edges}}}).encode()


def _endpoint_json(successes: int, trials: int, version: int) -> dict[str, Any]:
    p = clopper_pearson(successes, trials)
    return {
        "subjects": p.trials,
        "responders": p.successes,
        "proportion": p.proportion,
        "ciLower": p.ci_lower,
        "ciUpper": p.ci_upper,
        "parameterVersion": version,
    }


async def sql_endpoint(pool: asyncpg.Pool) -> bytes:
    """The primary endpoint by hand: every infused subject's rows, the engine, Clopper-Pearson."""
    async with pool.acquire() as conn:
        version, params = await protocol(conn)
        subjects = await conn.fetch(SQL_INFUSED_SUBJECTS)
        children = await fetch_children(conn, [s["id"] for s in subjects])
    rows = []
    for s in subjects:
        _first, _results, subject = evaluate(children, s["id"], params)
        products = {r["product"] for r in children["infusions"][s["id"]]}
        rows.append((s["site_code"], {"cd19", "bcma"} <= products, subject.sustained))
    by_site: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    for site, per_protocol, sustained in rows:
        by_site[site].append((per_protocol, sustained))
    per_protocol_rows = [r for r in rows if r[1]]
    body = {
        "infused": _endpoint_json(sum(r[2] for r in rows), len(rows), version),
        "perProtocol": _endpoint_json(sum(r[2] for r in per_protocol_rows), len(per_protocol_rows), version),
        "primaryEndpointBySite": [
            {
                "site": {"code": site},
                "endpoint": _endpoint_json(sum(s for pp, s in items if pp), sum(1 for pp, _ in items if pp), version),
            }
            for site, items in sorted(by_site.items())
        ],
    }
    return json.dumps({"data": {"trial": body}}).encode()


# Plain SQL over the stored results (transfusion_response, subject_response), the tables every
# write keeps in step: the same data the GraphQL site view and endpoint read, fetched and encoded
# by hand. The closest like-for-like baseline now that no engine runs at read time.
SQL_STORED_TRANSFUSIONS = """SELECT t.id, t.subject_id, t.started_at, t.ended_at, r.dose_e11, r.bsa_m2,
    r.pre_count_id, r.pre_drawn_at, r.pre_value_e9_per_l, r.pre_after_end_s,
    r.early_count_id, r.early_drawn_at, r.early_value_e9_per_l, r.early_after_end_s,
    r.late_count_id, r.late_drawn_at, r.late_value_e9_per_l, r.late_after_end_s,
    r.cci_early, r.cci_late, r.ppr_early, r.category, r.reasons, r.parameter_version
  FROM platelet_transfusion t JOIN transfusion_response r ON r.transfusion_id = t.id
  WHERE t.subject_id = ANY($1) AND t.voided_at IS NULL ORDER BY t.subject_id, t.started_at, t.id"""
SQL_STORED_SUBJECTS = "SELECT * FROM subject_response WHERE subject_id = ANY($1)"


def _stored_count(r: asyncpg.Record, prefix: str) -> dict[str, Any] | None:
    if r[f"{prefix}_count_id"] is None:
        return None
    return {
        "minutesFromTransfusion": r[f"{prefix}_after_end_s"] / 60,
        "count": {
            "id": r[f"{prefix}_count_id"],
            "valueE9PerL": r[f"{prefix}_value_e9_per_l"],
            "drawnAt": r[f"{prefix}_drawn_at"].isoformat(),
        },
    }


async def sql_stored(pool: asyncpg.Pool, site: str, first: int) -> bytes:
    """The site view by hand from the stored results: the same information as the GraphQL answer."""
    async with pool.acquire() as conn:
        subjects = await conn.fetch(SQL_SUBJECTS, site, first)
        total = await conn.fetchval(
            "SELECT count(*) FROM subject s JOIN site ON site.id = s.site_id WHERE site.code = $1", site
        )
        ids = [s["id"] for s in subjects]
        transfusions: dict[int, list[asyncpg.Record]] = defaultdict(list)
        for row in await conn.fetch(SQL_STORED_TRANSFUSIONS, ids):
            transfusions[row["subject_id"]].append(row)
        responses = {row["subject_id"]: row for row in await conn.fetch(SQL_STORED_SUBJECTS, ids)}
    edges = []
    for s in subjects:
        subject = responses[s["id"]]
        edges.append(
            {
                "node": {
                    "code": s["code"],
                    "firstInfusionAt": _iso(subject["first_infusion_at"]),
                    "transfusions": [
                        {
                            "id": r["id"],
                            "startedAt": r["started_at"].isoformat(),
                            "endedAt": r["ended_at"].isoformat(),
                            "doseE11": r["dose_e11"],
                            "bsa": {"valueM2": r["bsa_m2"]} if r["bsa_m2"] is not None else None,
                            "preCount": _stored_count(r, "pre"),
                            "earlyCount": _stored_count(r, "early"),
                            "lateCount": _stored_count(r, "late"),
                            "cciEarly": r["cci_early"],
                            "cciLate": r["cci_late"],
                            "pprEarly": r["ppr_early"],
                            "response": {
                                "category": r["category"].upper(),
                                "notEvaluableReasons": [
                                    NotEvaluableReason(x).name for x in r["reasons"].split(",") if x
                                ],
                                "parameterVersion": r["parameter_version"],
                            },
                        }
                        for r in transfusions[s["id"]]
                    ],
                    "plateletResponse": {
                        "baselineRefractory": subject["baseline_refractory"],
                        "sustained": subject["sustained"],
                        "firstResponseAt": _iso(subject["first_response_at"]),
                        "daysToResponse": subject["days_to_response"],
                        "longestResponsiveRun": subject["longest_responsive_run"],
                        "evaluableTransfusions": subject["evaluable_transfusions"],
                        "responsiveTransfusions": subject["responsive_transfusions"],
                        "parameterVersion": subject["parameter_version"],
                    },
                }
            }
        )
    return json.dumps({"data": {"subjects": {"totalCount": total, "edges": edges}}}).encode()


async def sql_endpoint_stored(pool: asyncpg.Pool) -> bytes:
    """The primary endpoint by hand from subject_response: one aggregate per site, Clopper-Pearson."""
    async with pool.acquire() as conn:
        version = (await protocol(conn))[0]
        rows = await conn.fetch(
            """SELECT site.code AS site_code, count(*) FILTER (WHERE r.infused) AS infused,
                 count(*) FILTER (WHERE r.infused AND r.sustained) AS infused_responders,
                 count(*) FILTER (WHERE r.per_protocol) AS per_protocol,
                 count(*) FILTER (WHERE r.per_protocol AND r.sustained) AS per_protocol_responders
               FROM subject_response r JOIN subject s ON s.id = r.subject_id JOIN site ON site.id = s.site_id
               GROUP BY site.code ORDER BY site.code"""
        )
    body = {
        "infused": _endpoint_json(sum(r["infused_responders"] for r in rows), sum(r["infused"] for r in rows), version),
        "perProtocol": _endpoint_json(
            sum(r["per_protocol_responders"] for r in rows), sum(r["per_protocol"] for r in rows), version
        ),
        "primaryEndpointBySite": [
            {
                "site": {"code": r["site_code"]},
                "endpoint": _endpoint_json(r["per_protocol_responders"], r["per_protocol"], version),
            }
            for r in rows
            if r["infused"]
        ],
    }
    return json.dumps({"data": {"trial": body}}).encode()


# --- timing --------------------------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


async def timed_rounds(
    operations: list[tuple[str, Callable[[], Awaitable[bytes]]]], repeat: int, warmup: int
) -> list[tuple[str, list[float], int]]:
    """Round-robin: every round runs each operation once, so a change of load on the machine (other
    processes share its 2 cores) hits all operations alike and the ratios stay comparable."""
    sizes: dict[str, int] = {}
    for _ in range(warmup):
        for name, operation in operations:
            sizes[name] = len(await operation())
    samples: dict[str, list[float]] = {name: [] for name, _ in operations}
    for _ in range(repeat):
        for name, operation in operations:
            started = time.perf_counter()
            await operation()
            samples[name].append((time.perf_counter() - started) * 1000)
    return [(name, samples[name], sizes.get(name, 0)) for name, _ in operations]


def check_graphql(body: bytes) -> dict[str, Any]:
    decoded = json.loads(body)
    if decoded.get("errors"):
        raise SystemExit(f"GraphQL errors: {decoded['errors']}")
    return decoded["data"]


# --- profile -------------------------------------------------------------------------------------

LAYERS = (
    ("asyncpg (driver, protocol)", ("/asyncpg/",)),
    ("sqlalchemy orm (hydration, identity map)", ("/sqlalchemy/orm/",)),
    ("sqlalchemy core/engine (compile, result, types)", ("/sqlalchemy/",)),
    ("server.domain (response engine)", ("/server/domain/",)),
    ("server.schema (resolvers, loaders)", ("/server/schema/",)),
    ("server (other: services, db, app)", ("/server/",)),
    ("strawberry (field resolution, types)", ("/strawberry/",)),
    ("graphql-core (execution, validation)", ("/graphql/",)),
    ("json encode/decode", ("/json/", "_json")),
    ("httpx/starlette (in-process HTTP)", ("/httpx/", "/starlette/", "/anyio/", "/h11/")),
    ("asyncio / event loop / selectors", ("/asyncio/", "selectors", "<built-in method select", "epoll")),
    ("datetime/enum/dataclasses/typing (stdlib)", ("/enum.py", "/dataclasses.py", "/typing.py", "datetime")),
)


def layer_of(filename: str, function: str) -> str:
    key = f"{filename}:{function}"
    for name, needles in LAYERS:
        if any(n in key for n in needles):
            return name
    return "other (builtins, stdlib)"


async def breakdown_site_view(
    call: GraphQLTimer, app: Any, pool: asyncpg.Pool, per_site: int, graphql_p50: float, repeat: int
) -> None:
    """Wall-clock split of the GraphQL site view, without a profiler's distortion:
    (1) the app's own SQL statements of one request, replayed through asyncpg (SQL + driver);
    (2) the app's read functions (server.db.queries, as the dataloaders call them): SQL +
        SQLAlchemy compile + row processing;
    the rest of the GraphQL p50 is the GraphQL layer: building the view objects from the rows,
    strawberry's and graphql-core's execution, dataloader and asyncio scheduling, JSON encoding, auth and in-process HTTP. The response engine does not run: its
    results are stored with their inputs (services.response). Also the garbage collector's pause
    time during one request."""
    from server.db import queries as q
    from server.db.keyset import Keyset
    from server.db.models import CarTInfusion, PlateletTransfusion
    from server.domain.auth import Actor

    captured: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_rest: Any) -> None:
        captured.append((statement, parameters))

    engine = app.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", capture)
    await call()
    event.remove(engine, "before_cursor_execute", capture)

    async def replay() -> None:
        async with pool.acquire() as conn:
            for statement, parameters in captured:
                await conn.fetch(statement, *(parameters or ()))

    actor = Actor(actor_id="bench", role=Role.INVESTIGATOR, site_codes=frozenset({BENCH_SITE}))

    async def app_reads() -> None:
        async with app.state.sessionmaker() as session:
            await q.protocol_in_force(session, actor, datetime.now(timezone.utc).date())
            where = q.SubjectFilter(site_codes=[BENCH_SITE])
            subjects = (await q.page_of_subjects(session, actor, where, page=Keyset(first=per_site))).rows
            await q.count_subjects(session, actor, where)
            ids = [s.id for s in subjects]
            await q.records_of_subjects(session, actor, PlateletTransfusion, ids, PlateletTransfusion.started_at)
            await q.records_of_subjects(session, actor, CarTInfusion, ids, CarTInfusion.infused_at)
            await q.stored_subject_responses(session, actor, ids)
            await q.stored_transfusion_responses(session, actor, ids)

    async def median_ms(operation: Callable[[], Awaitable[None]]) -> float:
        await operation()
        samples = []
        for _ in range(max(5, repeat // 2)):
            started = time.perf_counter()
            await operation()
            samples.append((time.perf_counter() - started) * 1000)
        return statistics.median(samples)

    gc_pauses: list[float] = []
    gc_start: list[float] = []

    def gc_callback(phase: str, _info: dict[str, Any]) -> None:
        if phase == "start":
            gc_start.append(time.perf_counter())
        elif gc_start:
            gc_pauses.append(time.perf_counter() - gc_start.pop())

    sql_ms = await median_ms(replay)
    reads_ms = await median_ms(app_reads)
    gc.callbacks.append(gc_callback)
    graphql_samples = []
    for _ in range(3):
        gc_pauses.clear()
        started = time.perf_counter()
        await call()
        graphql_samples.append(((time.perf_counter() - started) * 1000, sum(gc_pauses) * 1000, len(gc_pauses)))
    gc.callbacks.remove(gc_callback)
    gc_ms = statistics.median(g for _, g, _ in graphql_samples)
    rest = graphql_p50 - reads_ms
    print(f"\nWhere the GraphQL site view's time goes (wall clock, medians; GraphQL p50 {graphql_p50:.0f} ms):")
    print(f"  {len(captured)} SQL statements per request")
    print(f"  {'SQL + driver (the app statements replayed via asyncpg)':<70}{sql_ms:>8.0f} ms")
    print(
        f"  {'SQLAlchemy compile + row processing (app read functions minus replay)':<70}{reads_ms - sql_ms:>8.0f} ms"
    )
    print(f"  {'GraphQL layer: view objects, execution, loaders, asyncio, JSON, HTTP':<70}{rest:>8.0f} ms")
    print(
        f"  (garbage collector pauses inside one request: {gc_ms:.0f} ms median over 3 requests,"
        f" {graphql_samples[-1][2]} collections in the last; they fall in the layers above)"
    )


async def profile_site_view(call: GraphQLTimer, app: Any, runs: int) -> None:
    sql_seconds = [0.0]
    starts: list[float] = []

    def before(*_a: Any) -> None:
        starts.append(time.perf_counter())

    def after(*_a: Any) -> None:
        sql_seconds[0] += time.perf_counter() - starts.pop()

    engine = app.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    statements = [0]

    def counter(*_a: Any) -> None:
        statements[0] += 1

    event.listen(engine, "before_cursor_execute", counter)
    profiler = cProfile.Profile()
    wall = time.perf_counter()
    profiler.enable()
    for _ in range(runs):
        await call()
    profiler.disable()
    wall = time.perf_counter() - wall
    for fn in (before, after, counter):
        event.remove(engine, "before_cursor_execute" if fn is not after else "after_cursor_execute", fn)
    stats = pstats.Stats(profiler)
    by_layer: dict[str, float] = defaultdict(float)
    total = 0.0
    for (filename, _line, function), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        by_layer[layer_of(filename, function)] += tottime
        total += tottime
    print(f"\nProfile of the GraphQL site view, {runs} runs under cProfile (profiling slows everything ~2x):")
    print(
        f"  wall {wall / runs * 1000:.0f} ms/run; {statements[0] // runs} SQL statements/run;"
        f" SQL wall time (cursor execute, incl. driver decode) {sql_seconds[0] / runs * 1000:.0f} ms/run"
    )
    print(f"  {'own time by layer':<52}{'ms/run':>8}{'share':>8}")
    for name, seconds in sorted(by_layer.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<52}{seconds / runs * 1000:>8.1f}{seconds / total * 100:>7.1f}%")
    print("\n  top 25 functions by own time:")
    stats.sort_stats("tottime").print_stats(25)
    print("  top 30 by cumulative time (server code):")
    stats.sort_stats("cumulative").print_stats("/server/", 30)


# --- main ----------------------------------------------------------------------------------------


async def main(args: argparse.Namespace) -> None:
    settings = Settings(database_url=args.database_url, data_dir=Path(tempfile.mkdtemp()), max_page_size=1000)
    url = settings.effective_database_url
    if not url.startswith("postgresql"):
        raise SystemExit("the benchmark needs a PostgreSQL URL")
    per_site = math.ceil(args.subjects / SITES)

    await build_cohort(url, args.subjects, args.transfusions)

    app = create_app(settings)
    pool = await asyncpg.create_pool(asyncpg_dsn(url), min_size=1, max_size=2)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client,
    ):
        investigator = development_token(settings, role=Role.INVESTIGATOR, sites=[BENCH_SITE], subject=None)
        analyst = development_token(settings, role=Role.ANALYST, sites=[], subject=None)
        site_view = GraphQLTimer(client, investigator, SITE_VIEW, {"sites": [BENCH_SITE], "first": per_site})
        endpoint_view = GraphQLTimer(client, analyst, ENDPOINT_VIEW, {})

        data = check_graphql(await site_view())
        nodes = [e["node"] for e in data["subjects"]["edges"]]
        transfusions = sum(len(n["transfusions"]) for n in nodes)
        categories: dict[str, int] = defaultdict(int)
        for n in nodes:
            for t in n["transfusions"]:
                categories[t["response"]["category"]] += 1
        sustained = sum(n["plateletResponse"]["sustained"] for n in nodes)
        print(
            f"site view: {len(nodes)} subjects x {transfusions / max(len(nodes), 1):.0f} transfusions at "
            f"{BENCH_SITE}; responses {dict(categories)}; {sustained} sustained responders"
        )
        endpoint = check_graphql(await endpoint_view())["trial"]
        print(f"endpoint: INFUSED {endpoint['infused']}; PER_PROTOCOL {endpoint['perProtocol']}")

        # The hand-written endpoint must agree with the GraphQL one, or the comparison is void.
        by_hand = json.loads(await sql_endpoint(pool))["data"]["trial"]
        assert by_hand["infused"] == endpoint["infused"], (by_hand["infused"], endpoint["infused"])
        assert by_hand["perProtocol"] == endpoint["perProtocol"]
        stored_endpoint = json.loads(await sql_endpoint_stored(pool))["data"]["trial"]
        assert (
            stored_endpoint["infused"] == endpoint["infused"]
            and stored_endpoint["perProtocol"] == endpoint["perProtocol"]
        )
        engine_view = json.loads(await sql_with_engine(pool, BENCH_SITE, per_site))["data"]["subjects"]
        stored_view = json.loads(await sql_stored(pool, BENCH_SITE, per_site))["data"]["subjects"]
        for by_sql in (engine_view, stored_view):
            for mine, theirs in zip(by_sql["edges"], data["subjects"]["edges"], strict=True):
                assert mine["node"]["plateletResponse"] == theirs["node"]["plateletResponse"]
                for t_mine, t_theirs in zip(mine["node"]["transfusions"], theirs["node"]["transfusions"], strict=True):
                    assert t_mine["cciEarly"] == t_theirs["cciEarly"] and t_mine["cciLate"] == t_theirs["cciLate"]
                    assert t_mine["response"] == t_theirs["response"] and t_mine["pprEarly"] == t_theirs["pprEarly"]

        operations: list[tuple[str, Callable[[], Awaitable[bytes]]]] = [
            ("graphql site view (ASGI in-process)", site_view),
            ("sql site view: rows -> JSON (no CCI)", lambda: sql_rows_only(pool, BENCH_SITE, per_site)),
            ("sql site view: rows -> engine -> JSON", lambda: sql_with_engine(pool, BENCH_SITE, per_site)),
            ("sql site view: stored results -> JSON", lambda: sql_stored(pool, BENCH_SITE, per_site)),
            ("graphql endpoint (ASGI in-process)", endpoint_view),
            ("sql endpoint: rows -> engine -> JSON", lambda: sql_endpoint(pool)),
            ("sql endpoint: stored results -> JSON", lambda: sql_endpoint_stored(pool)),
        ]
        if args.skip_endpoint:
            operations = operations[:4]
        load_before = os.getloadavg()[0]
        results = await timed_rounds(operations, args.repeat, args.warmup)
        load_after = os.getloadavg()[0]

        print(
            f"\n{args.subjects} subjects x {args.transfusions} transfusions; site {BENCH_SITE}: {per_site} "
            f"subjects; {args.repeat} rounds after {args.warmup} warm-up, operations interleaved; PostgreSQL;"
            f" load average {load_before:.1f} -> {load_after:.1f} on {os.cpu_count()} cores"
        )
        print(f"{'operation':<42}{'p50 ms':>9}{'p90 ms':>9}{'min ms':>9}{'KiB':>8}")
        for name, samples, size in results:
            print(
                f"{name:<42}{statistics.median(samples):>9.1f}{percentile(samples, 0.9):>9.1f}"
                f"{min(samples):>9.1f}{size / 1024:>8.0f}"
            )
        p50 = {name: statistics.median(samples) for name, samples, _ in results}
        gql_site = p50["graphql site view (ASGI in-process)"]
        print("\nratios (p50, same run):")
        print(
            f"  graphql site view / sql rows -> JSON (no CCI)      {gql_site / p50[operations[1][0]]:5.1f}x"
            "   (target: within 3x)"
        )
        print(f"  graphql site view / sql rows -> engine -> JSON     {gql_site / p50[operations[2][0]]:5.1f}x")
        print(f"  graphql site view / sql stored results -> JSON     {gql_site / p50[operations[3][0]]:5.1f}x")
        if not args.skip_endpoint:
            gql_endpoint = p50[operations[4][0]]
            print(f"  graphql endpoint  / sql rows -> engine -> JSON     {gql_endpoint / p50[operations[5][0]]:5.1f}x")
            print(f"  graphql endpoint  / sql stored results -> JSON     {gql_endpoint / p50[operations[6][0]]:5.1f}x")

        if args.profile:
            await breakdown_site_view(site_view, app, pool, per_site, p50[operations[0][0]], args.repeat)
            await profile_site_view(site_view, app, args.profile_runs)
    await pool.close()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="PostgreSQL URL; its public schema is DROPPED")
    parser.add_argument("--subjects", type=int, default=500)
    parser.add_argument("--transfusions", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="profile the GraphQL site view with cProfile")
    parser.add_argument("--profile-runs", type=int, default=5)
    parser.add_argument("--skip-endpoint", action="store_true", help="time the site view only")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
