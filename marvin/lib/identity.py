"""Identity: domains, accounts, users, roles and their permissions, and the resource limits and counts
that bound what an account may hold (server/iam)."""

from __future__ import annotations

from typing import Any

from ..client import Client
from .resource import Api, Record, Resource, api_of, given, hybridmethod, services_or
from .utils import random_gen


class Domain(Resource):
    list_command, update_command, delete_command = "listDomains", "updateDomain", "deleteDomain"

    @classmethod
    def create(cls, apiclient: Any, services: dict | None = None, name: str | None = None,
               networkdomain: str | None = None, parentdomainid: str | None = None,
               domainid: str | None = None) -> Domain:
        services = services_or(services, name="domain")
        return cls._call(apiclient, "createDomain", name=f"{name or services['name']}-{random_gen()}",
                         networkdomain=networkdomain or services.get("networkdomain"),
                         parentdomainid=parentdomainid or services.get("parentdomainid"), domainid=domainid)

    def delete(self, apiclient: Any = None, cleanup: bool | None = None) -> Any:
        return self.api(apiclient).call("deleteDomain", id=self.id, cleanup=cleanup)


ACCOUNT = {"email": "test@example.test", "firstname": "Test", "lastname": "User", "username": "test",
           "password": "password"}


class Account(Resource):
    list_command, update_command, delete_command = "listAccounts", "updateAccount", "deleteAccount"

    @classmethod
    def create(cls, apiclient: Any, services: dict | None = None, admin: bool = False,
               domainid: str | None = None, roleid: str | None = None, account: str | None = None) -> Account:
        """A new account (admin=True: a domain admin when a domain is given, else a root admin) named
        after services["username"] with a random suffix."""
        services = services_or(services, **ACCOUNT)
        return cls._call(apiclient, "createAccount", accounttype=2 if admin and domainid else int(admin),
                         email=services["email"], firstname=services["firstname"],
                         lastname=services["lastname"], password=services["password"],
                         username=f"{services['username'][:6]}-{random_gen()}", domainid=domainid,
                         roleid=roleid, account=account)

    def disable(self, apiclient: Any = None, lock: bool = False) -> Account:
        return self.act(self, apiclient, "disableAccount", lock=lock)

    def enable(self, apiclient: Any = None) -> Account:
        return self.act(self, apiclient, "enableAccount")

    def lock(self, apiclient: Any = None) -> Account:
        self._load(self.api(apiclient).call("lockAccount", account=self.name, domainid=self.domainid))
        return self


class User(Resource):
    list_command, update_command, delete_command = "listUsers", "updateUser", "deleteUser"

    @classmethod
    def create(cls, apiclient: Any, services: dict | None, account: str, domainid: str) -> User:
        services = services_or(services, **ACCOUNT)
        return cls._call(apiclient, "createUser", account=account, domainid=domainid,
                         email=services["email"], firstname=services["firstname"],
                         lastname=services["lastname"], password=services["password"],
                         username=f"{services['username']}-{random_gen()}")

    @classmethod
    def registerUserKeys(cls, apiclient: Any, userid: str) -> Record:
        return Record(api_of(apiclient).call("registerUserKeys", id=userid))

    def keys(self, apiclient: Any = None) -> Record:
        return Record(self.api(apiclient).call("getUserKeys", id=self.id))

    def signed_client(self, apiclient: Any = None) -> Client:
        """New keys for this user, and a client on the same server signing with them."""
        api = self.api(apiclient)
        keys = api.call("registerUserKeys", id=self.id)
        return api.signed_as(keys["apikey"], keys["secretkey"])

    def move(self, apiclient: Any = None, dest_accountid: str | None = None, dest_account: str | None = None,
             domain: str | None = None) -> Any:
        return self.api(apiclient).call("moveUser", id=self.id, accountid=dest_accountid,
                                        account=dest_account, domain=domain)

    def disable(self, apiclient: Any = None) -> User:
        return self.act(self, apiclient, "disableUser")

    def enable(self, apiclient: Any = None) -> User:
        return self.act(self, apiclient, "enableUser")

    def lock(self, apiclient: Any = None) -> User:
        return self.act(self, apiclient, "lockUser")


class Role(Resource):
    list_command, update_command, delete_command = "listRoles", "updateRole", "deleteRole"

    @classmethod
    def create(cls, apiclient: Any, services: dict, domainid: str | None = None) -> Role:
        return cls._call(apiclient, "createRole", name=services["name"], type=services.get("type"),
                         roleid=services.get("roleid"), description=services.get("description"))


class RolePermission(Resource):
    list_command, delete_command = "listRolePermissions", "deleteRolePermission"

    @classmethod
    def create(cls, apiclient: Any, services: dict, domainid: str | None = None) -> RolePermission:
        return cls._call(apiclient, "createRolePermission", roleid=services["roleid"], rule=services["rule"],
                         permission=services["permission"], description=services.get("description"))

    def update(self, apiclient: Any = None, **kwargs: Any) -> Any:
        if "ruleorder" not in kwargs:
            kwargs.setdefault("ruleid", self.id)
        return self.api(apiclient).call("updateRolePermission", roleid=self.roleid, **kwargs)

    def fetch(self, api: Api) -> list[dict]:
        return [rule for rule in api.list(self.list_command, roleid=self.roleid) if rule["id"] == self.id]


class Resources(Resource):
    """Resource limits (listResourceLimits, updateResourceLimit) and counts (updateResourceCount). A limit
    has no id: it is named by its resource type and its account or domain."""
    list_command = "listResourceLimits"

    @classmethod
    def updateLimit(cls, apiclient: Any, **kwargs: Any) -> Resources:
        """kwargs: resourcetype, max, account and domainid (or domainid alone, for the domain's limit)."""
        return cls._call(apiclient, "updateResourceLimit", **kwargs)

    @classmethod
    def updateCount(cls, apiclient: Any, **kwargs: Any) -> list[Record]:
        """Recount (domainid, and account / resourcetype to narrow it); answers the new counts."""
        return [Record(item) for item in api_of(apiclient).list("updateResourceCount", **kwargs)]

    def scope(self) -> dict:
        return given(resourcetype=self.resourcetype, account=self.get("account"), domainid=self.domainid)

    @hybridmethod
    def update(cls, self, apiclient: Any = None, **kwargs: Any) -> Resources:
        """`limit.update(max=5)`: a new maximum for this limit's type and owner."""
        if self is None:
            return cls.updateLimit(apiclient, **kwargs)
        self._load(self.api(apiclient).call("updateResourceLimit", **{**self.scope(), **kwargs}))
        return self

    def fetch(self, api: Api) -> list[dict]:
        return api.list(self.list_command, **self.scope())
