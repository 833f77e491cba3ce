"""Identity logic: the domain tree, accounts and users with CloudStack's rules."""

from sqlalchemy import func, select, update

from ..core.context import Context
from ..core.db import now
from ..core.errors import InvalidParameter, PermissionDenied, ResourceInUse
from ..core.listing import can_access_domain, check_owner, subtree_ids
from ..core.passwords import hash_password, new_api_key
from ..core.registry import ADMIN, DOMAIN_ADMIN, RESOURCE_ADMIN, USER
from .models import (
    ADMIN_ACCOUNT,
    DISABLED,
    DOMAIN_ADMIN_ACCOUNT,
    ENABLED,
    LOCKED,
    RESOURCE_ADMIN_ACCOUNT,
    USER_ACCOUNT,
    Account,
    Domain,
    Role,
    User,
)

DEFAULT_ROLE_FOR_TYPE = {USER_ACCOUNT: 4, ADMIN_ACCOUNT: 1, DOMAIN_ADMIN_ACCOUNT: 3, RESOURCE_ADMIN_ACCOUNT: 2}
ACCOUNT_TYPE_FOR_ROLE = {USER: USER_ACCOUNT, ADMIN: ADMIN_ACCOUNT, DOMAIN_ADMIN: DOMAIN_ADMIN_ACCOUNT,
                         RESOURCE_ADMIN: RESOURCE_ADMIN_ACCOUNT}
DEFAULT_IDS = (1, 2)  # the system and admin accounts/users


# ---- domains --------------------------------------------------------------------------------

def check_domain(ctx: Context, domain: Domain) -> None:
    if not can_access_domain(ctx, domain.id):
        raise PermissionDenied(f"Account {ctx.caller.account_name} does not have permission to operate "
                               f"within domain id={domain.uuid}")


def create_domain(ctx: Context, name: str, parent: Domain | None, network_domain: str | None) -> Domain:
    parent = parent or ctx.db.get(Domain, ctx.caller.domain_id)
    check_domain(ctx, parent)
    if "/" in name:
        raise InvalidParameter("Domain name can't contain the / character")
    path = parent.path + name + "/"
    if ctx.db.scalar(select(Domain.id).where(Domain.path == path, Domain.removed.is_(None))):
        raise InvalidParameter(f"Domain with name {name} already exists for the parent id={parent.uuid}")
    domain = Domain(name=name, parent_id=parent.id, path=path, level=parent.level + 1,
                    network_domain=network_domain)
    ctx.db.add(domain)
    ctx.db.flush()
    ctx.touch("domains")
    ctx.event("DOMAIN.CREATE", f"Domain {name} created", resource_type="Domain", resource_id=domain.uuid)
    return domain


def update_domain(ctx: Context, domain: Domain, name: str | None, network_domain: str | None) -> Domain:
    check_domain(ctx, domain)
    if name and name != domain.name:
        if domain.id == 1:
            raise InvalidParameter("ROOT domain can not be edited with a new name")
        if "/" in name:
            raise InvalidParameter("Domain name can't contain the / character")
        parent = ctx.db.get(Domain, domain.parent_id)
        new_path = parent.path + name + "/"
        if ctx.db.scalar(select(Domain.id).where(Domain.path == new_path, Domain.removed.is_(None))):
            raise InvalidParameter(f"Domain with name {name} already exists for the parent id={parent.uuid}")
        old_path = domain.path
        for child in ctx.db.scalars(select(Domain).where(Domain.path.like(old_path + "%"))):
            child.path = new_path + child.path[len(old_path):]
        domain.name = name
    if network_domain is not None:
        domain.network_domain = network_domain or None
    ctx.touch("domains", "auth")
    ctx.event("DOMAIN.UPDATE", f"Domain {domain.name} updated", resource_type="Domain", resource_id=domain.uuid)
    return domain


def delete_domain(ctx: Context, domain: Domain, cleanup: bool) -> None:
    check_domain(ctx, domain)
    if domain.id == 1:
        raise PermissionDenied("Can't delete the ROOT domain")
    ids = subtree_ids(ctx, domain.id)
    accounts = ctx.db.scalars(select(Account).where(Account.domain_id.in_(ids), Account.removed.is_(None))).all()
    children = [i for i in ids if i != domain.id]
    if not cleanup and (accounts or children):
        raise ResourceInUse(f"Can't delete the domain {domain.name}: it has "
                            f"{len(accounts)} account(s) and {len(children)} sub-domain(s); "
                            "delete them first or pass cleanup=true")
    for acct in accounts:
        remove_account(ctx, acct)
    stamp = now()
    ctx.db.execute(update(Domain).where(Domain.id.in_(ids)).values(removed=stamp, state="Inactive"))
    ctx.touch("domains", "auth")
    ctx.event("DOMAIN.DELETE", f"Domain {domain.name} deleted", resource_type="Domain", resource_id=domain.uuid)


# ---- accounts -------------------------------------------------------------------------------

def resolve_role(ctx: Context, role: Role | None, account_type: int | None) -> tuple[Role, int]:
    if role is None:
        if account_type is None:
            account_type = USER_ACCOUNT
        if account_type not in DEFAULT_ROLE_FOR_TYPE:
            raise InvalidParameter(f"Invalid account type {account_type} for parameter accounttype")
        role = ctx.db.get(Role, DEFAULT_ROLE_FOR_TYPE[account_type])
    account_type = ACCOUNT_TYPE_FOR_ROLE[role.role_type]
    caller = ctx.caller
    if not (caller.is_root_admin or caller.is_system):
        allowed = {USER} if not caller.is_domain_admin else {USER, DOMAIN_ADMIN}
        if role.role_type not in allowed:
            raise PermissionDenied(f"Account {caller.account_name} can't create accounts with the role "
                                   f"{role.name}")
    return role, account_type


def find_account(ctx: Context, name: str, domain: Domain) -> Account | None:
    return ctx.db.scalars(select(Account).where(Account.account_name == name, Account.domain_id == domain.id,
                                                Account.removed.is_(None))).first()


def account_by_reference(ctx: Context, acct: Account | None, name: str | None,
                         domain: Domain | None) -> Account:
    """An account named by `id`, or by `account` + `domainid` (upstream's two spellings)."""
    if acct is None:
        if not name:
            raise InvalidParameter("Either the id or the account name (with domainid) must be specified")
        domain = domain or ctx.db.get(Domain, ctx.caller.domain_id)
        acct = find_account(ctx, name, domain)
        if acct is None:
            raise InvalidParameter(f"Unable to find account by name {name} in domain {domain.uuid}")
    check_owner(ctx, acct.id, acct.domain_id)
    return acct


def check_username_free(ctx: Context, username: str, domain: Domain) -> None:
    taken = ctx.db.scalar(select(User.id).join(Account, User.account_id == Account.id).where(
        User.username == username, Account.domain_id == domain.id, User.removed.is_(None)))
    if taken:
        raise InvalidParameter(f"The user {username} already exists in domain {domain.name}")


def create_account(ctx: Context, p) -> tuple[Account, User]:
    domain = p.domainid or ctx.db.get(Domain, ctx.caller.domain_id)
    check_domain(ctx, domain)
    role, account_type = resolve_role(ctx, p.roleid, p.accounttype)
    name = p.account or p.username
    if find_account(ctx, name, domain):
        raise InvalidParameter(f"The specified account: {name} already exists")
    check_username_free(ctx, p.username, domain)
    acct = Account(account_name=name, type=account_type, role_id=role.id, domain_id=domain.id,
                   network_domain=p.networkdomain)
    ctx.db.add(acct)
    ctx.db.flush()
    user = add_user(ctx, acct, p)
    ctx.event("ACCOUNT.CREATE", f"Account {name} created", resource_type="Account", resource_id=acct.uuid,
              account_id=acct.id, domain_id=domain.id)
    return acct, user


def add_user(ctx: Context, acct: Account, p) -> User:
    if not p.password:
        raise InvalidParameter("Invalid value provided for API arg: password")
    user = User(username=p.username, password=hash_password(p.password), firstname=p.firstname,
                lastname=p.lastname, email=p.email, timezone=p.timezone, account_id=acct.id,
                source="UNKNOWN")
    ctx.db.add(user)
    ctx.db.flush()
    ctx.touch("auth")
    ctx.event("USER.CREATE", f"User {p.username} created in account {acct.account_name}",
              resource_type="User", resource_id=user.uuid, account_id=acct.id, domain_id=acct.domain_id)
    return user


def update_account(ctx: Context, acct: Account, p) -> Account:
    if p.newname and p.newname != acct.account_name:
        if acct.id in DEFAULT_IDS:
            raise InvalidParameter("The default system and admin accounts can't be renamed")
        if find_account(ctx, p.newname, ctx.db.get(Domain, acct.domain_id)):
            raise InvalidParameter(f"The specified account: {p.newname} already exists")
        acct.account_name = p.newname
    if p.networkdomain is not None:
        acct.network_domain = p.networkdomain or None
    if p.roleid is not None and p.roleid.id != acct.role_id:
        if not ctx.caller.is_root_admin and not ctx.caller.is_system:
            raise PermissionDenied("Only the root admin can change an account's role")
        if ACCOUNT_TYPE_FOR_ROLE[p.roleid.role_type] != acct.type:
            raise InvalidParameter("The new role must have the same role type as the account's current role")
        acct.role_id = p.roleid.id
    ctx.touch("auth")
    ctx.event("ACCOUNT.UPDATE", f"Account {acct.account_name} updated", resource_type="Account",
              resource_id=acct.uuid, account_id=acct.id, domain_id=acct.domain_id)
    return acct


def set_account_state(ctx: Context, acct: Account, state: str) -> Account:
    if acct.id in DEFAULT_IDS and state != ENABLED:
        raise PermissionDenied("The default system and admin accounts can't be disabled or locked")
    if acct.id == ctx.caller.account_id and state != ENABLED:
        raise PermissionDenied("An account can't disable or lock itself")
    acct.state = state
    ctx.touch("auth")
    event = {ENABLED: "ACCOUNT.ENABLE", DISABLED: "ACCOUNT.DISABLE", LOCKED: "ACCOUNT.DISABLE"}[state]
    ctx.event(event, f"Account {acct.account_name} {state}", resource_type="Account", resource_id=acct.uuid,
              account_id=acct.id, domain_id=acct.domain_id)
    return acct


def delete_account(ctx: Context, acct: Account) -> None:
    if acct.id in DEFAULT_IDS:
        raise PermissionDenied(f"Account id : {acct.uuid} is a system account, delete is not allowed")
    if acct.id == ctx.caller.account_id:
        raise PermissionDenied("An account can't delete itself")
    remove_account(ctx, acct)
    ctx.event("ACCOUNT.DELETE", f"Account {acct.account_name} deleted", resource_type="Account",
              resource_id=acct.uuid, account_id=acct.id, domain_id=acct.domain_id)


def remove_account(ctx: Context, acct: Account) -> None:
    stamp = now()
    ctx.db.execute(update(User).where(User.account_id == acct.id, User.removed.is_(None))
                   .values(removed=stamp, api_key=None, secret_key=None))
    acct.removed = stamp
    acct.state = DISABLED
    ctx.touch("auth")


# ---- users ----------------------------------------------------------------------------------

def user_account(ctx: Context, user: User) -> Account:
    acct = ctx.db.get(Account, user.account_id)
    return acct


def check_user(ctx: Context, user: User) -> Account:
    """Users act on themselves; admins on the users their domain scope covers."""
    acct = user_account(ctx, user)
    if ctx.caller.user_id == user.id:
        return acct
    if not ctx.caller.is_admin and not ctx.caller.is_system:
        raise PermissionDenied(f"Account {ctx.caller.account_name} can't act on user {user.uuid}")
    check_owner(ctx, acct.id, acct.domain_id)
    return acct


def create_user(ctx: Context, p) -> User:
    domain = p.domainid or ctx.db.get(Domain, ctx.caller.domain_id)
    check_domain(ctx, domain)
    acct = find_account(ctx, p.account, domain)
    if acct is None:
        raise InvalidParameter(f"Unable to find account {p.account} in domain id={domain.uuid} to create user")
    check_owner(ctx, acct.id, acct.domain_id)
    check_username_free(ctx, p.username, domain)
    return add_user(ctx, acct, p)


def update_user(ctx: Context, user: User, p) -> User:
    acct = check_user(ctx, user)
    if p.username and p.username != user.username:
        check_username_free(ctx, p.username, ctx.db.get(Domain, acct.domain_id))
        user.username = p.username
    for field in ("firstname", "lastname", "email", "timezone"):
        if p.get(field) is not None:
            setattr(user, field, p.get(field) or None)
    if p.password is not None:
        if not p.password:
            raise InvalidParameter("Invalid value provided for API arg: password")
        if ctx.caller.user_id == user.id and not ctx.caller.is_admin:
            from ..core.passwords import check_password

            if not p.currentpassword or not check_password(p.currentpassword, user.password):
                raise InvalidParameter("Current password is incorrect")
        user.password = hash_password(p.password)
    if (p.userapikey is None) != (p.usersecretkey is None):
        raise InvalidParameter("Please provide both userapikey and usersecretkey")
    if p.userapikey:
        if ctx.db.scalar(select(User.id).where(User.api_key == p.userapikey, User.id != user.id)):
            raise InvalidParameter("The api key is already in use by another user")
        user.api_key, user.secret_key = p.userapikey, p.usersecretkey
    ctx.touch("auth")
    ctx.event("USER.UPDATE", f"User {user.username} updated", resource_type="User", resource_id=user.uuid,
              account_id=acct.id, domain_id=acct.domain_id)
    return user


def set_user_state(ctx: Context, user: User, state: str) -> User:
    acct = check_user(ctx, user)
    if user.id in DEFAULT_IDS and state != ENABLED:
        raise PermissionDenied(f"User id : {user.uuid} is a system user, disabling or locking it is not allowed")
    if user.id == ctx.caller.user_id and state != ENABLED:
        raise PermissionDenied("A user can't disable or lock itself")
    user.state = state
    if state == ENABLED:
        user.incorrect_login_attempts = 0
    ctx.touch("auth")
    event = {ENABLED: "USER.ENABLE", DISABLED: "USER.DISABLE", LOCKED: "USER.LOCK"}[state]
    ctx.event(event, f"User {user.username} {state}", resource_type="User", resource_id=user.uuid,
              account_id=acct.id, domain_id=acct.domain_id)
    return user


def delete_user(ctx: Context, user: User) -> None:
    acct = check_user(ctx, user)
    if user.id in DEFAULT_IDS:
        raise PermissionDenied(f"User id : {user.uuid} is a system account, delete is not allowed")
    if user.id == ctx.caller.user_id:
        raise PermissionDenied("A user can't delete itself")
    user.removed, user.api_key, user.secret_key = now(), None, None
    ctx.touch("auth")
    ctx.event("USER.DELETE", f"User {user.username} deleted", resource_type="User", resource_id=user.uuid,
              account_id=acct.id, domain_id=acct.domain_id)


def register_keys(ctx: Context, user: User) -> User:
    acct = check_user(ctx, user)
    user.api_key, user.secret_key = new_api_key(), new_api_key()
    ctx.touch("auth")
    ctx.event("REGISTER.USER.KEY", f"API keys registered for user {user.username}", resource_type="User",
              resource_id=user.uuid, account_id=acct.id, domain_id=acct.domain_id)
    return user


def count_users(ctx: Context, account_ids: list[int]) -> dict[int, int]:
    rows = ctx.db.execute(select(User.account_id, func.count()).where(
        User.account_id.in_(account_ids), User.removed.is_(None)).group_by(User.account_id))
    return dict(rows.all())


def move_user(ctx: Context, user: User, target: Account | None, name: str | None) -> None:
    source = check_user(ctx, user)
    if target is None:
        if not name:
            raise InvalidParameter("Either account or accountid must be specified")
        target = find_account(ctx, name, ctx.db.get(Domain, source.domain_id))
        if target is None:
            raise InvalidParameter(f"Unable to find account {name} in the user's domain")
    check_owner(ctx, target.id, target.domain_id)
    if target.domain_id != source.domain_id:
        raise InvalidParameter("A user can only be moved to an account of the same domain")
    if target.id == source.id:
        raise InvalidParameter("The user already belongs to that account")
    if user.id in DEFAULT_IDS:
        raise PermissionDenied("The default system and admin users can't be moved")
    user.account_id = target.id
    ctx.touch("auth")
    ctx.event("USER.MOVE", f"User {user.username} moved from account {source.account_name} to "
              f"{target.account_name}", resource_type="User", resource_id=user.uuid, account_id=target.id,
              domain_id=target.domain_id)
