"""The config loader (comments, attribute access, Jinja2 templates), every validation rule with the path
it names, and the deployer's stop at a command the server lacks (with a fake client, no server)."""

import io
import json
import re
from pathlib import Path

import pytest

from marvin import cli
from marvin.configfile import ConfigError, Obj, load, parse, parse_variables, read, validate
from marvin.deployer import DeployError, Progress, deploy, read_entries
from marvin.errors import CloudstackError

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def minimal() -> dict:
    """A valid one-zone Advanced config, as plain data for tests to break."""
    return {
        "zones": [{
            "name": "z1", "networktype": "Advanced", "dns1": "8.8.8.8", "internaldns1": "10.0.0.2",
            "guestcidraddress": "10.1.1.0/24",
            "physical_networks": [{
                "name": "pn", "isolationmethods": ["VLAN"], "vlan": "100-200",
                "traffictypes": [{"typ": "Guest"}, {"typ": "Management"}, {"typ": "Public"}],
                "providers": [{"name": "VirtualRouter"}]}],
            "ipranges": [{"startip": "192.168.2.2", "endip": "192.168.2.200", "gateway": "192.168.2.1",
                          "netmask": "255.255.255.0", "vlan": "50"}],
            "pods": [{"name": "p0", "gateway": "172.16.15.1", "netmask": "255.255.255.0",
                      "startip": "172.16.15.2", "endip": "172.16.15.200",
                      "clusters": [{
                          "clustername": "c0", "hypervisor": "Simulator", "clustertype": "CloudManaged",
                          "hosts": [{"url": "http://sim/c0/h0", "username": "root", "password": "p"}],
                          "primaryStorages": [{"name": "ps0", "url": "nfs://10.0.0.5:/export/p0"}]}]}],
            "secondaryStorages": [{"url": "nfs://10.0.0.5:/export/s", "provider": "NFS"}],
        }],
        "mgtSvr": [{"mgtSvrIp": "127.0.0.1", "port": 8096}],
        "globalConfig": [{"name": "expunge.delay", "value": "20"}],
    }


def problems(data: dict) -> list[str]:
    return validate(parse(json.dumps(data)))


# ---- reading ------------------------------------------------------------------------------------------


def test_hash_lines_are_dropped_before_json(tmp_path):
    path = tmp_path / "c.cfg"
    path.write_text('# licence header\n{\n    # indented comment\n  "zones": [],\n'
                    '  "a": "# not a comment"\n}\n')
    config = read(path)
    assert config.a == "# not a comment" and config.zones == []


def test_slash_comments_are_invalid_json(tmp_path):
    path = tmp_path / "c.cfg"
    path.write_text('// no\n{"zones": []}')
    with pytest.raises(ConfigError, match="not valid JSON"):
        read(path)


def test_attribute_access_missing_keys_read_as_none():
    config = parse(json.dumps(minimal()))
    zone = config.zones[0]
    assert isinstance(zone, Obj) and zone.name == "z1" and zone["name"] == "z1"
    assert zone.securitygroupenabled is None and config.dbSvr is None
    assert zone.pods[0].clusters[0].hosts[0].url == "http://sim/c0/h0"
    assert zone.physical_networks[0].isolationmethods == ["VLAN"]
    assert config.mgtSvr[0].port == 8096 and config.mgtSvr[0].apiKey is None
    zone.extra = 1
    assert zone["extra"] == 1


def test_unknown_top_level_keys_are_allowed():
    assert problems({**minimal(), "TestData": {"Path": "x"}, "somethingElse": [1]}) == []


def test_jinja2_template_renders_with_variables(tmp_path):
    template = tmp_path / "t.cfg.j2"
    template.write_text('# {{ "comment" }}\n{"zones": [{% for z in range(n) %}'
                        '{"name": "{{ prefix }}-{{ z }}"}{{ "," if not loop.last }}{% endfor %}], '
                        '"mgtSvr": [{"mgtSvrIp": "h"}]}')
    config = read(template, parse_variables(["n=3", "prefix=zz"]))
    assert [z.name for z in config.zones] == ["zz-0", "zz-1", "zz-2"]


def test_jinja2_undefined_variable_is_an_error(tmp_path):
    template = tmp_path / "t.cfg.j2"
    template.write_text('{"zones": [], "x": "{{ missing }}"}')
    with pytest.raises(ConfigError, match="missing"):
        read(template)


def test_variables_are_typed_when_json():
    assert parse_variables(["a=3", "b=true", "c=text", "d=1.5"]) == {"a": 3, "b": True, "c": "text", "d": 1.5}
    with pytest.raises(ConfigError):
        parse_variables(["novalue"])


@pytest.mark.parametrize("name", ["basic.cfg", "advanced.cfg", "advancedsg.cfg", "advdualzone.cfg",
                                  "sandbox.cfg"])
def test_shipped_configs_are_valid(name):
    load(CONFIGS / name)


def test_shipped_names_match_the_ecosystem():
    assert [z.name for z in load(CONFIGS / "sandbox.cfg").zones] == ["Sandbox-simulator-advanced",
                                                                   "Sandbox-simulator-basic"]
    assert [z.name for z in load(CONFIGS / "advdualzone.cfg").zones] == ["zim1", "zim2"]
    assert load(CONFIGS / "advanced.cfg").zones[0].name == "Sandbox-simulator"
    assert load(CONFIGS / "basic.cfg").zones[0].name == "Sandbox-simulator"
    assert load(CONFIGS / "advancedsg.cfg").zones[0].name == "Sandbox-Simulator"


def test_scale_template_defaults_and_sizes():
    small = load(CONFIGS / "scale.cfg.j2")
    assert len(small.zones) == 2
    big = load(CONFIGS / "scale.cfg.j2", {"zones": 3, "pods": 4, "clusters": 2, "hosts": 5})
    hosts = [h.url for z in big.zones for p in z.pods for c in p.clusters for h in c.hosts]
    assert len(hosts) == 3 * 4 * 2 * 5 == len(set(hosts))
    pods = [(p.gateway, p.netmask) for z in big.zones for p in z.pods]
    assert len(set(pods)) == len(pods)
    vlans = [z.physical_networks[0].vlan for z in big.zones]
    assert len(set(vlans)) == 3


# ---- validation: one rule per test, each naming the exact path -----------------------------------------


def broken(mutate) -> list[str]:
    data = minimal()
    mutate(data)
    return problems(data)


def zone0(data):
    return data["zones"][0]


def cluster0(data):
    return zone0(data)["pods"][0]["clusters"][0]


RULES = [
    (lambda d: zone0(d).pop("name"), "zones[0].name: missing"),
    (lambda d: zone0(d).update(networktype="Fancy"), "zones[0].networktype: must be Basic or Advanced"),
    (lambda d: zone0(d).pop("networktype"), "zones[0].networktype: missing"),
    (lambda d: zone0(d).pop("dns1"), "zones[0].dns1: missing"),
    (lambda d: zone0(d).pop("internaldns1"), "zones[0].internaldns1: missing"),
    (lambda d: zone0(d).update(dns1="8.8.8"), "zones[0].dns1: not an IPv4 address"),
    (lambda d: zone0(d).update(internaldns2="x"), "zones[0].internaldns2: not an IPv4 address"),
    (lambda d: zone0(d).update(guestcidraddress="10.1.1.1/24"), "zones[0].guestcidraddress: not a CIDR"),
    (lambda d: zone0(d).update(securitygroupenabled=True), "zones[0].securitygroupenabled: must be a string"),
    (lambda d: zone0(d)["physical_networks"][0].pop("name"), "zones[0].physical_networks[0].name: missing"),
    (lambda d: zone0(d)["physical_networks"][0]["traffictypes"].append({"typ": "Video"}),
     "zones[0].physical_networks[0].traffictypes[3].typ: must be one of"),
    (lambda d: zone0(d)["physical_networks"][0]["providers"].append({}),
     "zones[0].physical_networks[0].providers[1].name: missing"),
    (lambda d: zone0(d)["pods"][0].pop("gateway"), "zones[0].pods[0].gateway: missing"),
    (lambda d: zone0(d)["pods"][0].pop("netmask"), "zones[0].pods[0].netmask: missing"),
    (lambda d: zone0(d)["pods"][0].pop("startip"), "zones[0].pods[0].startip: missing"),
    (lambda d: zone0(d)["pods"][0].update(netmask="255.0.255.0"), "zones[0].pods[0].netmask: not a netmask"),
    (lambda d: zone0(d)["pods"][0].update(gateway="172.16.15.300"),
     "zones[0].pods[0].gateway: not an IPv4 address"),
    (lambda d: zone0(d)["pods"][0].update(startip="172.16.16.2"),
     "zones[0].pods[0].startip: 172.16.16.2 is not inside 172.16.15.0/24"),
    (lambda d: zone0(d)["pods"][0].update(endip="172.16.15.1", startip="172.16.15.9"),
     "zones[0].pods[0].endip: 172.16.15.1 is lower than startip"),
    (lambda d: cluster0(d).pop("hypervisor"), "zones[0].pods[0].clusters[0].hypervisor: missing"),
    (lambda d: cluster0(d).pop("clustername"), "zones[0].pods[0].clusters[0].clustername: missing"),
    (lambda d: cluster0(d)["hosts"][0].update(url="ftp://sim/x"),
     "zones[0].pods[0].clusters[0].hosts[0].url: not a simulator or KVM host URL"),
    (lambda d: cluster0(d)["hosts"][0].update(url="http://10.0.0.9"),
     "zones[0].pods[0].clusters[0].hosts[0].url: not a simulator host URL"),
    (lambda d: cluster0(d)["hosts"][0].pop("url"), "zones[0].pods[0].clusters[0].hosts[0].url: missing"),
    (lambda d: cluster0(d)["primaryStorages"][0].pop("name"),
     "zones[0].pods[0].clusters[0].primaryStorages[0].name: missing"),
    (lambda d: cluster0(d)["primaryStorages"][0].update(url="ftp://x/y"),
     "zones[0].pods[0].clusters[0].primaryStorages[0].url: not a primary storage URL"),
    (lambda d: cluster0(d)["primaryStorages"][0].update(scope="zone"),
     "zones[0].pods[0].clusters[0].primaryStorages[0].hypervisor: missing (required for zone-wide"),
    (lambda d: zone0(d).update(primaryStorages=[{"name": "zw", "url": "nfs://h:/p"}]),
     "zones[0].primaryStorages[0].hypervisor: missing (required for zone-wide"),
    (lambda d: zone0(d)["secondaryStorages"][0].pop("provider"),
     "zones[0].secondaryStorages[0].provider: missing"),
    (lambda d: zone0(d)["secondaryStorages"][0].pop("url"), "zones[0].secondaryStorages[0].url: missing"),
    (lambda d: zone0(d)["secondaryStorages"][0].update(url="http://s3"),
     "zones[0].secondaryStorages[0].url: not a NFS URL"),
    (lambda d: zone0(d)["secondaryStorages"][0].update(provider="Tape"),
     "zones[0].secondaryStorages[0].provider: must be one of NFS, S3, Swift, SMB"),
    (lambda d: zone0(d).update(cacheStorages=[{"provider": "NFS"}]),
     "zones[0].cacheStorages[0].url: missing"),
    (lambda d: zone0(d)["ipranges"][0].pop("endip"), "zones[0].ipranges[0].endip: missing"),
    (lambda d: zone0(d)["ipranges"][0].pop("gateway"), "zones[0].ipranges[0].gateway: missing"),
    (lambda d: zone0(d)["ipranges"][0].update(startip="192.168.3.2"),
     "zones[0].ipranges[0].startip: 192.168.3.2 is not inside 192.168.2.0/24"),
    (lambda d: zone0(d)["ipranges"][0].update(vlan="fifty"), "zones[0].ipranges[0].vlan: not a VLAN id"),
    (lambda d: zone0(d)["pods"][0].update(guestIpRanges=[{"startip": "1.2.3.4"}]),
     "zones[0].pods[0].guestIpRanges[0].gateway: missing"),
    (lambda d: zone0(d).update(securitygroupenabled="true", ipranges=[]),
     "zones[0].ipranges: missing: an Advanced zone with security groups"),
    (lambda d: d["globalConfig"].append({"value": "1"}), "globalConfig[1].name: missing"),
    (lambda d: d["globalConfig"].append({"name": "x"}), "globalConfig[1].value: missing"),
    (lambda d: d.pop("mgtSvr"), "mgtSvr: missing"),
    (lambda d: d["mgtSvr"][0].pop("mgtSvrIp"), "mgtSvr[0].mgtSvrIp: missing"),
    (lambda d: d.pop("zones"), "zones: missing (nothing to deploy)"),
    (lambda d: zone0(d).update(pods={"name": "p"}), "zones[0].pods: must be a list"),
]


@pytest.mark.parametrize(("mutate", "expected"), RULES, ids=[expected.split(":")[0] + "-" + str(i)
                                                            for i, (_, expected) in enumerate(RULES)])
def test_validation_rule_names_the_field(mutate, expected):
    found = broken(mutate)
    assert any(problem.startswith(expected) for problem in found), found


def test_the_minimal_config_is_valid():
    assert problems(minimal()) == []


def test_all_problems_are_collected_before_raising(tmp_path):
    data = minimal()
    cluster0(data)["hosts"].append({"url": "nope"})
    zone0(data).pop("dns1")
    path = tmp_path / "bad.cfg"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert caught.value.problems == [
        "zones[0].dns1: missing",
        "zones[0].pods[0].clusters[0].hosts[1].url: not a simulator or KVM host URL "
        "(http://sim/<cluster>/<host> or http://<ip>)"]
    assert "2 problems" in str(caught.value)


def test_validate_command_names_the_broken_field(tmp_path, capsys):
    data = minimal()
    zone0(data)["pods"].append(dict(zone0(data)["pods"][0], name="p1"))
    zone0(data)["pods"][1]["clusters"] = [dict(cluster0(data), hosts=[{"url": "a"}, {"url": "b"},
                                                                      {"url": "sim/c/h"}])]
    path = tmp_path / "bad.cfg"
    path.write_text(json.dumps(data))
    assert cli.main(["validate", "-c", str(path)]) == 1
    err = capsys.readouterr().err
    assert "zones[0].pods[1].clusters[0].hosts[2].url: not a simulator or KVM host URL" in err
    assert cli.main(["validate", "-c", str(CONFIGS / "advanced.cfg")]) == 0
    assert "valid (1 zone(s), 4 host(s))" in capsys.readouterr().out


# ---- the deployer against a fake client: a missing command stops it, naming the step ---------------------


class FakeClient:
    """Answers like a server without guest networks: creates succeed, listNetworkOfferings is unknown."""

    def __init__(self):
        self.calls: list[str] = []
        self.counter = 0

    def new_id(self) -> str:
        self.counter += 1
        return f"id-{self.counter}"

    def request(self, command, params=None, **kwargs):
        self.calls.append(command)
        return {}

    def list(self, command, key=None, **params):
        self.calls.append(command)
        if command == "listNetworkOfferings":
            raise CloudstackError(command, 432, f"Unknown API command: {command}")
        if command == "listNetworkServiceProviders":
            return [{"id": self.new_id(), "name": params["name"], "state": "Disabled"}]
        if command.endswith("Elements"):
            return [{"id": self.new_id()}]
        return []

    def __call__(self, command, **params):
        self.calls.append(command)
        return {"id": self.new_id(), "name": params.get("name"), "state": "Disabled"}


def test_a_missing_command_stops_the_deploy_naming_the_step(tmp_path):
    config = load(CONFIGS / "basic.cfg")
    client = FakeClient()
    state = tmp_path / "state.json"
    out = io.StringIO()
    progress = Progress(out=out)
    with pytest.raises(DeployError) as caught:
        deploy(config, client, state, progress)
    message = str(caught.value)
    # until guest networks exist: the Basic zone's guest network needs listNetworkOfferings + createNetwork
    assert caught.value.step == "listNetworkOfferings DefaultSharedNetworkOfferingWithSGService"
    assert "needs listNetworkOfferings and createNetwork" in message
    assert "does not offer listNetworkOfferings (432 Unknown API command: listNetworkOfferings)" in message
    assert "createNetwork" not in client.calls and "createPod" not in client.calls
    kinds = [e["type"] for e in read_entries(state)]
    assert kinds[:2] == ["Zone", "PhysicalNetwork"] and "TrafficType" in kinds
    assert re.search(r"^ +\d+\.\d{3}s  createZone Sandbox-simulator → created$", out.getvalue(), re.M)


def test_call_order_of_a_physical_network(tmp_path):
    config = load(CONFIGS / "basic.cfg")
    client = FakeClient()
    with pytest.raises(DeployError):
        deploy(config, client, tmp_path / "s.json", Progress(quiet=True))
    calls = [c for c in client.calls if c not in ("listZones", "listConfigurations", "updateConfiguration")]
    assert calls == ["createZone", "createPhysicalNetwork", "addTrafficType", "addTrafficType",
                     "listNetworkServiceProviders", "listVirtualRouterElements",
                     "configureVirtualRouterElement", "updateNetworkServiceProvider",
                     "listNetworkServiceProviders", "updateNetworkServiceProvider", "updatePhysicalNetwork",
                     "listNetworkOfferings"]
