"""Async jobs are rows: written by the request, claimed and run by any management server's worker.

An async command answers `jobid` at once; the job row holds the command name, its raw parameters and
the caller, so whichever server claims it can run it. A job left pending by a server that stopped is
finished as failed, with a clear text, when that server (or any other, once its heartbeat is stale)
starts.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, bindparam, select, update
from sqlalchemy.orm import Mapped, mapped_column

from .db import Base, Entity, core, now, prebuilt
from .errors import INTERNAL_ERROR_TEXT, ApiError

log = logging.getLogger("sandstack.jobs")

PENDING, SUCCEEDED, FAILED, CANCELLED = 0, 1, 2, 3
INTERRUPTED_TEXT = ("Job failed because the management server that ran it stopped before it finished; "
                    "no work of this job is left half done")


class AsyncJob(Entity, Base):
    __tablename__ = "async_job"
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domain.id"))
    cmd: Mapped[str] = mapped_column(String(128))
    params: Mapped[str] = mapped_column(Text)  # the request's raw parameters, JSON
    instance_type: Mapped[str | None] = mapped_column(String(64), nullable=True)
    instance_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    status: Mapped[int] = mapped_column(Integer, default=PENDING, index=True)
    result_code: Mapped[int] = mapped_column(Integer, default=0)
    result: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON object
    # The management server that claimed the job (None: not claimed yet).
    msid: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    completed: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


def finish(db, job_id: int, status: int, code: int, result: dict) -> None:
    statement = prebuilt("job.finish", lambda: update(AsyncJob).where(AsyncJob.id == bindparam("job")).values(
        status=bindparam("status"), result_code=bindparam("code"), result=bindparam("result"),
        completed=bindparam("completed")))
    core(db, statement, {"job": job_id, "status": status, "code": code, "result": json.dumps(result),
                         "completed": now()})


def failure_result(error: ApiError) -> dict:
    return {"uuidList": error.uuids, "errorcode": error.errorcode, "errortext": error.text}


@dataclass
class Handover:
    """What the request that wrote a job had loaded, for the job when this server runs it right away: the
    job row, the row its create step made, and the rows its parameters named. The job adopts them into
    its own session instead of reading them again (they were committed a moment ago)."""

    job: Any
    created: Any = None
    rows: dict = field(default_factory=dict)  # (model, uuid) → row

    @classmethod
    def of(cls, job, created, params: dict) -> Handover:
        rows = {}
        for value in params.values():
            for row in value if isinstance(value, list) else [value]:
                if hasattr(row, "_sa_instance_state") and getattr(row, "uuid", None):
                    rows[(type(row), row.uuid)] = row
        return cls(job, created, rows)

    @staticmethod
    def adopt(db, row):
        return db.merge(row, load=False)


class JobRunner:
    """Runs the jobs this management server claims, a bounded number at a time."""

    def __init__(self, server, workers: int = 64):
        self.server = server
        self.slots = asyncio.Semaphore(workers)
        self.tasks: set[asyncio.Task] = set()
        self.submitted: set[int] = set()  # ids of the jobs waiting or running here

    def submit(self, job_id: int, handover: Handover | None = None) -> None:
        """Run a job here. `handover`: what the request that wrote it had loaded (see Handover)."""
        self.submitted.add(job_id)
        task = asyncio.get_running_loop().create_task(self._run(job_id, handover))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def claim(self, db, job_id: int) -> bool:
        statement = prebuilt("job.claim", lambda: update(AsyncJob).where(
            AsyncJob.id == bindparam("job"), AsyncJob.msid.is_(None), AsyncJob.status == PENDING,
        ).values(msid=bindparam("msid")))
        claimed = core(db, statement, {"job": job_id, "msid": self.server.msid}).rowcount
        db.commit()
        return claimed == 1

    async def _run(self, job_id: int, handover: Handover | None) -> None:
        try:
            async with self.slots:
                with self.server.session() as db:
                    if not self.claim(db, job_id):
                        return
                    job = handover.adopt(db, handover.job) if handover else db.get(AsyncJob, job_id)
                    # The dispatcher records the outcome (finish) itself.
                    await self.server.dispatcher.run_job(db, job, handover)
        finally:
            self.submitted.discard(job_id)

    def claim_pending(self) -> int:
        """Submit jobs no server has claimed yet (written by a server that could not run them)."""
        with self.server.session() as db:
            ids = db.scalars(select(AsyncJob.id).where(AsyncJob.status == PENDING, AsyncJob.msid.is_(None))
                             .order_by(AsyncJob.id).limit(100)).all()
        ids = [job_id for job_id in ids if job_id not in self.submitted]
        for job_id in ids:
            self.submit(job_id)
        return len(ids)

    def fail_interrupted(self, db, msids: list[int]) -> int:
        """Finish as failed the pending jobs of stopped servers; their work was never committed."""
        if not msids:
            return 0
        failed = db.execute(update(AsyncJob).where(AsyncJob.status == PENDING, AsyncJob.msid.in_(msids))
                            .values(status=FAILED, result_code=530, completed=now(),
                                    result=json.dumps({"uuidList": [], "errorcode": 530,
                                                       "errortext": INTERRUPTED_TEXT}))).rowcount
        db.commit()
        return failed

    async def drain(self, timeout: float = 10) -> None:
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=timeout)


async def call_handler(handler, ctx, p) -> Any:
    result = handler(ctx, p)
    if inspect.isawaitable(result):
        result = await result
    return result


def internal_failure() -> dict:
    return {"uuidList": [], "errorcode": 530, "errortext": INTERNAL_ERROR_TEXT}
