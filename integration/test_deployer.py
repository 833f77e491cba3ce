"""`marvin deploy` / `teardown` / `validate` / `apis` against a fresh server per test: the shipped configs
build the topology they describe (checked through list commands), a rerun creates nothing, a failure
names its step and the server's errortext, and teardown leaves nothing of the config's zones behind."""

import json
import re
import time
from pathlib import Path

import pytest

from marvin import cli
from marvin.client import Client
from marvin.configfile import Obj, read
from marvin.deployer import connect, is_unknown_command
from marvin.errors import CloudstackError

from .server import launch

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
GIB = 1024**3


@pytest.fixture
def server():
    running = launch()
    yield running
    running.destroy()


@pytest.fixture
def api(server):
    return Client(server.integration_url)


def config_for(server, tmp_path: Path, name: str, mutate=None, **mgt) -> Path:
    """A copy of a shipped config whose mgtSvr is the test server's integration port."""
    data = json.loads(json.dumps(read(CONFIGS / name)))
    data["mgtSvr"] = [{"mgtSvrIp": "127.0.0.1", "port": server.integration_port, **mgt}]
    if mutate:
        mutate(data)
    path = tmp_path / name
    path.write_text(json.dumps(data, indent=1))
    return path


def marvin(capsys, *args) -> tuple[int, str]:
    code = cli.main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def wait_for(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def zone_named(api, name):
    return [z for z in api.list("listZones", name=name) if z["name"] == name]


def assert_advanced_zone(api, name, pnet, pod, clusters, hosts_per_cluster, pools, public, secondary, vlan):
    """The topology of an Advanced zone as list commands see it."""
    (zone,) = zone_named(api, name)
    assert zone["networktype"] == "Advanced" and zone["allocationstate"] == "Enabled"
    (network,) = [n for n in api.list("listPhysicalNetworks", zoneid=zone["id"]) if n["name"] == pnet]
    assert network["state"] == "Enabled" and network["vlan"] == vlan
    traffic = {t["traffictype"] for t in api.list("listTrafficTypes", physicalnetworkid=network["id"])}
    assert traffic == {"Guest", "Management", "Public"}
    providers = {p["name"]: p["state"] for p in api.list("listNetworkServiceProviders",
                                                          physicalnetworkid=network["id"])}
    assert all(providers[p] == "Enabled" for p in ("VirtualRouter", "VpcVirtualRouter", "InternalLbVm"))
    (pod_row,) = api.list("listPods", zoneid=zone["id"])
    assert pod_row["name"] == pod and pod_row["gateway"] == "172.16.15.1"
    rows = api.list("listClusters", zoneid=zone["id"])
    assert sorted(c["name"] for c in rows) == sorted(clusters)
    assert all(c["hypervisortype"] == "Simulator" for c in rows)
    for cluster in rows:
        hosts = api.list("listHosts", clusterid=cluster["id"])
        assert len(hosts) == hosts_per_cluster[cluster["name"]]
        assert all(h["state"] == "Up" and h["resourcestate"] == "Enabled" for h in hosts)
    assert sorted(p["name"] for p in api.list("listStoragePools", zoneid=zone["id"])) == sorted(pools)
    assert all(p["state"] == "Up" for p in api.list("listStoragePools", zoneid=zone["id"]))
    (vlan_range,) = api.list("listVlanIpRanges", zoneid=zone["id"])
    assert (vlan_range["startip"], vlan_range["endip"], vlan_range["vlan"]) == public
    assert [s["url"] for s in api.list("listImageStores", zoneid=zone["id"])] == [secondary]
    return zone


def system_vms_running(api, zone):
    vms = api.list("listSystemVms", zoneid=zone["id"])
    return len(vms) == 2 and all(vm["state"] == "Running" for vm in vms) and vms


def assert_nothing_left(api, config: Obj):
    """No zone, pod, cluster, host, pool, image store or physical network the config names is left."""
    names = {"zone": set(), "pod": set(), "cluster": set(), "pool": set(), "pnet": set(), "store": set()}
    for zone in config.zones:
        names["zone"].add(zone.name)
        names["pnet"].update(n.name for n in zone.physical_networks or [])
        names["store"].update(s.url for s in zone.secondaryStorages or [])
        for pod in zone.pods or []:
            names["pod"].add(pod.name)
            for cluster in pod.clusters or []:
                names["cluster"].add(cluster.clustername)
                names["pool"].update(p.name for p in cluster.primaryStorages or [])
    assert not names["zone"] & {z["name"] for z in api.list("listZones")}
    assert not names["pod"] & {p["name"] for p in api.list("listPods")}
    assert not names["cluster"] & {c["name"] for c in api.list("listClusters")}
    assert not names["pool"] & {p["name"] for p in api.list("listStoragePools")}
    assert not names["pnet"] & {n["name"] for n in api.list("listPhysicalNetworks")}
    assert not names["store"] & {s["url"] for s in api.list("listImageStores")}
    assert api.list("listHosts") == [] and api.list("listVlanIpRanges") == []


def deploy_advanced(server, tmp_path, capsys, mutate=None):
    path = config_for(server, tmp_path, "advanced.cfg", mutate)
    state = tmp_path / "state.json"
    code, out = marvin(capsys, "deploy", "-c", path, "--state", state)
    assert code == 0, out
    return path, state, out


# ---- the shipped configs ----------------------------------------------------------------------------------


def test_advanced_cfg_builds_its_topology(server, api, tmp_path, capsys):
    def bigger_host(data):  # the simulator's URL overrides become the host's capacity
        data["zones"][0]["pods"][0]["clusters"][1]["hosts"][1]["url"] = \
            "http://sim/c1/h1/cpucore=16&cpuspeed=2400&memory=34359738368"
    path, state, out = deploy_advanced(server, tmp_path, capsys, bigger_host)
    assert re.search(r"^ +\d+\.\d{3}s  addHost http://sim/c0/h0 → Up$", out, re.M)
    assert re.search(r"^ +\d+\.\d{3}s  listHosts C1 until 2 Up → 2 Up$", out, re.M)
    assert "deploy: created" in out.splitlines()[-1]
    zone = assert_advanced_zone(api, "Sandbox-simulator", "Sandbox-pnet", "POD0", ["C0", "C1"],
                                {"C0": 2, "C1": 2}, ["PS0", "PS1", "PS2", "PS3"],
                                ("192.168.2.2", "192.168.2.200", "vlan://50"),
                                "nfs://10.147.28.6:/export/home/sandbox/secondary", "100-200")
    hosts = {f"{h['clustername']}/{h['cpunumber']}": h for h in api.list("listHosts", zoneid=zone["id"])}
    assert hosts["C0/4"]["cpuspeed"] == 8000 and hosts["C0/4"]["memorytotal"] == 8 * GIB
    assert hosts["C1/16"]["cpuspeed"] == 2400 and hosts["C1/16"]["memorytotal"] == 32 * GIB
    settings = {c["name"]: c["value"] for c in api.list("listConfigurations", name="instance.name")}
    assert settings["instance.name"] == "QA"
    assert wait_for(lambda: system_vms_running(api, zone))
    entries = json.loads(state.read_text())["entries"]
    assert [e["type"] for e in entries][:3] == ["Zone", "PhysicalNetwork", "TrafficType"]
    assert entries[-1]["type"] == "ZoneEnabled"


def test_a_second_deploy_creates_nothing(server, api, tmp_path, capsys):
    path, state, _ = deploy_advanced(server, tmp_path, capsys)
    before = {c: len(api.list(c)) for c in ("listZones", "listPods", "listClusters", "listHosts",
                                             "listStoragePools", "listVlanIpRanges", "listImageStores")}
    code, out = marvin(capsys, "deploy", "-c", path, "--state", state)
    assert code == 0, out
    assert "→ created" not in out and "deploy: nothing to create, all 22 objects already exist" in out
    assert {c: len(api.list(c)) for c in before} == before
    assert {e["action"] for e in json.loads(state.read_text())["entries"]} == {"found"}


def test_hosts_are_found_by_count_without_a_state_file(server, api, tmp_path, capsys):
    path, state, _ = deploy_advanced(server, tmp_path, capsys)
    state.unlink()
    code, out = marvin(capsys, "deploy", "-c", path, "--state", state)
    assert code == 0 and "nothing to create" in out, out
    assert len(api.list("listHosts")) == 4


def test_teardown_leaves_nothing_behind(server, api, tmp_path, capsys):
    path, state, _ = deploy_advanced(server, tmp_path, capsys)
    zone = zone_named(api, "Sandbox-simulator")[0]
    wait_for(lambda: system_vms_running(api, zone))
    code, out = marvin(capsys, "teardown", "-c", path, "--state", state)
    assert code == 0, out
    assert "destroySystemVm" in out and "prepareHostForMaintenance" in out and "deleteZone" in out
    assert out.splitlines()[-1] == "teardown: nothing left of Sandbox-simulator"
    assert not state.exists()
    assert_nothing_left(api, read(path))
    assert api.list("listSystemVms") == []


def test_teardown_from_the_config_alone(server, api, tmp_path, capsys):
    path, state, _ = deploy_advanced(server, tmp_path, capsys)
    state.unlink()
    code, out = marvin(capsys, "teardown", "-c", path, "--state", state)
    assert code == 0, out
    assert_nothing_left(api, read(path))


def test_advdualzone_cfg(server, api, tmp_path, capsys):
    path = config_for(server, tmp_path, "advdualzone.cfg")
    state = tmp_path / "state.json"
    code, out = marvin(capsys, "deploy", "-c", path, "--state", state)
    assert code == 0, out
    for name, vlan, public in (("zim1", "100-200", ("192.168.2.2", "192.168.2.200", "vlan://50")),
                               ("zim2", "300-400", ("192.168.3.2", "192.168.3.200", "vlan://51"))):
        assert_advanced_zone(api, name, f"{name}-pnet", f"{name}-POD0", [f"{name}-C0", f"{name}-C1"],
                             {f"{name}-C0": 2, f"{name}-C1": 2}, [f"{name}-PS{i}" for i in range(4)], public,
                             f"nfs://10.147.28.6:/export/home/{name}/secondary", vlan)
    assert len(api.list("listHosts")) == 8
    code, out = marvin(capsys, "teardown", "-c", path, "--state", state)
    assert code == 0, out
    assert_nothing_left(api, read(path))


def offers_guest_networks(api) -> bool:
    return "createNetwork" in {a["name"] for a in api.list("listApis")}


def assert_guest_network_missing(out, kind, zone):
    # until guest networks exist: a zone that needs one stops, clearly, at its guest network
    assert "deploy failed at listNetworkOfferings DefaultSharedNetworkOfferingWithSGService: the guest " \
           f"network of {kind} zone '{zone}' needs listNetworkOfferings and createNetwork; this server does " \
           "not offer listNetworkOfferings" in out, out


def assert_guest_network_zone(api, name, network, pod, cluster, hosts, pool, guest_range):
    """A Basic or Advanced+SG zone: its shared guest network and the pod's guest range in it."""
    (zone,) = zone_named(api, name)
    assert zone["allocationstate"] == "Enabled" and zone["securitygroupsenabled"] is True
    networks = [n for n in api.list("listNetworks", zoneid=zone["id"], listall=True) if n["name"] == network]
    assert len(networks) == 1
    (pod_row,) = api.list("listPods", zoneid=zone["id"])
    assert pod_row["name"] == pod
    ranges = api.list("listVlanIpRanges", zoneid=zone["id"], podid=pod_row["id"])
    assert [(r["startip"], r["endip"]) for r in ranges] == [guest_range]
    (cluster_row,) = api.list("listClusters", zoneid=zone["id"])
    assert cluster_row["name"] == cluster
    rows = api.list("listHosts", clusterid=cluster_row["id"])
    assert len(rows) == hosts and all(h["state"] == "Up" for h in rows)
    assert [p["name"] for p in api.list("listStoragePools", zoneid=zone["id"])] == [pool]
    return zone


def test_sandbox_cfg(server, api, tmp_path, capsys):
    path = config_for(server, tmp_path, "sandbox.cfg")
    state = tmp_path / "state.json"
    code, out = marvin(capsys, "deploy", "-c", path, "--state", state)
    zone = assert_advanced_zone(api, "Sandbox-simulator-advanced", "Sandbox-pnet", "POD0-adv",
                                ["C0-adv", "C1-adv"], {"C0-adv": 2, "C1-adv": 1},
                                ["PS0-adv", "PS1-adv", "PS2-adv"],
                                ("192.168.2.2", "192.168.2.200", "vlan://50"),
                                "nfs://10.147.28.7:/export/home/sandbox/secondary", "100-200")
    assert wait_for(lambda: system_vms_running(api, zone))
    if offers_guest_networks(api):
        assert code == 0, out
        assert_guest_network_zone(api, "Sandbox-simulator-basic", "guestNetworkForBasicZone", "POD0-basic",
                                  "C0-basic", 2, "PS0-basic", ("60.147.41.2", "60.147.41.254"))
    else:
        # until guest networks exist: the advanced zone deploys, the basic zone stops at its guest network
        assert code == 1, out
        assert_guest_network_missing(out, "Basic", "Sandbox-simulator-basic")
        (basic,) = zone_named(api, "Sandbox-simulator-basic")  # the partial state teardown must remove
        assert basic["networktype"] == "Basic" and basic["securitygroupsenabled"] is True
        assert api.list("listPhysicalNetworks", zoneid=basic["id"])[0]["name"] == "Sandbox-pnet"
    code, out = marvin(capsys, "teardown", "-c", path, "--state", state)
    assert code == 0, out
    assert_nothing_left(api, read(path))


def test_sandbox_advanced_zone_alone(server, api, tmp_path, capsys):
    path = config_for(server, tmp_path, "sandbox.cfg")
    code, out = marvin(capsys, "deploy", "-c", path, "--state", tmp_path / "s.json",
                       "--zone", "Sandbox-simulator-advanced")
    assert code == 0, out
    assert zone_named(api, "Sandbox-simulator-advanced") and not zone_named(api, "Sandbox-simulator-basic")


GUEST_NETWORK_CONFIGS = [
    ("basic.cfg", "Basic",
     ("guestNetworkForBasicZone", "POD0", "C0", 2, "PS0", ("60.147.41.2", "60.147.41.254"))),
    ("advancedsg.cfg", "AdvancedSG",
     ("Shared SG enabled network", "POD0", "C0", 2, "PS0", ("10.150.0.201", "10.150.0.250"))),
]


@pytest.mark.parametrize(("name", "kind", "topology"), GUEST_NETWORK_CONFIGS)
def test_configs_with_a_guest_network(server, api, tmp_path, capsys, name, kind, topology):
    path = config_for(server, tmp_path, name)
    state = tmp_path / "state.json"
    zone = read(path).zones[0].name
    code, out = marvin(capsys, "deploy", "-c", path, "--state", state)
    if offers_guest_networks(api):
        assert code == 0, out
        assert_guest_network_zone(api, zone, *topology)
        code, out = marvin(capsys, "deploy", "-c", path, "--state", state)
        assert code == 0 and "deploy: nothing to create" in out, out
    else:
        # until guest networks exist: these configs stop, clearly, before their pods
        assert code == 1, out
        assert_guest_network_missing(out, kind, zone)
        assert api.list("listPods") == []
    if kind == "Basic":
        state.unlink()  # from the config alone: the guest network is found and removed too
    code, out = marvin(capsys, "teardown", "-c", path, "--state", state)
    assert code == 0, out
    assert_nothing_left(api, read(path))
    if offers_guest_networks(api):
        assert api.list("listNetworks", listall=True) == []


# ---- failures ---------------------------------------------------------------------------------------------


def test_a_server_error_mid_deploy_names_the_step_then_teardown_cleans_up(server, api, tmp_path, capsys):
    def bad_second_cluster(data):
        data["zones"][0]["pods"][0]["clusters"][1]["hypervisor"] = "Hypervisor9000"
    path = config_for(server, tmp_path, "advanced.cfg", bad_second_cluster)
    state = tmp_path / "state.json"
    code, out = marvin(capsys, "deploy", "-c", path, "--state", state)
    assert code == 1
    assert re.search(r"deploy failed at addCluster C1: addCluster answered 431: Unable to resolve "
                     r"Hypervisor9000 to a supported hypervisor type", out), out
    assert "createVlanIpRange" not in out  # nothing after the failing step
    assert len(api.list("listHosts")) == 2
    code, out = marvin(capsys, "teardown", "-c", path, "--state", state)
    assert code == 0, out
    assert_nothing_left(api, read(path))


def test_a_failed_half_deploy_is_removable_without_the_state_file(server, api, tmp_path, capsys):
    # A pool URL already used in the zone fails the second pool, after the hosts and the first pool exist.
    def same_pool_url(data):
        pools = data["zones"][0]["pods"][0]["clusters"][0]["primaryStorages"]
        pools[1]["url"] = pools[0]["url"]
    path = config_for(server, tmp_path, "advanced.cfg", same_pool_url)
    state = tmp_path / "state.json"
    code, out = marvin(capsys, "deploy", "-c", path, "--state", state)
    assert code == 1 and "deploy failed at createStoragePool PS1: createStoragePool answered 431" in out, out
    state.unlink()
    code, out = marvin(capsys, "teardown", "-c", path, "--state", state)
    assert code == 0, out
    assert_nothing_left(api, read(path))


def test_a_state_file_of_other_zones_is_not_overwritten(server, tmp_path, capsys):
    path = config_for(server, tmp_path, "advanced.cfg")
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"zones": ["zim1"], "entries": []}))
    code, out = marvin(capsys, "deploy", "-c", path, "--state", state)
    assert code == 1 and "records zones this config does not name (zim1)" in out
    code, out = marvin(capsys, "teardown", "-c", path, "--state", state)
    assert code == 1 and "records zones this config does not name (zim1)" in out


# ---- authentication, validate, apis ------------------------------------------------------------------------


def test_signed_and_session_clients(server, api, tmp_path, capsys, monkeypatch):
    # Whatever may listen on this machine's port 8096 must not stand in for the login fallback.
    monkeypatch.setattr("marvin.deployer.integration_keys", lambda host: None)
    keys = server.admin_keys()
    signed = config_for(server, tmp_path, "advanced.cfg", apiKey=keys["apikey"],
                        securityKey=keys["secretkey"])
    data = json.loads(signed.read_text())
    data["mgtSvr"][0]["port"] = server.port
    signed.write_text(json.dumps(data))
    client = connect(read(signed))
    assert client.apikey == keys["apikey"]
    code, out = marvin(capsys, "deploy", "-c", signed, "--state", tmp_path / "s.json")
    assert code == 0, out
    # A signed request for an unknown command answers 401, as upstream: still recognised as unknown.
    with pytest.raises(CloudstackError) as caught:
        client("createNothingAtAll")
    assert caught.value.errorcode == 401 and is_unknown_command(client, caught.value)
    del data["mgtSvr"][0]["apiKey"], data["mgtSvr"][0]["securityKey"]
    session = connect(Obj(mgtSvr=[Obj(data["mgtSvr"][0])]))
    assert session.sessionkey and session.list("listZones")[0]["name"] == "Sandbox-simulator"
    assert connect(read(config_for(server, tmp_path, "advanced.cfg"))).apikey is None


def test_validate_names_the_broken_field(tmp_path, capsys):
    def broken(data):
        data["zones"][0]["pods"][0]["clusters"][1]["hosts"][1]["url"] = "sim/c1/h1"
    data = json.loads(json.dumps(read(CONFIGS / "advanced.cfg")))
    broken(data)
    path = tmp_path / "broken.cfg"
    path.write_text(json.dumps(data))
    code, out = marvin(capsys, "validate", "-c", path)
    assert code == 1
    assert "zones[0].pods[0].clusters[1].hosts[1].url: not a simulator or KVM host URL" in out
    code, out = marvin(capsys, "validate", "-c", CONFIGS / "scale.cfg.j2", "-v", "zones=3")
    assert code == 0 and "valid (3 zone(s), 12 host(s))" in out


def test_apis_lists_the_commands(server, capsys):
    code, out = marvin(capsys, "apis", "--url", server.integration_url)
    assert code == 0
    lines = out.splitlines()
    assert "createZone" in lines and "createPhysicalNetwork  (async)" in lines
    assert re.fullmatch(r"\d+ commands \(\d+ async\)", lines[-1])
    code, out = marvin(capsys, "apis", "--url", server.integration_url, "--json")
    listed = json.loads(out)
    assert listed["count"] == len(listed["api"]) == int(lines[-1].split()[0])
    assert {"name": "addHost", "isasync": False} in listed["api"]
