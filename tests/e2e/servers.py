"""Real server processes for end-to-end tests: `python -m server.cli serve` in a subprocess on a free
port, waited for through /readyz, always stopped (its whole process group, so `--workers N` children
go too). Tokens are minted in-process with the default development secret, which the servers use
because their environment carries no PTR_* setting but the ones a test gives."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.auth import development_token
from server.domain.enums import Role
from server.settings import DEVELOPMENT_SECRET, Settings

REPO = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_S = 60  # generous: CI machines are shared and sometimes loaded
STOP_TIMEOUT_S = 10
# The browser tests drive Debian's chromium (apt-get install chromium), never a downloaded one.
CHROMIUM = os.environ.get("PTR_TEST_CHROMIUM", "/usr/bin/chromium")


def clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without any PTR_* setting or DATABASE_URL, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PTR_") and k != "DATABASE_URL"}
    env.update(extra)
    return env


def cli(env: dict[str, str], *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


DEV_SETTINGS = Settings(environment="development", jwt_secret=DEVELOPMENT_SECRET, jwt_issuer=None, jwt_audience=None)


def dev_token(role: str, *sites: str, subject: str | None = None, sub: str | None = None) -> str:
    """A token the servers started with `clean_env` accept (same default development secret)."""
    return development_token(DEV_SETTINGS, role=Role(role), sites=list(sites), subject=subject, sub=sub)


@dataclass
class Server:
    url: str
    env: dict[str, str]
    log: Path
    tokens: dict[str, str] = field(default_factory=dict)
    pid: int | None = None  # the `serve` process (uvicorn's supervisor when it has workers)

    @property
    def graphql_url(self) -> str:
        return f"{self.url}/graphql"

    @property
    def ws_url(self) -> str:
        return "ws" + self.graphql_url.removeprefix("http")

    def post(self, token: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = httpx.post(
            self.graphql_url,
            json={"query": query, "variables": variables or {}},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return response.json()

    def gql(self, token: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The data of an operation that must not fail."""
        body = self.post(token, query, variables)
        assert "errors" not in body, body["errors"]
        return body["data"]

    async def agql(self, token: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.post(
                self.graphql_url,
                json={"query": query, "variables": variables or {}},
                headers={"Authorization": f"Bearer {token}"},
            )
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body["errors"]
        return body["data"]


@dataclass(frozen=True)
class Launch:
    """One `serve` command: its log file, extra arguments and environment, and its worker count
    (then it is ready when every worker has started, not only the first)."""

    log: Path
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    workers: int = 1


class ServerProcess:
    """One `serve` command in its own process group, on a free port."""

    def __init__(self, env: dict[str, str], launch: Launch) -> None:
        self.env = {**env, **launch.env}
        self.launch = launch
        self.log = launch.log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        workers = ("--workers", str(launch.workers)) if launch.workers > 1 else ()
        command = [sys.executable, "-m", "server.cli", "serve", *launch.args, *workers]
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [*command, "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.env,
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() reaches uvicorn's workers too
            )

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def _workers_started(self) -> bool:
        # uvicorn logs this line at INFO once per worker (the launch's env sets the level)
        return self.log.read_text(errors="replace").count("Application startup complete") >= self.launch.workers

    def wait_ready(self, timeout: float = STARTUP_TIMEOUT_S) -> bool:
        """True once /readyz answers 200 (and every worker started); False when the process died
        (e.g. its port was taken)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                ready = httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200
            except httpx.TransportError:
                ready = False
            if ready and (self.launch.workers == 1 or self._workers_started()):
                return True
            time.sleep(0.1)
        pytest.fail(f"server not ready within {timeout} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # uvicorn's supervisor stops its workers itself
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.process.wait(timeout=5)
        self._signal(signal.SIGKILL)  # any worker left behind in the group

    def _signal(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)  # the group this test started (start_new_session)


def start_servers(env: dict[str, str], launches: list[Launch], *, tries: int = 3) -> list[ServerProcess]:
    """Starts the servers at once and waits until all are ready. One that dies before it is ready
    because another process took its free port in between is started again on a new port."""
    current = [ServerProcess(env, launch) for launch in launches]
    started = list(current)
    try:
        for attempt in range(tries):
            failed = [i for i, process in enumerate(current) if not process.wait_ready()]
            if not failed:
                return current
            dead = current[failed[0]]
            port_taken = all("address already in use" in current[i].log_tail().lower() for i in failed)
            if attempt == tries - 1 or not port_taken:
                pytest.fail(f"server exited with {dead.process.returncode}:\n{dead.log_tail()}")
            for i in failed:
                current[i] = ServerProcess(env, current[i].launch)
                started.append(current[i])
        raise AssertionError("unreachable")
    except BaseException:
        for process in started:
            process.stop()
        raise


@contextmanager
def serving(env: dict[str, str], *launches: Launch) -> Iterator[list[Server]]:
    """Servers that are ready inside the block and stopped after it, whatever happens."""
    processes = start_servers(env, list(launches))
    try:
        yield [Server(url=p.url, env=p.env, log=p.log, pid=p.process.pid) for p in processes]
    finally:
        for process in processes:
            process.stop()


# ---- which process holds a connection (Linux /proc) --------------------------------------------


def _children(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:  # field 4, after "(comm)": ppid
                    children.append(int(entry.name))
    return children


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(int(target[len("socket:[") : -1]))
    return inodes


def _established_peers(local_port: int) -> dict[int, int]:
    """Socket inode -> remote port, of the established TCP connections to local_port."""
    peers = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                local, remote, state, inode = fields[1], fields[2], fields[3], int(fields[9])
                if state == "01" and int(local.rsplit(":", 1)[1], 16) == local_port:
                    peers[inode] = int(remote.rsplit(":", 1)[1], 16)
    return peers


def worker_of_client_ports(server: Server) -> dict[int, int] | None:
    """Client port -> pid of the worker process holding that connection, for a server started with
    workers; None where /proc cannot tell (not Linux)."""
    if server.pid is None or not Path("/proc/net/tcp").exists():
        return None
    port = int(server.url.rsplit(":", 1)[1])
    peers = _established_peers(port)
    owners = {}
    for worker in _children(server.pid):
        for inode in _socket_inodes(worker) & peers.keys():
            owners[peers[inode]] = worker
    return owners
