"""Platform commands: settings, hypervisors, events, roles' rules, account updates."""

import pytest

from marvin.errors import CloudstackError

from .conftest import unique


def test_configurations_are_typed_and_listed(admin):
    page = admin.list("listConfigurations", name="default.page.size")
    setting = next(s for s in page if s["name"] == "default.page.size")
    assert (setting["value"], setting["type"], setting["category"]) == ("500", "Long", "Advanced")
    with pytest.raises(CloudstackError) as bad:
        admin("updateConfiguration", name="default.page.size", value="lots")
    assert bad.value.errorcode == 431 and "default.page.size" in bad.value.errortext
    with pytest.raises(CloudstackError) as unknown:
        admin("updateConfiguration", name="no.such.setting", value="1")
    assert unknown.value.errorcode == 431 and "no.such.setting" in unknown.value.errortext
    updated = admin("updateConfiguration", name="expunge.delay", value="20")
    assert updated["value"] == "20"
    assert admin.list("listConfigurations", name="expunge.delay")[0]["value"] == "20"
    reset = admin("resetConfiguration", name="expunge.delay")
    assert reset["value"] == reset["defaultvalue"]
    categories = {s["category"] for s in admin.list("listConfigurations", pagesize=-1)}
    assert {"Advanced", "Network", "Storage"} <= categories


def test_page_size_setting_drives_paging(admin):
    admin("updateConfiguration", name="default.page.size", value="3")
    try:
        for i in range(4):
            admin("createDomain", name=unique(f"ps{i}"))
        page = admin.request("listDomains", {"listall": True})
        assert len(page["domain"]) == 3 and page["count"] >= 5
        with pytest.raises(CloudstackError, match="Page size can't exceed max allowed page size value: 3"):
            admin.request("listDomains", {"page": 1, "pagesize": 4})
    finally:
        admin("updateConfiguration", name="default.page.size", value="500")


def test_hypervisors_follow_the_setting(admin):
    names = [h["name"] for h in admin.list("listHypervisors")]
    assert names[0] == "Simulator" and "KVM" in names
    admin("updateConfiguration", name="hypervisor.list", value="Simulator")
    try:
        assert [h["name"] for h in admin.list("listHypervisors")] == ["Simulator"]
    finally:
        admin("resetConfiguration", name="hypervisor.list")


def test_events_filter_by_type_and_level(admin, account_factory):
    acct, user, client = account_factory()
    events = admin.list("listEvents", listall=True, type="ACCOUNT.CREATE", level="INFO")
    assert acct["id"] in {e["resourceid"] for e in events}
    mine = client.list("listEvents")
    assert all(e["account"] == acct["name"] for e in mine)


def test_role_rules_order_and_removal(admin):
    role = admin("createRole", name=unique("ordered"), type="User")
    deny = admin("createRolePermission", roleid=role["id"], rule="list*", permission="deny")
    allow = admin("createRolePermission", roleid=role["id"], rule="listUsers", permission="allow")
    rules = admin.list("listRolePermissions", roleid=role["id"])
    assert [r["id"] for r in rules] == [deny["id"], allow["id"]]
    admin("updateRolePermission", roleid=role["id"], ruleorder=f"{allow['id']},{deny['id']}")
    assert [r["id"] for r in admin.list("listRolePermissions", roleid=role["id"])] == [allow["id"], deny["id"]]
    admin("deleteRolePermission", id=deny["id"])
    assert [r["rule"] for r in admin.list("listRolePermissions", roleid=role["id"])] == ["listUsers"]
    renamed = admin("updateRole", id=role["id"], name=unique("renamed"), description="changed")
    assert renamed["description"] == "changed"
    admin("deleteRole", id=role["id"])


def test_update_account_rename_and_move_user(admin, account_factory):
    acct, user, _ = account_factory()
    other, _, _ = account_factory()
    new_name = unique("renamed")
    assert admin("updateAccount", id=acct["id"], newname=new_name)["name"] == new_name
    assert admin("moveUser", id=user["id"], accountid=other["id"]) == {"success": True}
    assert admin.list("listUsers", id=user["id"])[0]["accountid"] == other["id"]
    assert user["id"] in {u["id"] for u in admin.list("listUsers", account=other["name"],
                                                       domainid=other["domainid"])}
