"""The seams between VM/volume orchestration and the domains it uses but does not own: guest networks,
resource limits and resource tags.

Those modules are imported lazily, at call time, so compute never imports network at load time (network
imports compute's models) and so this one file is where their interfaces are adapted.
"""

from __future__ import annotations

import importlib
from typing import Any


def _module(name: str) -> Any | None:
    """The peer module when it is there and implements what we call, else None."""
    try:
        return importlib.import_module(f"sandstack.{name}")
    except ImportError:
        return None


def _call(module_name: str, function: str) -> Any | None:
    module = _module(module_name)
    return getattr(module, function, None) if module is not None else None


# ---- guest networks -----------------------------------------------------------------------------

def networks_available() -> bool:
    return _call("network.guest", "allocate_nics") is not None


def vm_networks(ctx, zone, owner, network_rows) -> list:
    function = _call("network.guest", "vm_networks")
    return function(ctx, zone, owner, network_rows) if function else []


def allocate_nics(ctx, vm, networks, ip_address=None, ip_map=None) -> list:
    function = _call("network.guest", "allocate_nics")
    return function(ctx, vm, networks, ip_address=ip_address, ip_map=ip_map) if function and networks else []


async def prepare_networks(ctx, vm) -> None:
    function = _call("network.guest", "prepare_networks")
    if function:
        await function(ctx, vm)


def release_nics(ctx, vm) -> None:
    function = _call("network.guest", "release_nics")
    if function:
        function(ctx, vm)


def nic_views(ctx, vm_ids: list[int]) -> dict[int, list[dict]]:
    function = _call("network.guest", "nic_views")
    return function(ctx, vm_ids) if function and vm_ids else {}


# ---- resource limits ----------------------------------------------------------------------------
# Resource types as upstream names them (Resource.ResourceType): user_vm, cpu, memory (MiB), volume,
# primary_storage (bytes), snapshot, secondary_storage (bytes).

def reserve_limit(ctx, account_id: int, resource_type: str, amount: int) -> None:
    """Count `amount` against the account (and its domains), or raise ResourceLimitExceeded (532)."""
    function = _call("iam.limits", "reserve")
    if function and amount:
        function(ctx, account_id, resource_type, amount)


def release_limit(ctx, account_id: int, resource_type: str, amount: int) -> None:
    function = _call("iam.limits", "release")
    if function and amount:
        function(ctx, account_id, resource_type, amount)


def reserve_limits(ctx, account_id: int, amounts: list[tuple[str, int]]) -> None:
    """Several types in one pass (e.g. a new VM's user_vm, cpu, memory, volume, primary_storage): all or
    nothing, ResourceLimitExceeded (532) naming the first type that does not fit."""
    function = _call("iam.limits", "reserve_many")
    if function and any(amount for _, amount in amounts):
        function(ctx, account_id, amounts)


def release_limits(ctx, account_id: int, amounts: list[tuple[str, int]]) -> None:
    function = _call("iam.limits", "release_many")
    if function and any(amount for _, amount in amounts):
        function(ctx, account_id, amounts)


# ---- resource tags ------------------------------------------------------------------------------

def tag_filter(ctx, query, model, resource_type: str, tags):
    """Restrict a list query to rows carrying every `tags[i].key=value` (listVirtualMachines tags=...)."""
    function = _call("platform.tags", "tag_filter")
    if function is None or not tags:
        return query
    return function(ctx, query, model, resource_type, tags)


def tags_for(ctx, resource_type: str, ids: list[int]) -> dict[int, list[dict]]:
    function = _call("platform.tags", "tags_for")
    return function(ctx, resource_type, ids) if function and ids else {}


def drop_tags(ctx, resource_type: str, resource_id: int) -> None:
    function = _call("platform.tags", "drop_tags")
    if function:
        function(ctx, resource_type, resource_id)
