"""Identity: domains, accounts, users, roles, keys — and who may see and change what."""

import pytest

from marvin.client import Client
from marvin.errors import CloudstackError

from .conftest import unique


def test_domain_tree(admin):
    parent = admin("createDomain", name=unique("parent"))
    child = admin("createDomain", name=unique("child"), parentdomainid=parent["id"])
    assert child["level"] == 2 and child["parentdomainid"] == parent["id"]
    assert child["path"] == f"ROOT/{parent['name']}/{child['name']}"
    children = admin.list("listDomainChildren", id=parent["id"])
    assert [d["id"] for d in children] == [child["id"]]
    with pytest.raises(CloudstackError) as in_use:
        admin("deleteDomain", id=parent["id"])
    assert in_use.value.errorcode == 536
    renamed = admin("updateDomain", id=parent["id"], name=unique("renamed"))
    assert admin.list("listDomains", id=child["id"])[0]["path"].startswith(f"ROOT/{renamed['name']}/")
    assert admin("deleteDomain", id=parent["id"], cleanup=True) == {"success": True}
    with pytest.raises(CloudstackError) as gone:
        admin.request("listDomains", {"id": child["id"]})
    assert gone.value.errorcode == 431


def test_duplicate_names_are_refused(admin, account_factory):
    acct, user, _ = account_factory()
    with pytest.raises(CloudstackError) as dup:
        admin("createAccount", username=user["username"], password="x", firstname="a", lastname="b",
              email="a@b.c")
    assert dup.value.errorcode == 431
    name = unique("dom")
    admin("createDomain", name=name)
    with pytest.raises(CloudstackError, match="already exists"):
        admin("createDomain", name=name)


def test_account_lifecycle_and_events(admin, account_factory):
    acct, user, client = account_factory()
    assert client("listCapabilities")["cloudstackversion"]
    disabled = admin("disableAccount", id=acct["id"], lock=False)
    assert disabled["state"] == "disabled"
    with pytest.raises(CloudstackError) as refused:
        client("listCapabilities")
    assert refused.value.errorcode == 401
    assert admin("enableAccount", id=acct["id"])["state"] == "enabled"
    assert client("listCapabilities")["cloudstackversion"]
    locked = admin("lockAccount", account=acct["name"], domainid=acct["domainid"])
    assert locked["state"] == "locked"
    admin("enableAccount", account=acct["name"], domainid=acct["domainid"])
    events = {e["type"] for e in admin.list("listEvents", listall=True, resourceid=acct["id"])}
    assert {"ACCOUNT.CREATE", "ACCOUNT.DISABLE", "ACCOUNT.ENABLE"} <= events


def test_user_lifecycle_and_keys(admin, account_factory):
    acct, user, client = account_factory()
    extra = admin("createUser", account=acct["name"], domainid=acct["domainid"], username=unique("u"),
                  password="pw", firstname="f", lastname="l")
    assert extra["account"] == acct["name"]
    keys = admin("registerUserKeys", id=extra["id"])
    assert admin("getUserKeys", id=extra["id"])["secretkey"] == keys["secretkey"]
    assert admin("getUser", userapikey=keys["apikey"])["id"] == extra["id"]
    as_extra = Client(admin.url, keys["apikey"], keys["secretkey"])
    assert as_extra("listCapabilities")
    assert admin("disableUser", id=extra["id"])["state"] == "disabled"
    with pytest.raises(CloudstackError):
        as_extra("listCapabilities")
    assert admin("enableUser", id=extra["id"])["state"] == "enabled"
    assert admin("lockUser", id=extra["id"])["state"] == "locked"
    admin("enableUser", id=extra["id"])
    updated = admin("updateUser", id=extra["id"], firstname="Changed", email="c@example.test")
    assert (updated["firstname"], updated["email"]) == ("Changed", "c@example.test")
    new = admin("registerUserKeys", id=extra["id"])
    with pytest.raises(CloudstackError):
        as_extra("listCapabilities")  # the old keys are gone
    assert Client(admin.url, new["apikey"], new["secretkey"])("listCapabilities")
    assert admin("deleteUser", id=extra["id"]) == {"success": True}
    assert admin.list("listUsers", id=user["id"])


def test_login_as_new_user(admin, account_factory):
    acct, user, _ = account_factory(password="S3cret pass")
    session = Client(admin.url, username=user["username"], password="S3cret pass")
    assert session.list("listUsers")[0]["username"] == user["username"]
    assert session.logout() == {"description": "success"}


def test_failed_logins_lock_the_user(admin, account_factory):
    acct, user, _ = account_factory(password="right")
    allowed = int(admin.list("listConfigurations", name="incorrect.login.attempts.allowed")[0]["value"])
    for _ in range(allowed):
        with pytest.raises(CloudstackError):
            Client(admin.url, username=user["username"], password="wrong")
    assert admin.list("listUsers", id=user["id"])[0]["state"] == "locked"
    with pytest.raises(CloudstackError):
        Client(admin.url, username=user["username"], password="right")


def test_system_accounts_are_protected(admin):
    admin_user = admin.list("listUsers", username="admin")[0]
    for command, params in (("deleteUser", {"id": admin_user["id"]}),
                            ("deleteAccount", {"id": admin_user["accountid"]}),
                            ("disableUser", {"id": admin_user["id"]})):
        with pytest.raises(CloudstackError) as refused:
            admin(command, **params)
        assert refused.value.errorcode in (431, 531)
    assert admin.list("listUsers", id=admin_user["id"])[0]["state"] == "enabled"


def test_roles_and_permissions(admin, account_factory):
    role = admin("createRole", name=unique("role"), type="User", description="no users")
    rule = admin("createRolePermission", roleid=role["id"], rule="listUsers", permission="deny")
    admin("createRolePermission", roleid=role["id"], rule="*", permission="allow")
    acct = admin("createAccount", username=unique("r"), password="pw", firstname="a", lastname="b",
                 roleid=role["id"])
    keys = admin("registerUserKeys", id=acct["user"][0]["id"])
    client = Client(admin.url, keys["apikey"], keys["secretkey"])
    with pytest.raises(CloudstackError) as denied:
        client("listUsers")
    assert denied.value.errorcode == 401
    assert "listUsers" not in {api["name"] for api in client.list("listApis")}
    admin("updateRolePermission", roleid=role["id"], ruleid=rule["id"], permission="allow")
    assert client.list("listUsers")
    with pytest.raises(CloudstackError) as in_use:
        admin("deleteRole", id=role["id"])
    assert in_use.value.errorcode == 536
    admin("deleteAccount", id=acct["id"])
    assert admin("deleteRole", id=role["id"]) == {"success": True}
    default_user_role = admin.list("listRoles", name="User")[0]
    with pytest.raises(CloudstackError):
        admin("deleteRole", id=default_user_role["id"])


def test_read_only_admin_can_list_but_not_change(admin):
    role = admin.list("listRoles", name="Read-Only Admin - Default")[0]
    acct = admin("createAccount", username=unique("ro"), password="pw", firstname="a", lastname="b",
                 roleid=role["id"])
    keys = admin("registerUserKeys", id=acct["user"][0]["id"])
    client = Client(admin.url, keys["apikey"], keys["secretkey"])
    assert client.list("listAccounts", listall=True)
    with pytest.raises(CloudstackError) as denied:
        client("createDomain", name=unique("nope"))
    assert denied.value.errorcode == 401
    admin("deleteAccount", id=acct["id"])


# ---- visibility -------------------------------------------------------------------------------

def test_user_sees_only_own_account(admin, account_factory):
    alice_acct, alice, alice_client = account_factory()
    bob_acct, bob, bob_client = account_factory()
    assert {a["id"] for a in alice_client.list("listAccounts", listall=True)} == {alice_acct["id"]}
    assert {u["id"] for u in alice_client.list("listUsers", listall=True)} == {alice["id"]}
    for command, params in (("updateUser", {"id": bob["id"], "firstname": "pwned"}),
                            ("registerUserKeys", {"id": bob["id"]}),
                            ("getUserKeys", {"id": bob["id"]}),
                            ("deleteUser", {"id": bob["id"]}),
                            ("disableUser", {"id": bob["id"]}),
                            ("createUser", {"account": bob_acct["name"], "username": unique("x"),
                                            "password": "p", "firstname": "f", "lastname": "l"}),
                            ("deleteAccount", {"id": bob_acct["id"]}),
                            ("updateAccount", {"id": bob_acct["id"], "newname": "pwned"})):
        with pytest.raises(CloudstackError) as refused:
            alice_client(command, **params)
        assert refused.value.errorcode in (401, 431, 531), (command, refused.value)
    assert alice_client.list("listAccounts", id=bob_acct["id"]) == []
    assert alice_client.list("listUsers", id=bob["id"]) == []
    assert admin.list("listUsers", id=bob["id"])[0]["firstname"] == "Test"
    assert admin.list("listUsers", id=bob["id"])[0]["state"] == "enabled"


def test_domain_admin_sees_its_subtree_only(admin):
    mine = admin("createDomain", name=unique("mine"))
    below = admin("createDomain", name=unique("below"), parentdomainid=mine["id"])
    other = admin("createDomain", name=unique("other"))
    boss = admin("createAccount", username=unique("boss"), password="pw", firstname="a", lastname="b",
                 accounttype=2, domainid=mine["id"])
    keys = admin("registerUserKeys", id=boss["user"][0]["id"])
    boss_client = Client(admin.url, keys["apikey"], keys["secretkey"])
    worker = boss_client("createAccount", username=unique("w"), password="pw", firstname="a",
                         lastname="b", domainid=below["id"])
    outsider = admin("createAccount", username=unique("o"), password="pw", firstname="a", lastname="b",
                     domainid=other["id"])
    visible_domains = {d["id"] for d in boss_client.list("listDomains", listall=True)}
    assert visible_domains == {mine["id"], below["id"]}
    visible_accounts = {a["id"] for a in boss_client.list("listAccounts", listall=True)}
    assert worker["id"] in visible_accounts and outsider["id"] not in visible_accounts
    with pytest.raises(CloudstackError) as refused:
        boss_client("disableAccount", id=outsider["id"], lock=True)
    assert refused.value.errorcode == 531
    with pytest.raises(CloudstackError):
        boss_client("createAccount", username=unique("x"), password="pw", firstname="a", lastname="b",
                    domainid=other["id"])
    with pytest.raises(CloudstackError):
        boss_client("createAccount", username=unique("x"), password="pw", firstname="a", lastname="b",
                    accounttype=1)
    assert boss_client("disableAccount", id=worker["id"], lock=True)["state"] == "locked"
    admin("deleteDomain", id=mine["id"], cleanup=True)
    admin("deleteDomain", id=other["id"], cleanup=True)
