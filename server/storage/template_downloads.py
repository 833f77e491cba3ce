"""Template and ISO downloads into image stores, driven by each zone's secondary storage VM (SSVM).

A store ref goes NOT_DOWNLOADED → DOWNLOAD_IN_PROGRESS (download_pct rising) → DOWNLOADED (state Ready)
or DOWNLOAD_ERROR (error_str says why). Nothing starts while the zone's SSVM is not Running: the ref waits
and its status says so; the background pass (`start_downloads`, run by the lead management server)
starts it once the SSVM runs.

How the bits are fetched: a URL on this machine (127.0.0.1, localhost, ::1) is really downloaded and
verified — streamed, sized, checksummed, then discarded — so tests can prove the state machine against
a local HTTP server. Any other URL is handed to the SSVM host's hypervisor driver as a DownloadCommand:
the simulator fakes it (1 GB, as upstream's simulator) and `configureSimulator name=DownloadCommand`
can fail it.
"""

import asyncio
import hashlib
import logging
import weakref
from urllib.parse import urlsplit

import aiohttp
from sqlalchemy import select, update

from ..compute.models import SECONDARY_STORAGE_VM, VMInstance
from ..core.db import now
from ..core.errors import ApiError
from ..hypervisors.base import driver_for
from ..infra.models import DataCenter, Host
from ..usage.models import record_usage
from . import template_rules
from .models import TemplateStoreRef, VMTemplate

log = logging.getLogger("sandstack.templates")

NOT_DOWNLOADED, IN_PROGRESS, DOWNLOADED, DOWNLOAD_ERROR = (
    "NOT_DOWNLOADED", "DOWNLOAD_IN_PROGRESS", "DOWNLOADED", "DOWNLOAD_ERROR")
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
SIMULATED_SIZE = 10**9  # upstream MockStorageManager's default template size
CHUNK = 1 << 16
# Per running server: the refs this process downloads now, and whether interrupted ones were recovered.
_active: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class DownloadFailed(Exception):
    def __init__(self, text: str):
        super().__init__(text)
        self.text = text


def system_context(server):
    from ..core import auth
    from ..core.context import Context

    return Context(server, None, auth.by_user_id(server, auth.SYSTEM_USER_ID))


def running_ssvm(ctx, zone_id: int | None) -> VMInstance | None:
    return ctx.db.scalars(select(VMInstance).where(
        VMInstance.zone_id == zone_id, VMInstance.type == SECONDARY_STORAGE_VM, VMInstance.state == "Running",
        VMInstance.removed.is_(None)).order_by(VMInstance.id).limit(1)).first()


def waiting_text(ctx, zone_id: int | None) -> str:
    zone = ctx.db.get(DataCenter, zone_id) if zone_id is not None else None
    name = zone.name if zone is not None else "(region)"
    return (f"Waiting for the secondary storage VM of zone {name}: it is not Running; the download starts "
            "when it is")


# ---- the background pass ------------------------------------------------------------------------

async def start_downloads(server) -> None:
    """Start every waiting download whose zone has a running SSVM; note the others as waiting."""
    state = server_state(server)
    ctx = system_context(server)
    try:
        if not state["recovered"]:
            recover(ctx, state)
        refs = ctx.db.scalars(
            select(TemplateStoreRef).join(VMTemplate, VMTemplate.id == TemplateStoreRef.template_id)
            .where(TemplateStoreRef.download_state == NOT_DOWNLOADED, TemplateStoreRef.state != "Destroyed",
                   VMTemplate.removed.is_(None))
            .order_by(TemplateStoreRef.id)).all()
        for ref in refs:
            ssvm = running_ssvm(ctx, ref.zone_id)
            if ssvm is None:
                text = waiting_text(ctx, ref.zone_id)
                if ref.error_str != text:
                    ref.error_str = text
                continue
            if claim(ctx, ref.id):
                launch(server, state, ref.id, ssvm.id)
        ctx.commit()
    finally:
        ctx.rollback()
        ctx.close()


def server_state(server) -> dict:
    """The downloads this process runs now ({ref id: task}, tasks held so they are not collected)."""
    return _active.setdefault(server, {"tasks": {}, "recovered": False})


def recover(ctx, state: dict) -> None:
    """Downloads a stopped server left in progress start over (the bits never reached the store)."""
    ctx.db.execute(update(TemplateStoreRef).where(TemplateStoreRef.download_state == IN_PROGRESS,
                                                  TemplateStoreRef.id.not_in(list(state["tasks"]) or [0]))
                   .values(download_state=NOT_DOWNLOADED, download_pct=0))
    ctx.commit()
    state["recovered"] = True


def claim(ctx, ref_id: int) -> bool:
    """Take a waiting ref (atomically, so two servers never download the same one)."""
    taken = ctx.db.execute(update(TemplateStoreRef).where(
        TemplateStoreRef.id == ref_id, TemplateStoreRef.download_state == NOT_DOWNLOADED,
    ).values(download_state=IN_PROGRESS, download_pct=0, error_str=None)).rowcount
    ctx.commit()
    return taken == 1


def launch(server, state: dict, ref_id: int, ssvm_id: int) -> asyncio.Task:
    task = asyncio.get_running_loop().create_task(download(server, ref_id, ssvm_id))
    state["tasks"][ref_id] = task
    task.add_done_callback(lambda _: state["tasks"].pop(ref_id, None))
    return task


async def download_now(server, ref_id: int, ssvm_id: int) -> None:
    """Download a ref the caller created already claimed (copyTemplate waits for its copies)."""
    await launch(server, server_state(server), ref_id, ssvm_id)


# ---- one download -------------------------------------------------------------------------------

async def download(server, ref_id: int, ssvm_id: int) -> None:
    """Download one claimed ref (DOWNLOAD_IN_PROGRESS) through the SSVM and record the outcome."""
    ctx = system_context(server)
    try:
        ref = ctx.db.get(TemplateStoreRef, ref_id)
        template = ctx.db.get(VMTemplate, ref.template_id)
        ctx.event("TEMPLATE.DOWNLOAD.START", f"Download of {label(template)} {template.name} started",
                  resource_type=resource_type(template), resource_id=template.uuid,
                  account_id=template.account_id, domain_id=template.domain_id)
        ctx.commit()
        try:
            size = await fetch(ctx, ref_id, template, ssvm_id)
        except DownloadFailed as failure:
            finish(ctx, ref_id, error=failure.text)
        else:
            finish(ctx, ref_id, size=size)
        ctx.commit()
    except Exception:  # a download must never take the server's loop down with it
        log.exception("download of template store ref %s failed", ref_id)
        ctx.rollback()
    finally:
        ctx.close()


async def fetch(ctx, ref_id: int, template: VMTemplate, ssvm_id: int) -> int:
    """Fetch the bits; answer their size or raise DownloadFailed."""
    host_name = (urlsplit(template.url or "").hostname or "").lower()
    if host_name in LOCAL_HOSTS:
        return await http_download(ctx, ref_id, template)
    return await simulated_download(ctx, template, ssvm_id)


async def simulated_download(ctx, template: VMTemplate, ssvm_id: int) -> int:
    ssvm = ctx.db.get(VMInstance, ssvm_id)
    host = ctx.db.get(Host, ssvm.host_id) if ssvm is not None and ssvm.host_id else None
    if host is None or ssvm.state != "Running":
        raise DownloadFailed("The secondary storage VM stopped before the download started")
    ctx.commit()
    try:
        driver = driver_for(host.hypervisor_type)
        answer = await driver.execute(ctx, host, "DownloadCommand", url=template.url, template=template.uuid)
    except ApiError as error:
        raise DownloadFailed(error.text) from None
    return int(answer.get("templateSize") or answer.get("size") or SIMULATED_SIZE)


async def http_download(ctx, ref_id: int, template: VMTemplate) -> int:
    """Stream the URL, hashing as it goes; the bytes are counted and verified, not kept."""
    limit = int(ctx.setting("max.template.iso.size")) * 1024**3
    digest = template_rules.algorithm_and_digest(template.checksum) if template.checksum else None
    hasher = hashlib.new(digest[0]) if digest else None
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=60)
    received = 0
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session, session.get(template.url) as response:
            if response.status != 200:
                raise DownloadFailed(f"Failed to download {template.url}: HTTP Server returned "
                                     f"{response.status} {response.reason} (expected 200 OK)")
            total, reported = response.content_length, 0
            async for chunk in response.content.iter_chunked(CHUNK):
                received += len(chunk)
                if received > limit:
                    raise DownloadFailed(f"The file at {template.url} exceeds max.template.iso.size "
                                         f"({limit // 1024**3} GB)")
                if hasher is not None:
                    hasher.update(chunk)
                reported = report_progress(ctx, ref_id, received, total, reported)
    except (TimeoutError, aiohttp.ClientError, OSError) as error:
        raise DownloadFailed(f"Failed to download {template.url}: {error or type(error).__name__}") from None
    if hasher is not None and hasher.hexdigest() != digest[1]:
        raise DownloadFailed(f'checksum "{hasher.hexdigest()}" of the downloaded file does not match the '
                             f'given checksum "{digest[1]}"')
    return received


def report_progress(ctx, ref_id: int, received: int, total: int | None, reported: int) -> int:
    """Record download_pct in steps of 10 (each a short commit); answer the last recorded value."""
    if not total:
        return reported
    pct = min(99, received * 100 // total)
    if pct < reported + 10:
        return reported
    ctx.db.execute(update(TemplateStoreRef).where(TemplateStoreRef.id == ref_id).values(download_pct=pct))
    ctx.commit()
    return pct


def finish(ctx, ref_id: int, *, size: int | None = None, error: str | None = None) -> None:
    ctx.db.expire_all()  # the ref may have been deleted (Destroyed) while the bits came in
    ref = ctx.db.get(TemplateStoreRef, ref_id)
    template = ctx.db.get(VMTemplate, ref.template_id) if ref is not None else None
    if ref is None or template is None or ref.state == "Destroyed" or template.removed is not None:
        return
    owner = {"account_id": template.account_id, "domain_id": template.domain_id}
    described = {"resource_type": resource_type(template), "resource_id": template.uuid, **owner}
    if error is not None:
        ref.download_state, ref.error_str = DOWNLOAD_ERROR, error
        ctx.event("TEMPLATE.DOWNLOAD.FAILED", f"Download of {label(template)} {template.name} failed: "
                                              f"{error}",
                  level="ERROR", **described)
        return
    ref.download_state, ref.download_pct, ref.state, ref.size = DOWNLOADED, 100, "Ready", size
    ref.error_str, ref.install_path = None, f"template/tmpl/{template.account_id}/{template.id}/"
    ref.created = ref.created or now()
    if not template.size:
        template.size = size
    ctx.event("TEMPLATE.DOWNLOAD.SUCCESS", f"Download of {label(template)} {template.name} complete "
              f"({size} bytes)", **described)
    if not ready_elsewhere_in_zone(ctx, ref):  # one record per zone, as its .DELETE is
        record_usage(ctx, f"{usage_prefix(template)}.CREATE", zone_id=ref.zone_id, resource=template,
                     resource_type=resource_type(template), template_id=template.id, size=size, **owner)


def ready_elsewhere_in_zone(ctx, ref: TemplateStoreRef) -> bool:
    """Another copy of the template is already Ready in the ref's zone (another image store)."""
    return ctx.db.scalar(select(TemplateStoreRef.id).where(
        TemplateStoreRef.template_id == ref.template_id, TemplateStoreRef.id != ref.id,
        TemplateStoreRef.zone_id.is_not_distinct_from(ref.zone_id), TemplateStoreRef.state == "Ready")
        .limit(1)) is not None


def label(template: VMTemplate) -> str:
    return "ISO" if template.format == "ISO" else "template"


def resource_type(template: VMTemplate) -> str:
    return "Iso" if template.format == "ISO" else "Template"


def usage_prefix(template: VMTemplate) -> str:
    return "ISO" if template.format == "ISO" else "TEMPLATE"
