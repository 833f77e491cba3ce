"""Who owns a new account-owned row: the caller, or (for admins) the `account` + `domainid` they name.

The rule is upstream's AccountManager.finalizeOwner; every create/register command that takes
`account` and `domainid` goes through `finalize_owner`.
"""

from sqlalchemy import select

from ..core.context import Context
from ..core.errors import InvalidParameter, PermissionDenied
from ..core.listing import can_access_domain
from .models import Account, Domain


def finalize_owner(ctx: Context, account_name: str | None, domain: Domain | None) -> Account:
    """The account a new row belongs to."""
    caller = ctx.caller
    if (account_name is None) != (domain is None):
        raise InvalidParameter("AccountName and domainId must be specified together")
    if account_name is None:
        return ctx.db.get(Account, caller.account_id)
    if not (caller.is_admin or caller.is_system):
        if account_name != caller.account_name or domain.id != caller.domain_id:
            raise PermissionDenied(f"Can't create/list resources for account {account_name} in domain "
                                   f"{domain.uuid}, permission denied")
        return ctx.db.get(Account, caller.account_id)
    owner = ctx.db.scalars(select(Account).where(Account.account_name == account_name,
                                                 Account.domain_id == domain.id,
                                                 Account.removed.is_(None))).first()
    if owner is None:
        raise InvalidParameter(f"Unable to find account {account_name} in domain {domain.uuid}")
    if not can_access_domain(ctx, domain.id):
        raise PermissionDenied(f"Account {caller.account_name} does not have permission to operate "
                               f"within domain id={domain.uuid}")
    return owner


def owner_fields(account_name: str, domain_uuid: str, domain_name: str) -> dict:
    """The owner part of a response object (account, domainid, domain)."""
    return {"account": account_name, "domainid": domain_uuid, "domain": domain_name}


def with_owner(model):
    """A select of `model` rows with their owner's account name, domain uuid and domain name."""
    return (select(model, Account.account_name, Domain.uuid, Domain.name)
            .join(Account, model.account_id == Account.id)
            .join(Domain, model.domain_id == Domain.id))
