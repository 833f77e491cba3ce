"""Identity tables: the domain tree, accounts, users, roles and their permission rules, sessions."""

import datetime as dt

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..core.db import Base, Entity, now

# Account types (upstream Account.Type ordinals).
USER_ACCOUNT = 0
ADMIN_ACCOUNT = 1
DOMAIN_ADMIN_ACCOUNT = 2
RESOURCE_ADMIN_ACCOUNT = 3
READ_ONLY_ADMIN_ACCOUNT = 4
PROJECT_ACCOUNT = 5

ENABLED, DISABLED, LOCKED = "enabled", "disabled", "locked"


class Domain(Entity, Base):
    __tablename__ = "domain"
    name: Mapped[str] = mapped_column(String(255))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("domain.id"), nullable=True)
    # "/" for ROOT, "/Child/" below it, "/Child/Grandchild/" ...: a subtree is a path prefix.
    path: Mapped[str] = mapped_column(String(512), index=True)
    level: Mapped[int] = mapped_column(Integer, default=0)
    network_domain: Mapped[str | None] = mapped_column(String(255), nullable=True)
    state: Mapped[str] = mapped_column(String(32), default="Active")


class Role(Entity, Base):
    __tablename__ = "roles"
    name: Mapped[str] = mapped_column(String(255))
    role_type: Mapped[str] = mapped_column(String(32))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    public: Mapped[bool] = mapped_column(Boolean, default=True)
    state: Mapped[str] = mapped_column(String(32), default="ENABLED")


class RolePermission(Entity, Base):
    __tablename__ = "role_permissions"
    role_id: Mapped[int] = mapped_column(ForeignKey("roles.id"), index=True)
    rule: Mapped[str] = mapped_column(String(255))
    permission: Mapped[str] = mapped_column(String(8))  # ALLOW | DENY
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)


class Account(Entity, Base):
    __tablename__ = "account"
    account_name: Mapped[str] = mapped_column(String(255), index=True)
    type: Mapped[int] = mapped_column(Integer, default=USER_ACCOUNT)
    role_id: Mapped[int] = mapped_column(ForeignKey("roles.id"))
    domain_id: Mapped[int] = mapped_column(ForeignKey("domain.id"), index=True)
    state: Mapped[str] = mapped_column(String(32), default=ENABLED)
    network_domain: Mapped[str | None] = mapped_column(String(255), nullable=True)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)


class User(Entity, Base):
    __tablename__ = "user"
    username: Mapped[str] = mapped_column(String(255), index=True)
    password: Mapped[str] = mapped_column(String(255))
    firstname: Mapped[str | None] = mapped_column(String(255), nullable=True)
    lastname: Mapped[str | None] = mapped_column(String(255), nullable=True)
    email: Mapped[str | None] = mapped_column(String(255), nullable=True)
    timezone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    state: Mapped[str] = mapped_column(String(32), default=ENABLED)
    api_key: Mapped[str | None] = mapped_column(String(255), unique=True, nullable=True)
    secret_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    api_key_access: Mapped[bool] = mapped_column(Boolean, default=True)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    incorrect_login_attempts: Mapped[int] = mapped_column(Integer, default=0)
    source: Mapped[str] = mapped_column(String(32), default="UNKNOWN")


class LoginSession(Base):
    """A session opened by `login`; shared by every management server through the database."""

    __tablename__ = "login_session"
    session_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_key: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    created: Mapped[dt.datetime] = mapped_column(DateTime, default=now)
    last_seen: Mapped[dt.datetime] = mapped_column(DateTime, default=now)


class ResourceLimit(Base):
    """A limit of one resource type for an account or a domain (-1: unlimited)."""

    __tablename__ = "resource_limit"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    type: Mapped[str] = mapped_column(String(64))  # user_vm, public_ip, volume, ... (upstream names)
    max: Mapped[int] = mapped_column(BigInteger)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"), nullable=True, index=True)
    domain_id: Mapped[int | None] = mapped_column(ForeignKey("domain.id"), nullable=True, index=True)


class ResourceCount(Base):
    """How much of a resource type an account or domain uses now; updated with conditional UPDATEs."""

    __tablename__ = "resource_count"
    __table_args__ = (UniqueConstraint("type", "account_id", "domain_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    type: Mapped[str] = mapped_column(String(64))
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"), nullable=True, index=True)
    domain_id: Mapped[int | None] = mapped_column(ForeignKey("domain.id"), nullable=True, index=True)
