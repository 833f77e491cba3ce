"""Guest OS types and categories (listOsTypes, listOsCategories) and the admin commands that add
user-defined guest OS types."""

from sqlalchemy import select

from ..core.db import now
from ..core.errors import InvalidParameter, ResourceInUse
from ..core.listing import paged
from ..core.params import BOOLEAN, MAP, STRING, UUID, Param
from ..core.registry import ROOT_ONLY, command
from ..core.responses import describe
from .models import GuestOs, GuestOsCategory, VMTemplate


def os_type(ctx, row: GuestOs) -> dict:
    category = ctx.db.get(GuestOsCategory, row.category_id)
    return {
        "id": row.uuid, "description": row.display_name, "name": row.display_name,
        "oscategoryid": category.uuid if category else None,
        "oscategoryname": category.name if category else None,
        "isuserdefined": row.is_user_defined, "fordisplay": True,
    }


@command("listOsTypes", response="ostype", listing="list", params=[
    Param("id", UUID, entity=GuestOs, description="list by Os type Id"),
    Param("oscategoryid", UUID, entity=GuestOsCategory, description="list by Os Category id"),
    Param("description", STRING, description="list os by description"),
    Param("fordisplay", BOOLEAN, since="4.18.1", description="list resources by display flag; only ROOT "
                                                              "admin is eligible to pass this parameter"),
])
def list_os_types(ctx, p):
    """Lists all supported OS types for this cloud."""
    query = select(GuestOs).where(GuestOs.removed.is_(None))
    if p.id is not None:
        query = query.where(GuestOs.id == p.id.id)
    if p.oscategoryid is not None:
        query = query.where(GuestOs.category_id == p.oscategoryid.id)
    if p.description:
        query = query.where(GuestOs.display_name == p.description)
    return paged(ctx, p, query, lambda row: os_type(ctx, row), keyword_columns=(GuestOs.display_name,),
                 order_by=GuestOs.id)


@command("listOsCategories", response="oscategory", listing="list", params=[
    Param("id", UUID, entity=GuestOsCategory, description="list Os category by id"),
    Param("name", STRING, since="3.0.1", description="list os category by name"),
])
def list_os_categories(ctx, p):
    """Lists all supported OS categories for this cloud."""
    query = select(GuestOsCategory).where(GuestOsCategory.removed.is_(None))
    if p.id is not None:
        query = query.where(GuestOsCategory.id == p.id.id)
    if p.name:
        query = query.where(GuestOsCategory.name == p.name)
    return paged(ctx, p, query, lambda row: {"id": row.uuid, "name": row.name},
                 keyword_columns=(GuestOsCategory.name,), order_by=GuestOsCategory.id)


def check_unique_name(ctx, name: str, exclude: int | None = None) -> None:
    query = select(GuestOs.id).where(GuestOs.display_name == name, GuestOs.removed.is_(None))
    if exclude is not None:
        query = query.where(GuestOs.id != exclude)
    if ctx.db.scalar(query.limit(1)) is not None:
        raise InvalidParameter(f"The specified Guest OS name : {name} already exists. Please specify a "
                               "unique name")


def create_guest_os(ctx, p) -> GuestOs:
    """The create step of addGuestOs (runs in the request, so the answer carries the new id)."""
    check_unique_name(ctx, p.osdisplayname)
    row = GuestOs(category_id=p.oscategoryid.id, display_name=p.osdisplayname, is_user_defined=True)
    ctx.db.add(row)
    return row


@command("addGuestOs", isasync=True, response="guestos", roles=ROOT_ONLY, create=create_guest_os,
         instance_type="GuestOs", params=[
             Param("oscategoryid", UUID, entity=GuestOsCategory, required=True, description="ID of Guest OS "
                                                                                            "category"),
             Param("osdisplayname", STRING, required=True, description="Unique display name for Guest OS"),
             Param("name", STRING, description="Optional name for Guest OS"),
             Param("details", MAP, description="Map of (key/value pairs)"),
         ])
def add_guest_os(ctx, p):
    """Add a new guest OS type"""
    row = ctx.created
    ctx.event("GUEST.OS.ADD", f"Guest OS {row.display_name} "
                              "added", resource_type="GuestOs", resource_id=row.uuid)
    return os_type(ctx, row)


def user_defined(row: GuestOs) -> GuestOs:
    if not row.is_user_defined:
        raise InvalidParameter("Unable to modify system defined guest OS")
    return row


@command("updateGuestOs", isasync=True, response="guestos", roles=ROOT_ONLY, instance_type="GuestOs", params=[
    Param("id", UUID, entity=GuestOs, required=True, description="UUID of the Guest OS"),
    Param("osdisplayname", STRING, required=True, description="Unique display name for Guest OS"),
    Param("details", MAP, description="Map of (key/value pairs)"),
])
def update_guest_os(ctx, p):
    """Updates the information about Guest OS"""
    row = user_defined(p.id)
    check_unique_name(ctx, p.osdisplayname, exclude=row.id)
    row.display_name = p.osdisplayname
    ctx.event("GUEST.OS.UPDATE", f"Guest OS {row.display_name} updated", resource_type="GuestOs",
              resource_id=row.uuid)
    return os_type(ctx, row)


@command("removeGuestOs", isasync=True, roles=ROOT_ONLY, instance_type="GuestOs", params=[
    Param("id", UUID, entity=GuestOs, required=True, description="ID of the guest OS"),
])
def remove_guest_os(ctx, p):
    """Removes a Guest OS from listing."""
    row = user_defined(p.id)
    if ctx.db.scalar(select(VMTemplate.id).where(VMTemplate.guest_os_id == row.id,
                                                 VMTemplate.removed.is_(None)).limit(1)) is not None:
        raise ResourceInUse(f"Unable to remove guest OS {row.display_name}: templates use it")
    row.removed = now()
    ctx.event("GUEST.OS.REMOVE", f"Guest OS {row.display_name} removed", resource_type="GuestOs",
              resource_id=row.uuid)
    return {"success": True}


OS_TYPE_FIELDS = describe("ostype", {
    "id": "the ID of the OS type", "description": "the name/description of the OS type", "name": "the name "
    "of the OS type", "oscategoryid": "the ID of the OS category", "oscategoryname": "the name of the OS "
                                                                                  "category",
    "isuserdefined": "is the guest OS user defined", "fordisplay": "is the guest OS visible for the users",
})
describe("guestos", OS_TYPE_FIELDS)
describe("oscategory", {"id": "the ID of the OS category", "name": "the name of the OS category"})
