"""The virtual router's configuration rendered from a network's rules (iptables-restore input, haproxy)."""

from sandstack.network.router_config import Balancer, Forward, RouterConfig, Rule, haproxy, iptables, render

PUBLIC, EXTRA, STATIC = "198.51.100.10", "198.51.100.11", "198.51.100.12"


def network(**extra) -> RouterConfig:
    return RouterConfig(guest_cidr="10.1.1.0/24", public_ips=[PUBLIC, EXTRA, STATIC], source_nat_ip=PUBLIC,
                        **extra)


def tables(lines: list[str]) -> dict[str, list[str]]:
    """iptables-restore input split by table, each ending with COMMIT."""
    found, current = {}, None
    for line in lines:
        if line.startswith("*"):
            current = found.setdefault(line[1:], [])
        elif line == "COMMIT":
            current = None
        else:
            current.append(line)
    return found


def test_source_nat_and_default_ingress_deny():
    rendered = tables(iptables(network()))
    assert set(rendered) == {"nat", "mangle", "filter"}
    assert "-A POSTROUTING -s 10.1.1.0/24 -o eth2 -j SNAT --to-source 198.51.100.10" in rendered["nat"]
    # Every public address drops new inbound connections no rule opened; replies go through.
    mangle = rendered["mangle"]
    assert mangle.index("-A FW_198_51_100_11 -m state --state RELATED,ESTABLISHED -j RETURN") < \
        mangle.index("-A FW_198_51_100_11 -j DROP")
    assert "-A PREROUTING -d 198.51.100.10/32 -j FW_198_51_100_10" in mangle


def test_firewall_opens_a_range_and_port_forwarding_maps_inside_it():
    cfg = network(firewall=[Rule("tcp", 33, 44, ["0.0.0.0/0"], public_ip=EXTRA),
                            Rule("icmp", cidrs=["192.0.2.0/24"], icmp_type=8, icmp_code=0, public_ip=EXTRA)],
                  port_forwarding=[Forward(EXTRA, "tcp", 33, 33, "10.1.1.5", 100, 100),
                                   Forward(EXTRA, "udp", 5000, 5010, "10.1.1.6", 6000, 6010,
                                           ["192.0.2.0/24"])])
    rendered = tables(iptables(cfg))
    assert "-A FW_198_51_100_11 -p tcp -m tcp --dport 33:44 -j RETURN" in rendered["mangle"]
    assert "-A FW_198_51_100_11 -s 192.0.2.0/24 -p icmp --icmp-type 8/0 -j RETURN" in rendered["mangle"]
    nat = rendered["nat"]
    assert "-A PREROUTING -d 198.51.100.11/32 -p tcp -m tcp --dport 33 -j DNAT --to-destination " \
           "10.1.1.5:100" in nat
    assert "-A PREROUTING -s 192.0.2.0/24 -d 198.51.100.11/32 -p udp -m udp --dport 5000:5010 -j DNAT " \
           "--to-destination 10.1.1.6:6000-6010" in nat
    assert "-A FORWARD -i eth2 -o eth0 -m conntrack --ctstate DNAT -j ACCEPT" in rendered["filter"]


def test_static_nat_maps_both_ways():
    nat = tables(iptables(network(static_nat=[(STATIC, "10.1.1.7")])))["nat"]
    assert "-A PREROUTING -d 198.51.100.12/32 -j DNAT --to-destination 10.1.1.7" in nat
    assert "-A POSTROUTING -s 10.1.1.7/32 -o eth2 -j SNAT --to-source 198.51.100.12" in nat
    # The VM's own mapping comes before the network's source NAT.
    assert nat.index("-A POSTROUTING -s 10.1.1.7/32 -o eth2 -j SNAT --to-source 198.51.100.12") < \
        nat.index("-A POSTROUTING -s 10.1.1.0/24 -o eth2 -j SNAT --to-source 198.51.100.10")


def test_egress_default_deny_allows_only_the_rules():
    cfg = network(egress=[Rule("tcp", 80, 80, ["10.1.1.0/24"], ["203.0.113.0/24"]), Rule("all")])
    chain = [line for line in tables(iptables(cfg))["filter"] if line.startswith("-A FW_EGRESS_RULES")]
    assert chain == ["-A FW_EGRESS_RULES -s 10.1.1.0/24 -d 203.0.113.0/24 -p tcp -m tcp --dport 80 -j ACCEPT",
                     "-A FW_EGRESS_RULES -s 10.1.1.0/24 -j ACCEPT",
                     "-A FW_EGRESS_RULES -j DROP"]


def test_egress_default_allow_turns_the_rules_into_blocks():
    cfg = network(egress_default_allow=True, egress=[Rule("udp", 53, 53, ["10.1.1.0/25"])])
    chain = [line for line in tables(iptables(cfg))["filter"] if line.startswith("-A FW_EGRESS_RULES")]
    assert chain == ["-A FW_EGRESS_RULES -s 10.1.1.0/25 -p udp -m udp --dport 53 -j DROP",
                     "-A FW_EGRESS_RULES -j ACCEPT"]
    assert tables(iptables(network()))["filter"][-1] == "-A FW_EGRESS_RULES -j DROP"


def test_haproxy_balances_with_stickiness_and_health_check():
    web = Balancer("web", EXTRA, 80, 8080, "leastconn", members=["10.1.1.5", "10.1.1.6"],
                   stickiness=("LbCookie", {"cookie-name": "SRV", "indirect": "true"}),
                   health_check={"pingpath": "/health", "interval": 5, "responsetime": 2, "healthy": 2,
                                 "unhealthy": 3})
    dns = Balancer("dns", EXTRA, 53, 5353, "source", protocol="tcp", members=["10.1.1.7"],
                   cidrs=["192.0.2.0/24"], stickiness=("SourceBased", {"expire": "10m"}))
    text = haproxy(network(load_balancers=[web, dns]))
    section = text.split("listen web-198_51_100_11-80\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert section == [
        "    bind 198.51.100.11:80", "    mode http", "    balance leastconn",
        "    cookie SRV insert indirect", "    option httpchk GET /health", "    timeout check 2s",
        "    server web-198_51_100_11-80-0 10.1.1.5:8080 check inter 5s rise 2 fall 3 cookie "
        "web-198_51_100_11-80-0",
        "    server web-198_51_100_11-80-1 10.1.1.6:8080 check inter 5s rise 2 fall 3 cookie "
        "web-198_51_100_11-80-1"]
    assert "    acl allowed_sources src 192.0.2.0/24" in text
    assert "    stick-table type ip size 200k expire 10m" in text and "    balance source" in text
    assert "    server dns-198_51_100_11-53-0 10.1.1.7:5353" in text
    # The router accepts the balanced ports for itself.
    assert "-A INPUT -d 198.51.100.11/32 -p tcp -m tcp --dport 80 -j ACCEPT" in tables(
        iptables(network(load_balancers=[web])))["filter"]


def test_render_carries_haproxy_only_with_balancers():
    assert render(network())["haproxy"] is None
    both = render(network(load_balancers=[Balancer("a", EXTRA, 80, 80, members=["10.1.1.5"])]))
    assert both["haproxy"].startswith("global\n") and both["iptables"][0] == "*nat"
