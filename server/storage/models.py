"""Storage tables: primary pools, image stores (secondary and staging), templates and guest OS types."""

import datetime as dt

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..core.db import Base, Entity


class StoragePool(Entity, Base):
    __tablename__ = "storage_pool"
    name: Mapped[str] = mapped_column(String(255))
    pool_type: Mapped[str] = mapped_column(String(32))  # NetworkFilesystem | IscsiLUN | RBD | ...
    host_address: Mapped[str | None] = mapped_column(String(255), nullable=True)
    path: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    port: Mapped[int] = mapped_column(Integer, default=0)
    url: Mapped[str] = mapped_column(Text)
    zone_id: Mapped[int] = mapped_column(ForeignKey("data_center.id"), index=True)
    pod_id: Mapped[int | None] = mapped_column(ForeignKey("host_pod_ref.id"), nullable=True)
    cluster_id: Mapped[int | None] = mapped_column(ForeignKey("cluster.id"), nullable=True, index=True)
    scope: Mapped[str] = mapped_column(String(16), default="CLUSTER")  # CLUSTER | ZONE | HOST
    hypervisor: Mapped[str | None] = mapped_column(String(32), nullable=True)
    capacity_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    used_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    capacity_iops: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    status: Mapped[str] = mapped_column(String(32), default="Up")  # Up|PrepareForMaintenance|Maintenance|...
    storage_provider_name: Mapped[str] = mapped_column(String(64), default="DefaultPrimary")
    managed: Mapped[bool] = mapped_column(Boolean, default=False)


class StoragePoolTag(Base):
    __tablename__ = "storage_pool_tags"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("storage_pool.id"), index=True)
    tag: Mapped[str] = mapped_column(String(255))


class StoragePoolDetail(Base):
    __tablename__ = "storage_pool_details"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("storage_pool.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    value: Mapped[str] = mapped_column(Text)


class ImageStore(Entity, Base):
    """Secondary storage (role Image) or a staging store (role ImageCache)."""

    __tablename__ = "image_store"
    name: Mapped[str] = mapped_column(String(255))
    protocol: Mapped[str | None] = mapped_column(String(32), nullable=True)
    url: Mapped[str] = mapped_column(Text)
    provider_name: Mapped[str] = mapped_column(String(32))  # NFS | S3 | Swift | SMB
    zone_id: Mapped[int | None] = mapped_column(ForeignKey("data_center.id"), nullable=True, index=True)
    scope: Mapped[str] = mapped_column(String(16), default="ZONE")  # ZONE | REGION
    role: Mapped[str] = mapped_column(String(16), default="Image")  # Image | ImageCache
    total_size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    used_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    readonly: Mapped[bool] = mapped_column(Boolean, default=False)


class ImageStoreDetail(Base):
    __tablename__ = "image_store_details"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("image_store.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    value: Mapped[str] = mapped_column(Text)


class GuestOsCategory(Entity, Base):
    __tablename__ = "guest_os_category"
    name: Mapped[str] = mapped_column(String(255))


class GuestOs(Entity, Base):
    __tablename__ = "guest_os"
    category_id: Mapped[int] = mapped_column(ForeignKey("guest_os_category.id"))
    display_name: Mapped[str] = mapped_column(String(255))
    is_user_defined: Mapped[bool] = mapped_column(Boolean, default=False)


class VMTemplate(Entity, Base):
    """Templates and ISOs (format ISO) share one table, as upstream."""

    __tablename__ = "vm_template"
    unique_name: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255))
    display_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    type: Mapped[str] = mapped_column(String(32), default="USER")  # SYSTEM | BUILTIN | USER | ROUTING ...
    format: Mapped[str] = mapped_column(String(32))  # VHD | QCOW2 | RAW | OVA | ISO ...
    hypervisor_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    guest_os_id: Mapped[int] = mapped_column(ForeignKey("guest_os.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domain.id"))
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    featured: Mapped[bool] = mapped_column(Boolean, default=False)
    cross_zones: Mapped[bool] = mapped_column(Boolean, default=False)
    password_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    bootable: Mapped[bool] = mapped_column(Boolean, default=True)
    extractable: Mapped[bool] = mapped_column(Boolean, default=False)
    url: Mapped[str | None] = mapped_column(Text, nullable=True)
    checksum: Mapped[str | None] = mapped_column(String(255), nullable=True)
    size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    bits: Mapped[int] = mapped_column(Integer, default=64)
    arch: Mapped[str] = mapped_column(String(16), default="x86_64")
    state: Mapped[str] = mapped_column(String(32), default="Active")
    # linkUserDataToTemplate: the registered user data and how a deploy's own user data combines with it.
    user_data_id: Mapped[int | None] = mapped_column(ForeignKey("user_data.id"), nullable=True)
    user_data_link_policy: Mapped[str | None] = mapped_column(String(32), nullable=True)


class TemplateStoreRef(Base):
    """Where a template's bits are (template_store_ref): download state per image store."""

    __tablename__ = "template_store_ref"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("vm_template.id"), index=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("image_store.id"), index=True)
    zone_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    download_state: Mapped[str] = mapped_column(String(32), default="NOT_DOWNLOADED")
    download_pct: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(32), default="Allocated")  # Allocated | Ready | Destroyed
    install_path: Mapped[str | None] = mapped_column(String(255), nullable=True)
    size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    error_str: Mapped[str | None] = mapped_column(Text, nullable=True)
    created: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class TemplatePermission(Base):
    """Accounts a private template or ISO is shared with (launch_permission)."""

    __tablename__ = "launch_permission"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("vm_template.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)


class Volume(Entity, Base):
    """Root and data disks. States as upstream: Allocated, Creating, Ready, Attaching, Migrating,
    Resizing, UploadOp, Uploaded, Destroy, Expunging, Expunged."""

    __tablename__ = "volumes"
    name: Mapped[str] = mapped_column(String(255))
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domain.id"))
    zone_id: Mapped[int] = mapped_column(ForeignKey("data_center.id"), index=True)
    pod_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    pool_id: Mapped[int | None] = mapped_column(ForeignKey("storage_pool.id"), nullable=True, index=True)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("vm_instance.id"), nullable=True, index=True)
    device_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    volume_type: Mapped[str] = mapped_column(String(16))  # ROOT | DATADISK
    size: Mapped[int] = mapped_column(BigInteger, default=0)  # bytes
    min_iops: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    max_iops: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    disk_offering_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    template_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    snapshot_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # created from
    format: Mapped[str | None] = mapped_column(String(16), nullable=True)
    path: Mapped[str | None] = mapped_column(String(255), nullable=True)
    provisioning_type: Mapped[str] = mapped_column(String(16), default="thin")
    state: Mapped[str] = mapped_column(String(32), default="Allocated", index=True)
    attached: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    display_volume: Mapped[bool] = mapped_column(Boolean, default=True)
    chain_info: Mapped[str | None] = mapped_column(Text, nullable=True)


class Snapshot(Entity, Base):
    __tablename__ = "snapshots"
    name: Mapped[str] = mapped_column(String(255))
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domain.id"))
    zone_id: Mapped[int] = mapped_column(ForeignKey("data_center.id"))
    volume_id: Mapped[int] = mapped_column(ForeignKey("volumes.id"), index=True)
    volume_type: Mapped[str] = mapped_column(String(16))
    snapshot_type: Mapped[str] = mapped_column(String(16), default="MANUAL")  # MANUAL|HOURLY|DAILY|...
    interval_type: Mapped[str | None] = mapped_column(String(16), nullable=True)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    physical_size: Mapped[int] = mapped_column(BigInteger, default=0)
    hypervisor_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    state: Mapped[str] = mapped_column(String(32), default="Allocated")  # Allocated|CreatedOnPrimary|BackedUp|Destroyed
    location_type: Mapped[str | None] = mapped_column(String(16), nullable=True)  # PRIMARY | SECONDARY


class SnapshotPolicy(Entity, Base):
    __tablename__ = "snapshot_policy"
    volume_id: Mapped[int] = mapped_column(ForeignKey("volumes.id"), index=True)
    schedule: Mapped[str] = mapped_column(String(64))
    timezone: Mapped[str] = mapped_column(String(64))
    interval: Mapped[int] = mapped_column(Integer)  # 0 hourly, 1 daily, 2 weekly, 3 monthly
    max_snaps: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    display: Mapped[bool] = mapped_column(Boolean, default=True)


class VMSnapshot(Entity, Base):
    __tablename__ = "vm_snapshots"
    name: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    vm_id: Mapped[int] = mapped_column(ForeignKey("vm_instance.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domain.id"))
    type: Mapped[str] = mapped_column(String(16), default="Disk")  # Disk | DiskAndMemory
    state: Mapped[str] = mapped_column(String(32), default="Allocated")  # Allocated|Creating|Ready|...
    current: Mapped[bool] = mapped_column(Boolean, default=False)
    parent_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    service_offering_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
