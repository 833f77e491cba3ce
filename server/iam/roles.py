"""Roles and their permission rules (CloudStack's dynamic roles)."""

from sqlalchemy import func, select

from ..core.db import now
from ..core.errors import InvalidParameter, PermissionDenied, ResourceInUse
from ..core.listing import paged
from ..core.params import BOOLEAN, LIST, STRING, UUID, Param
from ..core.registry import ADMIN, DOMAIN_ADMIN, RESOURCE_ADMIN, ROOT_ONLY, USER, command
from . import views
from .models import Account, Role, RolePermission

ROLE_TYPES = (ADMIN, RESOURCE_ADMIN, DOMAIN_ADMIN, USER)
PERMISSIONS = ("allow", "deny")


def role_type(value: str | None) -> str | None:
    if value is None:
        return None
    for known in ROLE_TYPES:
        if known.lower() == value.lower():
            return known
    raise InvalidParameter(f"Invalid role type {value} for parameter type; valid types are "
                           + ", ".join(ROLE_TYPES))


def check_rule(rule: str) -> str:
    if not rule or any(c not in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789*" for c in rule):
        raise InvalidParameter(f"Invalid rule {rule}: only API names and the * wildcard are allowed")
    return rule


def check_permission(value: str) -> str:
    if value.lower() not in PERMISSIONS:
        raise InvalidParameter(f"Invalid permission {value}; valid values are allow, deny")
    return value.upper()


@command("createRole", response="role", roles=ROOT_ONLY, params=[
    Param("name", STRING, required=True, description="Creates a role with this unique name"),
    Param("type", STRING, description="The type of the role, valid options are: Admin, ResourceAdmin, "
                                      "DomainAdmin, User"),
    Param("roleid", UUID, entity=Role, description="ID of the role to be cloned from. Either roleid or type "
                                                   "must be passed in"),
    Param("description", STRING, description="The description of the role"),
    Param("ispublic", BOOLEAN, description="Indicates whether the role will be visible to all users (public) "
                                           "or only to root admins (private). Default is true."),
])
def create_role(ctx, p):
    """Creates a role"""
    if (p.type is None) == (p.roleid is None):
        raise InvalidParameter("Either the role type or the roleid of a role to clone must be passed in")
    if ctx.db.scalar(select(Role.id).where(func.lower(Role.name) == p.name.lower(), Role.removed.is_(None))):
        raise InvalidParameter(f"Role with name {p.name} already exists")
    source = p.roleid
    role = Role(name=p.name, role_type=source.role_type if source else role_type(p.type),
                description=p.description, public=p.ispublic is not False)
    ctx.db.add(role)
    ctx.db.flush()
    if source is not None:
        for rule in ctx.db.scalars(select(RolePermission).where(RolePermission.role_id == source.id,
                                                                RolePermission.removed.is_(None))):
            ctx.db.add(RolePermission(role_id=role.id, rule=rule.rule, permission=rule.permission,
                                      description=rule.description, sort_order=rule.sort_order))
    ctx.touch("auth")
    ctx.event("ROLE.CREATE", f"Role {p.name} created", resource_type="Role", resource_id=role.uuid)
    return views.role(role)


@command("updateRole", response="role", roles=ROOT_ONLY, params=[
    Param("id", UUID, entity=Role, required=True, description="ID of the role"),
    Param("name", STRING, description="creates a role with this unique name"),
    Param("type", STRING, description="The type of the role, valid options are: Admin, ResourceAdmin, "
                                      "DomainAdmin, User"),
    Param("description", STRING, description="The description of the role"),
    Param("ispublic", BOOLEAN, description="Indicates whether the role will be visible to all users (public) "
                                           "or only to root admins (private)."),
])
def update_role(ctx, p):
    """Updates a role"""
    role = p.id
    if role.is_default:
        raise PermissionDenied("Default roles cannot be updated")
    if p.name and p.name != role.name:
        if ctx.db.scalar(select(Role.id).where(func.lower(Role.name) == p.name.lower(),
                                               Role.removed.is_(None))):
            raise InvalidParameter(f"Role with name {p.name} already exists")
        role.name = p.name
    if p.type is not None:
        new_type = role_type(p.type)
        if new_type != role.role_type and ctx.db.scalar(
                select(Account.id).where(Account.role_id == role.id, Account.removed.is_(None)).limit(1)):
            raise ResourceInUse("The role type can't be changed while accounts use the role")
        role.role_type = new_type
    if p.description is not None:
        role.description = p.description
    if p.ispublic is not None:
        role.public = p.ispublic
    ctx.touch("auth")
    ctx.event("ROLE.UPDATE", f"Role {role.name} updated", resource_type="Role", resource_id=role.uuid)
    return views.role(role)


@command("deleteRole", roles=ROOT_ONLY, params=[
    Param("id", UUID, entity=Role, required=True, description="ID of the role"),
])
def delete_role(ctx, p):
    """Deletes a role"""
    role = p.id
    if role.is_default:
        raise PermissionDenied("Default roles cannot be deleted")
    if ctx.db.scalar(select(Account.id).where(Account.role_id == role.id, Account.removed.is_(None)).limit(1)):
        raise ResourceInUse(f"Role {role.name} is in use by one or more accounts and can't be deleted")
    role.removed = now()
    ctx.touch("auth")
    ctx.event("ROLE.DELETE", f"Role {role.name} deleted", resource_type="Role", resource_id=role.uuid)
    return {"success": True}


@command("listRoles", response="role", listing="list", params=[
    Param("id", UUID, entity=Role, description="List role by role ID."),
    Param("name", STRING, description="List role by role name."),
    Param("type", STRING, description="List role by role type, valid options are: Admin, ResourceAdmin, "
                                      "DomainAdmin, User."),
])
def list_roles(ctx, p):
    """Lists dynamic roles in CloudStack"""
    query = select(Role).where(Role.removed.is_(None))
    if not ctx.caller.is_root_admin and not ctx.caller.is_system:
        query = query.where(Role.public.is_(True))
    if p.id is not None:
        query = query.where(Role.id == p.id.id)
    if p.name:
        query = query.where(Role.name == p.name)
    if p.type:
        query = query.where(Role.role_type == role_type(p.type))
    return paged(ctx, p, query, views.role, keyword_columns=(Role.name,), order_by=Role.id)


@command("createRolePermission", response="rolepermission", roles=ROOT_ONLY, params=[
    Param("roleid", UUID, entity=Role, required=True, description="ID of the role"),
    Param("rule", STRING, required=True, description="The API name or wildcard rule such as list*"),
    Param("permission", STRING, required=True, description="The rule permission, allow or deny. Default: deny."),
    Param("description", STRING, description="The description of the role permission"),
])
def create_role_permission(ctx, p):
    """Adds an API permission to a role"""
    role = p.roleid
    if role.is_default and role.role_type == ADMIN and role.id == 1:
        raise PermissionDenied("The root admin role's permissions can't be changed")
    order = ctx.db.scalar(select(func.coalesce(func.max(RolePermission.sort_order), -1)).where(
        RolePermission.role_id == role.id, RolePermission.removed.is_(None))) + 1
    rule = RolePermission(role_id=role.id, rule=check_rule(p.rule), permission=check_permission(p.permission),
                          description=p.description, sort_order=order)
    ctx.db.add(rule)
    ctx.db.flush()
    ctx.touch("auth")
    ctx.event("ROLE.PERMISSION.CREATE", f"Rule {p.rule} added to role {role.name}", resource_type="Role",
              resource_id=role.uuid)
    return views.role_permission(rule, role)


@command("listRolePermissions", response="rolepermission", roles=ROOT_ONLY, params=[
    Param("roleid", UUID, entity=Role, description="ID of the role"),
])
def list_role_permissions(ctx, p):
    """Lists role permissions"""
    query = (select(RolePermission, Role).join(Role, RolePermission.role_id == Role.id)
             .where(RolePermission.removed.is_(None)))
    if p.roleid is not None:
        query = query.where(RolePermission.role_id == p.roleid.id)
    rows = ctx.db.execute(query.order_by(RolePermission.role_id, RolePermission.sort_order,
                                         RolePermission.id)).all()
    from ..core.render import ListResult

    return ListResult([views.role_permission(rule, role) for rule, role in rows], len(rows))


@command("updateRolePermission", roles=ROOT_ONLY, params=[
    Param("roleid", UUID, entity=Role, required=True, description="ID of the role"),
    Param("ruleorder", LIST, of=UUID, entity=RolePermission,
          description="The parent role permission uuid, use 0 to move this rule at the top of the list"),
    Param("ruleid", UUID, entity=RolePermission, description="Role permission rule id"),
    Param("permission", STRING, description="Rule permission, can be: allow or deny"),
])
def update_role_permission(ctx, p):
    """Updates a role permission order"""
    role = p.roleid
    if p.ruleorder is not None:
        current = {r.id for r in ctx.db.scalars(select(RolePermission).where(
            RolePermission.role_id == role.id, RolePermission.removed.is_(None)))}
        if {r.id for r in p.ruleorder} != current:
            raise InvalidParameter("The ruleorder must list every permission of the role exactly once")
        for order, rule in enumerate(p.ruleorder):
            rule.sort_order = order
    elif p.ruleid is not None and p.permission:
        if p.ruleid.role_id != role.id:
            raise InvalidParameter("The rule does not belong to the role")
        p.ruleid.permission = check_permission(p.permission)
    else:
        raise InvalidParameter("Either ruleorder, or ruleid and permission must be passed in")
    ctx.touch("auth")
    ctx.event("ROLE.PERMISSION.UPDATE", f"Permissions of role {role.name} updated", resource_type="Role",
              resource_id=role.uuid)
    return {"success": True}


@command("deleteRolePermission", roles=ROOT_ONLY, params=[
    Param("id", UUID, entity=RolePermission, required=True, description="ID of the role permission"),
])
def delete_role_permission(ctx, p):
    """Deletes a role permission"""
    p.id.removed = now()
    ctx.touch("auth")
    ctx.event("ROLE.PERMISSION.DELETE", f"Rule {p.id.rule} deleted", resource_type="RolePermission",
              resource_id=p.id.uuid)
    return {"success": True}
