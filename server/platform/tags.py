"""Resource tags: key/value pairs on any taggable resource, and the helpers list commands use.

Taggable resource types form a registry (`register_taggable("Volume", Volume)`), matched
case-insensitively as upstream does ("userVm" and "UserVm" are the same type). A tag belongs to the
resource's owner (the SYSTEM account for unowned resources such as zones and offerings), so a user may
tag only what it owns and only admins may tag what nobody owns.

For list commands: `tag_filter` restricts a query to rows carrying all the `tags[i].key/value` pairs
asked for; `tags_for` / `fill_tags` answer the tags of a page of rows in one query.
"""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, delete, exists, func, or_, select

from ..core.auth import SYSTEM_ACCOUNT_ID
from ..core.db import prebuilt
from ..core.errors import ApiError, InternalError, InvalidParameter, PermissionDenied
from ..core.listing import check_owner, owner_filter, paged
from ..core.params import LIST, MAP, STRING, UUID, Param
from ..core.registry import command
from ..core.render import ListResult
from ..core.responses import describe
from ..iam.models import Account, Domain
from ..iam.owners import owner_fields, with_owner
from .models import ResourceTag

ROOT_DOMAIN_ID = 1
MAX_KEY_LENGTH = 255


@dataclass(frozen=True, slots=True)
class Taggable:
    name: str  # the canonical resource type, as stored and answered ("UserVm")
    model: Any
    where: tuple = ()  # extra conditions telling this type's rows apart (VMs of type User, ISOs, ...)


TAGGABLE: dict[str, Taggable] = {}


def register_taggable(name: str, model: Any, *where) -> None:
    """Make a resource type taggable; `where` narrows a shared table (`VMTemplate.format == "ISO"`)."""
    TAGGABLE[name.lower()] = Taggable(name, model, tuple(where))


def taggable(resource_type: str) -> Taggable:
    kind = TAGGABLE.get((resource_type or "").lower())
    if kind is None:
        raise InvalidParameter(f"Invalid resource type {resource_type}")
    return kind


def _register_builtins() -> None:
    """The types whose tables exist today; later modules add theirs with `register_taggable`."""
    from ..compute.models import USER_VM, DiskOffering, ServiceOffering, SSHKeyPair, UserData, VMInstance
    from ..iam.models import User
    from ..infra.models import DataCenter, PublicIp
    from ..network.models import Network
    from ..storage.models import Snapshot, StoragePool, VMSnapshot, VMTemplate, Volume

    register_taggable("UserVm", VMInstance, VMInstance.type == USER_VM)
    register_taggable("Template", VMTemplate, VMTemplate.format != "ISO")
    register_taggable("ISO", VMTemplate, VMTemplate.format == "ISO")
    for name, model in (("Volume", Volume), ("Snapshot", Snapshot), ("VMSnapshot", VMSnapshot),
                        ("Network", Network), ("PublicIpAddress", PublicIp), ("Zone", DataCenter),
                        ("ServiceOffering", ServiceOffering), ("DiskOffering", DiskOffering),
                        ("Storage", StoragePool), ("Account", Account), ("Domain", Domain), ("User", User),
                        # Not taggable upstream; harmless extras that let users tag what they own today.
                        ("UserData", UserData), ("SSHKeyPair", SSHKeyPair)):
        register_taggable(name, model)


_register_builtins()


# ---- resources and their owners --------------------------------------------------------------

def find_resource(ctx, kind: Taggable, resource_id: str) -> Any:
    """A live row of the type by UUID (or internal id, as upstream also accepts)."""
    model = kind.model
    match = model.uuid == resource_id
    if resource_id.isdigit() and len(resource_id) < 19:
        match = or_(match, model.id == int(resource_id))
    query = select(model).where(match, *kind.where)
    if hasattr(model, "removed"):
        query = query.where(model.removed.is_(None))
    row = ctx.db.scalars(query).first()
    if row is None:
        raise InvalidParameter(f"Unable to find resource by id {resource_id} and type {kind.name}")
    return row


def resource_owner(ctx, row: Any) -> tuple[int, int]:
    """(account id, domain id) a tag on this row belongs to."""
    if isinstance(row, Account):
        return row.id, row.domain_id
    if isinstance(row, Domain):
        return SYSTEM_ACCOUNT_ID, row.id
    account_id = getattr(row, "account_id", None)
    domain_id = getattr(row, "domain_id", None)
    if account_id is None:
        return SYSTEM_ACCOUNT_ID, domain_id or ROOT_DOMAIN_ID
    if domain_id is None:
        domain_id = ctx.db.get(Account, account_id).domain_id
    return account_id, domain_id


def tag_pairs(entries: Any) -> list[tuple[str, str | None]]:
    """A tags MAP parameter (`tags[0].key=k&tags[0].value=v`, or `tags[0].k=v`), or a dict, as pairs."""
    if not entries:
        return []
    if isinstance(entries, dict):
        return list(entries.items())
    pairs: list[tuple[str, str | None]] = []
    for entry in entries:
        if "key" in entry:
            pairs.append((entry["key"], entry.get("value")))
        else:
            pairs.extend(entry.items())
    return pairs


# ---- helpers for other modules' list commands ------------------------------------------------

def tag_filter(ctx, query, model: Any, resource_type: str, tags: Any):
    """Keep rows that carry every key/value pair of `tags` (a pair without value matches the key)."""
    kind = taggable(resource_type)
    for key, value in tag_pairs(tags):
        match = [ResourceTag.resource_id == model.id, ResourceTag.resource_type == kind.name,
                 ResourceTag.key == key]
        if value is not None:
            match.append(ResourceTag.value == value)
        query = query.where(exists(select(ResourceTag.id).where(*match)))
    return query


def tags_for(ctx, resource_type: str, ids: list[int]) -> dict[int, list[dict]]:
    """{resource id: [tag objects]} for a page of rows, in one query."""
    answer: dict[int, list[dict]] = {i: [] for i in ids}
    if not ids:
        return answer
    kind = taggable(resource_type)
    query = prebuilt("tags.for", lambda: with_owner(ResourceTag).where(
        ResourceTag.resource_type == bindparam("type"),
        ResourceTag.resource_id.in_(bindparam("ids", expanding=True))).order_by(ResourceTag.id))
    for row in ctx.db.execute(query, {"type": kind.name, "ids": list(ids)}):
        answer[row[0].resource_id].append(tag_view(*row))
    return answer


def fill_tags(ctx, resource_type: str, result: ListResult | list[dict]):
    """Set `tags` on rendered objects (keyed by their `id` UUID), one query for the whole page."""
    items = result.items if isinstance(result, ListResult) else result
    uuids = [item["id"] for item in items]
    found: dict[str, list[dict]] = {u: [] for u in uuids}
    if uuids:
        kind = taggable(resource_type)
        query = with_owner(ResourceTag).where(ResourceTag.resource_type == kind.name,
                                              ResourceTag.resource_uuid.in_(uuids)).order_by(ResourceTag.id)
        for row in ctx.db.execute(query):
            found[row[0].resource_uuid].append(tag_view(*row))
    for item in items:
        item["tags"] = found[item["id"]]
    return result


def drop_tags(ctx, resource_type: str, resource_id: int) -> None:
    """Remove a deleted resource's tags."""
    kind = taggable(resource_type)
    ctx.db.execute(delete(ResourceTag).where(ResourceTag.resource_type == kind.name,
                                             ResourceTag.resource_id == resource_id))


def tag_view(tag: ResourceTag, account_name: str, domain_uuid: str, domain_name: str) -> dict:
    return {"key": tag.key, "value": tag.value, "resourcetype": tag.resource_type,
            "resourceid": tag.resource_uuid, **owner_fields(account_name, domain_uuid, domain_name),
            "customer": tag.customer}


# ---- commands -------------------------------------------------------------------------------

def check_tag(key: str, value: str | None) -> None:
    if not key:
        raise InvalidParameter("Tag key can't be empty")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidParameter(f"Tag key {key[:40]}... is longer than {MAX_KEY_LENGTH} characters")
    if not value:
        raise InvalidParameter(f"Value for the key {key} is either null or empty")
    if len(value) > MAX_KEY_LENGTH:
        raise InvalidParameter(f"Value for the key {key} is longer than {MAX_KEY_LENGTH} characters")


def check_may_tag(ctx, owner: tuple[int, int], resource_id: str, key: str) -> None:
    try:
        check_owner(ctx, *owner)
    except PermissionDenied:
        raise PermissionDenied(f"Account '{ctx.caller.account_name}' doesn't have permissions to create tags "
                               f"for resource '{resource_id}({key})'.") from None


def add_tag(ctx, kind: Taggable, row: Any, resource_id: str, key: str, value: str, customer) -> None:
    owner = resource_owner(ctx, row)
    check_may_tag(ctx, owner, resource_id, key)
    taken = ctx.db.scalar(select(ResourceTag.id).where(
        ResourceTag.resource_type == kind.name, ResourceTag.resource_id == row.id,
        func.lower(ResourceTag.key) == key.lower()))
    if taken:
        # A CloudRuntimeException upstream (530).
        raise ApiError(f"tag {key} already on {kind.name} with id {resource_id}")
    ctx.db.add(ResourceTag(key=key, value=value, resource_type=kind.name, resource_id=row.id,
                           resource_uuid=row.uuid, account_id=owner[0], domain_id=owner[1],
                           customer=customer))
    ctx.db.flush()


@command("createTags", isasync=True, params=[
    Param("resourceids", LIST, required=True, description="list of resources to create the tags for"),
    Param("resourcetype", STRING, required=True, description="type of the resource"),
    Param("tags", MAP, required=True, description="Map of tags (key/value pairs)"),
    Param("customer", STRING, description="identifies client specific tag. When the value is not null, the "
                                          "tag can't be used by cloudStack code internally"),
])
def create_tags(ctx, p):
    """Creates resource tag(s)"""
    kind = taggable(p.resourcetype)
    pairs = tag_pairs(p.tags)
    for key, value in pairs:
        check_tag(key, value)
    rows = {rid: find_resource(ctx, kind, rid) for rid in p.resourceids}
    for key, value in pairs:
        for rid, row in rows.items():
            add_tag(ctx, kind, row, rid, key, value, p.customer)
    ctx.event("CREATE_TAGS", f"Created tags {', '.join(k for k, _ in pairs)} on {kind.name} "
              f"{', '.join(rows)}", resource_type=kind.name)
    return {"success": True}


def matches(tag: ResourceTag, pairs: list[tuple[str, str | None]]) -> bool:
    """Upstream compares keys and values case-insensitively; no pairs means every tag."""
    if not pairs:
        return True
    return any(tag.key.lower() == key.lower()
               and (value is None or (tag.value or "").lower() == value.lower())
               for key, value in pairs)


@command("deleteTags", isasync=True, params=[
    Param("resourceids", LIST, required=True, description="Delete tags for resource id(s)"),
    Param("resourcetype", STRING, required=True, description="Delete tag by resource type"),
    Param("tags", MAP, description="Delete tags matching key/value pairs"),
])
def delete_tags(ctx, p):
    """Deleting resource tag(s)"""
    kind = taggable(p.resourcetype)
    rows = [find_resource(ctx, kind, rid) for rid in p.resourceids]
    pairs = tag_pairs(p.tags)
    found = ctx.db.scalars(select(ResourceTag).where(ResourceTag.resource_type == kind.name,
                                                     ResourceTag.resource_id.in_([r.id for r in rows]))).all()
    doomed = [tag for tag in found if matches(tag, pairs)]
    if not doomed:
        raise InternalError("Failed to delete tags")
    for tag in doomed:
        if tag.account_id != ctx.caller.account_id:
            check_owner(ctx, tag.account_id, tag.domain_id)
    for tag in doomed:
        ctx.db.delete(tag)
    ctx.event("DELETE_TAGS", f"Deleted tags {', '.join(sorted({t.key for t in doomed}))} on {kind.name} "
              f"{', '.join(p.resourceids)}", resource_type=kind.name)
    return {"success": True}


@command("listTags", response="tag", listing="owned", params=[
    Param("resourceid", STRING, description="list by resource id"),
    Param("resourcetype", STRING, description="list by resource type"),
    Param("key", STRING, description="list by key"),
    Param("value", STRING, description="list by value"),
    Param("customer", STRING, description="list by customer name"),
    Param("projectid", UUID, description="list objects by project"),
])
def list_tags(ctx, p):
    """List resource tag(s)"""
    query = owner_filter(ctx, p, with_owner(ResourceTag), ResourceTag)
    if p.resourcetype:
        query = query.where(ResourceTag.resource_type == taggable(p.resourcetype).name)
    if p.resourceid:
        query = query.where(ResourceTag.resource_uuid == p.resourceid)
    for column, value in ((ResourceTag.key, p.key), (ResourceTag.value, p.value),
                          (ResourceTag.customer, p.customer)):
        if value:
            query = query.where(column == value)
    return paged(ctx, p, query, tag_view, keyword_columns=(ResourceTag.key, ResourceTag.value),
                 order_by=ResourceTag.id)


describe("tag", {
    "key": "tag key name", "value": "tag value", "resourcetype": "resource type",
    "resourceid": "id of the resource", "account": "the account associated with the tag",
    "domainid": "the ID of the domain associated with the tag",
    "domain": "the domain associated with the tag",
    "customer": "customer associated with the tag",
})
