"""Registered user data (cloud-init scripts and the like): register, list, delete, link to templates.

User data arrives base64-encoded; it is validated, re-encoded with padding (the virtual router's
Python wants the `=`), and stored as text. Templates point at it with a link policy that says how a
deployment's own user data combines with the template's.
"""

import base64
import binascii
import re
import urllib.parse

from sqlalchemy import select

from ..core.db import now
from ..core.errors import ApiError, InvalidParameter
from ..core.listing import owner_filter, paged
from ..core.params import STRING, UUID, Param
from ..core.registry import command
from ..core.responses import describe
from ..iam.models import Account, Domain
from ..iam.owners import finalize_owner, owner_fields, with_owner
from ..storage.models import VMTemplate
from .models import UserData, VMInstance

# Base64 accepted on the wire (POST bodies allow up to 1 MiB, as upstream; the setting may cap lower).
MAX_POST_LENGTH = 1048576
MAX_LENGTH_SETTING = "vm.userdata.max.length"
DEFAULT_MAX_LENGTH = 32768
POLICIES = ("ALLOWOVERRIDE", "APPEND", "DENYOVERRIDE")
# Names the virtual router serves as instance metadata files: not usable as user data variables.
METADATA_FILE_NAMES = ("service-offering", "availability-zone", "local-ipv4", "local-hostname", "public-ipv4",
                       "public-hostname", "instance-id", "vm-id", "public-keys", "cloud-identifier",
                       "hypervisor-host-name")
_BASE64_RE = re.compile(r"[A-Za-z0-9+/=\s_-]*\Z")

OWNER_PARAMS = [
    Param("account", STRING, description="an optional account for the userdata. Must be used with domainId."),
    Param("domainid", UUID, entity=Domain,
          description="an optional domainId for the userdata. If the account parameter is used, domainId "
                      "must also be used."),
    Param("projectid", UUID, description="an optional project for the userdata"),
]


def max_length(ctx) -> int:
    """`vm.userdata.max.length` when the settings catalogue declares it, else upstream's default."""
    if MAX_LENGTH_SETTING in ctx.server.config.settings:
        return int(ctx.setting(MAX_LENGTH_SETTING))
    return DEFAULT_MAX_LENGTH


def normalize(ctx, userdata: str) -> str:
    """Validate base64 user data and answer it re-encoded with padding (upstream validateUserData)."""
    if "%" in userdata:
        userdata = urllib.parse.unquote(userdata)
    if not _BASE64_RE.match(userdata):
        raise InvalidParameter("User data is not base64 encoded")
    if len(userdata) >= MAX_POST_LENGTH:
        raise InvalidParameter("User data is too long for an http POST request")
    limit = max_length(ctx)
    if len(userdata) > limit:
        raise InvalidParameter(f"User data has exceeded configurable max length : {limit}")
    compact = re.sub(r"\s", "", userdata).replace("-", "+").replace("_", "/").rstrip("=")
    try:
        decoded = base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
    except binascii.Error:
        raise InvalidParameter("User data is not base64 encoded") from None
    if not decoded:
        raise InvalidParameter("User data is too short")
    return base64.b64encode(decoded).decode()


def check_params(params: str | None) -> str | None:
    if not params:
        return None
    names = [name.strip() for name in params.split(",") if name.strip()]
    reserved = [name for name in names if name in METADATA_FILE_NAMES]
    if reserved:
        raise InvalidParameter(f"Params passed here have a few virtual router metadata file names {reserved}")
    return ",".join(names)


def view(ctx, row: UserData) -> dict:
    owner = ctx.db.get(Account, row.account_id)
    domain = ctx.db.get(Domain, row.domain_id)
    return row_view(row, owner.account_name, domain.uuid, domain.name, owner.uuid)


def row_view(row: UserData, account_name: str, domain_uuid: str, domain_name: str,
             account_uuid: str | None = None) -> dict:
    return {"id": row.uuid, "name": row.name, "userdata": row.user_data, "params": row.params,
            "accountid": account_uuid, **owner_fields(account_name, domain_uuid, domain_name),
            "hasannotations": False}


@command("registerUserData", response="userdata", since="4.18", params=[
    Param("name", STRING, required=True, description="Name of the userdata"),
    Param("userdata", STRING, required=True, length=MAX_POST_LENGTH,
          description="Base64 encoded userdata content. Using HTTP GET (via querystring), you can send up "
                      "to 4KB of data after base64 encoding. Using HTTP POST (via POST body), you can send "
                      "up to 1MB of data after base64 encoding. You also need to change "
                      "vm.userdata.max.length value"),
    Param("params", STRING, length=4096,
          description="comma separated list of variables declared in userdata content"),
    *OWNER_PARAMS,
])
def register_user_data(ctx, p):
    """Register a new userdata."""
    params = check_params(p.params)
    owner = finalize_owner(ctx, p.account, p.domainid)
    mine = select(UserData).where(UserData.account_id == owner.id, UserData.removed.is_(None))
    if ctx.db.scalars(mine.where(UserData.name == p.name)).first():
        raise InvalidParameter(f"A userdata with name {p.name} already exists for this account.")
    content = normalize(ctx, p.userdata)
    same = ctx.db.scalars(mine.where(UserData.user_data == content)).first()
    if same:
        raise InvalidParameter(f"Userdata {same.name} with same content already exists for this account.")
    row = UserData(account_id=owner.id, domain_id=owner.domain_id, name=p.name, user_data=content,
                   params=params)
    ctx.db.add(row)
    ctx.db.flush()
    ctx.event("REGISTER.USER.DATA", f"User data {p.name} registered", resource_type="UserData",
              resource_id=row.uuid, account_id=owner.id, domain_id=owner.domain_id)
    return view(ctx, row)


@command("deleteUserData", since="4.18", params=[
    Param("id", UUID, entity=UserData, required=True, description="the ID of the Userdata"),
    *OWNER_PARAMS,
])
def delete_user_data(ctx, p):
    """Deletes a userdata"""
    row = p.id
    linked = ctx.db.scalar(select(VMTemplate.id).where(VMTemplate.user_data_id == row.id,
                                                       VMTemplate.removed.is_(None)).limit(1))
    if linked:
        # A CloudRuntimeException upstream: 530 with cserrorcode 4250.
        raise ApiError(f"Userdata {row.name} cannot be removed as it is linked to active template/templates")
    in_use = ctx.db.scalar(select(VMInstance.id).where(VMInstance.user_data_id == row.id,
                                                       VMInstance.removed.is_(None)).limit(1))
    if in_use:
        raise ApiError(f"Userdata {row.name} cannot be removed as it is being used by some instances")
    row.removed = now()
    from ..platform.tags import drop_tags

    drop_tags(ctx, "UserData", row.id)
    ctx.event("DELETE.USER.DATA", f"User data {row.name} deleted", resource_type="UserData",
              resource_id=row.uuid, account_id=row.account_id, domain_id=row.domain_id)
    return {"success": True}


@command("listUserData", response="userdata", listing="owned", since="4.18", params=[
    Param("id", UUID, entity=UserData, description="the ID of the Userdata"),
    Param("name", STRING, description="Userdata name to look for"),
    Param("projectid", UUID, description="list objects by project"),
])
def list_user_data(ctx, p):
    """List registered userdatas"""
    query = with_owner(UserData).add_columns(Account.uuid).where(UserData.removed.is_(None))
    query = owner_filter(ctx, p, query, UserData)
    if p.id is not None:
        query = query.where(UserData.id == p.id.id)
    if p.name:
        query = query.where(UserData.name == p.name)
    return paged(ctx, p, query, row_view, keyword_columns=(UserData.name,), order_by=UserData.id)


@command("linkUserDataToTemplate", response="template", since="4.18", params=[
    Param("templateid", UUID, entity=VMTemplate,
          description="the ID of the template for the virtual machine"),
    Param("isoid", UUID, entity=VMTemplate, description="the ID of the ISO for the virtual machine"),
    Param("userdataid", UUID, entity=UserData,
          description="the ID of the userdata that has to be linked to template/ISO. If not provided "
                      "existing userdata will be unlinked from the template/ISO"),
    Param("userdatapolicy", STRING,
          description="an optional override policy of the userdata. Possible values are - ALLOWOVERRIDE, "
                      "APPEND, DENYOVERRIDE. Default policy is allowoverride"),
])
def link_user_data_to_template(ctx, p):
    """Link or unlink a userdata to a template."""
    if p.templateid is not None and p.isoid is not None:
        raise InvalidParameter("Both template ID and ISO ID are passed, API accepts only one")
    template = p.templateid or p.isoid
    if template is None:
        raise InvalidParameter("Atleast one of template ID or ISO ID needs to be passed")
    policy = (p.userdatapolicy or "ALLOWOVERRIDE").upper()
    if policy not in POLICIES:
        raise InvalidParameter(f"Invalid value {p.userdatapolicy} for parameter userdatapolicy; valid values "
                               f"are {', '.join(POLICIES)}")
    data = p.userdataid
    template.user_data_id = data.id if data else None
    template.user_data_link_policy = policy if data else None
    ctx.event("TEMPLATE.UPDATE", f"User data {'linked to' if data else 'unlinked from'} template "
              f"{template.name}", resource_type="Template", resource_id=template.uuid,
              account_id=template.account_id, domain_id=template.domain_id)
    return template_link_view(template, data)


def template_link_view(template: VMTemplate, data: UserData | None) -> dict:
    """The template fields this command is about (the full template view belongs to storage)."""
    answer = {"id": template.uuid, "name": template.name, "displaytext": template.display_text,
              "format": template.format, "isready": template.state == "Active"}
    if data is not None:
        answer.update(userdataid=data.uuid, userdataname=data.name, userdataparams=data.params,
                      userdatapolicy=template.user_data_link_policy)
    return answer


describe("userdata", {
    "id": "ID of the userdata", "name": "Name of the userdata", "userdata": "base64 encoded userdata content",
    "params": "list of parameters which contains the list of keys or string parameters that are needed to be "
              "passed for any variables declared in userdata", "accountid": "the owner id of the userdata",
    "account": "the owner of the userdata", "domainid": "the domain id of the userdata owner",
    "domain": "the domain name of the userdata owner",
    "hasannotations": "whether this resource has annotations",
})
