"""Platform rows → response objects: settings, events, jobs, API descriptions."""

import json

from ..core.config import Setting
from ..core.jobs import AsyncJob
from ..core.responses import describe, response_fields


def configuration(setting: Setting, value: str | None) -> dict:
    return {
        "category": setting.category, "name": setting.name, "value": value, "description": setting.description,
        "isdynamic": setting.dynamic, "component": setting.component, "scope": setting.scope,
        "type": setting.type, "defaultvalue": setting.default, "group": setting.group,
        "subgroup": setting.subgroup, "displaytext": setting.name, "options": setting.options,
    }


def event(row, username: str, account: str, domain_uuid: str, domain_name: str) -> dict:
    return {
        "id": row.uuid, "username": username, "type": row.type, "level": row.level,
        "description": row.description, "account": account, "domainid": domain_uuid, "domain": domain_name,
        "created": row.created, "state": row.state, "resourcetype": row.resource_type,
        "resourceid": row.resource_id, "archived": row.archived,
    }


def job(row: AsyncJob, user_uuid: str, account: str, account_uuid: str, domain_uuid: str, domain_path: str,
        msid: str | None = None) -> dict:
    answer = {
        "jobid": row.uuid, "accountid": account_uuid, "account": account, "userid": user_uuid,
        "domainid": domain_uuid, "domainpath": domain_path, "cmd": row.cmd, "jobstatus": row.status,
        "jobprocstatus": 0, "jobresultcode": row.result_code, "jobinstancetype": row.instance_type,
        "jobinstanceid": row.instance_id, "created": row.created, "completed": row.completed,
        "managementserverid": msid,
    }
    if row.status:
        answer["jobresulttype"] = "object"
        answer["jobresult"] = json.loads(row.result) if row.result else {}
    return answer


def api(cmd) -> dict:
    return {
        "name": cmd.name, "description": cmd.description, "isasync": cmd.isasync, "since": cmd.since,
        "related": ",".join(cmd.related) or None,
        "params": [{
            "name": p.name, "description": p.description, "type": p.type, "required": p.required,
            "length": p.length, "since": p.since, "related": ",".join(p.related) or None,
        } for p in cmd.params],
        "response": response_fields(cmd.response, cmd.fields),
    }


describe("configuration", {
    "category": "the category of the configuration", "name": "the name of the configuration",
    "value": "the value of the configuration", "description": "the description of the configuration",
    "isdynamic": "true if the configuration is dynamic", "component": "the component of the configuration",
    "scope": "scope(zone/cluster/pool/account) of the parameter that needs to be updated",
    "type": "the type of the configuration value", "defaultvalue": "the default value of the configuration",
    "group": "the group of the configuration", "subgroup": "the subgroup of the configuration",
    "displaytext": "the display text of the configuration", "options": "the possible options of the "
    "configuration value",
})
describe("event", {
    "id": "the ID of the event", "username": "the name of the user who performed the action",
    "type": "the type of the event (see event types)", "level": "the event level (INFO, WARN, ERROR)",
    "description": "a brief description of the event", "account": "the account name for the account that "
    "owns the object being acted on in the event", "domainid": "the id of the account's domain",
    "domain": "the name of the account's domain", "created": "the date the event was created",
    "state": "the state of the event", "resourcetype": "the type of the resource",
    "resourceid": "the id of the resource", "archived": "whether the event is archived",
})
describe("asyncjobs", {
    "jobid": "the ID of the async job", "accountid": "the account id that executed the async command",
    "account": "the account that executed the async command", "userid": "the user that executed the async "
    "command", "domainid": "the domain id that executed the async command", "domainpath": "the domain path",
    "cmd": "the async command executed", "jobstatus": "the current job status-should be 0 for PENDING",
    "jobprocstatus": "the progress information of the PENDING job", "jobresultcode": "the result code for "
    "the job", "jobresulttype": "the result type", "jobresult": "the result reason",
    "jobinstancetype": "the instance/entity object related to the job", "jobinstanceid": "the unique ID of "
    "the instance/entity object related to the job", "created": "the created date of the job",
    "completed": "the completed date of the job",
})
describe("hypervisor", {"name": "Hypervisor name"})
describe("capability", {
    "cloudstackversion": "version of the cloud stack", "securitygroupsenabled": "true if security groups "
    "support is enabled, false otherwise", "dynamicrolesenabled": "true if dynamic role-based api checker "
    "is enabled, false otherwise", "userpublictemplateenabled": "true if user and domain admins can set "
    "templates to be shared, false otherwise", "supportELB": "true if region supports elastic load balancer "
    "on basic zones", "projectinviterequired": "If invitation confirmation is required when add account to "
    "project", "allowusercreateprojects": "true if regular user is allowed to create projects",
    "customdiskofferingminsize": "minimum size that can be specified for custom disk offerings",
    "customdiskofferingmaxsize": "maximum size that can be specified for custom disk offerings",
    "apilimitinterval": "time interval (in seconds) to reset api count", "apilimitmax": "Max allowed number "
    "of api requests within the specified interval", "defaultuipagesize": "default page size in the UI",
})
