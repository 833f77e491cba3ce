"""Start a management server in a subprocess for the tests: fresh database, free ports."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import requests
from sqlalchemy import create_engine, make_url, text


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

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/client/api"

    @property
    def integration_url(self) -> str:
        return f"http://127.0.0.1:{self.integration_port}/client/api"

    def start(self, timeout: float = 20) -> RunningServer:
        log = open(self.workdir / "server.log", "ab")
        command = [sys.executable, "-m", "sandstack", "serve", "--host", "127.0.0.1", "--port", str(self.port),
                   "--integration-port", str(self.integration_port), "--db", self.db_url, "--sandbox",
                   *self.extra]
        self.process = subprocess.Popen(command, stdout=log, stderr=log, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {(self.workdir / 'server.log').read_text()[-3000:]}")
            try:
                requests.get(f"http://127.0.0.1:{self.port}/admin.json", timeout=1).raise_for_status()
                return self
            except requests.RequestException:
                time.sleep(0.05)
        raise RuntimeError("server did not answer in time")

    def stop(self, kill: bool = False) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL if kill else signal.SIGINT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def destroy(self) -> None:
        """Stop the server and drop its database."""
        self.stop()
        drop_database(self.db_url)

    def admin_keys(self) -> dict:
        return requests.get(f"http://127.0.0.1:{self.port}/admin.json", timeout=5).json()

    def log(self) -> str:
        return (self.workdir / "server.log").read_text()


def launch(extra: list[str] | None = None) -> RunningServer:
    workdir = Path(tempfile.mkdtemp(prefix="sandstack-test-"))
    db_url = fresh_database(os.environ.get("SANDSTACK_TEST_DB"), workdir)
    return RunningServer(db_url, free_port(), free_port(), workdir, extra or []).start()
