"""Simulated VM deployments per second, and listVirtualMachines latency at 100,000 VMs.

1. A fresh server (fresh SQLite database, pinned to CPU 0; this process runs on CPU 1) gets
   configs/sandbox.cfg through the marvin deployer. Its advanced zone has three 4-core/8 GiB simulator
   hosts and a /24 guest CIDR, room for ~48 Small Instances, so the benchmark raises the CPU and memory
   overprovisioning factors and creates one isolated network with a /20 for the admin's VMs (both said
   in the output).
2. `--vms` (1,000) deployVirtualMachine calls as the root admin (Small Instance, the BUILTIN CentOS
   simulator template), `--concurrency` (50) in flight on marvin.aio.AsyncClient, each polling its job:
   the clock runs from the first request until every job has finished, and every VM must be Running.
3. The database is then filled to `--fill` (100,000) VMs by bulk-inserting copies of a deployed VM's
   rows (vm_instance, its ROOT volume, its NIC) with SQLAlchemy Core straight into the server's SQLite
   file — not through the API, and without counts, capacity or events. listVirtualMachines listall=true
   pagesize=500 is timed on page 1 and on a middle page (median of `--calls`), with listZones — a list
   answered from a handful of rows — timed the same way in the same run as the baseline.

`--profile FILE` runs the server under cProfile and writes its stats there when it stops (read them
with `python -m pstats FILE`). The last line is the headline:

    vms: 1,000 deployed+Running in 9.2 s (109 VMs/s); listVirtualMachines 100,000 VMs pagesize 500: 54 ms
    median
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import benchlib
from deploy import server_cpu
from sqlalchemy import MetaData, create_engine, func, select

from marvin.aio import AsyncClient
from marvin.client import Client
from marvin.configfile import load
from marvin.deployer import Progress, connect, deploy

CONFIG = benchlib.ROOT / "configs" / "sandbox.cfg"
ZONE = "Sandbox-simulator-advanced"
TEMPLATE = "CentOS 5.6 (64-bit) no GUI (Simulator)"
OFFERING = "Small Instance"
NETWORK_OFFERING = "DefaultIsolatedNetworkOfferingWithSourceNatService"
# Enough for 1,000+ Small Instances (500 MHz, 512 MiB) on three 4 × 8,000 MHz / 8 GiB hosts.
FACTORS = {"cpu.overprovisioning.factor": "16", "mem.overprovisioning.factor": "64"}
GATEWAY, NETMASK = "10.8.0.1", "255.255.240.0"
# The server under cProfile: SIGTERM becomes KeyboardInterrupt, so the stats are written on the way out.
PROFILED = ("import cProfile, signal, sys\n"
            "from sandstack.cli import main\n"
            "out = sys.argv.pop(1)\n"
            "signal.signal(signal.SIGTERM, signal.default_int_handler)\n"
            "profile = cProfile.Profile()\n"
            "try:\n"
            "    profile.runcall(main, sys.argv[1:])\n"
            "finally:\n"
            "    profile.dump_stats(out)\n")


# ---- the server ---------------------------------------------------------------------------------

def start_server(workdir: Path, profile: str | None):
    port, integration_port = benchlib.free_port(), benchlib.free_port()
    log = workdir / "server.log"
    serve = ["serve", "--host", "127.0.0.1", "--port", str(port), "--integration-port",
             str(integration_port), "--db", f"sqlite:///{workdir / 'cloud.db'}", "--sandbox"]
    args = ["-c", PROFILED, str(Path(profile).resolve()), *serve] if profile else ["-m", "sandstack", *serve]
    process = benchlib.spawn(args, log)
    keys = benchlib.wait_until_up(process, port, "/admin.json", log)
    return process, port, integration_port, keys


def stop_server(process, profiled: bool) -> None:
    if profiled and process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)  # dumping the stats takes a while
        except Exception:
            pass
    benchlib.stop(process)


def deploy_sandbox(integration_port: int) -> float:
    config = load(CONFIG, {"port": integration_port})
    config.mgtSvr[0].port = integration_port
    client = connect(config)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="sandstack-vms-state-") as tmp:
        deploy(config, client, Path(tmp) / "state.json", Progress(quiet=True))
    return time.perf_counter() - started


def named(client: Client, command: str, name: str, **params) -> str:
    found = [item for item in client.list(command, **params) if item.get("name") == name]
    if not found:
        raise RuntimeError(f"{command}: nothing named {name!r}")
    return found[0]["id"]


def prepare(admin: Client) -> dict:
    """Capacity for the run and the deployment's parameters (zone, offering, template, network)."""
    for name, value in FACTORS.items():
        admin.request("updateConfiguration", {"name": name, "value": value})
    zone = named(admin, "listZones", ZONE)
    offering = named(admin, "listNetworkOfferings", NETWORK_OFFERING, zoneid=zone)
    network = admin("createNetwork", name="bench-net", displaytext="bench-net", zoneid=zone,
                    networkofferingid=offering, gateway=GATEWAY, netmask=NETMASK)
    return {"zoneid": zone, "serviceofferingid": named(admin, "listServiceOfferings", OFFERING),
            "templateid": named(admin, "listTemplates", TEMPLATE, templatefilter="all", zoneid=zone),
            "networkids": network["id"]}


# ---- deploying --------------------------------------------------------------------------------------

async def deploy_many(url: str, keys: dict, params: dict, count: int, concurrency: int):
    """(seconds until every job finished, [final state or error text per VM])."""
    async with AsyncClient(url, keys["apikey"], keys["secretkey"], connections=concurrency + 8) as api:
        slots = asyncio.Semaphore(concurrency)

        async def one(index: int) -> str:
            async with slots:
                try:
                    answer = await api.request("deployVirtualMachine", {**params, "name": f"bench-{index}"})
                    result = await api.wait(answer["jobid"], "deployVirtualMachine")
                    return result["virtualmachine"]["state"]
                except Exception as error:  # counted and shown, the run goes on
                    return f"{type(error).__name__}: {error}"

        started = time.perf_counter()
        states = await asyncio.gather(*(one(i) for i in range(count)))
        return time.perf_counter() - started, states


# ---- filling the database ---------------------------------------------------------------------------

def fill(db_path: Path, total: int) -> tuple[int, float]:
    """Copy a deployed VM (its vm_instance, ROOT volume and NIC rows) until `total` user VMs exist."""
    engine = create_engine(f"sqlite:///{db_path}")
    meta = MetaData()
    meta.reflect(engine, only=("vm_instance", "volumes", "nics"))
    vms, volumes, nics = (meta.tables[n] for n in ("vm_instance", "volumes", "nics"))
    started = time.perf_counter()
    with engine.begin() as conn:
        model = conn.execute(select(vms).where(vms.c.name == "bench-0")).mappings().one()
        root = conn.execute(select(volumes).where(volumes.c.instance_id == model["id"],
                                                  volumes.c.volume_type == "ROOT")).mappings().one()
        nic = conn.execute(select(nics).where(nics.c.instance_id == model["id"])).mappings().one()
        have = conn.scalar(select(func.count()).select_from(vms).where(vms.c.type == "User",
                                                                        vms.c.removed.is_(None)))
        next_ids = [conn.scalar(select(func.max(t.c.id))) + 1 for t in (vms, volumes, nics)]
    added = max(total - have, 0)
    for first in range(0, added, 10_000):
        batch = range(first, min(first + 10_000, added))
        rows = [copies(model, root, nic, next_ids, i) for i in batch]
        with engine.begin() as conn:
            for table, index in ((vms, 0), (volumes, 1), (nics, 2)):
                conn.execute(table.insert(), [r[index] for r in rows])
    engine.dispose()
    return added, time.perf_counter() - started


def copies(model, root, nic, next_ids: list[int], i: int) -> tuple[dict, dict, dict]:
    vm_id = next_ids[0] + i
    details = json.loads(model["details"] or "{}")
    details["__instancename"] = f"i-{model['account_id']}-{vm_id}-QA"
    vm = {**model, "id": vm_id, "uuid": str(uuid.uuid4()), "name": f"fill-{vm_id}",
          "display_name": f"fill-{vm_id}", "details": json.dumps(details)}
    volume_uuid = str(uuid.uuid4())
    volume = {**root, "id": next_ids[1] + i, "uuid": volume_uuid, "name": f"ROOT-{vm_id}",
              "instance_id": vm_id, "path": volume_uuid}
    # Addresses outside the network's /20 (filler rows only need to be unique per network).
    address = f"10.{64 + (i >> 16)}.{(i >> 8) & 255}.{i & 255}"
    mac = "02:01:" + ":".join(f"{(i >> s) & 255:02x}" for s in (24, 16, 8, 0))
    row = {**nic, "id": next_ids[2] + i, "uuid": str(uuid.uuid4()), "instance_id": vm_id,
           "ip4_address": address, "mac_address": mac}
    return vm, volume, row


# ---- timing lists -------------------------------------------------------------------------------------

def latency(admin: Client, calls: int, command: str, **params) -> tuple[float, dict]:
    """Median seconds of `calls` calls (after one unmeasured), and the last answer."""
    answer = admin.request(command, params)
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        answer = admin.request(command, params)
        times.append(time.perf_counter() - started)
    return statistics.median(times), answer


def list_figures(admin: Client, calls: int, total: int) -> dict:
    pages = max(total // 500, 1)
    first, answer = latency(admin, calls, "listVirtualMachines", listall=True, page=1, pagesize=500)
    if answer.get("count") != total or len(answer.get("virtualmachine", [])) != min(500, total):
        raise RuntimeError(f"listVirtualMachines answered count {answer.get('count')} with "
                           f"{len(answer.get('virtualmachine', []))} items; expected {total}")
    middle, _ = latency(admin, calls, "listVirtualMachines", listall=True, page=pages // 2 + 1, pagesize=500)
    zones, _ = latency(admin, calls, "listZones")
    return {"count": answer["count"], "page1": first, "middle": middle, "middle_page": pages // 2 + 1,
            "listzones": zones}


# ---- the run --------------------------------------------------------------------------------------

def run(args) -> dict:
    with tempfile.TemporaryDirectory(prefix="sandstack-vms-") as tmp:
        workdir = Path(tmp)
        process, port, integration_port, keys = start_server(workdir, args.profile)
        try:
            figures = measure(args, workdir, process, port, integration_port, keys)
        except Exception:
            print(benchlib.tail(workdir / "server.log"))
            raise
        finally:
            stop_server(process, bool(args.profile))
    return figures


def measure(args, workdir: Path, process, port: int, integration_port: int, keys: dict) -> dict:
    url = f"http://127.0.0.1:{port}/client/api"
    figures = {"setup_seconds": deploy_sandbox(integration_port)}
    admin = Client(url, keys["apikey"], keys["secretkey"], signature_version=3)
    params = prepare(admin)
    figures["listzones_before"], _ = latency(admin, args.calls, "listZones")
    cpu, client_cpu = server_cpu(process.pid), time.process_time()
    seconds, states = asyncio.run(deploy_many(url, keys, params, args.vms, args.concurrency))
    figures.update(deploy_seconds=seconds, server_cpu=server_cpu(process.pid) - cpu, vms=args.vms,
                   client_cpu=time.process_time() - client_cpu,
                   running=sum(1 for s in states if s == "Running"),
                   failures=sorted({s for s in states if s != "Running"})[:5])
    running = admin.request("listVirtualMachines", {"listall": True, "state": "Running", "pagesize": 1,
                                                    "page": 1}).get("count", 0)
    figures["listed_running"] = running
    report_deploy(figures, args.concurrency)
    if args.fill:
        added, fill_seconds = fill(workdir / "cloud.db", args.fill)
        figures.update(filled=added, fill_seconds=fill_seconds)
        print(f"fill: {added:,} VMs (vm_instance + ROOT volume + NIC rows, copies of bench-0) bulk-inserted "
              f"with SQLAlchemy Core in {fill_seconds:.1f} s, straight into the SQLite file, not through the "
              "API")
        figures["list"] = list_figures(admin, args.calls, max(args.fill, args.vms))
        report_list(figures["list"], args.calls)
    return figures


def report_deploy(figures: dict, concurrency: int) -> None:
    vms, seconds = figures["vms"], figures["deploy_seconds"]
    print(f"setup: sandbox.cfg deployed in {figures['setup_seconds']:.2f} s; "
          + ", ".join(f"{k}={v}" for k, v in FACTORS.items())
          + f"; network bench-net {GATEWAY}/{NETMASK}")
    print(f"deploy: {vms:,} VMs, {concurrency} in flight: {seconds:.2f} s ({vms / seconds:.0f} VMs/s); "
          f"{figures['running']:,} Running (listVirtualMachines: {figures['listed_running']:,}); "
          f"CPU: server {figures['server_cpu']:.2f} s ({figures['server_cpu'] / vms * 1000:.2f} ms/VM), "
          f"client {figures['client_cpu']:.2f} s; "
          f"listZones before: {figures['listzones_before'] * 1000:.1f} ms")
    for failure in figures["failures"]:
        print(f"    failure: {failure[:300]}")


def report_list(figures: dict, calls: int) -> None:
    print(f"listVirtualMachines listall=true pagesize=500 at {figures['count']:,} VMs (median of {calls}): "
          f"page 1 {figures['page1'] * 1000:.1f} ms, page {figures['middle_page']} "
          f"{figures['middle'] * 1000:.1f} ms; listZones {figures['listzones'] * 1000:.1f} ms "
          f"(page 1 / listZones = {figures['page1'] / figures['listzones']:.0f}x)")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--vms", type=int, default=1000, help="VMs to deploy (default 1000)")
    parser.add_argument("--concurrency", type=int, default=50, help="deployments in flight (default 50)")
    parser.add_argument("--fill", type=int, default=100_000,
                        help="VMs in the database for the list timing (default 100000; 0 skips it)")
    parser.add_argument("--calls", type=int, default=20, help="timed calls per list figure (default 20)")
    parser.add_argument("--profile", metavar="FILE", help="run the server under cProfile, stats to FILE")
    parser.add_argument("--json", metavar="FILE", help="write the figures here")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    benchlib.exit_on_sigterm()
    benchlib.pin_self_to_loadgen_cpu()
    figures = run(args)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2, default=str) + "\n")
    vms, seconds = figures["vms"], figures["deploy_seconds"]
    line = f"vms: {figures['running']:,} deployed+Running in {seconds:.1f} s ({vms / seconds:.0f} VMs/s)"
    if "list" in figures:
        listed = figures["list"]
        line += (f"; listVirtualMachines {listed['count']:,} VMs pagesize 500: "
                 f"{listed['page1'] * 1000:.0f} ms median")
    print(line)


if __name__ == "__main__":
    main()
