"""Regions: the management servers' own region (id 1, "Local") and peers added by the operator."""

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ..core.errors import InvalidParameter
from ..core.listing import paged
from ..core.params import INTEGER, STRING, Param
from ..core.registry import ALL_ROLES, ROOT_ONLY, command
from . import network_views as views
from .models import Region

LOCAL_REGION = {"id": 1, "name": "Local", "end_point": "http://localhost:8080/client/"}


def ensure_default_region(ctx) -> None:
    """A fresh cloud has its own region; seeded on first use so bootstrap needs no change."""
    if ctx.db.scalar(select(func.count()).select_from(Region)):
        return
    try:
        # A savepoint: another management server may seed it at the same moment.
        with ctx.db.begin_nested():
            ctx.db.add(Region(**LOCAL_REGION))
    except IntegrityError:
        pass


def region_by_id(ctx, region_id: int) -> Region:
    region = ctx.db.get(Region, region_id)
    if region is None:
        raise InvalidParameter(f"Region with id: {region_id} does not exist")
    return region


def check_name_free(ctx, name: str, exclude: int | None = None) -> None:
    query = select(Region.id).where(Region.name == name)
    if exclude is not None:
        query = query.where(Region.id != exclude)
    if ctx.db.scalar(query) is not None:
        raise InvalidParameter(f"Region with name: {name} already exists")


@command("addRegion", response="region", roles=ROOT_ONLY, params=[
    Param("id", INTEGER, required=True, description="Id of the Region"),
    Param("name", STRING, required=True, description="Name of the region"),
    Param("endpoint", STRING, required=True, description="Region service endpoint"),
])
def add_region(ctx, p):
    """Adds a Region"""
    ensure_default_region(ctx)
    if p.id < 1:
        raise InvalidParameter(f"Invalid region id {p.id}: region ids are positive numbers")
    if ctx.db.get(Region, p.id) is not None:
        raise InvalidParameter(f"Region with id: {p.id} already exists")
    check_name_free(ctx, p.name)
    region = Region(id=p.id, name=p.name, end_point=p.endpoint)
    ctx.db.add(region)
    ctx.db.flush()
    ctx.event("REGION.ADD", f"Region {region.name} added", resource_type="Region", resource_id=str(region.id))
    return views.region(region)


@command("updateRegion", response="region", roles=ROOT_ONLY, params=[
    Param("id", INTEGER, required=True, description="Id of region to update"),
    Param("name", STRING, description="updates region with this name"),
    Param("endpoint", STRING, description="updates region with this end point"),
])
def update_region(ctx, p):
    """Updates a region"""
    ensure_default_region(ctx)
    region = region_by_id(ctx, p.id)
    if p.name and p.name != region.name:
        check_name_free(ctx, p.name, exclude=region.id)
        region.name = p.name
    if p.endpoint:
        region.end_point = p.endpoint
    ctx.event("REGION.UPDATE", f"Region {region.name} updated", resource_type="Region",
              resource_id=str(region.id))
    return views.region(region)


@command("removeRegion", roles=ROOT_ONLY, params=[
    Param("id", INTEGER, required=True, description="ID of the region to delete"),
])
def remove_region(ctx, p):
    """Removes specified region"""
    ensure_default_region(ctx)
    region = region_by_id(ctx, p.id)
    if region.id == LOCAL_REGION["id"]:
        # This server's own region: removing it would leave the cloud without one.
        raise InvalidParameter("The local region can't be removed")
    ctx.db.delete(region)
    ctx.event("REGION.REMOVE", f"Region {region.name} removed", resource_type="Region",
              resource_id=str(region.id))
    return {"success": True}


@command("listRegions", response="region", listing="list", roles=ALL_ROLES, params=[
    Param("id", INTEGER, description="List Region by region ID."),
    Param("name", STRING, description="List Region by region name."),
])
def list_regions(ctx, p):
    """Lists Regions"""
    ensure_default_region(ctx)
    query = select(Region)
    if p.id is not None:
        query = query.where(Region.id == p.id)
    if p.name:
        query = query.where(Region.name == p.name)
    return paged(ctx, p, query, views.region, keyword_columns=(Region.name,), order_by=Region.id)
