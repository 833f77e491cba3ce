"""The call context handed to every command handler: who calls, the database session, helpers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from .auth import Principal
from .errors import InvalidParameter
from .registry import Command

if TYPE_CHECKING:
    from .server import ManagementServer


class Params(dict):
    """Validated parameters; absent ones read as None (`p.zoneid`)."""

    def __getattr__(self, name: str) -> Any:
        return self.get(name)


@dataclass
class Context:
    server: ManagementServer
    session: Session | None
    caller: Principal
    command: Command | None = None
    # Cache names to invalidate once this context's transaction commits.
    touched: set[str] = field(default_factory=set)
    # The async job this context runs in, when it runs in one.
    job_id: int | None = None
    # For async create commands, running as a job: the row the request created.
    created: Any = None
    # In a job run right after its request: the rows the request resolved, {(model, uuid): row}.
    handed: dict | None = None

    @property
    def db(self) -> Session:
        """The context's session, opened on first use: many reads are answered from caches alone."""
        if self.session is None:
            self.session = self.server.session()
        return self.session

    def close(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None

    def rollback(self) -> None:
        if self.session is not None:
            self.session.rollback()
        self.touched.clear()

    def setting(self, name: str) -> Any:
        return self.server.config.value(self.session, name)

    def touch(self, *caches: str) -> None:
        """Mark cached read-mostly data as changed by this transaction."""
        self.server.caches.bump(self.db, caches)
        self.touched.update(caches)

    def commit(self) -> None:
        """Commit now: async jobs call this before awaiting, so no write lock is held across an await."""
        if self.session is None:
            return
        self.session.commit()
        if self.touched:
            self.server.caches.clear(self.touched)
            self.touched.clear()

    def event(self, event_type: str, description: str, *, state: str = "Completed",
              level: str = "INFO", resource_type: str | None = None, resource_id: str | None = None,
              account_id: int | None = None, domain_id: int | None = None) -> None:
        from .events import record

        record(self, event_type, description, state=state, level=level, resource_type=resource_type,
               resource_id=resource_id, account_id=account_id, domain_id=domain_id)

    def get(self, model: type, uuid: str, param: str = "id") -> Any:
        """Fetch a live row by UUID or fail with CloudStack's invalid-parameter error."""
        from sqlalchemy import select

        row = self.db.scalars(select(model).where(model.uuid == uuid, model.removed.is_(None))).first()
        if row is None:
            raise InvalidParameter(f"Unable to find {model.__name__.lower()} by {param}={uuid}")
        return row
