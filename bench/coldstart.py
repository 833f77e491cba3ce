"""Cold start: spawn → first HTTP 200, for Sandstack on a fresh SQLite database (schema creation and
bootstrap included) and, in the same run, for an aiohttp + SQLAlchemy baseline (bench/baseline_app.py).

Rounds alternate sandstack → baseline; each round gets a new temporary directory and database file.
The child runs on CPU 0 and this poller on CPU 1, so polling does not slow the start it measures.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import benchlib

POLL_SECONDS = 0.005
TIMEOUT_SECONDS = 30
SANDSTACK_PATH = "/client/api?command=listCapabilities&response=json"


@dataclass
class Start:
    name: str
    round: int
    seconds: float


def sandstack_command(workdir: Path, port: int) -> tuple[list[str], int]:
    """Sandstack's first answer comes from its integration port (no keys needed), opened last."""
    integration_port = benchlib.free_port()
    args = ["-m", "sandstack", "serve", "--host", "127.0.0.1", "--port", str(port),
            "--integration-port", str(integration_port), "--db", f"sqlite:///{workdir / 'cloud.db'}",
            "--sandbox"]
    return args, integration_port


def baseline_command(workdir: Path, port: int) -> tuple[list[str], int]:
    args = [str(benchlib.BENCH / "baseline_app.py"), "--port", str(port), "--db", str(workdir / "base.db")]
    return args, port


CANDIDATES = {
    "sandstack": (sandstack_command, SANDSTACK_PATH, "listcapabilitiesresponse"),
    "aiohttp+sqlalchemy baseline": (baseline_command, "/", "items"),
}


def first_answer(process, port: int, path: str, log: Path) -> tuple[int, bytes]:
    """Try to connect every POLL_SECONDS until the port is open, then wait for the whole answer."""
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_SECONDS)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, response.read()
        except ConnectionRefusedError:
            if process.poll() is not None:
                raise RuntimeError(f"exited with {process.returncode}:\n{benchlib.tail(log)}") from None
            time.sleep(POLL_SECONDS)
        finally:
            conn.close()
    raise RuntimeError(f"no answer within {TIMEOUT_SECONDS} s:\n{benchlib.tail(log)}")


def cold_start(name: str, round_no: int) -> Start:
    make_command, path, expected_key = CANDIDATES[name]
    with tempfile.TemporaryDirectory(prefix="sandstack-coldstart-") as tmp:
        workdir, log = Path(tmp), Path(tmp) / "child.log"
        args, answer_port = make_command(workdir, benchlib.free_port())
        started = time.perf_counter()
        process = benchlib.spawn(args, log)
        try:
            status, body = first_answer(process, answer_port, path, log)
            elapsed = time.perf_counter() - started
        finally:
            benchlib.stop(process)
        # Checked after the clock stopped: the answer must be the real one, not an error page.
        if status != 200 or expected_key not in json.loads(body):
            raise SystemExit(f"{name}: first answer was HTTP {status}: {body[:600]!r}\n{benchlib.tail(log)}")
    return Start(name, round_no, elapsed)


def warn_if_uncompiled() -> None:
    if os.environ.get("PYTHONDONTWRITEBYTECODE") and not (benchlib.ROOT / "server" / "__pycache__").is_dir():
        print("warning: server/__pycache__ is missing and PYTHONDONTWRITEBYTECODE is set, so every start "
              "compiles the server's modules again (setup should run `python -m compileall -q server "
              "marvin`); the figure below includes that compilation")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="measured starts of each (default 5)")
    parser.add_argument("--warmup", type=int, default=1,
                        help="unmeasured starts of each first, to fill the OS page cache (default 1)")
    parser.add_argument("--json", metavar="FILE", help="write every start's time here")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    benchlib.exit_on_sigterm()
    benchlib.pin_self_to_loadgen_cpu()
    warn_if_uncompiled()
    for _ in range(args.warmup):
        for name in CANDIDATES:
            cold_start(name, 0)
    starts = []
    for round_no in range(1, args.rounds + 1):
        for name in CANDIDATES:
            start = cold_start(name, round_no)
            print(f"round {round_no}: {name:<28} {start.seconds:.3f} s", flush=True)
            starts.append(start)
    report(starts, args)


def report(starts: list[Start], args) -> None:
    med = {name: benchlib.median([s.seconds for s in starts if s.name == name]) for name in CANDIDATES}
    ours, base = med["sandstack"], med["aiohttp+sqlalchemy baseline"]
    if args.json:
        data = {"starts": [asdict(s) for s in starts], "median_seconds": med, "ratio": ours / base}
        Path(args.json).write_text(json.dumps(data, indent=2) + "\n")
    for name in CANDIDATES:
        times = sorted(s.seconds for s in starts if s.name == name)
        print(f"{name:<28} median {med[name]:.3f} s (min {times[0]:.3f}, max {times[-1]:.3f})")
    print(f"cold start to first answer: sandstack {ours:.2f} s, aiohttp+sqlalchemy baseline {base:.2f} s "
          f"(ratio {ours / base:.2f})")


if __name__ == "__main__":
    main()
