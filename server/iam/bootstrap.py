"""What a fresh cloud has: the ROOT domain, the default roles, the system and admin accounts.

Idempotent: runs at every start and adds only what is missing.
"""

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from ..core.db import new_uuid
from ..core.passwords import new_api_key
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
# The documented default login is admin/password. Its hash is computed once here rather than at every
# fresh start: hashing costs ~40 ms of start-up, and a salt protects nothing for a published password.
DEFAULT_ADMIN_PASSWORD_HASH = ("pbkdf2_sha256$100000$ZCpYx42T6LyKvT+HeJFwRA==$"
                               "HuiDWOPS08pXv66pjxo3ELp+hZsO5j1yMTaKGDfbu7g=")
# The read-only roles: list, get and query commands only.
READ_ONLY_RULES = (("list*", "ALLOW"), ("get*", "ALLOW"), ("query*", "ALLOW"), ("*", "DENY"))


def bootstrap(db: Session, server) -> None:
    if db.get(Domain, 1) is None:
        seed_identity(db)
    if server.sandbox:
        admin = db.get(User, 2)
        if not admin.api_key:
            admin.api_key, admin.secret_key = new_api_key(), new_api_key()


def seed_identity(db: Session) -> None:
    """A fresh database: bulk inserts, and only the admin password hashed (start-up time matters)."""
    db.execute(insert(Domain), [{"id": 1, "name": "ROOT", "path": "/", "level": 0, "uuid": new_uuid()}])
    db.execute(insert(Role), [
        {"id": role_id, "name": name, "role_type": role_type, "description": description, "is_default": True,
         "uuid": new_uuid()} for role_id, name, role_type, description in DEFAULT_ROLES])
    rules = [(role_id, rule, permission, order) for role_id, name, _, _ in DEFAULT_ROLES
             if name.startswith("Read-Only") for order, (rule, permission) in enumerate(READ_ONLY_RULES)]
    db.execute(insert(RolePermission), [
        {"role_id": role_id, "rule": rule, "permission": permission, "sort_order": order, "uuid": new_uuid()}
        for role_id, rule, permission, order in rules])
    db.execute(insert(Account), [
        {"id": 1, "account_name": "system", "type": ADMIN_ACCOUNT, "role_id": 1, "domain_id": 1,
         "is_default": True, "uuid": new_uuid()},
        {"id": 2, "account_name": "admin", "type": ADMIN_ACCOUNT, "role_id": 1, "domain_id": 1,
         "is_default": True, "uuid": new_uuid()}])
    db.execute(insert(User), [
        # The system user never logs in: its password is no hash at all, so nothing can match it.
        {"id": 1, "username": "system", "password": "!", "firstname": "system", "lastname": "cloud",
         "account_id": 1, "is_default": True, "uuid": new_uuid()},
        {"id": 2, "username": "admin", "password": DEFAULT_ADMIN_PASSWORD_HASH, "firstname": "admin",
         "lastname": "cloud", "account_id": 2, "is_default": True, "uuid": new_uuid()}])


def admin_keys(db: Session) -> dict[str, str]:
    admin = db.scalars(select(User).where(User.id == 2)).one()
    return {"apikey": admin.api_key, "secretkey": admin.secret_key}
