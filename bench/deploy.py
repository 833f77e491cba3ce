"""Datacenter deploy time: `marvin deploy` of configs/advanced.cfg, of configs/sandbox.cfg (only its
advanced zone while the server has no createNetwork) and of a generated 10,000-host config
(configs/scale.cfg.j2: 10 zones × 10 pods × 10 clusters × 10 hosts by default).

Each deploy gets a fresh server (fresh SQLite database, pinned to CPU 0; this process runs on CPU 1) and
runs the deployer in this process without output. Besides the wall time it reports the API requests
made, the CPU seconds the server and this client spent, and the commands that took the most time, so a
slow deploy says whether the time goes to the server or to the client.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import benchlib

from marvin.client import Client
from marvin.configfile import load
from marvin.deployer import Progress, connect, deploy

CONFIGS = benchlib.ROOT / "configs"


def server_cpu(pid: int) -> float:
    """utime + stime of a process, in seconds (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def count_requests(client: Client) -> dict[str, list[float]]:
    """Wrap the client's HTTP calls to time them per command (the seconds the client waited)."""
    waits: dict[str, list[float]] = {}
    send = client.raw

    def timed(command, params=None, **kwargs):
        started = time.perf_counter()
        try:
            return send(command, params, **kwargs)
        finally:
            waits.setdefault(command, []).append(time.perf_counter() - started)
    client.raw = timed
    return waits


def start_server(workdir: Path):
    port, integration_port = benchlib.free_port(), benchlib.free_port()
    log = workdir / "server.log"
    process = benchlib.spawn(["-m", "sandstack", "serve", "--host", "127.0.0.1", "--port", str(port),
                              "--integration-port", str(integration_port), "--db",
                              f"sqlite:///{workdir / 'cloud.db'}", "--sandbox"], log)
    benchlib.wait_until_up(process, port, "/admin.json", log)
    return process, integration_port


def measure(label: str, path: Path, variables: dict | None = None, zones: list[str] | None = None,
            sandbox_basic: bool = False) -> dict:
    with tempfile.TemporaryDirectory(prefix="sandstack-deploy-") as tmp:
        workdir = Path(tmp)
        process, integration_port = start_server(workdir)
        try:
            config = load(path, {**(variables or {}), "port": integration_port})
            config.mgtSvr[0].port = integration_port
            client = connect(config)
            if sandbox_basic and "createNetwork" not in {a["name"] for a in client.list("listApis")}:
                zones = [z.name for z in config.zones if z.networktype != "Basic"]
                label += " (advanced zone)"
            waits = count_requests(client)
            hosts = sum(len(c.hosts or []) for z in config.zones if not zones or z.name in zones
                        for p in z.pods or [] for c in p.clusters or [])
            cpu_server, cpu_client = server_cpu(process.pid), time.process_time()
            started = time.perf_counter()
            summary = deploy(config, client, workdir / "state.json", Progress(quiet=True), zones=zones)
            seconds = time.perf_counter() - started
            cpu_server, cpu_client = server_cpu(process.pid) - cpu_server, time.process_time() - cpu_client
        finally:
            benchlib.stop(process)
    return {"label": label, "seconds": seconds, "hosts": hosts, "objects": summary["created"],
            "requests": sum(len(v) for v in waits.values()), "server_cpu": cpu_server,
            "client_cpu": cpu_client,
            "waited": sum(sum(v) for v in waits.values()),
            "slowest": sorted(((sum(v), len(v), k) for k, v in waits.items()), reverse=True)[:5]}


def report(run: dict) -> None:
    print(f"{run['label']}: {run['seconds']:.2f} s, {run['objects']} objects, {run['hosts']} hosts, "
          f"{run['requests']} requests ({run['seconds'] / run['requests'] * 1000:.2f} ms each)")
    print(f"    waiting for the server {run['waited']:.2f} s; CPU: server {run['server_cpu']:.2f} s, "
          f"client {run['client_cpu']:.2f} s")
    for total, count, command in run["slowest"]:
        print(f"    {command:<28} {count:6} calls {total:7.2f} s  ({total / count * 1000:.2f} ms each)")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    for name in ("zones", "pods", "clusters", "hosts"):
        parser.add_argument(f"--{name}", type=int, default=10,
                            help=f"{name} of the scale config (default 10)")
    parser.add_argument("--skip-scale", action="store_true", help="only advanced.cfg and sandbox.cfg")
    parser.add_argument("--json", metavar="FILE", help="write the figures here")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    benchlib.exit_on_sigterm()
    benchlib.pin_self_to_loadgen_cpu()
    runs = [measure("advanced.cfg", CONFIGS / "advanced.cfg"),
            measure("sandbox.cfg", CONFIGS / "sandbox.cfg", sandbox_basic=True)]
    for run in runs:
        report(run)
    if not args.skip_scale:
        sizes = {name: getattr(args, name) for name in ("zones", "pods", "clusters", "hosts")}
        total = sizes["zones"] * sizes["pods"] * sizes["clusters"] * sizes["hosts"]
        runs.append(measure(f"{total:,} hosts", CONFIGS / "scale.cfg.j2", sizes))
        report(runs[-1])
    if args.json:
        Path(args.json).write_text(json.dumps(runs, indent=2) + "\n")
    parts = [f"{run['label']} {run['seconds']:.2f} s" for run in runs]
    if not args.skip_scale:
        parts[-1] += f" ({runs[-1]['hosts'] / runs[-1]['seconds']:.0f} hosts/s)"
    print("deploy: " + ", ".join(parts))


if __name__ == "__main__":
    main()
