"""Platform commands: capabilities, API discovery, global settings, events, async jobs, hypervisors."""

from sqlalchemy import select

from .. import CLOUDSTACK_VERSION
from ..core import auth
from ..core.errors import InvalidParameter
from ..core.events import Event
from ..core.jobs import AsyncJob
from ..core.listing import owner_filter, paged, paged_list
from ..core.params import BOOLEAN, DATE, STRING, UUID, Param
from ..core.registry import ROOT_ONLY, command
from ..core.server import ManagementServerHost
from ..iam.models import Account, Domain, User
from . import views

CAPABILITY_SETTINGS = {
    "userpublictemplateenabled": "allow.public.user.templates",
    "allowusercreateprojects": "allow.user.create.projects",
    "projectinviterequired": "project.invite.required",
    "customdiskofferingminsize": "custom.diskoffering.size.min",
    "customdiskofferingmaxsize": "custom.diskoffering.size.max",
    "kvmsnapshotenabled": "kvm.snapshot.enabled",
    "allowuserviewdestroyedvm": "allow.user.view.destroyed.vm",
    "allowuserexpungerecovervm": "allow.user.expunge.recover.vm",
    "allowuserexpungerecovervolume": "allow.user.expunge.recover.volume",
    "allowuserviewalldomainaccounts": "allow.user.view.all.domain.accounts",
    "allowuserforcestopvm": "allow.user.force.stop.vm",
    "defaultuipagesize": "default.ui.page.size",
}


@command("listCapabilities", response="capability", params=[])
def list_capabilities(ctx, p):
    """Lists capabilities"""
    config_cache = ctx.server.caches.get("config")
    if "capabilities" not in config_cache:
        config_cache["capabilities"] = settings_capabilities(ctx)
    return {**config_cache["capabilities"], "securitygroupsenabled": security_groups_enabled(ctx)}


def settings_capabilities(ctx) -> dict:
    """The part of the capabilities that follows global settings (cached until a setting changes)."""
    capability = {
        "cloudstackversion": CLOUDSTACK_VERSION, "dynamicrolesenabled": True, "supportELB": "false",
        "regionsecondaryenabled": False, "kubernetesserviceenabled": False,
        "kubernetesclusterexperimentalfeaturesenabled": False,
    }
    for field, setting in CAPABILITY_SETTINGS.items():
        if setting in ctx.server.config.settings:
            capability[field] = ctx.setting(setting)
    if ctx.setting("api.throttling.enabled"):
        capability["apilimitinterval"] = ctx.setting("api.throttling.interval")
        capability["apilimitmax"] = ctx.setting("api.throttling.max")
    return capability


def security_groups_enabled(ctx) -> bool:
    """True once any zone has security groups; cached until a zone changes."""
    from ..infra.models import DataCenter

    cache = ctx.server.caches.get("zones")
    if "sg" not in cache:
        cache["sg"] = ctx.db.scalar(select(DataCenter.id).where(DataCenter.security_group_enabled.is_(True),
                                                                DataCenter.removed.is_(None)).limit(1)) is not None
    return cache["sg"]


@command("listApis", response="api", params=[
    Param("name", STRING, description="API name"),
])
def list_apis(ctx, p):
    """lists all available apis on the server, provided by the Api Discovery plugin"""
    from ..core.render import ListResult

    allowed = [cmd for cmd in ctx.server.registry.values()
               if auth.command_allowed(ctx.server, ctx.caller, cmd, ctx.db)]
    if p.name:
        allowed = [cmd for cmd in allowed if cmd.name == p.name]
        if not allowed:
            raise InvalidParameter(f"Unable to find API {p.name} for the caller")
    allowed.sort(key=lambda cmd: cmd.name)
    return ListResult([views.api(cmd) for cmd in allowed], len(allowed))


# ---- global settings ------------------------------------------------------------------------

@command("listConfigurations", response="configuration", roles=ROOT_ONLY, listing="list", params=[
    Param("name", STRING, description="lists configuration by name"),
    Param("category", STRING, description="lists configurations by category"),
    Param("group", STRING, description="lists configuration by group name"),
    Param("subgroup", STRING, description="lists configuration by subgroup name"),
])
def list_configurations(ctx, p):
    """Lists all configurations."""
    values = ctx.server.config.raw_values(ctx.db)
    settings = sorted(ctx.server.config.settings.values(), key=lambda s: s.name)
    keyword = (p.keyword or "").lower()
    chosen = [s for s in settings
              if (not p.name or p.name.lower() in s.name.lower())
              and (not p.category or s.category.lower() == p.category.lower())
              and (not p.group or s.group.lower() == p.group.lower())
              and (not p.subgroup or s.subgroup.lower() == p.subgroup.lower())
              and (not keyword or keyword in s.name.lower() or keyword in s.description.lower())
              and s.category != "Hidden"]
    return paged_list(ctx, p, [views.configuration(s, values.get(s.name)) for s in chosen])


def known_setting(ctx, name: str):
    setting = ctx.server.config.settings.get(name)
    if setting is None:
        raise InvalidParameter(f"Invalid configuration name: {name}; no such global setting")
    return setting


@command("updateConfiguration", response="configuration", roles=ROOT_ONLY, params=[
    Param("name", STRING, required=True, description="the name of the configuration"),
    Param("value", STRING, length=4096, description="the value of the configuration"),
])
def update_configuration(ctx, p):
    """Updates a configuration."""
    from ..core.config import validate_value

    setting = known_setting(ctx, p.name)
    if p.value is not None:
        validate_value(setting, p.value)
    ctx.server.config.update(ctx.db, setting.name, p.value)
    ctx.touch("config")
    ctx.event("CONFIGURATION.VALUE.EDIT", f"Value of {setting.name} changed to {p.value}",
              resource_type="Configuration")
    return views.configuration(setting, p.value)


@command("resetConfiguration", response="configuration", roles=ROOT_ONLY, since="4.16.0", params=[
    Param("name", STRING, required=True, description="the name of the configuration"),
])
def reset_configuration(ctx, p):
    """Resets a configuration. The configuration will be set to default value for global setting"""
    setting = known_setting(ctx, p.name)
    ctx.server.config.update(ctx.db, setting.name, setting.default)
    ctx.touch("config")
    ctx.event("CONFIGURATION.VALUE.EDIT", f"Value of {setting.name} reset to its default",
              resource_type="Configuration")
    return views.configuration(setting, setting.default)


# ---- events and jobs ------------------------------------------------------------------------

@command("listEvents", response="event", listing="owned", params=[
    Param("id", UUID, entity=Event, description="the ID of the event"),
    Param("type", STRING, description="the event type (see event types)"),
    Param("level", STRING, description="the event level (INFO, WARN, ERROR)"),
    Param("startdate", DATE, description="the start date range of the list you want to retrieve (use format "
                                         "\"yyyy-MM-dd\" or the new format \"yyyy-MM-dd HH:mm:ss\")"),
    Param("enddate", DATE, description="the end date range of the list you want to retrieve (use format "
                                       "\"yyyy-MM-dd\" or the new format \"yyyy-MM-dd HH:mm:ss\")"),
    Param("startid", UUID, entity=Event, description="the parent/start ID of the event, when provided this "
                                                     "will only return child events"),
    Param("resourceid", STRING, description="the ID of the resource associated with the event"),
    Param("resourcetype", STRING, description="the type of the resource associated with the event"),
    Param("archived", BOOLEAN, description="true to list archived events otherwise false"),
])
def list_events(ctx, p):
    """A command to list events."""
    query = (select(Event, User.username, Account.account_name, Domain.uuid, Domain.name)
             .join(User, Event.user_id == User.id).join(Account, Event.account_id == Account.id)
             .join(Domain, Event.domain_id == Domain.id))
    query = owner_filter(ctx, p, query, Event)
    query = query.where(Event.archived.is_(bool(p.archived)))
    if p.id is not None:
        query = query.where(Event.id == p.id.id)
    if p.type:
        query = query.where(Event.type == p.type)
    if p.level:
        query = query.where(Event.level == p.level.upper())
    if p.startdate:
        query = query.where(Event.created >= p.startdate)
    if p.enddate:
        query = query.where(Event.created <= p.enddate)
    if p.startid is not None:
        query = query.where(Event.start_id == p.startid.id)
    if p.resourceid:
        query = query.where(Event.resource_id == p.resourceid)
    if p.resourcetype:
        query = query.where(Event.resource_type == p.resourcetype)
    return paged(ctx, p, query, views.event, keyword_columns=(Event.type, Event.description),
                 order_by=Event.id.desc())


def job_query():
    return (select(AsyncJob, User.uuid, Account.account_name, Account.uuid, Domain.uuid, Domain.path)
            .join(User, AsyncJob.user_id == User.id).join(Account, AsyncJob.account_id == Account.id)
            .join(Domain, AsyncJob.domain_id == Domain.id))


def job_view(job, user_uuid, account, account_uuid, domain_uuid, domain_path):
    return views.job(job, user_uuid, account, account_uuid, domain_uuid,
                     "ROOT" + domain_path.rstrip("/") if domain_path != "/" else "ROOT")


@command("queryAsyncJobResult", params=[
    Param("jobid", UUID, entity=AsyncJob, required=True, description="the ID of the asynchronous job"),
], fields={"jobid": "", "jobstatus": "", "jobresultcode": "", "jobresult": ""})
def query_async_job_result(ctx, p):
    """Retrieves the current status of asynchronous job."""
    job = p.jobid
    answer = job_view(*job_row(ctx, job))
    if job.msid is not None:
        answer["managementserverid"] = ctx.server.ms_uuid if job.msid == ctx.server.msid else ctx.db.scalar(
            select(ManagementServerHost.uuid).where(ManagementServerHost.msid == job.msid))
    return answer


def job_row(ctx, job) -> tuple:
    """The job with its owner's names: from the cached principal of its user (polling is hot), else read."""
    who = auth.by_user_id(ctx.server, job.user_id, ctx.db)
    if who is not None and who.account_id == job.account_id and who.domain_id == job.domain_id:
        return job, who.user_uuid, who.account_name, who.account_uuid, who.domain_uuid, who.domain_path
    return ctx.db.execute(job_query().where(AsyncJob.id == job.id)).one()


@command("listAsyncJobs", response="asyncjobs", listing="owned", params=[
    Param("startdate", DATE, description="The start date of the async job (use format \"yyyy-MM-dd'T'HH:mm:ss"
                                         "'+'SSSS\")"),
    Param("managementserverid", UUID, entity=ManagementServerHost,
          description="The id of the management server", since="4.19"),
])
def list_async_jobs(ctx, p):
    """Lists all pending asynchronous jobs for the account."""
    query = owner_filter(ctx, p, job_query(), AsyncJob)
    if p.startdate:
        query = query.where(AsyncJob.created >= p.startdate)
    if p.managementserverid is not None:
        query = query.where(AsyncJob.msid == p.managementserverid.msid)
    return paged(ctx, p, query, job_view, keyword_columns=(AsyncJob.cmd,), order_by=AsyncJob.id.desc())


# ---- hypervisors ----------------------------------------------------------------------------

@command("listHypervisors", response="hypervisor", params=[
    Param("zoneid", UUID, entity="DataCenter", description="the zone id for listing hypervisors."),
])
def list_hypervisors(ctx, p):
    """List hypervisors"""
    from ..core.render import ListResult

    names = [name.strip() for name in str(ctx.setting("hypervisor.list")).split(",") if name.strip()]
    return ListResult([{"name": name} for name in names], len(names))


