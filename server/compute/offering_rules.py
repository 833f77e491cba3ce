"""Rules service and disk offerings share: domain/zone visibility, storage and provisioning types,
what a domain admin may manage, and paging of offering lists (filtered in memory: offerings are few).

Visibility is stored as comma-separated internal ids (NULL = public / every zone), as upstream keeps it
in the offerings' details.
"""

from sqlalchemy import select

from ..core.errors import InvalidParameter, PermissionDenied
from ..core.listing import domain_paths, page_bounds
from ..core.render import ListResult
from ..iam.models import Domain
from ..infra.models import DataCenter

STORAGE_TYPES = ("shared", "local")
PROVISIONING_TYPES = ("thin", "sparse", "fat")
ACTIVE, INACTIVE = "Active", "Inactive"
# Deployment planners a management server ships (upstream listDeploymentPlanners).
PLANNERS = ("FirstFitPlanner", "UserDispersingPlanner", "UserConcentratedPodPlanner",
            "ImplicitDedicationPlanner", "SkipHeuresticsPlanner")


def to_csv(rows) -> str | None:
    ids = sorted({row.id for row in rows or ()})
    return ",".join(str(i) for i in ids) if ids else None


def from_csv(text: str | None) -> list[int]:
    return [int(item) for item in text.split(",") if item] if text else []


def storage_type(value: str | None) -> str:
    if value is None or value == "":
        return "shared"
    if value.lower() not in STORAGE_TYPES:
        raise InvalidParameter(f"Invalid storage type {value} specified, valid types are: 'local' and "
                               "'shared'")
    return value.lower()


def provisioning_type(value: str | None) -> str:
    if value is None or value == "":
        return "thin"
    if value.lower() not in PROVISIONING_TYPES:
        raise InvalidParameter(f"Invalid provisioning type {value}; valid types are thin, sparse and fat")
    return value.lower()


def visible(ctx, domain_csv: str | None) -> bool:
    """May the caller use an offering limited to these domains? Users see their domain's offerings and
    those of its parents; a domain admin also those of its sub-domains."""
    caller = ctx.caller
    if not domain_csv or caller.is_root_admin or caller.is_system:
        return True
    paths = domain_paths(ctx)
    own = paths[caller.domain_id][0]
    for domain_id in from_csv(domain_csv):
        path = paths.get(domain_id, (None,))[0]
        if path is None:
            continue
        if own.startswith(path) or (caller.is_domain_admin and path.startswith(own)):
            return True
    return False


def for_domain(ctx, domain_csv: str | None, domain: Domain, recursive: bool) -> bool:
    """The `domainid` filter of the list commands: offerings dedicated to that domain (or below it)."""
    ids = from_csv(domain_csv)
    if not recursive:
        return domain.id in ids
    paths = domain_paths(ctx)
    return any(paths.get(i, ("",))[0].startswith(domain.path) for i in ids)


def in_zone(zone_csv: str | None, zone: DataCenter) -> bool:
    return not zone_csv or zone.id in from_csv(zone_csv)


def check_manageable(ctx, domains: list[Domain] | None, what: str) -> None:
    """Domain admins manage offerings of their own sub-tree only, and never public ones."""
    caller = ctx.caller
    if caller.is_root_admin or caller.is_system:
        return
    if not domains:
        raise InvalidParameter(f"Unable to create public {what} by admin: {caller.user_uuid} because it is "
                               "domain-admin")
    for domain in domains:
        if not domain.path.startswith(caller.domain_path):
            raise PermissionDenied(f"Unable to create {what} by another domain-admin: {caller.user_uuid} for "
                                   f"domain: {domain.uuid}")


def check_owned(ctx, domain_csv: str | None, what: str) -> None:
    """May the caller change or delete this offering?"""
    caller = ctx.caller
    if caller.is_root_admin or caller.is_system:
        return
    paths = domain_paths(ctx)
    ids = from_csv(domain_csv)
    if not ids or any(not paths.get(i, ("",))[0].startswith(caller.domain_path) for i in ids):
        raise PermissionDenied(f"Account {caller.account_name} does not have permission to change this "
                               f"{what}")


def parse_domains(ctx, value: str | None) -> list[Domain] | None:
    """updateServiceOffering/updateDiskOffering `domainid`: uuids, or "public" (returns [])."""
    if value is None:
        return None
    if value.strip().lower() == "public":
        return []
    return [_by_uuid(ctx, Domain, item, "domain") for item in value.split(",") if item.strip()]


def parse_zones(ctx, value: str | None) -> list[DataCenter] | None:
    """The update commands' `zoneid`: uuids, or "all" (returns [])."""
    if value is None:
        return None
    if value.strip().lower() == "all":
        return []
    return [_by_uuid(ctx, DataCenter, item, "zone") for item in value.split(",") if item.strip()]


def _by_uuid(ctx, model, value: str, what: str):
    row = ctx.db.scalars(select(model).where(model.uuid == value.strip(), model.removed.is_(None))).first()
    if row is None:
        raise InvalidParameter(f"Please specify a valid {what} id")
    return row


def state_wanted(value: str | None) -> str | None:
    """List commands show Active offerings unless asked for Inactive ones or "all" (None)."""
    if value is None or value == "":
        return ACTIVE
    if value.lower() == "all":
        return None
    for state in (ACTIVE, INACTIVE):
        if value.lower() == state.lower():
            return state
    raise InvalidParameter(f"Invalid state {value}; valid values are Active, Inactive and all")


def page_rows(ctx, p, rows: list, render) -> ListResult:
    """One page of rows already filtered in memory; `render` turns the page's rows into dicts at once."""
    limit, offset = page_bounds(ctx, p)
    page = rows[offset:] if limit is None else rows[offset:offset + limit]
    return ListResult(render(page), len(rows))


def keyword_match(keyword: str | None, *texts: str | None) -> bool:
    if not keyword:
        return True
    lowered = keyword.lower()
    return any(text and lowered in text.lower() for text in texts)


def save_details(ctx, model, offering_id: int, details: dict[str, str]) -> None:
    for key, value in details.items():
        ctx.db.add(model(offering_id=offering_id, name=key, value=str(value)))
