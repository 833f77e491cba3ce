"""Where the harness gets its cloud: a management server started here on a fresh database (the sandbox),
or the configured management server of a Marvin config (`mgtSvr[0]`).

Every server started here is remembered in `LAUNCHED`, and each one hands its command counters to the
harness before it stops: that is how the coverage gate counts what a whole test session exercised, even
on servers that tests started, killed and restarted themselves.
"""

from __future__ import annotations

import collections
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from sqlalchemy import create_engine, make_url, text

from .client import Client
from .coverage import merge

# Every RunningServer this process launched, in order (the coverage gate reads it at session end).
LAUNCHED: list[RunningServer] = []
INTEGRATION_PORT = 8096


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fresh_database(url: str | None, workdir: Path) -> str:
    """A SQLite file in `workdir` by default. With a MariaDB URL, a new database beside the named one
    (`cloud_test` → `cloud_test_<random>`), so servers started by different tests never share state."""
    if not url:
        return f"sqlite:///{workdir / 'cloud.db'}"
    base = make_url(url)
    name = f"{base.database}_{uuid.uuid4().hex[:8]}"
    engine = create_engine(base.set(database=None))
    with engine.begin() as conn:
        conn.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"))
    engine.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    if url.startswith("sqlite"):
        return
    parsed = make_url(url)
    engine = create_engine(parsed.set(database=None))
    with engine.begin() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS `{parsed.database}`"))
    engine.dispose()


@dataclass
class RunningServer:
    db_url: str
    port: int
    integration_port: int
    workdir: Path
    extra: list[str] = field(default_factory=list)
    process: subprocess.Popen | None = None
    owns_database: bool = True
    # Successful calls per command over every run of this server (its own counters restart with it).
    called: collections.Counter = field(default_factory=collections.Counter)
    registered: set[str] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/client/api"

    @property
    def integration_url(self) -> str:
        return f"http://127.0.0.1:{self.integration_port}/client/api"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 20) -> RunningServer:
        log = open(self.workdir / "server.log", "ab")
        command = [sys.executable, "-m", "sandstack", "serve", "--host", "127.0.0.1",
                   "--port", str(self.port), "--integration-port", str(self.integration_port),
                   "--db", self.db_url, "--sandbox", *self.extra]
        self.process = subprocess.Popen(command, stdout=log, stderr=log,
                                        env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log()[-3000:]}")
            try:
                requests.get(f"http://127.0.0.1:{self.port}/admin.json", timeout=1).raise_for_status()
                return self
            except requests.RequestException:
                time.sleep(0.05)
        raise RuntimeError("server did not answer in time")

    def live_coverage(self) -> dict | None:
        """The running server's own counters since it started, or None when it cannot say."""
        if not self.running:
            return None
        try:
            return requests.get(f"http://127.0.0.1:{self.port}/sandstack/coverage", timeout=5).json()
        except (requests.RequestException, ValueError):
            return None

    def coverage(self) -> dict:
        """Everything this server counted so far: finished runs plus the current one."""
        earlier = {"called": self.called, "registered": self.registered}
        registered, called = merge([earlier, self.live_coverage() or {}])
        return {"called": dict(called), "registered": sorted(registered)}

    def stop(self, kill: bool = False) -> None:
        if not self.running:
            return
        counted = self.coverage()  # read before the counters die with the process
        self.called, self.registered = collections.Counter(counted["called"]), set(counted["registered"])
        self.process.send_signal(signal.SIGKILL if kill else signal.SIGINT)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def destroy(self) -> None:
        """Stop the server, drop its database (when it made one) and remove its working directory."""
        self.stop()
        if self.owns_database:
            drop_database(self.db_url)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def admin_keys(self) -> dict:
        return requests.get(f"http://127.0.0.1:{self.port}/admin.json", timeout=5).json()

    def log(self) -> str:
        return (self.workdir / "server.log").read_text()


def launch(extra: list[str] | None = None, db_url: str | None = None) -> RunningServer:
    """Start a server on free ports. Without `db_url`, on a fresh database of its own (SQLite, or a new
    MariaDB database beside $SANDSTACK_TEST_DB) that `destroy()` drops; with one, on that database
    (a second management server sharing it), which is left alone."""
    workdir = Path(tempfile.mkdtemp(prefix="sandstack-test-"))
    owns = db_url is None
    db_url = db_url or fresh_database(os.environ.get("SANDSTACK_TEST_DB"), workdir)
    server = RunningServer(db_url, free_port(), free_port(), workdir, extra or [], owns_database=owns)
    LAUNCHED.append(server)
    try:
        return server.start()
    except Exception:
        server.destroy()  # a server that never came up leaves no database behind
        raise


# ---- the cloud under test -------------------------------------------------------------------------


@dataclass
class Cloud:
    """The management server under test: a client acting as its root admin, its integration port when
    one is known, and the RunningServer when the harness started it (so tests may reach its database)."""
    client: Client
    integration_url: str | None = None
    server: RunningServer | None = None

    @property
    def url(self) -> str:
        return self.client.url

    @property
    def sandbox(self) -> bool:
        return self.server is not None

    def system(self) -> Client | None:
        return Client(self.integration_url) if self.integration_url else None

    @classmethod
    def start(cls) -> Cloud:
        server = launch()
        keys = server.admin_keys()
        return cls(Client(server.url, keys["apikey"], keys["secretkey"]), server.integration_url, server)

    @classmethod
    def from_config(cls, config: Any) -> Cloud | None:
        """`mgtSvr[0]` of a loaded config (the deployer connects as Marvin does), or None without one."""
        if not (config and config.mgtSvr):
            return None
        from .deployer import base_url, connect

        url = base_url(config.mgtSvr[0])
        return cls(connect(config), url if urlsplit(url).port == INTEGRATION_PORT else None)
