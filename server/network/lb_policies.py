"""Stickiness and health check policies of load balancing rules (one of each per rule), applied with the
rule's haproxy configuration."""

import json

from sqlalchemy import select

from ..core.errors import InvalidParameter
from ..core.listing import check_owner
from ..core.params import BOOLEAN, INTEGER, MAP, STRING, UUID, Param
from ..core.registry import command
from . import rule_views as views
from . import rules
from .models import FirewallRule, LBHealthCheckPolicy, LBStickinessPolicy, Network

# The virtual router's (haproxy's) stickiness methods and the parameters each takes.
STICKINESS_METHODS = {
    "LbCookie": ("cookie-name", "mode", "nocache", "indirect", "postonly", "domain"),
    "AppCookie": ("cookie-name", "length", "holdtime", "request-learn", "prefix", "mode"),
    "SourceBased": ("tablesize", "expire"),
}


def lb_rule(rule: FirewallRule) -> FirewallRule:
    return rules.check_revocable(rule, rules.LOAD_BALANCING)


def policy_rule(ctx, policy) -> FirewallRule:
    """The rule a policy belongs to, once the caller may act on it (policies carry no owner)."""
    rule = ctx.db.get(FirewallRule, policy.load_balancer_id)
    check_owner(ctx, rule.account_id, rule.domain_id)
    return rule


def params_of(entries) -> dict[str, str]:
    """param[0].name=cookie-name&param[0].value=x (upstream's form), param[0].key=... (a map sent as key and
    value), or param[0].cookie-name=x."""
    found: dict[str, str] = {}
    for entry in entries or ():
        lowered = {k.lower(): v for k, v in entry.items()}
        name = lowered.get("name", lowered.get("key"))
        if name is not None and "value" in lowered and len(lowered) == 2:
            found[name] = lowered["value"]
        else:
            found.update(lowered)
    return found


async def apply_policy(ctx, rule: FirewallRule, policy, what: str) -> None:
    """Apply the rule with the new policy; a policy the router refused is taken out again."""
    try:
        await rules.apply(ctx, ctx.db.get(Network, rule.network_id), rules.LOAD_BALANCING)
    except Exception:
        ctx.db.query(type(policy)).filter(type(policy).id == policy.id).delete()
        ctx.commit()
        raise
    ctx.event(f"LB.{what}.CREATE", f"{what.capitalize()} policy created for load balancer rule {rule.uuid}",
              resource_type="LoadBalancer", resource_id=rule.uuid, account_id=rule.account_id,
              domain_id=rule.domain_id)


def live_policies(ctx, model, rule: FirewallRule) -> list:
    return list(ctx.db.scalars(select(model).where(model.load_balancer_id == rule.id).order_by(model.id)))


# ---- stickiness ---------------------------------------------------------------------------------------

def make_stickiness(ctx, p) -> LBStickinessPolicy:
    rule = lb_rule(p.lbruleid)
    method = next((m for m in STICKINESS_METHODS if m.lower() == (p.methodname or "").lower()), None)
    if method is None:
        raise InvalidParameter(f"Failed to create Stickiness policy: Method name {p.methodname} is not "
                               f"supported; supported methods are {', '.join(STICKINESS_METHODS)}")
    params = params_of(p.param)
    unknown = [name for name in params if name not in STICKINESS_METHODS[method]]
    if unknown:
        raise InvalidParameter(f"Failed : Stickiness policy does not support param name :{unknown[0]}")
    if any(policy.state != rules.REVOKE for policy in live_policies(ctx, LBStickinessPolicy, rule)):
        raise InvalidParameter(f"Failed to create Stickiness policy: load balancer rule {rule.uuid} already "
                               "has a stickiness policy")
    policy = LBStickinessPolicy(load_balancer_id=rule.id, name=p.name, description=p.description,
                                method_name=method, params=json.dumps(params) if params else None,
                                for_display=p.fordisplay is not False)
    ctx.db.add(policy)
    return policy


@command("createLBStickinessPolicy", isasync=True, response="stickinesspolicies", create=make_stickiness,
         instance_type="LoadBalancer", params=[
             Param("lbruleid", UUID, entity=FirewallRule, required=True, description="the ID of the load "
                                                                                     "balancer rule"),
             Param("name", STRING, required=True, description="name of the load balancer stickiness policy"),
             Param("methodname", STRING, required=True, description="name of the load balancer stickiness "
                                                                    "policy method, possible values can be "
                                                                    "obtained from listNetworks API"),
             Param("description", STRING,
                   description="the description of the load balancer stickiness policy"),
             Param("param", MAP, description="param list. Example: param[0].name=cookiename&param[0].value="
                                             "LBCookie"),
             Param("fordisplay", BOOLEAN, description="an optional field, whether to the display the rule to "
                                                      "the end user or not"),
         ])
async def create_lb_stickiness_policy(ctx, p):
    """Creates a load balancer stickiness policy"""
    policy = ctx.created
    rule = ctx.db.get(FirewallRule, policy.load_balancer_id)
    await apply_policy(ctx, rule, policy, "STICKINESSPOLICY")
    ctx.db.refresh(policy)
    return views.stickiness(ctx, rule, [policy])


@command("deleteLBStickinessPolicy", isasync=True, instance_type="LoadBalancer", params=[
    Param("id", UUID, entity=LBStickinessPolicy, required=True, description="the ID of the LB stickiness "
                                                                            "policy"),
])
async def delete_lb_stickiness_policy(ctx, p):
    """Deletes a load balancer stickiness policy."""
    await revoke_policy(ctx, p.id)
    return {"success": True}


async def revoke_policy(ctx, policy) -> None:
    rule = policy_rule(ctx, policy)
    policy.state = rules.REVOKE
    try:
        await rules.apply(ctx, ctx.db.get(Network, rule.network_id), rules.LOAD_BALANCING)
    except Exception:
        ctx.db.refresh(policy)
        policy.state = rules.ACTIVE
        ctx.commit()
        raise


POLICY_LIST = [
    Param("lbruleid", UUID, entity=FirewallRule, description="the ID of the load balancer rule"),
    Param("fordisplay", BOOLEAN, description="list resources by display flag; only ROOT admin is eligible to "
                                             "pass this parameter"),
]


def wanted(p, policy) -> bool:
    return (p.id is None or policy.id == p.id.id) and \
        (p.fordisplay is None or policy.for_display == p.fordisplay)


def listed_rule(ctx, p, model):
    if p.id is not None:
        return policy_rule(ctx, p.id)
    if p.lbruleid is None:
        raise InvalidParameter("Either lbruleid or id must be specified")
    return lb_rule(p.lbruleid)


@command("listLBStickinessPolicies", response="stickinesspolicies", listing="list", params=[
    *POLICY_LIST,
    Param("id", UUID, entity=LBStickinessPolicy, description="the ID of the load balancer stickiness policy"),
])
def list_lb_stickiness_policies(ctx, p):
    """Lists load balancer stickiness policies."""
    from ..core.render import ListResult

    rule = listed_rule(ctx, p, LBStickinessPolicy)
    policies = [x for x in live_policies(ctx, LBStickinessPolicy, rule) if wanted(p, x)]
    return ListResult([views.stickiness(ctx, rule, policies)], 1)


# ---- health checks --------------------------------------------------------------------------------

def make_health_check(ctx, p) -> LBHealthCheckPolicy:
    rule = lb_rule(p.lbruleid)
    response = 2 if p.responsetime is None else p.responsetime
    interval = 5 if p.intervaltime is None else p.intervaltime
    healthy = 2 if p.healthythreshold is None else p.healthythreshold
    unhealthy = 10 if p.unhealthythreshold is None else p.unhealthythreshold
    if min(response, interval, healthy, unhealthy) < 1:
        raise InvalidParameter("Health check times and thresholds must be positive numbers")
    if interval <= response:
        raise InvalidParameter(f"Failed to create HealthCheck policy: the interval time ({interval}s) must "
                               f"be greater than the response time ({response}s)")
    if any(policy.state != rules.REVOKE for policy in live_policies(ctx, LBHealthCheckPolicy, rule)):
        raise InvalidParameter(f"Failed to create HealthCheck policy: load balancer rule {rule.uuid} already "
                               "has a health check policy")
    policy = LBHealthCheckPolicy(load_balancer_id=rule.id, ping_path=p.pingpath or "/",
                                 description=p.description, response_time=response, interval=interval,
                                 healthy_threshold=healthy, unhealthy_threshold=unhealthy,
                                 for_display=p.fordisplay is not False)
    ctx.db.add(policy)
    return policy


@command("createLBHealthCheckPolicy", isasync=True, response="healthcheckpolicies", create=make_health_check,
         instance_type="LoadBalancer", params=[
             Param("lbruleid", UUID, entity=FirewallRule, required=True, description="the ID of the load "
                                                                                     "balancer rule"),
             Param("pingpath", STRING, description="HTTP ping path"),
             Param("description", STRING, description="the description of the load balancer health check "
                                                      "policy"),
             Param("responsetime", INTEGER, description="Time to wait when receiving a response from the "
                                                        "health check (2sec - 60 sec)"),
             Param("intervaltime", INTEGER, description="Amount of time between health checks (1 sec - 20940 "
                                                        "sec)"),
             Param("healthythreshold", INTEGER,
                   description="Number of consecutive health check success before declaring an instance "
                               "healthy"),
             Param("unhealthythreshold", INTEGER, description="Number of consecutive health check failures "
                                                              "before declaring an instance unhealthy"),
             Param("fordisplay", BOOLEAN, description="an optional field, whether to the display the rule to "
                                                      "the end user or not"),
         ])
async def create_lb_health_check_policy(ctx, p):
    """Creates a load balancer health check policy"""
    policy = ctx.created
    rule = ctx.db.get(FirewallRule, policy.load_balancer_id)
    await apply_policy(ctx, rule, policy, "HEALTHCHECKPOLICY")
    ctx.db.refresh(policy)
    return views.health_checks(ctx, rule, [policy])


@command("deleteLBHealthCheckPolicy", isasync=True, instance_type="LoadBalancer", params=[
    Param("id", UUID, entity=LBHealthCheckPolicy, required=True,
          description="the ID of the load balancer health check policy"),
])
async def delete_lb_health_check_policy(ctx, p):
    """Deletes a load balancer health check policy."""
    await revoke_policy(ctx, p.id)
    return {"success": True}


@command("listLBHealthCheckPolicies", response="healthcheckpolicies", listing="list", params=[
    *POLICY_LIST,
    Param("id", UUID, entity=LBHealthCheckPolicy, description="the ID of the health check policy"),
])
def list_lb_health_check_policies(ctx, p):
    """Lists load balancer health check policies."""
    from ..core.render import ListResult

    rule = listed_rule(ctx, p, LBHealthCheckPolicy)
    policies = [x for x in live_policies(ctx, LBHealthCheckPolicy, rule) if wanted(p, x)]
    return ListResult([views.health_checks(ctx, rule, policies)], 1)
