"""Network rule conflicts (upstream's detectRulesConflict semantics) and LB policy parameters, without a
database: rules are plain rows compared in memory."""

import pytest
from sandstack.core.errors import InvalidParameter, NetworkRuleConflict
from sandstack.network.lb_policies import params_of
from sandstack.network.models import FirewallRule
from sandstack.network.rules import check_pair, check_range


def rule(purpose="PortForwarding", protocol="tcp", start=22, end=None, cidrs=None, network=1, **extra):
    return FirewallRule(uuid=f"{purpose}-{start}", purpose=purpose, protocol=protocol, start_port=start,
                        end_port=start if end is None else end, source_cidrs=cidrs, network_id=network,
                        traffic_type="Ingress", **extra)


def conflicts(new, old) -> bool:
    try:
        check_pair(new, old, "198.51.100.10")
    except NetworkRuleConflict:
        return True
    return False


def test_forwarding_and_balancing_on_overlapping_ports_conflict():
    assert conflicts(rule(start=2220, end=2230), rule(start=2222))
    assert conflicts(rule("LoadBalancing", start=80), rule(start=70, end=90))
    with pytest.raises(NetworkRuleConflict) as raised:
        check_pair(rule(start=2220, end=2230), rule(start=2222), "198.51.100.10")
    assert raised.value.text == "The range specified, 2220-2230, conflicts with rule PortForwarding-2222 " \
                                "which has 2222-2222"


def test_what_does_not_conflict():
    assert not conflicts(rule(start=22), rule(start=23))
    assert not conflicts(rule(protocol="udp", start=53), rule(protocol="tcp", start=53))  # per protocol
    assert not conflicts(rule(start=22, cidrs="10.0.0.0/8"), rule(start=22, cidrs="192.0.2.0/24"))
    # A firewall rule opens ports; it never conflicts with what forwards them.
    assert not conflicts(rule("Firewall", start=20, end=30, cidrs="0.0.0.0/0"), rule(start=22))


def test_firewall_rules_conflict_on_the_same_sources_only():
    old = rule("Firewall", start=33, end=44, cidrs="0.0.0.0/0")
    assert conflicts(rule("Firewall", start=40, end=50, cidrs="0.0.0.0/0"), old)
    assert not conflicts(rule("Firewall", start=40, end=50, cidrs="192.0.2.0/24"), old)
    assert not conflicts(rule("Firewall", protocol="udp", start=40, end=50, cidrs="0.0.0.0/0"), old)
    everything = rule("Firewall", protocol="all", start=None, cidrs="0.0.0.0/0")
    everything.end_port = None
    again = rule("Firewall", protocol="all", start=None, cidrs="0.0.0.0/0")
    again.end_port = None
    assert conflicts(again, everything)


def test_static_nat_excludes_other_rules_and_networks_stay_apart():
    assert conflicts(rule(start=22), rule("StaticNat", start=80))
    assert conflicts(rule("StaticNat", start=80), rule(start=22))
    assert conflicts(rule(start=22, network=2), rule(start=80, network=1))


def test_port_ranges():
    assert check_range(20, None) == (20, 20)
    for start, end in ((0, 10), (10, 70000), (30, 20)):
        with pytest.raises(InvalidParameter):
            check_range(start, end)


def test_stickiness_parameters_in_every_form():
    assert params_of([{"name": "cookie-name", "value": "SRV"}]) == {"cookie-name": "SRV"}
    assert params_of([{"key": "expire", "value": "30m"}, {"key": "tablesize", "value": "100k"}]) == \
        {"expire": "30m", "tablesize": "100k"}
    assert params_of([{"nocache": "true"}]) == {"nocache": "true"}
