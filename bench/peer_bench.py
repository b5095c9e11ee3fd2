"""Peer comparison (issue 11): this service against PostGraphile 5 on the same PostgreSQL database.

    .venv/bin/python bench/peer_bench.py [--database-url postgresql://postgres@127.0.0.1:5432/ptr_bench_peer]
        [--workers 1] [--rounds 5] [--seconds 5] [--connections 10]

1. Builds the database (created if missing; its public schema is DROPPED): migrated with alembic,
   500 subjects x 40 transfusions seeded with COPY, stored responses refreshed (bench/cohort.py).
2. Installs what it needs if missing: Debian's `wrk` (apt-get, as root) and PostGraphile 5 with a
   Node.js 22 runtime from npm (`npm ci` in bench/peer/; PostGraphile 5 needs Node >= 22).
3. Starts this service as production runs it (`ptr-trial serve`, PTR_ENVIRONMENT=production, an
   https public base URL, a random 48-byte JWT secret, the request rate limits off) and
   PostGraphile 5 (amber preset, `public` schema) on two free ports of 127.0.0.1.
4. Checks that both answer the same rows (transfusion ids, start times, doses, CCIs, categories)
   for Q1 and Q2, and that a diary submission (Q3) is accepted.
5. Runs alternating rounds, each: Q1 ours, Q1 PostGraphile, Q2 ours, Q2 PostGraphile, Q3 ours,
   Q3 floor; `wrk -t1 -c10` with a Lua script (POST bodies, a fresh clientReportId per diary
   request, every answer checked), the floor an asyncpg loop of single INSERTs on 10 connections.
   Prints req/s, p50 and p99 per contender and round, the ratios ours/peer (ours/floor for Q3),
   the medians over rounds, and the RSS of the service's worker process(es) and of PostGraphile.

The queries:
- Q1 mobile read: a patient's own subject with its last 10 transfusions (start, dose, CCI early
  and late, response category), with a patient token. `transfusions(last: 10)` is used when the
  schema has it, otherwise every transfusion (a note says so).
- Q2 analyst read: the first 50 subjects of site S03 with all their transfusions, same fields.
- Q3 diary submission: `submitBleedingReport` from patients' tokens (round robin over every
  subject), each report on its own (subject, local day), so every request does the same work.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.cohort import BENCH_SITE, asyncpg_dsn, build_cohort  # noqa: E402
from server.auth import development_token  # noqa: E402
from server.domain.enums import Role  # noqa: E402
from server.schema.common.ids import decode_id  # noqa: E402
from server.settings import Settings  # noqa: E402

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/ptr_bench_peer"
PEER_DIR = Path(__file__).resolve().parent / "peer"
SUBJECTS, TRANSFUSIONS, PAGE = 500, 40, 50
Q1_SUBJECT = "S03-0101"  # the first subject of site S03 (bench/cohort.py numbers codes by subject id)

# --- the queries -----------------------------------------------------------------------------------

FIELDS = "id startedAt doseE11 cciEarly cciLate response { category }"
OURS_Q1 = f"query Q1($code: String!) {{ subject(code: $code) {{ code transfusions(last: 10) {{ {FIELDS} }} }} }}"
OURS_Q1_EVERY = f"query Q1($code: String!) {{ subject(code: $code) {{ code transfusions {{ {FIELDS} }} }} }}"
OURS_Q2 = f"""query Q2($sites: [String!], $first: Int) {{
  subjects(first: $first, siteCodes: $sites) {{ edges {{ node {{ code transfusions {{ {FIELDS} }} }} }} }}
}}"""
# PostGraphile exposes tables and foreign keys: the stored response (transfusion_response, keyed by
# transfusion_id) is the transfusion's one-to-one relation.
PEER_FIELDS = "rowId startedAt transfusionResponseByTransfusionId { doseE11 cciEarly cciLate category }"
PEER_Q1 = f"""query Q1($code: String!) {{ subjectByCode(code: $code) {{ code
  plateletTransfusionsBySubjectId(first: 10, orderBy: STARTED_AT_DESC) {{ nodes {{ {PEER_FIELDS} }} }} }} }}"""
PEER_Q2 = f"""query Q2($site: String!, $first: Int) {{ siteByCode(code: $site) {{
  subjectsBySiteId(first: $first, orderBy: PRIMARY_KEY_ASC) {{ nodes {{ code
    plateletTransfusionsBySubjectId(orderBy: STARTED_AT_ASC) {{ nodes {{ {PEER_FIELDS} }} }} }} }} }} }}"""
SUBMIT = """mutation Q3($input: SubmitBleedingReportInput!) { submitBleedingReport(input: $input) {
  __typename ... on BleedingReportAccepted { duplicate provisionalWhoGrade redFlags callSiteNow alertRaised advice late }
  ... on UserError { code message field } } }"""
ACCEPTED = "BleedingReportAccepted"

# --- tools: wrk, PostGraphile, the database ------------------------------------------------------


def ensure_wrk() -> str:
    """Debian's wrk, installed with apt-get when missing and this runs as root."""
    if shutil.which("wrk") is None:
        if os.geteuid() != 0 or shutil.which("apt-get") is None:
            raise SystemExit("wrk is missing: install it (Debian: `sudo apt-get install -y wrk`) and rerun")
        print("installing wrk (apt-get update, apt-get install -y wrk)")
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)
    return shutil.which("wrk") or "wrk"


def ensure_peer() -> tuple[Path, Path]:
    """PostGraphile and its Node.js 22 runtime from bench/peer/package-lock.json (npm ci)."""
    node, cli = PEER_DIR / "node_modules/.bin/node", PEER_DIR / "node_modules/.bin/postgraphile"
    if not (node.exists() and cli.exists()):
        print("installing PostGraphile 5 and Node.js 22 into bench/peer/node_modules (npm ci)")
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=PEER_DIR, check=True)
    return node, cli


async def ensure_database(url: str) -> None:
    """Creates the database named in `url` when it does not exist."""
    base, _, name = asyncpg_dsn(url).rpartition("/")
    conn = await asyncpg.connect(f"{base}/postgres")
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


# --- the two servers -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def production_environment(url: str, secret: str, data_dir: Path) -> dict[str, str]:
    """README "Running in production", with the /graphql rate limits off (one client sends
    thousands of requests a second here) and the logs at their production level."""
    return {
        **os.environ,
        "DATABASE_URL": url,
        "PTR_ENVIRONMENT": "production",
        "PTR_JWT_SECRET": secret,
        "PTR_PUBLIC_BASE_URL": "https://trial.example.org",
        "PTR_DATA_DIR": str(data_dir),
        "PTR_GRAPHQL_RATE_LIMIT_PER_IP": "",
        "PTR_GRAPHQL_RATE_LIMIT_PER_SUBJECT": "",
        "PTR_AUTH_FAILURE_RATE_LIMIT_PER_IP": "",
    }


def start_service(url: str, port: int, workers: int, secret: str, scratch: Path) -> subprocess.Popen[bytes]:
    command = [str(Path(sys.executable).parent / "ptr-trial"), "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", str(workers)]
    log = (scratch / "service.log").open("wb")
    return subprocess.Popen(command, env=production_environment(url, secret, scratch), stdout=log, stderr=log)


def start_peer(node: Path, cli: Path, url: str, port: int, scratch: Path) -> subprocess.Popen[bytes]:
    command = [str(node), str(cli), "-C", "graphile.config.mjs", "-c", asyncpg_dsn(url), "-s", "public"]
    command += ["-p", str(port), "-n", "127.0.0.1"]
    log = (scratch / "postgraphile.log").open("wb")
    env = {**os.environ, "GRAPHILE_ENV": "production", "NODE_ENV": "production"}
    return subprocess.Popen(command, cwd=PEER_DIR, env=env, stdout=log, stderr=log)


def wait_until_up(name: str, probe: Callable[[], bool], process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{name} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if probe():
                return
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.3)
    raise SystemExit(f"{name} did not come up in 60 s:\n{log.read_text()[-3000:]}")


def post(url: str, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=60) as response:
        return dict(json.loads(response.read()))


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


# --- tokens ----------------------------------------------------------------------------------------


def mint(secret: str, role: Role, subject: str | None = None) -> str:
    """A token the production service accepts: HS256 with its secret (development_token refuses a
    production Settings, so the same secret is given to a development one)."""
    settings = Settings(environment="development", jwt_secret=secret)
    return development_token(settings, role=role, sites=[], subject=subject, sub=f"bench-{subject or role.value}")


# --- same rows? ------------------------------------------------------------------------------------

Row = tuple[int, datetime, float | None, float | None, float | None, str]


def ours_rows(transfusions: list[dict[str, Any]]) -> list[Row]:
    rows = []
    for t in transfusions:
        decoded = decode_id(t["id"])
        assert decoded is not None, t["id"]
        started = datetime.fromisoformat(t["startedAt"])
        rows.append((decoded[1], started, t["doseE11"], t["cciEarly"], t["cciLate"], t["response"]["category"].upper()))
    return rows


def peer_rows(transfusions: list[dict[str, Any]]) -> list[Row]:
    rows = []
    for t in transfusions:
        r = t["transfusionResponseByTransfusionId"]
        started = datetime.fromisoformat(t["startedAt"])
        rows.append((t["rowId"], started, r["doseE11"], r["cciEarly"], r["cciLate"], r["category"].upper()))
    return rows


def data_of(answer: dict[str, Any], what: str) -> dict[str, Any]:
    if answer.get("errors") or not answer.get("data"):
        raise SystemExit(f"{what} answered with errors: {json.dumps(answer)[:2000]}")
    return dict(answer["data"])


def check_q1(ours: dict[str, Any], peer: dict[str, Any]) -> int:
    mine = sorted(ours_rows(data_of(ours, "Q1 ours")["subject"]["transfusions"]), key=lambda r: r[1])[-10:]
    nodes = data_of(peer, "Q1 peer")["subjectByCode"]["plateletTransfusionsBySubjectId"]["nodes"]
    theirs = sorted(peer_rows(nodes), key=lambda r: r[1])
    if mine != theirs:
        raise SystemExit(f"Q1: the answers differ\nours: {mine}\npeer: {theirs}")
    return len(mine)


def check_q2(ours: dict[str, Any], peer: dict[str, Any]) -> tuple[int, int]:
    mine = {
        e["node"]["code"]: ours_rows(e["node"]["transfusions"]) for e in data_of(ours, "Q2 ours")["subjects"]["edges"]
    }
    nodes = data_of(peer, "Q2 peer")["siteByCode"]["subjectsBySiteId"]["nodes"]
    theirs = {n["code"]: peer_rows(n["plateletTransfusionsBySubjectId"]["nodes"]) for n in nodes}
    if list(mine) != list(theirs) or mine != theirs:
        differing = [code for code in mine if mine[code] != theirs.get(code)]
        raise SystemExit(
            f"Q2: the answers differ (subjects {list(mine)[:5]}... vs {list(theirs)[:5]}...; {differing[:5]})"
        )
    return len(mine), sum(len(rows) for rows in mine.values())


def q1_query(service: str, patient: str) -> tuple[str, str | None]:
    """`transfusions(last: 10)` when the schema has it (production has no introspection: try it),
    else every transfusion, with a note."""
    answer = post(service, {"query": OURS_Q1, "variables": {"code": Q1_SUBJECT}}, patient)
    if not answer.get("errors"):
        return OURS_Q1, None
    note = f"NOTE: Subject.transfusions(last:) refused ({answer['errors'][0].get('message')}); Q1 asks for every transfusion"
    return OURS_Q1_EVERY, note


# --- load: wrk ----------------------------------------------------------------------------------------

# Every answer is checked (an error inside a 200 answer counts as bad), and the figures are written
# as one JSON line. Latencies are in microseconds.
LUA_COMMON = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
bad = 0
function response(status, headers, body)
  if status ~= 200 or not string.find(body, EXPECTED, 1, true) or string.find(body, '"errors"', 1, true) then
    bad = bad + 1
  end
end
function done(summary, latency, requests)
  local bad_total = 0
  for _, t in ipairs(threads) do bad_total = bad_total + t:get("bad") end
  local e = summary.errors
  io.write(string.format('RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "bad": %d, "socket_errors": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), bad_total,
    e.connect + e.read + e.write + e.timeout))
end
"""


def lua_string(value: str) -> str:
    """A Lua long string literal holding `value` as it is."""
    level = "=" * 4
    assert f"]{level}]" not in value
    return f"[{level}[{value}]{level}]"


def static_post_script(body: dict[str, Any], token: str | None, expected: str) -> str:
    auth = f'wrk.headers["Authorization"] = {lua_string("Bearer " + token)}\n' if token else ""
    return (
        f'EXPECTED = {lua_string(expected)}\nwrk.method = "POST"\n'
        f'wrk.headers["Content-Type"] = "application/json"\n{auth}'
        f"wrk.body = {lua_string(json.dumps(body))}\n{LUA_COMMON}"
    )


def diary_script(tokens: list[str], first: int, prefix: str, newest: datetime) -> str:
    """Request i (from `first` on) is a report of subject i mod N, noticed (i div N) days before
    `newest`: one report per (subject, local day), so the work per request does not grow with
    the number sent. Its clientReportId is `prefix` (8-4-4-4 hex, fresh each run) and i in hex."""
    template = json.dumps(
        {
            "query": SUBMIT,
            "variables": {
                "input": {
                    "clientReportId": "@ID@",
                    "noticedAt": "@NOTICED@",
                    "deviceEnteredAt": "@ENTERED@",
                    "symptoms": [{"site": "NOSE", "durationMinutes": 20}],
                }
            },
        }
    )
    template = template.replace("%", "%%").replace("@ID@", "%s").replace("@NOTICED@", "%s").replace("@ENTERED@", "%s")
    token_list = ",\n".join(lua_string("Bearer " + t) for t in tokens)
    return f"""EXPECTED = "{ACCEPTED}"
local tokens = {{ {token_list} }}
local template = {lua_string(template)}
local first, sent, newest = {first}, 0, {int(newest.timestamp())}
function request()
  local i = first + sent
  sent = sent + 1
  local noticed = newest - math.floor(i / #tokens) * 86400
  local body = string.format(template, string.format("{prefix}-%012x", i),
    os.date("!%Y-%m-%dT%H:%M:%SZ", noticed), os.date("!%Y-%m-%dT%H:%M:%SZ", noticed + 60))
  return wrk.format("POST", nil, {{["Content-Type"] = "application/json", ["Authorization"] = tokens[i % #tokens + 1]}}, body)
end
{LUA_COMMON}"""


@dataclass
class Figures:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    bad: int = 0

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


def run_wrk(wrk: str, url: str, script: str, seconds: int, connections: int, scratch: Path) -> Figures:
    path = scratch / "load.lua"
    path.write_text(script)
    command = [wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "60s", "-s", str(path), url]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    match = re.search(r"^RESULT (\{.*\})$", output, re.MULTILINE)
    if match is None:
        raise SystemExit(f"wrk printed no RESULT line:\n{output}")
    r = json.loads(match.group(1))
    return Figures(
        r["requests"], r["duration_us"] / 1e6, r["p50_us"] / 1000, r["p99_us"] / 1000, r["bad"] + r["socket_errors"]
    )


def cpu_ticks(pids: list[int]) -> int:
    """User and system CPU time of these processes, in clock ticks (/proc/PID/stat)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total


def wait_idle(pids: list[int], timeout: float = 120) -> None:
    """Waits until the server's processes stop using CPU: the requests wrk left in flight when its
    time was up are still being served, and must not eat into the next contender's time."""
    deadline = time.monotonic() + timeout
    before = cpu_ticks(pids)
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = cpu_ticks(pids)
        if now - before <= 2:  # under 8 % of a core for a quarter of a second
            return
        before = now


# --- the floor: single INSERTs through asyncpg --------------------------------------------------------

FLOOR_TABLE = "bench_floor_report"
FLOOR_INSERT = f"""INSERT INTO {FLOOR_TABLE} (subject_id, client_report_id, content_hash, kind, noticed_at, local_date,
  device_entered_at, device_utc_offset_minutes, received_at, changed_at, late, symptoms, neurological_signs,
  pro_ctcae, who_grade, day_who_grade, red_flags, submitted_by)
  VALUES ($1, $2, $3, 'symptoms', $4, $5, $6, 0, $7, $7, false, $8, '{{}}', '{{}}', 1, 1, '[]', $9)"""


async def create_floor_table(dsn: str) -> None:
    """A table like bleeding_report (columns, defaults, unique client_report_id, indexes)."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"DROP TABLE IF EXISTS {FLOOR_TABLE}")
        await conn.execute(f"CREATE TABLE {FLOOR_TABLE} (LIKE bleeding_report INCLUDING ALL)")
    finally:
        await conn.close()


async def floor_round(dsn: str, seconds: int, connections: int) -> Figures:
    """`connections` connections, each INSERTing one report-like row at a time (autocommit)."""
    symptoms = json.dumps([{"site": "nose", "duration_minutes": 20}])
    latencies: list[float] = []

    async def worker(conn: asyncpg.Connection, stop_at: float) -> None:
        while time.perf_counter() < stop_at:
            now = datetime.now(timezone.utc)
            started = time.perf_counter()
            await conn.execute(
                FLOOR_INSERT, 1, str(uuid.uuid4()), secrets.token_hex(32), now, now.date(), now, now, symptoms, "bench"
            )
            latencies.append(time.perf_counter() - started)

    conns = [await asyncpg.connect(dsn) for _ in range(connections)]
    try:
        started = time.perf_counter()
        await asyncio.gather(*(worker(c, started + seconds) for c in conns))
        elapsed = time.perf_counter() - started
    finally:
        for c in conns:
            await c.close()
    latencies.sort()
    return Figures(
        len(latencies), elapsed, latencies[len(latencies) // 2] * 1000, latencies[int(len(latencies) * 0.99)] * 1000
    )


# --- memory ------------------------------------------------------------------------------------------


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def worker_pids(pid: int) -> list[int]:
    """The process serving requests: uvicorn itself with one worker, its spawned children with more."""
    children = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    workers = [c for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]
    return workers or [pid]


# --- report -----------------------------------------------------------------------------------------


@dataclass
class Round:
    figures: dict[str, Figures]  # by contender, e.g. "Q1 ours"


PAIRS = (("Q1", "Q1 ours", "Q1 PostGraphile"), ("Q2", "Q2 ours", "Q2 PostGraphile"), ("Q3", "Q3 ours", "Q3 floor"))


def rate(per_second: float) -> str:
    return f"{per_second:,.1f}" if per_second < 100 else f"{per_second:,.0f}"


def ratio(r: Round, ours: str, peer: str) -> float:
    theirs = r.figures[peer].per_second
    return r.figures[ours].per_second / theirs if theirs else float("nan")


def print_rounds(rounds: list[Round]) -> None:
    print("\n| round | query | contender | requests | req/s | p50 ms | p99 ms | bad | ours/peer req/s |")
    print("| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for n, r in enumerate(rounds, 1):
        for query, ours, peer in PAIRS:
            for name in (ours, peer):
                f, contender = r.figures[name], name.split(" ", 1)[1]
                shown = f"{ratio(r, ours, peer):.3f}" if name == ours else ""
                figures = f"{f.requests} | {rate(f.per_second)} | {f.p50_ms:.1f} | {f.p99_ms:.1f} | {f.bad}"
                print(f"| {n} | {query} | {contender} | {figures} | {shown} |")


def print_medians(rounds: list[Round]) -> None:
    def med(name: str, attribute: str) -> float:
        return float(statistics.median(getattr(r.figures[name], attribute) for r in rounds))

    def shown(name: str) -> str:
        return f"{rate(med(name, 'per_second'))} | {med(name, 'p50_ms'):.1f} / {med(name, 'p99_ms'):.1f}"

    print("\nMedians over rounds:\n")
    print("| query | ours req/s | ours p50 / p99 ms | peer req/s | peer p50 / p99 ms | ratio (median of rounds) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for query, ours, peer in PAIRS:
        median_ratio = statistics.median(ratio(r, ours, peer) for r in rounds)
        print(f"| {query} (vs {peer.split(' ', 1)[1]}) | {shown(ours)} | {shown(peer)} | {median_ratio:.3f} |")


def machine(node: Path) -> str:
    """What the figures were measured on."""
    lines = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "?")
    node_version = subprocess.run([str(node), "--version"], capture_output=True, text=True).stdout.strip()
    return f"{os.cpu_count()} cores ({cpu}); Python {sys.version.split()[0]}; Node.js {node_version} (PostGraphile)"


async def postgres_version(dsn: str) -> str:
    conn = await asyncpg.connect(dsn)
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


# --- main --------------------------------------------------------------------------------------------


@dataclass
class Contenders:
    wrk: str
    service: str
    peer: str
    service_pids: list[int]  # the processes whose CPU time tells when they are idle
    peer_pids: list[int]
    scratch: Path
    scripts: dict[str, str]  # static wrk scripts by contender
    diary_tokens: list[str]
    diary_prefix: str
    sent: int = 0  # diary reports sent so far: request numbers never repeat


def diary_run(c: Contenders, seconds: int, connections: int) -> Figures:
    newest = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=1)
    script = diary_script(c.diary_tokens, c.sent, c.diary_prefix, newest)
    figures = run_wrk(c.wrk, c.service, script, seconds, connections, c.scratch)
    wait_idle(c.service_pids)
    c.sent += figures.requests + 2 * connections  # those still in flight at the end were sent too
    return figures


async def one_round(c: Contenders, dsn: str, seconds: int, q2_seconds: int, connections: int) -> Round:
    figures: dict[str, Figures] = {}
    for query, window in (("Q1", seconds), ("Q2", q2_seconds)):
        for contender, url, pids in (("ours", c.service, c.service_pids), ("PostGraphile", c.peer, c.peer_pids)):
            name = f"{query} {contender}"
            figures[name] = run_wrk(c.wrk, url, c.scripts[name], window, connections, c.scratch)
            wait_idle(pids)
    figures["Q3 ours"] = diary_run(c, seconds, connections)
    figures["Q3 floor"] = await floor_round(dsn, seconds, connections)
    return Round(figures)


def check_answers(service: str, peer: str, patient: str, analyst: str, q1: str) -> None:
    q1_n = check_q1(
        post(service, {"query": q1, "variables": {"code": Q1_SUBJECT}}, patient),
        post(peer, {"query": PEER_Q1, "variables": {"code": Q1_SUBJECT}}),
    )
    subjects, transfusions = check_q2(
        post(service, {"query": OURS_Q2, "variables": {"sites": [BENCH_SITE], "first": PAGE}}, analyst),
        post(peer, {"query": PEER_Q2, "variables": {"site": BENCH_SITE, "first": PAGE}}),
    )
    print(f"same rows: Q1 {q1_n} transfusions of {Q1_SUBJECT}; Q2 {subjects} subjects, {transfusions} transfusions")


def check_diary(service: str, patient: str) -> None:
    noticed = datetime.now(timezone.utc) - timedelta(hours=2)
    values = {
        "clientReportId": str(uuid.uuid4()),
        "noticedAt": noticed.isoformat(),
        "deviceEnteredAt": (noticed + timedelta(minutes=1)).isoformat(),
        "symptoms": [{"site": "NOSE", "durationMinutes": 20}],
    }
    result = data_of(post(service, {"query": SUBMIT, "variables": {"input": values}}, patient), "Q3")
    if result["submitBleedingReport"]["__typename"] != ACCEPTED:
        raise SystemExit(f"Q3: the diary report was not accepted: {result}")
    print(f"diary submission accepted: {result['submitBleedingReport']}")


async def main(args: argparse.Namespace) -> None:
    wrk = ensure_wrk()
    node, cli = ensure_peer()
    url = Settings(database_url=args.database_url).effective_database_url
    await ensure_database(url)
    await build_cohort(url, SUBJECTS, TRANSFUSIONS)
    await create_floor_table(asyncpg_dsn(url))
    print(f"machine: {machine(node)}; PostgreSQL {await postgres_version(asyncpg_dsn(url))} on the same machine")
    scratch = Path(tempfile.mkdtemp(prefix="ptr-peer-bench-"))
    secret = secrets.token_urlsafe(48)
    service_port, peer_port = free_port(), free_port()
    service = start_service(args.database_url, service_port, args.workers, secret, scratch)
    peer = start_peer(node, cli, url, peer_port, scratch)
    try:
        await run_benchmark(args, url, wrk, scratch, secret, service, peer, service_port, peer_port)
    finally:
        stop(service)
        stop(peer)
    print(f"logs: {scratch}")


async def run_benchmark(
    args: argparse.Namespace,
    url: str,
    wrk: str,
    scratch: Path,
    secret: str,
    service: subprocess.Popen[bytes],
    peer: subprocess.Popen[bytes],
    service_port: int,
    peer_port: int,
) -> None:
    service_url, peer_url = f"http://127.0.0.1:{service_port}/graphql", f"http://127.0.0.1:{peer_port}/graphql"

    def ready() -> bool:
        with urllib.request.urlopen(f"http://127.0.0.1:{service_port}/readyz", timeout=5) as response:
            return bool(response.status == 200)

    wait_until_up("ptr-trial serve", ready, service, scratch / "service.log")
    wait_until_up(
        "PostGraphile",
        lambda: "data" in post(peer_url, {"query": "{ __typename }"}),
        peer,
        scratch / "postgraphile.log",
    )

    patient, analyst = mint(secret, Role.PATIENT, Q1_SUBJECT), mint(secret, Role.ANALYST)
    q1, note = q1_query(service_url, patient)
    if note:
        print(note)
    check_answers(service_url, peer_url, patient, analyst, q1)
    check_diary(service_url, patient)

    q2_vars = {"sites": [BENCH_SITE], "first": PAGE}
    contenders = Contenders(
        wrk=wrk,
        service=service_url,
        peer=peer_url,
        service_pids=sorted({service.pid, *worker_pids(service.pid)}),
        peer_pids=[peer.pid],
        scratch=scratch,
        scripts={
            "Q1 ours": static_post_script({"query": q1, "variables": {"code": Q1_SUBJECT}}, patient, "transfusions"),
            "Q1 PostGraphile": static_post_script({"query": PEER_Q1, "variables": {"code": Q1_SUBJECT}}, None, "nodes"),
            "Q2 ours": static_post_script({"query": OURS_Q2, "variables": q2_vars}, analyst, "edges"),
            "Q2 PostGraphile": static_post_script(
                {"query": PEER_Q2, "variables": {"site": BENCH_SITE, "first": PAGE}}, None, "nodes"
            ),
        },
        diary_tokens=[mint(secret, Role.PATIENT, f"S{(i - 1) // 50 + 1:02d}-{i:04d}") for i in range(1, SUBJECTS + 1)],
        diary_prefix=str(uuid.uuid4())[:23],
    )
    dsn = asyncpg_dsn(url)
    print(f"warm-up: one round of {args.warmup_seconds} s per contender")
    await one_round(contenders, dsn, args.warmup_seconds, args.warmup_seconds, args.connections)
    load_before = os.getloadavg()
    rounds = []
    for n in range(1, args.rounds + 1):
        rounds.append(await one_round(contenders, dsn, args.seconds, args.q2_seconds, args.connections))
        q = rounds[-1].figures
        print(
            f"round {n}: Q1 {q['Q1 ours'].per_second:,.0f} vs {q['Q1 PostGraphile'].per_second:,.0f}; "
            f"Q2 {q['Q2 ours'].per_second:,.1f} vs {q['Q2 PostGraphile'].per_second:,.1f}; "
            f"Q3 {q['Q3 ours'].per_second:,.0f} vs floor {q['Q3 floor'].per_second:,.0f} req/s"
        )
    load_after = os.getloadavg()
    print(
        f"\n{args.rounds} rounds of {args.seconds} s per contender (Q2 {args.q2_seconds} s), wrk -t1 -c{args.connections}; "
        f"service workers: {args.workers}; {os.cpu_count()} cores; load average (1/5/15 min) "
        f"before {'/'.join(f'{x:.2f}' for x in load_before)}, after {'/'.join(f'{x:.2f}' for x in load_after)}"
    )
    print_rounds(rounds)
    print_medians(rounds)
    rss = [(pid, rss_mb(pid)) for pid in worker_pids(service.pid)]
    print("\nRSS after the run: " + ", ".join(f"service worker {pid} {mb:.0f} MB" for pid, mb in rss))
    print(f"RSS after the run: PostGraphile (node) {rss_mb(peer.pid):.0f} MB")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url", default=DEFAULT_DATABASE_URL, help="PostgreSQL URL; created if missing, public schema DROPPED"
    )
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers of the service")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5, help="per contender and round")
    parser.add_argument(
        "--q2-seconds", type=int, default=15, help="Q2's window: its answers take seconds, a short window counts few"
    )
    parser.add_argument("--warmup-seconds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=10, help="concurrent connections (wrk -c)")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
