"""The command registry: every API command is declared here once, by the `command` decorator.

The declaration drives dispatch, parameter validation, `listApis`, role checks and the coverage
report. Nothing else lists commands.
"""

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .params import BOOLEAN, INTEGER, STRING, UUID, Param

# Role types (upstream RoleType).
ADMIN = "Admin"
RESOURCE_ADMIN = "ResourceAdmin"
DOMAIN_ADMIN = "DomainAdmin"
USER = "User"

ROOT_ONLY = frozenset({ADMIN})
ADMINS = frozenset({ADMIN, RESOURCE_ADMIN, DOMAIN_ADMIN})
ALL_ROLES = frozenset({ADMIN, RESOURCE_ADMIN, DOMAIN_ADMIN, USER})

# The modules whose import declares commands, one per domain.
COMMAND_MODULES = (
    "sandstack.iam.commands",
    "sandstack.platform.commands",
    "sandstack.infra.regions",
    "sandstack.infra.zones",
    "sandstack.infra.physical_networks",
    "sandstack.infra.providers",
    "sandstack.infra.pods",
    "sandstack.infra.ipranges",
    "sandstack.infra.clusters",
    "sandstack.infra.hosts",
    "sandstack.infra.capacity",
    "sandstack.infra.system_vms",
    "sandstack.storage.pools",
    "sandstack.storage.image_stores",
    "sandstack.storage.templates",
    "sandstack.storage.os_types",
    "sandstack.hypervisors.commands",
    "sandstack.compute.offerings",
    "sandstack.compute.ssh_keys",
    "sandstack.compute.userdata",
    "sandstack.platform.tags",
    "sandstack.iam.limits",
    "sandstack.network.offerings",
    "sandstack.network.networks",
    "sandstack.network.routers",
    "sandstack.network.vpc_offerings",
    "sandstack.network.ips",
    "sandstack.network.nat",
    "sandstack.network.firewall",
    "sandstack.network.load_balancer",
    "sandstack.network.lb_policies",
    "sandstack.network.security_groups",
    "sandstack.compute.vms",
    "sandstack.compute.vm_changes",
    "sandstack.compute.affinity",
    "sandstack.storage.volumes",
    "sandstack.storage.snapshots",
    "sandstack.storage.vm_snapshots",
)


@dataclass(slots=True)
class Command:
    name: str
    handler: Callable
    params: list[Param]
    isasync: bool = False
    # The object key of the answer ("zone" in {"listzonesresponse": {"zone": [...]}}); None when the
    # handler's fields go directly into the response (success answers, login).
    response: str | None = None
    roles: frozenset[str] = ALL_ROLES
    description: str = ""
    since: str | None = None
    related: tuple[str, ...] = ()
    # "list": a paged list; "owned": a paged list of account-owned rows (visibility parameters).
    listing: str | None = None
    # Async create commands: run in the request, returns the new row whose uuid is answered as `id`.
    create: Callable | None = None
    # The jobinstancetype reported for this command's jobs (VirtualMachine, Volume, ...).
    instance_type: str | None = None
    # Response fields for inline answers (listApis): {name: description}.
    fields: dict[str, str] = field(default_factory=dict)
    by_key: dict[str, Param] = field(default_factory=dict)
    map_params: set[str] = field(default_factory=set)

    @property
    def response_name(self) -> str:
        return self.name.lower() + "response"


REGISTRY: dict[str, Command] = {}

# Parameters CloudStack adds to every list command (BaseListCmd) ...
LIST_PARAMS = (
    Param("keyword", STRING, description="List by keyword"),
    Param("page", INTEGER, description=""),
    Param("pagesize", INTEGER, description=""),
)
# ... and to lists of account-owned resources (BaseListAccountResourcesCmd, BaseListProjectAndAccountResourcesCmd).
OWNED_LIST_PARAMS = (
    Param("account", STRING, description="list resources by account. Must be used with the domainId parameter."),
    Param("domainid", UUID, entity="Domain",
          description="list only resources belonging to the domain specified"),
    Param("isrecursive", BOOLEAN,
          description="defaults to false, but if true, lists all resources from the parent specified by "
                      "the domainId till leaves."),
    Param("listall", BOOLEAN,
          description="If set to false, list only resources belonging to the command's caller; if set to "
                      "true - list resources that the caller is authorized to see. Default value is false"),
)


def command(name: str, *, params: list[Param] = (), isasync: bool = False, response: str | None = None,
            roles: frozenset[str] = ALL_ROLES, description: str = "", since: str | None = None,
            related: tuple[str, ...] = (), listing: str | None = None, create: Callable | None = None,
            instance_type: str | None = None, fields: dict[str, str] | None = None) -> Callable:
    """Declare an API command. The decorated function is called as `handler(ctx, p)`."""

    def declare(handler: Callable) -> Callable:
        if name in REGISTRY:
            raise ValueError(f"command {name} declared twice")
        declared = list(params)
        if listing:
            names = {p.key for p in declared}
            extra = LIST_PARAMS + (OWNED_LIST_PARAMS if listing == "owned" else ())
            declared += [p for p in extra if p.key not in names]
        REGISTRY[name] = Command(
            name=name, handler=handler, params=declared, isasync=isasync, response=response,
            roles=roles, description=description or (handler.__doc__ or "").strip().split("\n")[0],
            since=since, related=related, listing=listing, create=create, instance_type=instance_type,
            fields=fields or {}, by_key={p.key: p for p in declared},
            map_params={p.key for p in declared if p.type == "map"},
        )
        return handler

    return declare


# Models no command module imports directly (so the schema always has their tables).
MODEL_MODULES = (
    "sandstack.compute.models",
    "sandstack.storage.models",
    "sandstack.network.models",
    "sandstack.platform.models",
    "sandstack.usage.models",
)

_loaded = False


def load() -> dict[str, Command]:
    """Import every domain's command module (once) and resolve entity names to model classes."""
    global _loaded
    if not _loaded:
        for module in MODEL_MODULES + COMMAND_MODULES:
            importlib.import_module(module)
        _resolve_entities()
        _loaded = True
    return REGISTRY


def _resolve_entities() -> None:
    from .db import Base

    models = {mapper.class_.__name__: mapper.class_ for mapper in Base.registry.mappers}
    for cmd in REGISTRY.values():
        for param in cmd.params:
            if isinstance(param.entity, str):
                param.entity = models.get(param.entity, param.entity)


def get(name: str) -> Any:
    return REGISTRY.get(name)
