"""Who is calling: API keys, login sessions and the SYSTEM caller, resolved from memory.

The signed-request hot path must not touch the database (spec/performance.md): principals and role
rules are cached and invalidated through `core.cache` whenever a user, account, domain or role changes.
"""

import datetime as dt
import fnmatch
import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..iam.models import (
    ADMIN_ACCOUNT,
    DOMAIN_ADMIN_ACCOUNT,
    ENABLED,
    Account,
    Domain,
    Role,
    RolePermission,
    User,
)
from .registry import ADMIN, Command

SYSTEM_USER_ID = 1
SYSTEM_ACCOUNT_ID = 1


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of a command: a user of an account in a domain, with a role."""

    user_id: int
    user_uuid: str
    username: str
    account_id: int
    account_uuid: str
    account_name: str
    account_type: int
    domain_id: int
    domain_uuid: str
    domain_name: str
    domain_path: str
    role_id: int
    role_type: str
    api_key: str | None
    secret_key: str | None
    enabled: bool  # user and account both enabled
    api_key_access: bool

    @property
    def usable(self) -> bool:
        """May sign requests with its API key."""
        return self.enabled and self.api_key_access

    @property
    def is_root_admin(self) -> bool:
        return self.role_type == ADMIN

    @property
    def is_domain_admin(self) -> bool:
        return self.account_type == DOMAIN_ADMIN_ACCOUNT

    @property
    def is_admin(self) -> bool:
        return self.account_type in (ADMIN_ACCOUNT, DOMAIN_ADMIN_ACCOUNT) or self.is_root_admin

    @property
    def is_system(self) -> bool:
        return self.user_id == SYSTEM_USER_ID


def _principal_query():
    return (select(User, Account, Domain, Role)
            .join(Account, User.account_id == Account.id)
            .join(Domain, Account.domain_id == Domain.id)
            .join(Role, Account.role_id == Role.id)
            .where(User.removed.is_(None), Account.removed.is_(None)))


def _principal(user: User, account: Account, domain: Domain, role: Role) -> Principal:
    return Principal(
        user_id=user.id, user_uuid=user.uuid, username=user.username,
        account_id=account.id, account_uuid=account.uuid, account_name=account.account_name,
        account_type=account.type, domain_id=domain.id, domain_uuid=domain.uuid, domain_name=domain.name,
        domain_path=domain.path, role_id=role.id, role_type=role.role_type,
        api_key=user.api_key, secret_key=user.secret_key,
        enabled=user.state == ENABLED and account.state == ENABLED, api_key_access=user.api_key_access,
    )


def _cached(server, db, key, load):
    """A cached auth value; on a miss, `load(db)` runs with the given session or a short one of its own."""
    cache = server.caches.get("auth")
    if key not in cache:
        if db is None:
            with server.session() as own:
                cache[key] = load(own)
        else:
            cache[key] = load(db)
    return cache[key]


def by_api_key(server, api_key: str, db: Session | None = None) -> Principal | None:
    def load(session):
        row = session.execute(_principal_query().where(User.api_key == api_key)).first()
        return _principal(*row) if row else None

    return _cached(server, db, ("key", api_key), load)


def by_user_id(server, user_id: int, db: Session | None = None) -> Principal | None:
    def load(session):
        row = session.execute(_principal_query().where(User.id == user_id)).first()
        return _principal(*row) if row else None

    return _cached(server, db, ("user", user_id), load)


def _role_rules(server, role_id: int, db: Session | None) -> list[tuple[re.Pattern, bool]]:
    def load(session):
        rows = session.scalars(select(RolePermission).where(RolePermission.role_id == role_id,
                                                            RolePermission.removed.is_(None))
                               .order_by(RolePermission.sort_order, RolePermission.id))
        return [(re.compile(fnmatch.translate(r.rule)), r.permission.upper() == "ALLOW") for r in rows]

    return _cached(server, db, ("rules", role_id), load)


def command_allowed(server, principal: Principal, cmd: Command, db: Session | None = None) -> bool:
    """Role permission rules decide first (first match wins); without a match, the declaration does."""
    if principal.is_system:
        return True
    for pattern, allow in _role_rules(server, principal.role_id, db):
        if pattern.match(cmd.name):
            return allow
    return principal.role_type in cmd.roles


@dataclass(slots=True)
class WebSession:
    session_id: str
    session_key: str
    user_id: int
    last_seen: dt.datetime
