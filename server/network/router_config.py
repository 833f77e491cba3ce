"""What a guest network's virtual router must do, rendered as the router would apply it: iptables-restore
input for NAT and filtering, and an haproxy configuration for load balancing.

The renderer is pure (plain dataclasses in, text out) so it can be unit-tested and so an agent that
programs real network namespaces can apply the same text. Every rule command sent to the router carries
the whole rendering of its network: applying it is idempotent, whatever was applied before.

Router interfaces follow the system VM convention: eth0 guest, eth1 link-local control, eth2 public.
"""

from __future__ import annotations

from dataclasses import dataclass, field

GUEST_IF, PUBLIC_IF = "eth0", "eth2"
ANY = "0.0.0.0/0"
HAPROXY_BALANCE = {"roundrobin": "roundrobin", "leastconn": "leastconn", "source": "source"}


@dataclass(slots=True)
class Rule:
    """A firewall rule (ingress on a public address, or egress from the guest network)."""

    protocol: str  # tcp | udp | icmp | all
    start_port: int | None = None
    end_port: int | None = None
    cidrs: list[str] = field(default_factory=list)  # sources (ingress, egress)
    destinations: list[str] = field(default_factory=list)  # egress only
    icmp_type: int | None = None
    icmp_code: int | None = None
    public_ip: str | None = None  # ingress only


@dataclass(slots=True)
class Forward:
    """A port forwarding rule: public address and ports → a guest address and ports."""

    public_ip: str
    protocol: str
    public_start: int
    public_end: int
    guest_ip: str
    private_start: int
    private_end: int
    cidrs: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Balancer:
    name: str
    public_ip: str
    public_port: int
    private_port: int
    algorithm: str = "roundrobin"
    protocol: str = "tcp"
    members: list[str] = field(default_factory=list)  # guest addresses
    cidrs: list[str] = field(default_factory=list)
    stickiness: tuple[str, dict] | None = None  # (method, params)
    health_check: dict | None = None  # pingpath, interval, responsetime, healthy, unhealthy


@dataclass(slots=True)
class RouterConfig:
    guest_cidr: str
    public_ips: list[str] = field(default_factory=list)
    source_nat_ip: str | None = None
    egress_default_allow: bool = False
    firewall: list[Rule] = field(default_factory=list)
    egress: list[Rule] = field(default_factory=list)
    port_forwarding: list[Forward] = field(default_factory=list)
    static_nat: list[tuple[str, str]] = field(default_factory=list)  # (public ip, guest ip)
    load_balancers: list[Balancer] = field(default_factory=list)


# ---- iptables ------------------------------------------------------------------------------------

def ports(start: int | None, end: int | None) -> str | None:
    if start is None:
        return None
    return str(start) if end in (None, start) else f"{start}:{end}"


def match(protocol: str, start=None, end=None, icmp_type=None, icmp_code=None) -> str:
    """The protocol part of a rule: `-p tcp -m tcp --dport 20:30`, `-p icmp --icmp-type 8/0`, or ''."""
    protocol = protocol.lower()
    if protocol == "all":
        return ""
    if protocol == "icmp":
        if icmp_type is None or icmp_type == -1:
            return "-p icmp"
        code = "" if icmp_code in (None, -1) else f"/{icmp_code}"
        return f"-p icmp --icmp-type {icmp_type}{code}"
    span = ports(start, end)
    return f"-p {protocol} -m {protocol} --dport {span}" if span else f"-p {protocol}"


def line(*parts: str) -> str:
    return " ".join(part for part in parts if part)


def chain_of(ip: str) -> str:
    return "FW_" + ip.replace(".", "_")


def nat_table(cfg: RouterConfig) -> list[str]:
    lines = ["*nat", ":PREROUTING ACCEPT [0:0]", ":POSTROUTING ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]"]
    for fwd in cfg.port_forwarding:
        span = f"{fwd.private_start}" if fwd.private_end == fwd.private_start else \
            f"{fwd.private_start}-{fwd.private_end}"
        for cidr in fwd.cidrs or [ANY]:
            source = "" if cidr == ANY else f"-s {cidr}"
            lines.append(line("-A PREROUTING", source, f"-d {fwd.public_ip}/32",
                              match(fwd.protocol, fwd.public_start, fwd.public_end),
                              f"-j DNAT --to-destination {fwd.guest_ip}:{span}"))
    for public_ip, guest_ip in cfg.static_nat:
        lines.append(f"-A PREROUTING -d {public_ip}/32 -j DNAT --to-destination {guest_ip}")
        lines.append(f"-A POSTROUTING -s {guest_ip}/32 -o {PUBLIC_IF} -j SNAT --to-source {public_ip}")
    if cfg.source_nat_ip:
        lines.append(f"-A POSTROUTING -s {cfg.guest_cidr} -o {PUBLIC_IF} -j SNAT --to-source "
                     f"{cfg.source_nat_ip}")
    return lines + ["COMMIT"]


def mangle_table(cfg: RouterConfig) -> list[str]:
    """Ingress firewall: new connections to a public address pass only through its rules (default deny)."""
    ips = list(dict.fromkeys(cfg.public_ips + ([cfg.source_nat_ip] if cfg.source_nat_ip else [])))
    lines = ["*mangle", ":PREROUTING ACCEPT [0:0]"] + [f":{chain_of(ip)} - [0:0]" for ip in ips]
    for ip in ips:
        chain = chain_of(ip)
        lines.append(f"-A PREROUTING -d {ip}/32 -j {chain}")
        lines.append(f"-A {chain} -m state --state RELATED,ESTABLISHED -j RETURN")
        for rule in (r for r in cfg.firewall if r.public_ip == ip):
            for cidr in rule.cidrs or [ANY]:
                source = "" if cidr == ANY else f"-s {cidr}"
                lines.append(line(f"-A {chain}", source, match(rule.protocol, rule.start_port, rule.end_port,
                                                               rule.icmp_type, rule.icmp_code), "-j RETURN"))
        lines.append(f"-A {chain} -j DROP")
    return lines + ["COMMIT"]


def filter_table(cfg: RouterConfig) -> list[str]:
    """Forwarding: replies, guest → public through the egress rules, DNAT'd traffic to guests."""
    lines = ["*filter", ":INPUT ACCEPT [0:0]", ":FORWARD DROP [0:0]", ":OUTPUT ACCEPT [0:0]",
             ":FW_EGRESS_RULES - [0:0]",
             "-A FORWARD -m state --state RELATED,ESTABLISHED -j ACCEPT",
             f"-A FORWARD -i {GUEST_IF} -o {PUBLIC_IF} -j FW_EGRESS_RULES",
             f"-A FORWARD -i {PUBLIC_IF} -o {GUEST_IF} -m conntrack --ctstate DNAT -j ACCEPT"]
    # With a default of allow, egress rules name what is blocked; with deny, what is allowed.
    verdict, fallback = ("DROP", "ACCEPT") if cfg.egress_default_allow else ("ACCEPT", "DROP")
    for rule in cfg.egress:
        for source in rule.cidrs or [cfg.guest_cidr]:
            for destination in rule.destinations or [ANY]:
                target = "" if destination == ANY else f"-d {destination}"
                lines.append(line("-A FW_EGRESS_RULES", f"-s {source}", target,
                                  match(rule.protocol, rule.start_port, rule.end_port, rule.icmp_type,
                                        rule.icmp_code), f"-j {verdict}"))
    lines.append(f"-A FW_EGRESS_RULES -j {fallback}")
    for lb in cfg.load_balancers:
        lines.append(line(f"-A INPUT -d {lb.public_ip}/32", match(lb.protocol if lb.protocol != "tcp-proxy"
                                                                  else "tcp", lb.public_port), "-j ACCEPT"))
    return lines + ["COMMIT"]


def iptables(cfg: RouterConfig) -> list[str]:
    """iptables-restore input for the whole router."""
    return nat_table(cfg) + mangle_table(cfg) + filter_table(cfg)


# ---- haproxy -------------------------------------------------------------------------------------

def haproxy(cfg: RouterConfig) -> str:
    lines = ["global", "    daemon", "    maxconn 4096", "", "defaults", "    mode tcp", "    retries 3",
             "    timeout connect 5s", "    timeout client 50s", "    timeout server 50s"]
    for lb in cfg.load_balancers:
        lines += [""] + listen_section(lb)
    return "\n".join(lines) + "\n"


def listen_section(lb: Balancer) -> list[str]:
    http = lb.health_check is not None or (lb.stickiness and lb.stickiness[0] in ("LbCookie", "AppCookie"))
    name = f"{lb.name}-{lb.public_ip.replace('.', '_')}-{lb.public_port}"
    section = [f"listen {name}", f"    bind {lb.public_ip}:{lb.public_port}",
               f"    mode {'http' if http else 'tcp'}",
               f"    balance {HAPROXY_BALANCE.get(lb.algorithm, 'roundrobin')}"]
    if lb.cidrs and ANY not in lb.cidrs:
        section += [f"    acl allowed_sources src {' '.join(lb.cidrs)}",
                    "    tcp-request connection reject if !allowed_sources"]
    section += stickiness_lines(lb.stickiness)
    check = lb.health_check
    if check:
        section += [f"    option httpchk GET {check.get('pingpath') or '/'}",
                    f"    timeout check {check.get('responsetime', 2)}s"]
    options = ""
    if check:
        options = (f" check inter {check.get('interval', 5)}s rise {check.get('healthy', 2)} "
                   f"fall {check.get('unhealthy', 10)}")
    for index, member in enumerate(lb.members):
        cookie = f" cookie {name}-{index}" if lb.stickiness and lb.stickiness[0] == "LbCookie" else ""
        section.append(f"    server {name}-{index} {member}:{lb.private_port}{options}{cookie}")
    return section


def stickiness_lines(stickiness: tuple[str, dict] | None) -> list[str]:
    if not stickiness:
        return []
    method, params = stickiness
    if method == "SourceBased":
        size, expire = params.get("tablesize", "200k"), params.get("expire", "30m")
        return [f"    stick-table type ip size {size} expire {expire}", "    stick on src"]
    cookie = params.get("cookie-name") or params.get("cookiename") or "SRVID"
    if method == "AppCookie":
        return [f"    cookie {cookie} prefix"]
    flags = " ".join(flag for flag in ("indirect", "nocache", "postonly") if params.get(flag))
    return [line(f"    cookie {cookie} insert", flags)]


def render(cfg: RouterConfig) -> dict[str, object]:
    """The payload every rule command carries: the router's whole configuration."""
    return {"iptables": iptables(cfg), "haproxy": haproxy(cfg) if cfg.load_balancers else None}
