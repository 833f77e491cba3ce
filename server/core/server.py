"""The management server: one object holding what a running server shares (engine, caches, config,
registry, job runner, sessions), plus its heartbeat row so several servers can share one database."""

import asyncio
import collections
import datetime as dt
import logging
import os
import socket
import time
import zlib

from sqlalchemy import DateTime, Integer, String, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from . import registry, schema
from .cache import Caches
from .config import Config
from .db import Base, Entity, make_engine, make_sessionmaker, now

log = logging.getLogger("sandstack.server")

HEARTBEAT_SECONDS = 5
# A server whose heartbeat is older than this is considered stopped; its pending jobs are failed.
STALE_SECONDS = 60
# How often the system VM manager looks at the zones when nothing asked it to.
SYSTEM_VM_PERIOD = 5


class ManagementServerHost(Entity, Base):
    __tablename__ = "mshost"
    msid: Mapped[int] = mapped_column(Integer, unique=True)
    name: Mapped[str] = mapped_column(String(255))
    service_ip: Mapped[str] = mapped_column(String(64))
    service_port: Mapped[int] = mapped_column(Integer)
    version: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16), default="Up")
    pid: Mapped[int] = mapped_column(Integer, default=0)
    last_update: Mapped[object] = mapped_column(DateTime, default=now)


class ManagementServer:
    def __init__(self, db_url: str, *, host: str = "0.0.0.0", port: int = 8080,
                 settings: dict[str, str] | None = None, sandbox: bool = False,
                 integration_port: int | None = None):
        from .. import __version__
        from ..platform.settings import SETTINGS

        self.version = __version__
        self.host, self.port = host, port
        self.sandbox = sandbox
        self.integration_port = integration_port
        self.engine = make_engine(db_url)
        self.sessionmaker = make_sessionmaker(self.engine)
        self.caches = Caches()
        self.config = Config(self.caches, SETTINGS, settings, session_factory=self.session)
        self.registry = registry.load()
        self.models = {m.class_.__name__: m.class_ for m in Base.registry.mappers}
        # Stable across restarts of the same server, so its own interrupted jobs are recognised.
        self.msid = zlib.crc32(f"{socket.gethostname()}:{port}".encode()) & 0x7FFFFFFF
        self.ms_uuid = None
        self.called: collections.Counter[str] = collections.Counter()
        # The system VM manager: zones whose system VMs may need work, and why a zone is blocked.
        self.system_vm_zones_dirty = True
        self.system_vm_blockers: dict[int, str] = {}
        self.clock = time.time

        from ..iam.sessions import Sessions
        from .dispatch import Dispatcher
        from .jobs import JobRunner

        self.dispatcher = Dispatcher(self)
        self.jobs = JobRunner(self)
        self.sessions = Sessions(self)

    def session(self) -> Session:
        return self.sessionmaker()

    # ---- start and stop ----------------------------------------------------------------------

    def prepare(self) -> None:
        """Bring the schema to the code's revision, seed what a fresh cloud has, register this server."""
        from ..compute.offerings import seed_offerings
        from ..iam.bootstrap import bootstrap
        from ..network.offerings import seed_network_offerings
        from ..network.vpc_offerings import seed_vpc_offerings
        from ..storage.templates import seed_guest_os_and_templates

        schema.ensure(self.engine)
        with self.session() as db:
            bootstrap(db, self)
            seed_guest_os_and_templates(db)
            seed_network_offerings(db)
            seed_vpc_offerings(db)
            seed_offerings(db)
            Caches.seed(db)
            self.register(db)
            db.commit()
            self.jobs.fail_interrupted(db, [self.msid])
            self.caches.poll(db)

    def register(self, db: Session) -> None:
        row = db.scalars(select(ManagementServerHost).where(ManagementServerHost.msid == self.msid)).first()
        if row is None:
            row = ManagementServerHost(msid=self.msid, name=socket.gethostname(), service_ip=self.host,
                                       service_port=self.port, version=self.version)
            db.add(row)
        row.state, row.pid, row.last_update, row.version = "Up", os.getpid(), now(), self.version
        db.flush()
        self.ms_uuid = row.uuid

    async def background(self) -> None:
        """Cache polling, heartbeat, leftover jobs, other servers' stale jobs, system VMs, expunging,
        recurring snapshots — forever."""
        from ..compute.vm_sweeper import expunge_pass
        from ..infra import system_vms
        from ..storage import template_downloads
        from ..storage.snapshot_scheduler import snapshot_pass

        beat = managed = 0.0
        while True:
            await asyncio.sleep(0.5 if self.system_vm_zones_dirty else 1)
            try:
                with self.session() as db:
                    self.caches.poll(db)
                    if time.monotonic() - beat >= HEARTBEAT_SECONDS:
                        beat = time.monotonic()
                        self.heartbeat(db)
                    leader = self.is_leader(db)
                self.jobs.claim_pending()
                if leader:
                    await template_downloads.start_downloads(self)
                # Only one server manages system VMs, so two never create the same zone's VMs.
                if leader and (self.system_vm_zones_dirty or time.monotonic() - managed >= SYSTEM_VM_PERIOD):
                    self.system_vm_zones_dirty, managed = False, time.monotonic()
                    await system_vms.manage(self)
                await expunge_pass(self, leader)
                await snapshot_pass(self, leader)
            except Exception:  # the loop must survive a database hiccup
                log.exception("background maintenance failed")

    def is_leader(self, db: Session) -> bool:
        """The Up management server with the lowest msid leads."""
        lowest = db.scalar(select(ManagementServerHost.msid).where(ManagementServerHost.state == "Up")
                           .order_by(ManagementServerHost.msid).limit(1))
        return lowest in (None, self.msid)

    def heartbeat(self, db: Session) -> None:
        db.execute(update(ManagementServerHost).where(ManagementServerHost.msid == self.msid)
                   .values(last_update=now(), state="Up"))
        stale = db.scalars(select(ManagementServerHost.msid).where(
            ManagementServerHost.msid != self.msid, ManagementServerHost.state == "Up",
            ManagementServerHost.last_update < now() - dt.timedelta(seconds=STALE_SECONDS),
        )).all()
        if stale:
            db.execute(update(ManagementServerHost).where(ManagementServerHost.msid.in_(stale))
                       .values(state="Down"))
        db.commit()
        if stale:
            self.jobs.fail_interrupted(db, list(stale))

    async def shutdown(self) -> None:
        await self.jobs.drain()
        with self.session() as db:
            db.execute(update(ManagementServerHost).where(ManagementServerHost.msid == self.msid)
                       .values(state="Down", last_update=now()))
            db.commit()
        self.engine.dispose()
