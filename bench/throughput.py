"""Signed-request throughput of the management server, as a ratio to a bare aiohttp JSON handler.

Both servers run on CPU 0, the load generator (wrk, or a Python fallback) on CPU 1. Rounds alternate
bare → signed listCapabilities → signed listUsers so that the machine's drift hits all of them alike;
the figure is the ratio of the medians. See bench/README.md and spec/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import benchlib

from marvin.signing import expires_in, signature

CONNECTIONS = 32


@dataclass
class Target:
    name: str
    port: int
    path: str
    check: object  # callable(dict) -> bool: is this the answer we expect?
    pid: int = 0


@dataclass
class Run:
    target: str
    round: int
    rps: float
    requests: int
    seconds: float
    cpu_us_per_request: float | None
    bad_status: dict = field(default_factory=dict)


# ---- what a correct answer looks like -------------------------------------------------------------

def is_bare(data: dict) -> bool:
    return "cloudstackversion" in data.get("listcapabilitiesresponse", {}).get("capability", {})


def is_capabilities(data: dict) -> bool:
    return bool(data.get("listcapabilitiesresponse", {}).get("capability", {}).get("cloudstackversion"))


def is_user_list(data: dict) -> bool:
    users = data.get("listusersresponse", {}).get("user", [])
    return any(user.get("username") == "admin" for user in users)


def signed_path(keys: dict, command: str, ttl: int = 600) -> str:
    """What `cs <command>` sends with signatureVersion=3, signed once and valid for `ttl` seconds."""
    params = {"command": command, "response": "json", "apiKey": keys["apikey"],
              "signatureVersion": "3", "expires": expires_in(ttl)}
    params["signature"] = signature(keys["secretkey"], params)
    # urlencode escapes "+" (in expires and signature) so the server does not read it as a space.
    return "/client/api?" + urlencode(params)


# ---- servers --------------------------------------------------------------------------------------

def start_servers(stack: contextlib.ExitStack, workdir: Path) -> list[Target]:
    bare_port, api_port, integration_port = (benchlib.free_port() for _ in range(3))
    bare_log, api_log = workdir / "bare.log", workdir / "sandstack.log"
    bare = benchlib.spawn([str(benchlib.BENCH / "bare_server.py"), "--port", str(bare_port)], bare_log)
    stack.callback(benchlib.stop, bare)
    api = benchlib.spawn(["-m", "sandstack", "serve", "--host", "127.0.0.1", "--port", str(api_port),
                          "--integration-port", str(integration_port),
                          "--db", f"sqlite:///{workdir / 'cloud.db'}", "--sandbox"], api_log)
    stack.callback(benchlib.stop, api)
    benchlib.wait_until_up(bare, bare_port, "/", bare_log)
    keys = benchlib.wait_until_up(api, api_port, "/admin.json", api_log)
    return [
        Target("bare aiohttp", bare_port, "/", is_bare, bare.pid),
        Target("signed listCapabilities", api_port, signed_path(keys, "listCapabilities"),
               is_capabilities, api.pid),
        Target("signed listUsers", api_port, signed_path(keys, "listUsers"), is_user_list, api.pid),
    ]


def precheck(targets: list[Target], count: int = 5) -> None:
    """A benchmark of error answers is worthless: every target must answer 200 with the right JSON."""
    for target in targets:
        for _ in range(count):
            status, body = benchlib.get(target.port, target.path)
            data = json.loads(body) if status == 200 else {}
            if status != 200 or not target.check(data):
                raise SystemExit(f"pre-check failed for {target.name}: HTTP {status}: {body[:600]!r}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (fields 14 and 15 of /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---- load generators ------------------------------------------------------------------------------

def run_wrk(target: Target, seconds: float) -> tuple[int, float, dict]:
    """wrk inherits our affinity (CPU 1); one thread is plenty for one server core."""
    url = f"http://127.0.0.1:{target.port}{target.path}"
    command = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds:g}s", "--timeout", "10s", url]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    summary = re.search(r"(\d+) requests in ([\d.]+)(m?s)", out)
    if summary is None:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    requests = int(summary.group(1))
    elapsed = float(summary.group(2)) / (1000 if summary.group(3) == "ms" else 1)
    bad = {}
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        bad["non-2xx"] = int(non2xx.group(1))
    errors = re.search(r"Socket errors: (.*)", out)
    if errors:
        bad["socket errors"] = errors.group(1)
    return requests, elapsed, bad


async def _one_connection(port: int, request: bytes, deadline: float, statuses: collections.Counter):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.monotonic() < deadline:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
            if length is None:  # aiohttp sends Content-Length for these bodies; anything else is a bug
                raise RuntimeError(f"response without Content-Length: {head[:300]!r}")
            await reader.readexactly(int(length.group(1)))
            statuses[int(head[9:12])] += 1
    finally:
        writer.close()


async def _python_load(target: Target, seconds: float) -> tuple[int, float, dict]:
    request = (f"GET {target.path} HTTP/1.1\r\nHost: 127.0.0.1:{target.port}\r\n\r\n").encode()
    statuses: collections.Counter[int] = collections.Counter()
    start = time.monotonic()
    await asyncio.gather(*(_one_connection(target.port, request, start + seconds, statuses)
                           for _ in range(CONNECTIONS)))
    elapsed = time.monotonic() - start
    bad = {str(status): n for status, n in statuses.items() if status != 200}
    return sum(statuses.values()), elapsed, bad


def run_python(target: Target, seconds: float) -> tuple[int, float, dict]:
    """Fallback when wrk is missing: 32 keep-alive connections on raw asyncio streams (runs on CPU 1)."""
    return asyncio.run(_python_load(target, seconds))


def measure(loadgen, target: Target, seconds: float, round_no: int) -> Run:
    cpu_before = cpu_seconds(target.pid)
    requests, elapsed, bad = loadgen(target, seconds)
    cpu = cpu_seconds(target.pid) - cpu_before
    if bad:
        raise SystemExit(f"{target.name}: bad answers under load: {bad} (of {requests})")
    per_request = cpu / requests * 1e6 if requests else None
    return Run(target.name, round_no, requests / elapsed, requests, elapsed, per_request)


# ---- report ---------------------------------------------------------------------------------------

def medians(runs: list[Run], targets: list[Target]) -> dict[str, float]:
    return {t.name: benchlib.median([r.rps for r in runs if r.target == t.name]) for t in targets}


def print_table(runs: list[Run], targets: list[Target]) -> None:
    names = [t.name for t in targets]
    print("\nround  " + "".join(f"{name:>26}" for name in names))
    for round_no in sorted({r.round for r in runs}):
        by_name = {r.target: r for r in runs if r.round == round_no}
        cells = [_cell(by_name[name].rps, by_name[names[0]].rps, name != names[0]) for name in names]
        print(f"{round_no:<7}" + "".join(f"{cell:>26}" for cell in cells))
    med = medians(runs, targets)
    print("median " + "".join(f"{_cell(med[n], med[names[0]], n != names[0]):>26}" for n in names))
    cpu = {n: benchlib.median([r.cpu_us_per_request for r in runs if r.target == n]) for n in names}
    print("CPU µs/req (server process) " + ", ".join(f"{n}: {cpu[n]:.0f}" for n in names))


def _cell(rps: float, bare: float, with_ratio: bool) -> str:
    return f"{rps:,.0f} req/s ({rps / bare:.2f})" if with_ratio else f"{rps:,.0f} req/s"


def headline(name: str, med: dict[str, float], bare: str) -> str:
    ratio = med[name] / med[bare]
    return f"{name} / {bare} = {ratio:.2f} (server {med[name]:,.0f} req/s, bare {med[bare]:,.0f} req/s)"


# ---- main -----------------------------------------------------------------------------------------

def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--duration", type=float, default=5, help="seconds per measurement (default 5)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    parser.add_argument("--warmup", type=float, default=1, help="unmeasured seconds per target first")
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto",
                        help="auto: wrk if installed, else the Python generator")
    parser.add_argument("--json", metavar="FILE", help="write every round's raw figures here")
    return parser.parse_args()


def pick_loadgen(choice: str):
    if choice == "wrk" or (choice == "auto" and shutil.which("wrk")):
        if not shutil.which("wrk"):
            raise SystemExit("wrk is not installed (apt-get install wrk), try --loadgen python")
        return "wrk", run_wrk
    print("note: using the Python load generator (wrk not installed or not chosen); it saturates below "
          "the bare handler's rate, which pulls the ratios towards 1")
    return "python", run_python


def main() -> None:
    args = parse_args()
    benchlib.exit_on_sigterm()
    benchlib.pin_self_to_loadgen_cpu()
    if not benchlib.can_pin():
        print("warning: CPUs 0 and 1 are not both available; measuring without pinning")
    name, loadgen = pick_loadgen(args.loadgen)
    with tempfile.TemporaryDirectory(prefix="sandstack-bench-") as tmp, contextlib.ExitStack() as stack:
        targets = start_servers(stack, Path(tmp))
        try:
            runs = benchmark(targets, loadgen, args)
        except (Exception, SystemExit) as error:
            if not isinstance(error, SystemExit) or isinstance(error.code, str):  # not a plain SIGTERM
                print("--- sandstack log tail ---\n" + benchlib.tail(Path(tmp) / "sandstack.log"))
            raise
    report(runs, targets, name, args)


def benchmark(targets: list[Target], loadgen, args) -> list[Run]:
    precheck(targets)
    for target in targets:  # first requests fill caches and warm the allocator; not counted
        if args.warmup > 0:
            measure(loadgen, target, args.warmup, 0)
    runs = []
    for round_no in range(1, args.rounds + 1):
        for target in targets:
            run = measure(loadgen, target, args.duration, round_no)
            print(f"round {round_no}: {target.name:<24} {run.rps:>10,.0f} req/s", flush=True)
            runs.append(run)
    precheck(targets[1:], count=1)  # still answering correctly after the load
    return runs


def report(runs: list[Run], targets: list[Target], loadgen: str, args) -> None:
    med = medians(runs, targets)
    bare = targets[0].name
    if args.json:
        data = {"loadgen": loadgen, "connections": CONNECTIONS, "duration": args.duration,
                "rounds": [asdict(r) for r in runs], "median_rps": med,
                "ratio": {n: med[n] / med[bare] for n in med}}
        Path(args.json).write_text(json.dumps(data, indent=2) + "\n")
    print_table(runs, targets)
    print(f"load generator: {loadgen}, {CONNECTIONS} connections, {args.rounds} x {args.duration:g} s")
    for target in reversed(targets[1:]):  # the headline (listCapabilities) goes last
        print(headline(target.name, med, bare))


if __name__ == "__main__":
    main()
