"""Image stores: secondary storage (role Image: NFS, SMB, S3, Swift) and staging stores (role ImageCache).

Adding a zone's NFS/SMB image store makes the cross-zone system and built-in templates available there:
the store gets a ready template_store_ref for each, as upstream's simulator pre-installs them.
"""

from sqlalchemy import delete, select

from ..core.db import now
from ..core.errors import InvalidParameter
from ..core.listing import paged
from ..core.params import BOOLEAN, LONG, MAP, STRING, UUID, Param, map_to_dict
from ..core.registry import ROOT_ONLY, command
from ..infra.models import CAPACITY_SECONDARY_STORAGE, Capacity, DataCenter
from . import views
from .models import ImageStore, ImageStoreDetail, TemplateStoreRef, VMTemplate
from .templates import seed_guest_os_and_templates
from .urls import image_store_protocol, object_store_protocol

IMAGE, IMAGE_CACHE = "Image", "ImageCache"
PROVIDERS = ("NFS", "SMB", "S3", "Swift")
ZONE_PROVIDERS = ("NFS", "SMB")  # the others are region-wide object stores
SIMULATED_STORE_SIZE = 1024**4  # upstream MockStorageManager gives every secondary store 1 TiB
SYSTEM_TEMPLATE_TYPES = ("SYSTEM", "BUILTIN")


def provider_name(value: str | None) -> str:
    # An unknown provider falls back to the default one (NFS), as upstream's discoverImageStore does.
    return next((name for name in PROVIDERS if value and name.lower() == value.lower()), "NFS")


def store_protocol(url: str | None, provider: str) -> str | None:
    if provider in ZONE_PROVIDERS:
        if not url:
            raise InvalidParameter(f"Invalid url: a url is required for {provider} image stores")
        return image_store_protocol(url, provider)
    return object_store_protocol(url)


def check_unique(ctx, name: str, url: str | None) -> None:
    live = ImageStore.removed.is_(None)
    if ctx.db.scalar(select(ImageStore.id).where(ImageStore.name == name, live)):
        raise InvalidParameter(f"The image store with name {name} already exists, try creating with another "
                               "name")
    if url and ctx.db.scalar(select(ImageStore.id).where(ImageStore.url == url, live)):
        raise InvalidParameter(f"The image store with url {url} already exists")


def add_store(ctx, *, url: str | None, provider: str, zone: DataCenter | None, name: str | None,
              details: dict[str, str], role: str = IMAGE) -> ImageStore:
    """Create an image or staging store (the shared part of the four add commands)."""
    if provider in ZONE_PROVIDERS and zone is None:
        raise InvalidParameter("DataCenter id is null, and cloudstack default image store has to be "
                               "associated with a data center")
    protocol = store_protocol(url, provider)
    name = name or url or provider
    check_unique(ctx, name, url)
    store = ImageStore(name=name, protocol=protocol, url=url or "", provider_name=provider,
                       zone_id=zone.id if zone else None, scope="ZONE" if zone else "REGION", role=role,
                       total_size=SIMULATED_STORE_SIZE, used_bytes=0, readonly=False)
    ctx.db.add(store)
    ctx.db.flush()
    for key, value in details.items():
        ctx.db.add(ImageStoreDetail(store_id=store.id, name=key, value=value))
    return store


def add_system_templates(ctx, store: ImageStore) -> None:
    """Ready refs for the cross-zone SYSTEM/BUILTIN templates, at the path the install script uses."""
    seed_guest_os_and_templates(ctx.db)  # idempotent; the templates must exist before refs point at them
    templates = ctx.db.scalars(select(VMTemplate).where(
        VMTemplate.cross_zones.is_(True), VMTemplate.type.in_(SYSTEM_TEMPLATE_TYPES),
        VMTemplate.removed.is_(None)))
    for template in templates:
        ctx.db.add(TemplateStoreRef(
            template_id=template.id, store_id=store.id, zone_id=store.zone_id, download_state="DOWNLOADED",
            download_pct=100, state="Ready", install_path=f"template/tmpl/1/{template.id}/",
            size=template.size, created=now()))


def record_capacity(ctx, store: ImageStore) -> None:
    # Secondary storage capacity (type 6) is keyed by the store id, as upstream's capacity checker does.
    ctx.db.add(Capacity(host_id=store.id, zone_id=store.zone_id, capacity_type=CAPACITY_SECONDARY_STORAGE,
                        used=store.used_bytes or 0, total=store.total_size or 0))


def add_image_store(ctx, p, provider: str) -> ImageStore:
    zone = p.zoneid
    store = add_store(ctx, url=p.url, provider=provider, zone=zone, name=p.name,
                      details=map_to_dict(p.details))
    if provider in ZONE_PROVIDERS:
        add_system_templates(ctx, store)
        record_capacity(ctx, store)
    ctx.event("IMAGE.STORE.CREATE", f"Image store {store.name} added", resource_type="ImageStore",
              resource_id=store.uuid)
    return store


@command("addImageStore", response="imagestore", roles=ROOT_ONLY, params=[
    Param("provider", STRING, required=True, description="the image store provider name"),
    Param("name", STRING, description="the name for the image store"),
    Param("url", STRING, length=2048, description="the URL for the image store"),
    Param("zoneid", UUID, entity=DataCenter, description="the Zone ID for the image store"),
    Param("details", MAP, description="the details for the image store. Example: "
                                      "details[0].key=accesskey&details[0].value=s389ddssaa"),
])
def add_image_store_command(ctx, p):
    """Adds backup image store."""
    return views.image_store(ctx, add_image_store(ctx, p, provider_name(p.provider)))


@command("addSecondaryStorage", response="secondarystorage", roles=ROOT_ONLY, params=[
    Param("url", STRING, required=True, length=2048, description="the URL for the secondary storage"),
    Param("zoneid", UUID, entity=DataCenter, description="the Zone ID for the secondary storage"),
])
def add_secondary_storage(ctx, p):
    """Adds secondary storage."""
    return views.image_store(ctx, add_image_store(ctx, p, "NFS"))


def image_store_in_use(ctx, store: ImageStore) -> bool:
    """Are user templates (anything but SYSTEM/BUILTIN) stored there?"""
    query = (select(TemplateStoreRef.id).join(VMTemplate, VMTemplate.id == TemplateStoreRef.template_id)
             .where(TemplateStoreRef.store_id == store.id, TemplateStoreRef.state != "Destroyed",
                    VMTemplate.type.not_in(SYSTEM_TEMPLATE_TYPES), VMTemplate.removed.is_(None)))
    return ctx.db.scalar(query.limit(1)) is not None


def remove_store(ctx, store: ImageStore) -> None:
    ctx.db.execute(delete(ImageStoreDetail).where(ImageStoreDetail.store_id == store.id))
    ctx.db.execute(delete(TemplateStoreRef).where(TemplateStoreRef.store_id == store.id))
    ctx.db.execute(delete(Capacity).where(Capacity.host_id == store.id,
                                          Capacity.capacity_type == CAPACITY_SECONDARY_STORAGE))
    store.removed = now()


@command("deleteImageStore", roles=ROOT_ONLY, params=[
    Param("id", UUID, entity=ImageStore, required=True,
          description="The image store ID or Secondary Storage ID."),
])
def delete_image_store(ctx, p):
    """Deletes an image store or Secondary Storage."""
    store = p.id
    if store.role != IMAGE:
        raise InvalidParameter(f"Unable to find image store by id={store.uuid}")
    # Snapshot and volume copies would also block the delete; those tables do not exist yet.
    if image_store_in_use(ctx, store):
        raise InvalidParameter("Cannot delete image store with active templates backup!")
    remove_store(ctx, store)
    ctx.event("IMAGE.STORE.DELETE", f"Image store {store.name} deleted", resource_type="ImageStore",
              resource_id=store.uuid)
    return {"success": True}


@command("updateImageStore", response="imagestore", roles=ROOT_ONLY, params=[
    Param("id", UUID, entity=ImageStore, required=True, description="Image Store UUID"),
    Param("name", STRING, description="The new name for the Image Store."),
    Param("readonly", BOOLEAN, description="If set to true, it designates the corresponding image store to "
                                           "read-only, hence not considering them during storage migration"),
    Param("capacitybytes", LONG, description="The number of bytes CloudStack can use on this image storage."),
])
def update_image_store(ctx, p):
    """Updates image store read-only status"""
    store = p.id
    if p.name and p.name != store.name:
        check_unique(ctx, p.name, None)
        store.name = p.name
    if p.readonly is not None:
        store.readonly = p.readonly
    if p.capacitybytes is not None:
        if p.capacitybytes <= 0:
            raise InvalidParameter("capacitybytes must be a positive number of bytes")
        store.total_size = p.capacitybytes
        capacity = ctx.db.scalars(select(Capacity).where(
            Capacity.host_id == store.id, Capacity.capacity_type == CAPACITY_SECONDARY_STORAGE)).first()
        if capacity is not None:
            capacity.total = p.capacitybytes
    ctx.event("IMAGE.STORE.UPDATE", f"Image store {store.name} updated", resource_type="ImageStore",
              resource_id=store.uuid)
    return views.image_store(ctx, store)


def list_stores(ctx, p, role: str):
    query = select(ImageStore).where(ImageStore.removed.is_(None), ImageStore.role == role)
    filters = ((p.id, lambda v: ImageStore.id == v.id), (p.name, lambda v: ImageStore.name == v),
               (p.zoneid, lambda v: ImageStore.zone_id == v.id),
               (p.provider, lambda v: ImageStore.provider_name == provider_name(v)),
               (p.protocol, lambda v: ImageStore.protocol == v.lower()),
               (p.readonly, lambda v: ImageStore.readonly.is_(v)))
    for value, condition in filters:
        if value is not None and value != "":
            query = query.where(condition(value))
    return paged(ctx, p, query, lambda store: views.image_store(ctx, store),
                 keyword_columns=(ImageStore.name,), order_by=ImageStore.id)


STORE_FILTERS = [
    Param("id", UUID, entity=ImageStore, description="the ID of the storage pool"),
    Param("name", STRING, description="the name of the image store"),
    Param("zoneid", UUID, entity=DataCenter, description="the Zone ID for the image store"),
    Param("provider", STRING, description="the image store provider"),
    Param("protocol", STRING, description="the image store protocol"),
]


@command("listImageStores", response="imagestore", listing="list", roles=ROOT_ONLY, params=[
    *STORE_FILTERS,
    Param("readonly", BOOLEAN, description="read-only status of the image store"),
])
def list_image_stores(ctx, p):
    """Lists image stores."""
    return list_stores(ctx, p, IMAGE)


@command("createSecondaryStagingStore", response="secondarystorage", roles=ROOT_ONLY, params=[
    Param("url", STRING, required=True, length=2048, description="the URL for the staging store"),
    Param("provider", STRING, description="the staging store provider name"),
    Param("zoneid", UUID, entity=DataCenter, description="the Zone ID for the staging store"),
    Param("scope", STRING, description="the scope of the staging store: zone only for now"),
    Param("details", MAP, description="the details for the staging store"),
])
def create_secondary_staging_store(ctx, p):
    """create secondary staging store."""
    if p.scope and p.scope.upper() != "ZONE":
        raise InvalidParameter("Only zone wide cache storage is supported")
    if p.zoneid is None:
        raise InvalidParameter("zone id can't be null, if scope is zone")
    # Upstream names a staging store after its URL; only the NFS provider can stage.
    store = add_store(ctx, url=p.url, provider="NFS", zone=p.zoneid, name=None,
                      details=map_to_dict(p.details), role=IMAGE_CACHE)
    ctx.event("IMAGE.STORE.CREATE", f"Staging store {store.name} added", resource_type="ImageStore",
              resource_id=store.uuid)
    return views.image_store(ctx, store)


@command("deleteSecondaryStagingStore", roles=ROOT_ONLY, params=[
    Param("id", UUID, entity=ImageStore, required=True, description="the staging store ID"),
])
def delete_secondary_staging_store(ctx, p):
    """Deletes a secondary staging store ."""
    store = p.id
    if store.role != IMAGE_CACHE:
        raise InvalidParameter(f"Unable to find secondary staging store by id={store.uuid}")
    remove_store(ctx, store)
    ctx.event("IMAGE.STORE.DELETE", f"Staging store {store.name} deleted", resource_type="ImageStore",
              resource_id=store.uuid)
    return {"success": True}


@command("listSecondaryStagingStores", response="imagestore", listing="list", roles=ROOT_ONLY,
         params=list(STORE_FILTERS))
def list_secondary_staging_stores(ctx, p):
    """Lists secondary staging stores."""
    return list_stores(ctx, p, IMAGE_CACHE)
