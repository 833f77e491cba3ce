"""Identity commands: domains, accounts, users and API keys (roles live in iam/roles.py)."""

from sqlalchemy import select

from ..core.listing import paged, subtree_ids
from ..core.params import BOOLEAN, MAP, SHORT, STRING, UUID, Param
from ..core.registry import ADMINS, command
from . import roles as _roles  # noqa: F401  (declares the role commands)
from . import service, views
from .models import DISABLED, ENABLED, LOCKED, Account, Domain, Role, User

DOMAIN_ADMINS = ADMINS


# ---- domains --------------------------------------------------------------------------------

@command("createDomain", response="domain", roles=DOMAIN_ADMINS, params=[
    Param("name", STRING, required=True, description="creates domain with this name"),
    Param("parentdomainid", UUID, entity=Domain,
          description="assigns new domain a parent domain by domain ID of the parent. If no parent domain is "
                      "specified, the ROOT domain is assumed."),
    Param("networkdomain", STRING, description="Network domain for networks in the domain"),
])
def create_domain(ctx, p):
    """Creates a domain"""
    domain = service.create_domain(ctx, p.name, p.parentdomainid, p.networkdomain)
    return domain_view(ctx, domain)


@command("updateDomain", response="domain", roles=DOMAIN_ADMINS, params=[
    Param("id", UUID, entity=Domain, required=True, description="ID of domain to update"),
    Param("name", STRING, description="updates domain with this name"),
    Param("networkdomain", STRING, description="Network domain for the domain's networks"),
])
def update_domain(ctx, p):
    """Updates a domain with a new name"""
    return domain_view(ctx, service.update_domain(ctx, p.id, p.name, p.networkdomain))


@command("deleteDomain", isasync=True, roles=DOMAIN_ADMINS, instance_type="Domain", params=[
    Param("id", UUID, entity=Domain, required=True, description="ID of domain to delete"),
    Param("cleanup", BOOLEAN, description="true if all domain resources (child domains, accounts) have to be "
                                          "cleaned up, false otherwise"),
])
def delete_domain(ctx, p):
    """Deletes a specified domain"""
    service.delete_domain(ctx, p.id, bool(p.cleanup))
    return {"success": True}


@command("listDomains", response="domain", listing="list", params=[
    Param("id", UUID, entity=Domain, description="List domain by domain ID."),
    Param("name", STRING, description="List domain by domain name."),
    Param("level", "integer", description="List domains by domain level."),
    Param("listall", BOOLEAN, description="If set to false, list only resources belonging to the command's "
                                          "caller; if set to true - list resources that the caller is "
                                          "authorized to see. Default value is false"),
    Param("details", "list", description="comma separated list of domain details requested"),
])
def list_domains(ctx, p):
    """Lists domains and provides detailed information for listed domains"""
    caller = ctx.caller
    query = select(Domain).where(Domain.removed.is_(None))
    if p.id is not None:
        service.check_domain(ctx, p.id)
        query = query.where(Domain.id == p.id.id)
    elif p.listall:
        if not (caller.is_root_admin or caller.is_system):
            query = query.where(Domain.id.in_(subtree_ids(ctx, caller.domain_id)))
    else:
        query = query.where(Domain.id == caller.domain_id)
    if p.name:
        query = query.where(Domain.name == p.name)
    if p.level is not None:
        query = query.where(Domain.level == p.level)
    return paged(ctx, p, query, lambda d: domain_view(ctx, d), keyword_columns=(Domain.name,),
                 order_by=Domain.id)


@command("listDomainChildren", response="domain", listing="list", params=[
    Param("id", UUID, entity=Domain, description="list children of the domain by ID"),
    Param("name", STRING, description="list children domains by name"),
    Param("isrecursive", BOOLEAN, description="to return the entire tree, use the value \"true\". To return "
                                              "the first level children, use the value \"false\"."),
    Param("listall", BOOLEAN, description="If set to false, list only resources belonging to the command's "
                                          "caller; if set to true - list resources that the caller is "
                                          "authorized to see. Default value is false"),
])
def list_domain_children(ctx, p):
    """Lists all children domains belonging to a specified domain"""
    parent = p.id or ctx.db.get(Domain, ctx.caller.domain_id)
    service.check_domain(ctx, parent)
    query = select(Domain).where(Domain.removed.is_(None))
    if p.isrecursive or p.listall:
        query = query.where(Domain.path.like(parent.path + "%"), Domain.id != parent.id)
    else:
        query = query.where(Domain.parent_id == parent.id)
    if p.name:
        query = query.where(Domain.name == p.name)
    return paged(ctx, p, query, lambda d: domain_view(ctx, d), keyword_columns=(Domain.name,),
                 order_by=Domain.id)


def domain_view(ctx, domain: Domain) -> dict:
    parent = ctx.db.get(Domain, domain.parent_id) if domain.parent_id else None
    has_children = ctx.db.scalar(select(Domain.id).where(Domain.parent_id == domain.id,
                                                         Domain.removed.is_(None)).limit(1)) is not None
    return views.domain(domain, parent, has_children)


# ---- accounts -------------------------------------------------------------------------------

ACCOUNT_REFERENCE = [
    Param("id", UUID, entity=Account, description="Account id"),
    Param("account", STRING, description="Account name"),
    Param("domainid", UUID, entity=Domain, description="Domain ID of the account"),
]
USER_FIELDS = [
    Param("username", STRING, required=True, description="Unique username."),
    Param("password", STRING, required=True, not_on_integration_port=False,
          description="Clear text password (Default hashed to SHA256SALT)."),
    Param("firstname", STRING, required=True, description="firstname"),
    Param("lastname", STRING, required=True, description="lastname"),
    Param("email", STRING, description="email"),
    Param("timezone", STRING, description="Specifies a timezone for this command."),
]


@command("createAccount", response="account", roles=DOMAIN_ADMINS, params=USER_FIELDS + [
    Param("account", STRING, description="Name of the account to be created. The user will be added to this "
                                         "newly created account. If no value is specified, the username will "
                                         "be used as the account name."),
    Param("accounttype", SHORT, description="Type of the account. Specify 0 for user, 1 for root admin, and 2 "
                                            "for domain admin"),
    Param("roleid", UUID, entity=Role, description="Creates the account under the specified role."),
    Param("domainid", UUID, entity=Domain, description="Creates the user under the specified domain."),
    Param("networkdomain", STRING, description="Network domain for the account's networks"),
    Param("accountdetails", MAP, description="details for the account used to store specific parameters"),
])
def create_account(ctx, p):
    """Creates an account"""
    acct, _ = service.create_account(ctx, p)
    return account_views(ctx, [acct])[0]


@command("updateAccount", response="account", roles=DOMAIN_ADMINS, params=ACCOUNT_REFERENCE + [
    Param("newname", STRING, description="new name for the account"),
    Param("networkdomain", STRING, description="Network domain for the account's networks"),
    Param("roleid", UUID, entity=Role, description="The UUID of the dynamic role to set for the account"),
    Param("accountdetails", MAP, description="Details for the account used to store specific parameters"),
])
def update_account(ctx, p):
    """Updates account information for the authenticated user"""
    acct = service.account_by_reference(ctx, p.id, p.account, p.domainid)
    return account_views(ctx, [service.update_account(ctx, acct, p)])[0]


@command("deleteAccount", isasync=True, roles=DOMAIN_ADMINS, instance_type="Account", params=[
    Param("id", UUID, entity=Account, required=True, description="Account id"),
])
def delete_account(ctx, p):
    """Deletes an account and all users in the account"""
    service.delete_account(ctx, p.id)
    return {"success": True}


@command("disableAccount", isasync=True, response="account", roles=DOMAIN_ADMINS, instance_type="Account",
         params=ACCOUNT_REFERENCE + [
             Param("lock", BOOLEAN, required=True, description="If true, only lock the account; else disable "
                                                               "the account"),
         ])
def disable_account(ctx, p):
    """Disables an account"""
    acct = service.account_by_reference(ctx, p.id, p.account, p.domainid)
    return account_views(ctx, [service.set_account_state(ctx, acct, LOCKED if p.lock else DISABLED)])[0]


@command("enableAccount", response="account", roles=DOMAIN_ADMINS, params=ACCOUNT_REFERENCE)
def enable_account(ctx, p):
    """Enables an account"""
    acct = service.account_by_reference(ctx, p.id, p.account, p.domainid)
    return account_views(ctx, [service.set_account_state(ctx, acct, ENABLED)])[0]


@command("lockAccount", response="account", roles=DOMAIN_ADMINS, params=[
    Param("account", STRING, required=True, description="Locks the specified account."),
    Param("domainid", UUID, entity=Domain, required=True, description="Locks the specified account on this "
                                                                      "domain."),
])
def lock_account(ctx, p):
    """Locks an account"""
    acct = service.account_by_reference(ctx, None, p.account, p.domainid)
    return account_views(ctx, [service.set_account_state(ctx, acct, LOCKED)])[0]


@command("listAccounts", response="account", listing="list", params=[
    Param("id", UUID, entity=Account, description="list account by account ID"),
    Param("name", STRING, description="list account by account name"),
    Param("accounttype", "integer", description="list accounts by account type."),
    Param("roleid", UUID, entity=Role, description="list accounts by role"),
    Param("state", STRING, description="list accounts by state. Valid states are enabled, disabled, and "
                                       "locked."),
    Param("domainid", UUID, entity=Domain, description="list only resources belonging to the domain specified"),
    Param("isrecursive", BOOLEAN, description="defaults to false, but if true, lists all resources from the "
                                              "parent specified by the domainId till leaves."),
    Param("listall", BOOLEAN, description="If set to false, list only resources belonging to the command's "
                                          "caller; if set to true - list resources that the caller is "
                                          "authorized to see. Default value is false"),
    Param("iscleanuprequired", BOOLEAN, description="list accounts by cleanuprequired attribute"),
    Param("details", "list", description="comma separated list of account details requested"),
])
def list_accounts(ctx, p):
    """Lists accounts and provides detailed account information for listed accounts"""
    query = scope_to_domains(ctx, p, select(Account).where(Account.removed.is_(None)), Account)
    if p.id is not None:
        query = query.where(Account.id == p.id.id)
    if p.name:
        query = query.where(Account.account_name == p.name)
    if p.accounttype is not None:
        query = query.where(Account.type == p.accounttype)
    if p.roleid is not None:
        query = query.where(Account.role_id == p.roleid.id)
    if p.state:
        query = query.where(Account.state == p.state.lower())
    result = paged(ctx, p, query, lambda a: a, keyword_columns=(Account.account_name,), order_by=Account.id)
    result.items = account_views(ctx, result.items)
    return result


def scope_to_domains(ctx, p, query, model, account_column=None):
    """Identity lists: users see their own account; admins a domain (and below, when asked)."""
    caller = ctx.caller
    account_column = account_column if account_column is not None else model.id
    if not caller.is_admin and not caller.is_system:
        return query.where(account_column == caller.account_id)
    domain = p.domainid
    if domain is not None:
        service.check_domain(ctx, domain)
    if p.id is not None and domain is None:
        return query  # visibility of the named row was checked when resolving `id`
    root = domain.id if domain is not None else caller.domain_id
    domain_column = model.domain_id if hasattr(model, "domain_id") else Account.domain_id
    if p.isrecursive or p.listall:
        return query.where(domain_column.in_(subtree_ids(ctx, root)))
    return query.where(domain_column == root)


def account_views(ctx, accounts: list[Account]) -> list[dict]:
    """Render accounts with their users in a fixed number of queries."""
    if not accounts:
        return []
    ids = [a.id for a in accounts]
    domains = {d.id: d for d in ctx.db.scalars(select(Domain).where(Domain.id.in_({a.domain_id for a in accounts})))}
    roles = {r.id: r for r in ctx.db.scalars(select(Role).where(Role.id.in_({a.role_id for a in accounts})))}
    users: dict[int, list[dict]] = {i: [] for i in ids}
    by_id = {a.id: a for a in accounts}
    for user in ctx.db.scalars(select(User).where(User.account_id.in_(ids), User.removed.is_(None))
                               .order_by(User.id)):
        acct = by_id[user.account_id]
        users[acct.id].append(views.user(user, acct, domains[acct.domain_id], roles[acct.role_id]))
    return [views.account(a, domains[a.domain_id], roles[a.role_id], users[a.id]) for a in accounts]


# ---- users ----------------------------------------------------------------------------------

@command("createUser", response="user", roles=DOMAIN_ADMINS, params=USER_FIELDS + [
    Param("account", STRING, required=True, description="Creates the user under the specified account. If no "
                                                        "account is specified, the username will be used as "
                                                        "the account name."),
    Param("domainid", UUID, entity=Domain, description="Creates the user under the specified domain. Has to be "
                                                       "accompanied with the account parameter"),
])
def create_user(ctx, p):
    """Creates a user for an account that already exists"""
    return user_view(ctx, service.create_user(ctx, p))


@command("updateUser", response="user", params=[
    Param("id", UUID, entity=User, required=True, description="User uuid"),
    Param("username", STRING, description="Unique username"),
    Param("password", STRING, description="Clear text password (default hashed to SHA256SALT). If you wish "
                                          "to use any other hashing algorithm, you would need to write a "
                                          "custom authentication adapter. Can't be passed when "
                                          "apikey/secretkey is used."),
    Param("currentpassword", STRING, description="Current password that was being used by the user. You "
                                                 "must inform the current password when updating the "
                                                 "password."),
    Param("firstname", STRING, description="first name"),
    Param("lastname", STRING, description="last name"),
    Param("email", STRING, description="email"),
    Param("timezone", STRING, description="Specifies a timezone for this command."),
    Param("userapikey", STRING, description="The API key for the user. Must be specified with "
                                            "userSecretKey"),
    Param("usersecretkey", STRING, description="The secret key for the user. Must be specified with "
                                               "userApiKey"),
])
def update_user(ctx, p):
    """Updates a user account"""
    return user_view(ctx, service.update_user(ctx, p.id, p))


@command("deleteUser", params=[Param("id", UUID, entity=User, required=True, description="id of the user to "
                                                                                          "be deleted")])
def delete_user(ctx, p):
    """Deletes a user for an account"""
    service.delete_user(ctx, p.id)
    return {"success": True}


@command("disableUser", isasync=True, response="user", roles=DOMAIN_ADMINS, instance_type="User", params=[
    Param("id", UUID, entity=User, required=True, description="Disables user by user ID."),
])
def disable_user(ctx, p):
    """Disables a user account"""
    return user_view(ctx, service.set_user_state(ctx, p.id, DISABLED))


@command("enableUser", response="user", roles=DOMAIN_ADMINS, params=[
    Param("id", UUID, entity=User, required=True, description="Enables user by user ID."),
])
def enable_user(ctx, p):
    """Enables a user account"""
    return user_view(ctx, service.set_user_state(ctx, p.id, ENABLED))


@command("lockUser", response="user", roles=DOMAIN_ADMINS, params=[
    Param("id", UUID, entity=User, required=True, description="Locks user by user ID."),
])
def lock_user(ctx, p):
    """Locks a user account"""
    return user_view(ctx, service.set_user_state(ctx, p.id, LOCKED))


@command("listUsers", response="user", listing="list", params=[
    Param("id", UUID, entity=User, description="List user by ID."),
    Param("username", STRING, description="List user by the username"),
    Param("account", STRING, description="list resources by account. Must be used with the domainId "
                                         "parameter."),
    Param("accounttype", "integer", description="List users by account type."),
    Param("state", STRING, description="List users by state of the user account."),
    Param("domainid", UUID, entity=Domain, description="list only resources belonging to the domain specified"),
    Param("isrecursive", BOOLEAN, description="defaults to false, but if true, lists all resources from the "
                                              "parent specified by the domainId till leaves."),
    Param("listall", BOOLEAN, description="If set to false, list only resources belonging to the command's "
                                          "caller; if set to true - list resources that the caller is "
                                          "authorized to see. Default value is false"),
    Param("usersource", STRING, description="List users by their authentication source."),
])
def list_users(ctx, p):
    """Lists user accounts"""
    query = (select(User, Account, Domain, Role).join(Account, User.account_id == Account.id)
             .join(Domain, Account.domain_id == Domain.id).join(Role, Account.role_id == Role.id)
             .where(User.removed.is_(None), Account.removed.is_(None)))
    query = scope_to_domains(ctx, p, query, Account, account_column=Account.id)
    if p.id is not None:
        query = query.where(User.id == p.id.id)
    if p.username:
        query = query.where(User.username == p.username)
    if p.account:
        query = query.where(Account.account_name == p.account)
    if p.accounttype is not None:
        query = query.where(Account.type == p.accounttype)
    if p.state:
        query = query.where(User.state == p.state.lower())
    return paged(ctx, p, query, views.user, keyword_columns=(User.username, User.firstname, User.lastname),
                 order_by=User.id)


@command("getUser", response="user", roles=DOMAIN_ADMINS, params=[
    Param("userapikey", STRING, required=True, description="API key of the user"),
])
def get_user(ctx, p):
    """Find user account by API key"""
    user = ctx.db.scalars(select(User).where(User.api_key == p.userapikey, User.removed.is_(None))).first()
    if user is None:
        from ..core.errors import InvalidParameter

        raise InvalidParameter("Unable to find user by the given userapikey")
    service.check_user(ctx, user)
    return user_view(ctx, user)


@command("getUserKeys", response="userkeys", since="4.10.0", params=[
    Param("id", UUID, entity=User, required=True, description="ID of the user whose keys are required"),
])
def get_user_keys(ctx, p):
    """This command allows the user to query the seceret and API keys for the account"""
    service.check_user(ctx, p.id)
    return {"apikey": p.id.api_key, "secretkey": p.id.secret_key, "apikeyaccess": p.id.api_key_access}


@command("registerUserKeys", response="userkeys", params=[
    Param("id", UUID, entity=User, required=True, description="User id"),
])
def register_user_keys(ctx, p):
    """This command allows a user to register for the developer API, returning a secret key and an API key"""
    user = service.register_keys(ctx, p.id)
    return {"apikey": user.api_key, "secretkey": user.secret_key}


def user_view(ctx, user: User) -> dict:
    acct = ctx.db.get(Account, user.account_id)
    return views.user(user, acct, ctx.db.get(Domain, acct.domain_id), ctx.db.get(Role, acct.role_id))



@command("moveUser", roles=DOMAIN_ADMINS, since="4.11", params=[
    Param("id", UUID, entity=User, required=True, description="id of the user to be moved."),
    Param("account", STRING, description="Moves the user under the specified account. If no account name is "
                                         "specified, it is necessary to provide an account id."),
    Param("accountid", UUID, entity=Account, description="Moves the user under the specified account. If no "
                                                         "account id is specified, it is necessary to provide "
                                                         "an account name."),
])
def move_user(ctx, p):
    """Moves a user to another account in the same domain."""
    service.move_user(ctx, p.id, p.accountid, p.account)
    return {"success": True}
