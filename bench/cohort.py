"""The benchmarks' synthetic cohort, in a PostgreSQL database: reset, migrated, seeded, responses stored.

Shared by bench/response_bench.py and bench/peer_bench.py. `build_cohort` DROPS the public schema
of the database it is given, migrates it with alembic (server.db.migrate), seeds a synthetic
cohort with COPY (asyncpg): 10 sites, N subjects (N/10 per site), each with two body
measurements, a CD19 CAR-T infusion (and BCMA for 80 %), and T platelet transfusions (4 before
CAR-T, the rest after it, one every 3 days), each with a pre, an early and a late count.
Responses are mixed: some subjects respond after CAR-T, some stay refractory; about 5 % of early
counts fall outside the window (not evaluable). COPY bypasses the services, so the stored
platelet responses are then computed for every subject (services.response.
refresh_stored_responses, as `ptr-trial refresh-responses` does).
"""

from __future__ import annotations

import gc
import json
import math
import random
import sys
import time
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from server.db import migrate  # noqa: E402
from server.db.engine import build_engine, build_sessionmaker  # noqa: E402
from server.services.response import refresh_stored_responses  # noqa: E402

SITES = 10
BENCH_SITE = "S03"
T0 = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)  # first enrolment; all data lies in the past


def asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def reset_and_migrate(url: str) -> None:
    engine = build_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await migrate.upgrade(engine)
    await engine.dispose()


def synthetic_cohort(subjects: int, transfusions: int, seed: int = 20260101) -> dict[str, list[tuple[Any, ...]]]:
    """Rows per table, as tuples in the column order of COLUMNS below."""
    rng = random.Random(seed)
    rows: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    per_site = math.ceil(subjects / SITES)
    for s in range(1, SITES + 1):
        rows["site"].append((s, 1, f"S{s:02d}", f"Site {s:02d}", T0))
    transfusion_id = count_id = measurement_id = infusion_id = 0
    before = min(4, transfusions)
    for subject_id in range(1, subjects + 1):
        site = (subject_id - 1) // per_site + 1
        enrolled = T0 + timedelta(days=rng.randint(0, 60), hours=rng.randint(0, 8))
        stamps = (enrolled, enrolled, None, None)  # created_at, updated_at, voided_at, void_reason
        rows["subject"].append(
            (
                subject_id,
                1,
                site,
                f"S{site:02d}-{subject_id:04d}",
                rng.choice(["female", "male"]),
                1975,
                enrolled.year - 1975,
                rng.choice(["aml", "all", "mpal"]),
                "cr1",
                None,
                rng.choice(["o", "a", "b", "ab"]),
                None,
                enrolled.date(),
                "follow_up",
                enrolled,
                enrolled,
            )
        )
        height, weight = rng.uniform(155, 195), rng.uniform(50, 100)
        for k, at in enumerate((enrolled, enrolled + timedelta(days=90))):
            measurement_id += 1
            rows["body_measurement"].append(
                (measurement_id, subject_id, at, height, weight + k * rng.uniform(-4, 2), *stamps)
            )
        first_transfusion = enrolled + timedelta(days=1)
        cd19_at = first_transfusion + timedelta(days=3 * before + 1)
        infusion_id += 1
        rows["car_t_infusion"].append(
            (infusion_id, subject_id, "cd19", cd19_at, 1e6, 7e7, f"CD19-{subject_id}", *stamps)
        )
        if rng.random() < 0.8:
            infusion_id += 1
            rows["car_t_infusion"].append(
                (
                    infusion_id,
                    subject_id,
                    "bcma",
                    cd19_at + timedelta(days=14),
                    2e6,
                    1.4e8,
                    f"BCMA-{subject_id}",
                    *stamps,
                )
            )
        responder = rng.random() < 0.45
        for k in range(transfusions):
            start = first_transfusion + timedelta(days=3 * k + (1 if k >= before else 0), minutes=rng.randint(0, 240))
            end = start + timedelta(minutes=rng.randint(20, 60))
            units = [{"kind": "apheresis", "content_e11": round(rng.uniform(2.9, 4.4), 2), "content_basis": "measured"}]
            if rng.random() < 0.1:
                units.append({"kind": "apheresis", "content_e11": None, "content_basis": "nominal"})
            abo = rng.choice(["identical"] * 8 + ["minor_incompatible", "major_incompatible"])
            transfusion_id += 1
            rows["platelet_transfusion"].append(
                (
                    transfusion_id,
                    subject_id,
                    start,
                    end,
                    json.dumps(units),
                    abo,
                    True,
                    rng.random() < 0.5,
                    rng.randint(1, 5),
                    "no reaction",
                    *stamps,
                )
            )
            pre = rng.uniform(3, 15)
            gain = rng.uniform(15, 40) if responder and k >= before else rng.uniform(-2, 8)
            early_after = timedelta(minutes=rng.randint(75, 90) if rng.random() < 0.05 else rng.randint(15, 55))
            for drawn, value in (
                (start - timedelta(minutes=rng.randint(30, 360)), pre),
                (end + early_after, pre + gain),
                (end + timedelta(hours=rng.uniform(18.5, 23)), pre + gain * rng.uniform(0.5, 0.9)),
            ):
                count_id += 1
                rows["platelet_count"].append(
                    (count_id, subject_id, drawn, round(max(value, 0.5), 1), transfusion_id, *stamps)
                )
    return rows


VOIDABLE = ("created_at", "updated_at", "voided_at", "void_reason")
COLUMNS = {
    "site": ("id", "trial_id", "code", "name", "created_at"),
    "subject": (
        "id",
        "trial_id",
        "site_id",
        "code",
        "sex",
        "year_of_birth",
        "age_at_consent",
        "diagnosis",
        "remission_status",
        "remission_date",
        "abo_group",
        "rhd",
        "consent_date",
        "status",
        "created_at",
        "updated_at",
    ),
    "body_measurement": ("id", "subject_id", "measured_at", "height_cm", "weight_kg", *VOIDABLE),
    "car_t_infusion": (
        "id",
        "subject_id",
        "product",
        "infused_at",
        "car_positive_cells_per_kg",
        "total_car_positive_cells",
        "lot_number",
        *VOIDABLE,
    ),
    "platelet_transfusion": (
        "id",
        "subject_id",
        "started_at",
        "ended_at",
        "units",
        "abo_compatibility",
        "hla_selected",
        "crossmatched",
        "storage_age_days",
        "note",
        *VOIDABLE,
    ),
    "platelet_count": ("id", "subject_id", "drawn_at", "value_e9_per_l", "entered_with_transfusion_id", *VOIDABLE),
}


async def seed(dsn: str, rows: dict[str, list[tuple[Any, ...]]]) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            for table, columns in COLUMNS.items():
                await conn.copy_records_to_table(table, records=rows[table], columns=list(columns))
                await conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
                )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def store_responses(url: str) -> int:
    """Every subject's stored platelet responses, as `ptr-trial refresh-responses` does after a
    bulk load (COPY bypasses the services that keep them in step)."""
    engine = build_engine(url)
    try:
        async with build_sessionmaker(engine, writes=True)() as session, session.begin():
            return await refresh_stored_responses(session, None, datetime.now(timezone.utc).date())
    finally:
        await engine.dispose()


async def build_cohort(url: str, subjects: int, transfusions: int) -> None:
    """Reset, migrate, seed and store the responses of the database at `url` (SQLAlchemy URL),
    printing how long each step took."""
    started = time.perf_counter()
    await reset_and_migrate(url)
    migrated = time.perf_counter()
    rows = synthetic_cohort(subjects, transfusions)
    await seed(asyncpg_dsn(url), rows)
    seeded = time.perf_counter()
    print(
        f"reset+migrate {migrated - started:.1f} s; seeded {len(rows['subject'])} subjects, "
        f"{len(rows['platelet_transfusion'])} transfusions, {len(rows['platelet_count'])} counts, "
        f"{len(rows['car_t_infusion'])} infusions, {len(rows['body_measurement'])} measurements "
        f"in {seeded - migrated:.1f} s (COPY)"
    )
    # The seed data must not stay alive in a measuring process: 80,000 extra tuples would make
    # every full garbage collection of the measured requests slower than in a real server process.
    del rows
    gc.collect()
    refreshed = await store_responses(url)
    print(f"stored responses refreshed for {refreshed} subjects in {time.perf_counter() - seeded:.1f} s")
    gc.collect()
