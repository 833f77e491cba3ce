"""Marvin-format datacenter configs: read (JSON with `#` comment lines, or a Jinja2 template), wrap for
attribute access, and validate before anything talks to a server.

Reading follows upstream Marvin exactly (spec/datacenter-config.md §1): every line whose stripped text
starts with `#` is dropped, the rest goes to `json.loads`, and a missing key reads as None. A file named
`*.j2` is first rendered with Jinja2 (undefined variables are errors) using the variables given.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2


class ConfigError(Exception):
    """A config that can't be used; `problems` lists every problem found, each naming its field."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        super().__init__(f"{source}: {count}\n" + "\n".join(f"  {p}" for p in problems))


class Obj(dict):
    """A dict whose keys also read as attributes; a missing key reads as None, as upstream's objects do."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # keep copy/pickle protocols honest
            raise AttributeError(name)
        return self.get(name)

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value


def wrap(value: Any) -> Any:
    """Nested dicts (also inside lists) become Obj; everything else stays as it is."""
    if isinstance(value, dict):
        return Obj({key: wrap(item) for key, item in value.items()})
    if isinstance(value, list):
        return [wrap(item) for item in value]
    return value


# ---- reading ---------------------------------------------------------------------------------------


def strip_comments(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.strip().startswith("#"))


def parse(text: str, source: str = "<config>") -> Obj:
    try:
        data = json.loads(strip_comments(text))
    except json.JSONDecodeError as error:
        # Line numbers refer to the text without comment lines: say so rather than mislead.
        raise ConfigError(source, [f"not valid JSON: {error.msg} (line {error.lineno} column {error.colno} "
                                   "after dropping # comment lines)"]) from None
    if not isinstance(data, dict):
        raise ConfigError(source, ["the top level must be a JSON object"])
    return wrap(data)


def parse_variables(pairs: list[str] | None) -> dict[str, Any]:
    """`-v key=value` pairs; a value that reads as JSON (3, true, [1,2]) is used as that, else as text."""
    variables: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError("-v", [f"{pair!r}: expected key=value"])
        try:
            variables[key.strip()] = json.loads(value)
        except ValueError:
            variables[key.strip()] = value
    return variables


def render(path: Path, variables: dict[str, Any]) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(path.parent)),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)
    try:
        return env.get_template(path.name).render(**variables)
    except jinja2.TemplateError as error:
        raise ConfigError(str(path), [f"template: {error}"]) from None


def read(path: str | Path, variables: dict[str, Any] | None = None) -> Obj:
    """Read a config file (rendering `*.j2` templates first); no validation."""
    path = Path(path)
    try:
        text = render(path, variables or {}) if path.suffix == ".j2" else path.read_text()
    except OSError as error:
        raise ConfigError(str(path), [f"can't read: {error.strerror}"]) from None
    return parse(text, str(path))


def load(path: str | Path, variables: dict[str, Any] | None = None, *, deploy: bool = True) -> Obj:
    """Read and validate; raises ConfigError listing every problem."""
    config = read(path, variables)
    problems = validate(config, deploy=deploy)
    if problems:
        raise ConfigError(str(path), problems)
    return config


# ---- validation ------------------------------------------------------------------------------------

NETWORK_TYPES = ("Basic", "Advanced")
TRAFFIC_TYPES = ("Guest", "Management", "Public", "Storage")
PRIMARY_SCHEMES = ("nfs", "iscsi", "presetup", "rbd", "sharedmountpoint", "clvm", "gluster", "cifs", "vmfs",
                   "ocfs2", "file", "filesystem", "lvm", "datastorecluster", "powerflex", "linstor",
                   "storpool")
SECONDARY_PROVIDERS = ("NFS", "S3", "Swift", "SMB")


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class Checker:
    """Collects problems, each prefixed with the path of the field it is about."""

    def __init__(self):
        self.problems: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}")

    def required(self, obj: Obj, path: str, *keys: str) -> bool:
        """True when every key is present and non-empty."""
        ok = True
        for key in keys:
            if obj.get(key) in (None, "", []):
                self.add(join(path, key), "missing")
                ok = False
        return ok

    def ipv4(self, obj: Obj, path: str, key: str, required: bool = False):
        value = obj.get(key)
        if value in (None, ""):
            if required:
                self.add(join(path, key), "missing")
            return None
        try:
            return ipaddress.IPv4Address(str(value))
        except ValueError:
            self.add(join(path, key), f"not an IPv4 address: {value!r}")
            return None

    def items(self, obj: Obj, path: str, key: str) -> list[tuple[str, Obj]]:
        """The objects of a list field with their paths; a field of the wrong shape is a problem."""
        value = obj.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.add(join(path, key), "must be a list")
            return []
        found = []
        for i, item in enumerate(value):
            if isinstance(item, dict):
                found.append((f"{join(path, key)}[{i}]", item))
            else:
                self.add(f"{join(path, key)}[{i}]", "must be an object")
        return found

    def string_flag(self, obj: Obj, path: str, key: str, expected: str) -> None:
        # Marvin compares these flags as strings; a JSON boolean would silently read as "not set".
        value = obj.get(key)
        if value is not None and not isinstance(value, str):
            self.add(f"{path}.{key}", f"must be a string such as \"{expected}\" (Marvin compares strings), "
                                      f"not {json.dumps(value)}")


def validate(config: Obj, deploy: bool = True) -> list[str]:
    """Every problem of a config, each as `<path>: <what is wrong>`."""
    check = Checker()
    check_management_server(check, config)
    for path, entry in check.items(config, "", "globalConfig"):
        check.required(entry, path, "name")
        if entry.get("value") is None:  # "" is a value: it clears a setting
            check.add(f"{path}.value", "missing")
    zones = check.items(config, "", "zones")
    if deploy and not config.get("zones"):
        check.add("zones", "missing (nothing to deploy)")
    for path, zone in zones:
        check_zone(check, path, zone)
    return check.problems


def check_management_server(check: Checker, config: Obj) -> None:
    servers = config.get("mgtSvr")
    if not isinstance(servers, list) or not servers:
        check.add("mgtSvr", "missing (a list whose first entry names the management server)")
        return
    if not isinstance(servers[0], dict):
        check.add("mgtSvr[0]", "must be an object")
        return
    check.required(servers[0], "mgtSvr[0]", "mgtSvrIp")
    port = servers[0].get("port")
    if port is not None and (not str(port).isdigit() or not 0 < int(port) < 65536):
        check.add("mgtSvr[0].port", f"not a TCP port: {port!r}")


def check_zone(check: Checker, path: str, zone: Obj) -> None:
    check.required(zone, path, "name")
    kind = zone.get("networktype")
    if kind is None:
        check.add(f"{path}.networktype", "missing")
    elif kind not in NETWORK_TYPES:
        check.add(f"{path}.networktype", f"must be Basic or Advanced, not {kind!r}")
    for key in ("dns1", "internaldns1"):
        check.ipv4(zone, path, key, required=True)
    for key in ("dns2", "internaldns2"):
        check.ipv4(zone, path, key)
    check.string_flag(zone, path, "securitygroupenabled", "true")
    check.string_flag(zone, path, "enabled", "True")
    if zone.get("guestcidraddress"):
        try:
            ipaddress.IPv4Network(str(zone.guestcidraddress), strict=True)
        except ValueError:
            check.add(f"{path}.guestcidraddress", f"not a CIDR: {zone.guestcidraddress!r}")
    for pn_path, network in check.items(zone, path, "physical_networks"):
        check_physical_network(check, pn_path, network)
    if kind == "Advanced" and zone.get("securitygroupenabled") == "true" and not zone.get("ipranges"):
        check.add(f"{path}.ipranges", "missing: an Advanced zone with security groups takes its shared guest "
                                      "network's range from the last element")
    for range_path, iprange in check.items(zone, path, "ipranges"):
        check_iprange(check, range_path, iprange)
    for pod_path, pod in check.items(zone, path, "pods"):
        check_pod(check, pod_path, pod)
    for ps_path, pool in check.items(zone, path, "primaryStorages"):
        check_primary(check, ps_path, pool, zone_wide=True)
    for key in ("secondaryStorages", "cacheStorages"):
        for ss_path, store in check.items(zone, path, key):
            check_secondary(check, ss_path, store)
    if zone.get("details") is not None and not (
            isinstance(zone.details, list) and all(isinstance(d, dict) for d in zone.details)):
        check.add(f"{path}.details", "must be a list of objects like [{\"key\": \"value\"}]")


def check_physical_network(check: Checker, path: str, network: Obj) -> None:
    check.required(network, path, "name")
    for key in ("isolationmethods", "tags"):
        if network.get(key) is not None and not isinstance(network.get(key), list):
            check.add(f"{path}.{key}", "must be a list of strings")
    for tt_path, traffic in check.items(network, path, "traffictypes"):
        typ = traffic.get("typ")
        if typ is None:
            check.add(f"{tt_path}.typ", "missing")
        elif typ not in TRAFFIC_TYPES:
            check.add(f"{tt_path}.typ", f"must be one of {', '.join(TRAFFIC_TYPES)}, not {typ!r}")
    for pr_path, provider in check.items(network, path, "providers"):
        check.required(provider, pr_path, "name")


def check_pod(check: Checker, path: str, pod: Obj) -> None:
    check.required(pod, path, "name")
    network = check_subnet(check, pod, path)
    start = check.ipv4(pod, path, "startip", required=True)
    end = check.ipv4(pod, path, "endip")
    if network is not None:
        for key, address in (("startip", start), ("endip", end)):
            if address is not None and address not in network:
                check.add(f"{path}.{key}", f"{address} is not inside {network} (gateway/netmask)")
    if start is not None and end is not None and end < start:
        check.add(f"{path}.endip", f"{end} is lower than startip {start}")
    for range_path, iprange in check.items(pod, path, "guestIpRanges"):
        check_iprange(check, range_path, iprange)
    for cl_path, cluster in check.items(pod, path, "clusters"):
        check_cluster(check, cl_path, cluster)


def check_subnet(check: Checker, obj: Obj, path: str):
    """The network of gateway/netmask, or None (with problems recorded) when either is bad."""
    gateway = check.ipv4(obj, path, "gateway", required=True)
    netmask = obj.get("netmask")
    if netmask in (None, ""):
        check.add(f"{path}.netmask", "missing")
        return None
    try:
        network = ipaddress.IPv4Network(f"0.0.0.0/{netmask}")
    except ValueError:
        check.add(f"{path}.netmask", f"not a netmask: {netmask!r}")
        return None
    if gateway is None:
        return None
    return ipaddress.IPv4Network(f"{gateway}/{network.prefixlen}", strict=False)


def check_iprange(check: Checker, path: str, iprange: Obj) -> None:
    network = check_subnet(check, iprange, path)
    start = check.ipv4(iprange, path, "startip", required=True)
    end = check.ipv4(iprange, path, "endip", required=True)
    if network is not None:
        for key, address in (("startip", start), ("endip", end)):
            if address is not None and address not in network:
                check.add(f"{path}.{key}", f"{address} is not inside {network} (gateway/netmask)")
    if start is not None and end is not None and end < start:
        check.add(f"{path}.endip", f"{end} is lower than startip {start}")
    vlan = iprange.get("vlan")
    if vlan not in (None, "") and not str(vlan).removeprefix("vlan://").isdigit() \
            and str(vlan).lower() != "untagged":
        check.add(f"{path}.vlan", f"not a VLAN id: {vlan!r}")


def check_cluster(check: Checker, path: str, cluster: Obj) -> None:
    check.required(cluster, path, "clustername", "hypervisor")
    hypervisor = str(cluster.get("hypervisor") or "").lower()
    for host_path, host in check.items(cluster, path, "hosts"):
        check_host(check, host_path, host, hypervisor)
    for ps_path, pool in check.items(cluster, path, "primaryStorages"):
        check_primary(check, ps_path, pool, zone_wide=False)


def check_host(check: Checker, path: str, host: Obj, hypervisor: str) -> None:
    url = host.get("url")
    if not url:
        check.add(f"{path}.url", "missing")
        return
    parts = urlsplit(str(url))
    if parts.scheme != "http" or not parts.netloc:
        check.add(f"{path}.url", "not a simulator or KVM host URL "
                                 "(http://sim/<cluster>/<host> or http://<ip>)")
    elif hypervisor == "simulator" and not parts.netloc.lower().startswith("sim"):
        check.add(f"{path}.url", "not a simulator host URL: the host part must start with 'sim' "
                                 "(http://sim/<cluster>/<host>)")


def check_primary(check: Checker, path: str, pool: Obj, zone_wide: bool) -> None:
    check.required(pool, path, "name")
    url = pool.get("url")
    if not url:
        check.add(f"{path}.url", "missing")
    else:
        scheme, sep, _ = str(url).partition("://")
        if not sep or scheme.lower() not in PRIMARY_SCHEMES:
            check.add(f"{path}.url", f"not a primary storage URL (nfs://, iscsi://, presetup://, rbd://, "
                                     f"SharedMountPoint://, ...): {url!r}")
    scope = str(pool.get("scope") or ("zone" if zone_wide else "cluster")).lower()
    if scope not in ("zone", "cluster"):
        check.add(f"{path}.scope", f"must be zone or cluster, not {pool.get('scope')!r}")
    elif scope == "zone" and not pool.get("hypervisor"):
        check.add(f"{path}.hypervisor", "missing (required for zone-wide primary storage)")
    if pool.get("details") is not None and not isinstance(pool.details, dict):
        check.add(f"{path}.details", "must be an object")


def check_secondary(check: Checker, path: str, store: Obj) -> None:
    provider = store.get("provider")
    if not provider:
        check.add(f"{path}.provider", "missing")
    elif provider not in SECONDARY_PROVIDERS:
        check.add(f"{path}.provider", f"must be one of {', '.join(SECONDARY_PROVIDERS)}, not {provider!r}")
    url = store.get("url")
    if not url:
        if provider in ("NFS", "SMB", None):
            check.add(f"{path}.url", "missing")
        return
    scheme = str(url).partition("://")[0].lower()
    wanted = {"NFS": ("nfs",), "SMB": ("cifs",), "S3": ("http", "https"), "Swift": ("http", "https")}
    if provider in wanted and scheme not in wanted[provider]:
        schemes = " or ".join(s + "://" for s in wanted[provider])
        check.add(f"{path}.url", f"not a {provider} URL ({schemes}): {url!r}")
    if store.get("details") is not None and not isinstance(store.details, dict):
        check.add(f"{path}.details", "must be an object")
