"""Identity rows → CloudStack response objects."""

from ..core.responses import describe
from .models import Account, Domain, Role, RolePermission, User

ACCOUNT_TYPE_ROLE = {0: "User", 1: "Admin", 2: "DomainAdmin", 3: "ResourceAdmin", 4: "Admin", 5: "User"}


def domain(row: Domain, parent: Domain | None = None, has_children: bool = False) -> dict:
    return {
        "id": row.uuid, "name": row.name, "level": row.level, "path": _display_path(row.path),
        "parentdomainid": parent.uuid if parent else None,
        "parentdomainname": parent.name if parent else None,
        "haschild": has_children, "networkdomain": row.network_domain, "state": row.state,
        "created": row.created,
    }


def _display_path(path: str) -> str:
    """ROOT, ROOT/Child, ... as upstream shows domain paths."""
    return "ROOT" + path.rstrip("/") if path != "/" else "ROOT"


def account(row: Account, dom: Domain, role: Role, users: list[dict] | None = None) -> dict:
    return {
        "id": row.uuid, "name": row.account_name, "accounttype": row.type,
        "roleid": role.uuid, "rolename": role.name, "roletype": role.role_type,
        "domainid": dom.uuid, "domain": dom.name, "domainpath": _display_path(dom.path),
        "state": row.state, "networkdomain": row.network_domain, "isdefault": row.is_default,
        "created": row.created, "user": users or [],
    }


def user(row: User, acct: Account, dom: Domain, role: Role) -> dict:
    return {
        "id": row.uuid, "username": row.username, "firstname": row.firstname, "lastname": row.lastname,
        "email": row.email, "created": row.created, "state": row.state, "account": acct.account_name,
        "accountid": acct.uuid, "accounttype": acct.type, "roleid": role.uuid, "rolename": role.name,
        "roletype": role.role_type, "domainid": dom.uuid, "domain": dom.name, "timezone": row.timezone,
        "apikey": row.api_key, "isdefault": row.is_default, "iscallerchilddomain": False,
        "usersource": "native" if row.source == "UNKNOWN" else row.source.lower(),
        "is2faenabled": False, "is2famandated": False, "apikeyaccess": "ENABLED" if row.api_key_access
        else "DISABLED",
    }


def role(row: Role) -> dict:
    return {
        "id": row.uuid, "name": row.name, "type": row.role_type, "description": row.description,
        "isdefault": row.is_default, "ispublic": row.public, "state": row.state,
    }


def role_permission(row: RolePermission, owner: Role) -> dict:
    return {
        "id": row.uuid, "roleid": owner.uuid, "rolename": owner.name, "rule": row.rule,
        "permission": row.permission.lower(), "description": row.description,
    }


describe("domain", {
    "id": "the ID of the domain", "name": "the name of the domain", "level": "the level of the domain",
    "path": "the path of the domain", "parentdomainid": "the domain ID of the parent domain",
    "parentdomainname": "the domain name of the parent domain",
    "haschild": "whether the domain has one or more sub-domains", "networkdomain": "the network domain",
    "state": "the state of the domain", "created": "the date when this domain was created",
})
describe("account", {
    "id": "the id of the account", "name": "the name of the account", "accounttype": "account type (admin, "
    "domain-admin, user)", "roleid": "the ID of the role", "rolename": "the name of the role",
    "roletype": "the type of the role (Admin, ResourceAdmin, DomainAdmin, User)",
    "domainid": "id of the Domain the account belongs to", "domain": "name of the Domain the account belongs to",
    "domainpath": "path of the Domain the account belongs to", "state": "the state of the account",
    "networkdomain": "the network domain", "isdefault": "true if account is default, false otherwise",
    "created": "the date when this account was created", "user": "the list of users associated with account",
})
describe("user", {
    "id": "the user ID", "username": "the user name", "firstname": "the user firstname",
    "lastname": "the user lastname", "email": "the user email address", "created": "the date and time the "
    "user account was created", "state": "the user state", "account": "the account name of the user",
    "accountid": "the account ID of the user", "accounttype": "the account type of the user",
    "roleid": "the ID of the role", "rolename": "the name of the role", "roletype": "the type of the role",
    "domainid": "the domain ID of the user", "domain": "the domain name of the user",
    "timezone": "the timezone user was created in", "apikey": "the api key of the user",
    "isdefault": "true if user is default, false otherwise", "usersource": "the source type of the user",
    "apikeyaccess": "whether the user may use API keys",
})
describe("role", {
    "id": "the ID of the role", "name": "the name of the role", "type": "the type of the role",
    "description": "the description of the role", "isdefault": "true if role is default, false otherwise",
    "ispublic": "Indicates whether the role will be visible to all users (public) or only to root admins "
    "(private)", "state": "the state of the role",
})
describe("rolepermission", {
    "id": "the ID of the role permission", "roleid": "the ID of the role to which the role permission belongs",
    "rolename": "the name of the role to which the role permission belongs", "rule": "the api name or wildcard "
    "rule", "permission": "the permission type of the api name or wildcard rule, allow/deny",
    "description": "the description of the role permission",
})
describe("userkeys", {
    "apikey": "the api key of the registered user", "secretkey": "the secret key of the registered user",
    "apikeyaccess": "whether the user may use API keys",
})
