"""Helpers shared by the benchmarks: ports, pinned child processes, small HTTP checks, medians."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
# The server core and the load generator (see spec/performance.md).
SERVER_CPU, LOADGEN_CPU = 0, 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# Decided once at import: after pin_self_to_loadgen_cpu() our own mask no longer shows CPU 0.
_PINNABLE = hasattr(os, "sched_setaffinity") and {SERVER_CPU, LOADGEN_CPU} <= os.sched_getaffinity(0)


def can_pin() -> bool:
    """Pinning needs both CPUs in our affinity mask; on a smaller box we measure unpinned."""
    return _PINNABLE


def pin_self_to_loadgen_cpu() -> None:
    # The orchestrating Python (and a Python load generator) must not steal the server's core.
    if can_pin():
        os.sched_setaffinity(0, {LOADGEN_CPU})


def _pin_to_server_cpu() -> None:
    # Runs in the child between fork and exec, so every thread the server starts is pinned too.
    os.sched_setaffinity(0, {SERVER_CPU})


def spawn(args: list[str], log_path: Path, pin: bool = True) -> subprocess.Popen:
    """Start `python args...` with stdout/stderr in log_path (kept for post-mortems)."""
    with open(log_path, "ab") as log:
        return subprocess.Popen([sys.executable, *args], stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=ROOT,
                                preexec_fn=_pin_to_server_cpu if pin and can_pin() else None)


def stop(process: subprocess.Popen | None) -> None:
    """SIGTERM (a backgrounded shell may have made our children ignore SIGINT), then SIGKILL."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def exit_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so `finally` blocks stop the children."""
    def handler(signum, frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, handler)


def tail(path: Path, chars: int = 3000) -> str:
    with contextlib.suppress(OSError):
        return path.read_text(errors="replace")[-chars:]
    return "(no log)"


def get(port: int, path: str, timeout: float = 10) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def get_json(port: int, path: str) -> dict:
    status, body = get(port, path)
    if status != 200:
        raise RuntimeError(f"GET :{port}{path[:80]} answered HTTP {status}: {body[:500]!r}")
    return json.loads(body)


def wait_until_up(process: subprocess.Popen, port: int, path: str, log_path: Path,
                  timeout: float = 30) -> dict:
    """Poll until `path` answers 200 with JSON; fail with the child's log if it dies or never answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode}:\n{tail(log_path)}")
        try:
            status, body = get(port, path, timeout=2)
        except OSError:
            time.sleep(0.02)
            continue
        if status == 200:
            return json.loads(body)
        time.sleep(0.02)  # e.g. /admin.json answers 503 until the keys exist
    raise RuntimeError(f"no answer on port {port} within {timeout} s:\n{tail(log_path)}")


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
