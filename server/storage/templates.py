"""Templates and ISOs. For now only what a fresh cloud has: guest OS types and the simulator templates.

The template commands (register, list, update, delete, copy, ...) come later, in this module.
"""

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import GuestOs, GuestOsCategory, VMTemplate

SYSTEM_ACCOUNT_ID = 1
ROOT_DOMAIN_ID = 1
SIMULATOR_TEMPLATE_SIZE = 10**9  # upstream MockStorageManager.DEFAULT_TEMPLATE_SIZE: 1 GB

# Guest OS categories with upstream's ids (guest_os_category), so scripts that use the ids keep working.
CATEGORIES = ((1, "CentOS"), (2, "Debian"), (3, "Oracle"), (4, "RedHat"), (5, "SUSE"), (6, "Windows"),
              (7, "Other"), (8, "Novel"), (9, "Unix"), (10, "Ubuntu"), (11, "None"))

# (id or None, category id, display name). Ids are fixed only where the specs name them (the simulator
# templates point at guest OS 142 and 15); the others are numbered by the database.
GUEST_OS_TYPES = (
    (15, 2, "Debian GNU/Linux 5.0 (64-bit)"),
    (142, 1, "CentOS 5.6 (64-bit)"),
    (None, 1, "CentOS 5.3 (64-bit)"),
    (None, 1, "CentOS 5.5 (64-bit)"),
    (None, 2, "Debian GNU/Linux 11 (64-bit)"),
    (None, 2, "Debian GNU/Linux 12 (64-bit)"),
    (None, 10, "Ubuntu 20.04 LTS"),
    (None, 10, "Ubuntu 22.04 LTS"),
    (None, 7, "Other Linux (32-bit)"),
    (None, 7, "Other Linux (64-bit)"),
    (None, 7, "Other (32-bit)"),
    (None, 7, "Other (64-bit)"),
    (None, 6, "Windows Server 2019 (64-bit)"),
    (None, 6, "Windows Server 2022 (64-bit)"),
)

# The simulator's templates as upstream seeds them (spec/ecosystem-defaults.md §2).
SIMULATOR_TEMPLATES = (
    {"id": 100, "unique_name": "simulator-domR", "name": "SystemVM Template (simulator)", "type": "SYSTEM",
     "public": False, "featured": False, "guest_os_id": 15},
    {"id": 111, "unique_name": "simulator-Centos", "name": "CentOS 5.6 (64-bit) no GUI (Simulator)",
     "type": "BUILTIN", "public": True, "featured": True, "guest_os_id": 142},
)


def seed_guest_os_and_templates(db: Session) -> None:
    """Add the guest OS types and simulator templates a fresh cloud has. Idempotent: adds only what is
    missing (matched by id, or by display name for guest OS types without a fixed id)."""
    for category_id, name in CATEGORIES:
        if db.get(GuestOsCategory, category_id) is None:
            db.add(GuestOsCategory(id=category_id, name=name))
    db.flush()
    existing = set(db.scalars(select(GuestOs.display_name).where(GuestOs.removed.is_(None))))
    # Fixed ids first, so the numbered rows never take an id the specs reserve.
    for os_id, category_id, name in GUEST_OS_TYPES:
        if name not in existing and (os_id is None or db.get(GuestOs, os_id) is None):
            db.add(GuestOs(id=os_id, category_id=category_id, display_name=name))
            db.flush()
    for spec in SIMULATOR_TEMPLATES:
        if db.get(VMTemplate, spec["id"]) is None:
            db.add(VMTemplate(**spec, display_text=spec["name"], format="VHD", hypervisor_type="Simulator",
                              account_id=SYSTEM_ACCOUNT_ID, domain_id=ROOT_DOMAIN_ID, cross_zones=True,
                              password_enabled=False, bootable=True, extractable=False, bits=64,
                              size=SIMULATOR_TEMPLATE_SIZE, state="Active"))
    db.flush()
