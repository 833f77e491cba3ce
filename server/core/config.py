"""Global settings: declared in code (`platform.settings`), overridden in the `configuration` table.

Values are read on hot paths (page size, signature mode), so they are cached and invalidated through
`core.cache` like the identity data.
"""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import DateTime, Integer, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from .db import Base, now
from .errors import InvalidParameter

GLOBAL = "global"


@dataclass(frozen=True, slots=True)
class Setting:
    name: str
    default: str
    description: str
    category: str = "Advanced"
    type: str = "String"  # String | Boolean | Integer | Long | Float | CSV | Range
    scope: str = GLOBAL  # global | zone | cluster | storagepool | account | domain | imagestore | managementserver
    component: str = "management-server"
    dynamic: bool = True
    group: str = "Miscellaneous"
    subgroup: str = "Others"
    options: str | None = None


class ConfigurationValue(Base):
    """An operator's value for a setting (defaults live in code)."""

    __tablename__ = "configuration"
    __table_args__ = (UniqueConstraint("name", "scope", "scope_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(255), index=True)
    scope: Mapped[str] = mapped_column(String(32), default=GLOBAL)
    scope_id: Mapped[int] = mapped_column(Integer, default=0)
    value: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated: Mapped[Any] = mapped_column(DateTime, default=now, onupdate=now)


def typed(setting: Setting, raw: str | None) -> Any:
    if raw is None:
        return None
    if setting.type == "Boolean":
        return raw.strip().lower() == "true"
    if setting.type in ("Integer", "Long"):
        try:
            return int(float(raw))
        except ValueError:
            return None
    if setting.type == "Float":
        try:
            return float(raw)
        except ValueError:
            return None
    return raw


def validate_value(setting: Setting, value: str) -> None:
    """Refuse a value that does not fit the setting's type, naming the setting."""
    if setting.type == "Boolean" and value.strip().lower() not in ("true", "false"):
        raise InvalidParameter(f"Please enter either 'true' or 'false' for the configuration {setting.name}")
    if setting.type in ("Integer", "Long"):
        try:
            int(value)
        except ValueError:
            raise InvalidParameter(f"Please enter an integer value for the configuration {setting.name}") from None
    if setting.type == "Float":
        try:
            float(value)
        except ValueError:
            raise InvalidParameter(f"Please enter a decimal value for the configuration {setting.name}") from None
    if setting.options and value not in setting.options.split(","):
        raise InvalidParameter(f"Invalid value {value} for the configuration {setting.name}; "
                               f"valid values are {setting.options}")


class Config:
    """Typed access to global settings, cached in `caches['config']`."""

    def __init__(self, caches, settings: dict[str, Setting], overrides: dict[str, str] | None = None,
                 session_factory=None):
        self.caches = caches
        self.settings = settings
        self.session_factory = session_factory
        # Values given on the command line win over defaults but not over the database.
        self.overrides = overrides or {}

    def raw_values(self, db: Session | None) -> dict[str, str | None]:
        cache = self.caches.get("config")
        if "values" not in cache:
            if db is None:
                with self.session_factory() as own:
                    return self.raw_values(own)
            values = {name: self.overrides.get(name, s.default) for name, s in self.settings.items()}
            rows = db.execute(select(ConfigurationValue.name, ConfigurationValue.value)
                              .where(ConfigurationValue.scope == GLOBAL))
            values.update({row.name: row.value for row in rows})
            cache["values"] = values
        return cache["values"]

    def value(self, db: Session | None, name: str) -> Any:
        """A setting's typed value; `db` may be None (a session is opened only on a cache miss)."""
        cache = self.caches.get("config")
        typed_values = cache.setdefault("typed", {})
        if name not in typed_values:
            typed_values[name] = typed(self.settings[name], self.raw_values(db).get(name))
        return typed_values[name]

    def update(self, db: Session, name: str, value: str | None) -> None:
        row = db.scalars(select(ConfigurationValue).where(
            ConfigurationValue.name == name, ConfigurationValue.scope == GLOBAL)).first()
        if row is None:
            db.add(ConfigurationValue(name=name, scope=GLOBAL, scope_id=0, value=value))
        else:
            row.value = value
