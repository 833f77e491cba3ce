"""What a fresh cloud has: the ROOT domain, the default roles, the system and admin accounts.

Idempotent: runs at every start and adds only what is missing.
"""

import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..core.passwords import hash_password, new_api_key
from ..core.registry import ADMIN, DOMAIN_ADMIN, RESOURCE_ADMIN, USER
from .models import ADMIN_ACCOUNT, Account, Domain, Role, RolePermission, User

# (id, name, type, description); ids as upstream so scripts that use them keep working.
DEFAULT_ROLES = (
    (1, "Root Admin", ADMIN, "Default root admin role"),
    (2, "Resource Admin", RESOURCE_ADMIN, "Default resource admin role"),
    (3, "Domain Admin", DOMAIN_ADMIN, "Default domain admin role"),
    (4, "User", USER, "Default Root Admin role"),
    (5, "Read-Only Admin - Default", ADMIN, "Default read-only admin role"),
    (6, "Read-Only User - Default", USER, "Default read-only user role"),
)
# The read-only roles: list, get and query commands only.
READ_ONLY_RULES = (("list*", "ALLOW"), ("get*", "ALLOW"), ("query*", "ALLOW"), ("*", "DENY"))


def bootstrap(db: Session, server) -> None:
    if db.get(Domain, 1) is None:
        db.add(Domain(id=1, name="ROOT", path="/", level=0))
    for role_id, name, role_type, description in DEFAULT_ROLES:
        if db.get(Role, role_id) is None:
            db.add(Role(id=role_id, name=name, role_type=role_type, description=description, is_default=True))
            db.flush()
            if name.startswith("Read-Only"):
                for order, (rule, permission) in enumerate(READ_ONLY_RULES):
                    db.add(RolePermission(role_id=role_id, rule=rule, permission=permission, sort_order=order))
    if db.get(Account, 1) is None:
        db.add(Account(id=1, account_name="system", type=ADMIN_ACCOUNT, role_id=1, domain_id=1, is_default=True))
        db.add(Account(id=2, account_name="admin", type=ADMIN_ACCOUNT, role_id=1, domain_id=1, is_default=True))
        db.flush()
        db.add(User(id=1, username="system", password=hash_password(secrets.token_urlsafe(24)),
                     firstname="system", lastname="cloud", account_id=1, is_default=True))
        db.add(User(id=2, username="admin", password=hash_password("password"), firstname="admin",
                     lastname="cloud", account_id=2, is_default=True))
        db.flush()
    if server.sandbox:
        admin = db.get(User, 2)
        if not admin.api_key:
            admin.api_key, admin.secret_key = new_api_key(), new_api_key()


def admin_keys(db: Session) -> dict[str, str]:
    admin = db.scalars(select(User).where(User.id == 2)).one()
    return {"apikey": admin.api_key, "secretkey": admin.secret_key}
