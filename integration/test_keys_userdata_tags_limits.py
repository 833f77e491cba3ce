"""SSH key pairs, registered user data, resource tags and resource limits, as real clients drive them."""

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import create_engine, text

from marvin.errors import CloudstackError, JobFailed

from .conftest import unique

PUBLIC_OPENSSH = (serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)


def error_of(call) -> CloudstackError:
    with pytest.raises(CloudstackError) as caught:
        call()
    return caught.value


def md5_fingerprint(public_line: str) -> str:
    digest = hashlib.md5(base64.b64decode(public_line.split()[1])).hexdigest()
    return ":".join(digest[i:i + 2] for i in range(0, 32, 2))


def new_public_key() -> str:
    return ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(*PUBLIC_OPENSSH).decode()


def post(client, command: str, **params) -> dict:
    """Large values go in a POST body, as clients send big user data."""
    return client.request(command, params, method="POST")


def b64(text_value: str) -> str:
    return base64.b64encode(text_value.encode()).decode()


# ---- SSH key pairs --------------------------------------------------------------------------

def test_created_key_pair_answers_its_private_key(account_factory):
    _, _, user = account_factory()
    name = unique("key")
    pair = user("createSSHKeyPair", name=name)
    assert pair["name"] == name and pair["privatekey"].startswith("-----BEGIN RSA PRIVATE KEY-----")
    private = serialization.load_pem_private_key(pair["privatekey"].encode(), password=None)
    assert private.key_size == 2048
    assert pair["fingerprint"] == md5_fingerprint(private.public_key().public_bytes(*PUBLIC_OPENSSH).decode())
    listed = user.list("listSSHKeyPairs", name=name)
    assert [(k["id"], k["fingerprint"], k["hasannotations"]) for k in listed] == [
        (pair["id"], pair["fingerprint"], False)]
    assert "privatekey" not in listed[0] and listed[0]["account"] == pair["account"]
    again = error_of(lambda: user("createSSHKeyPair", name=name))
    assert again.errorcode == 431 and again.errortext == f"A key pair with name '{name}' already exists."


def test_registered_public_keys_are_validated(account_factory):
    _, _, user = account_factory()
    public = new_public_key()
    name = unique("reg")
    pair = user.request("registerSSHKeyPair", {"name": name, "publickey": public + " me@laptop"},
                        method="POST")["keypair"]
    assert pair["fingerprint"] == md5_fingerprint(public) and "privatekey" not in pair
    assert user.list("listSSHKeyPairs", fingerprint=pair["fingerprint"])[0]["name"] == name
    assert user.list("listSSHKeyPairs", keyword=name[-8:])[0]["id"] == pair["id"]
    same_key = error_of(lambda: user("registerSSHKeyPair", name=unique("dup"), publickey=public))
    assert same_key.errorcode == 431 and "already exists for this account" in same_key.errortext
    same_name = error_of(lambda: user("registerSSHKeyPair", name=name, publickey=new_public_key()))
    assert same_name.errortext == f"A key pair with name '{name}' already exists for this account."
    rsa_blob = user("createSSHKeyPair", name=unique("rsa"))
    mismatched = "ssh-ed25519 " + base64.b64encode(b"\x00\x00\x00\x07ssh-rsa" + b"\x01" * 40).decode()
    for bad in ("ssh-rsa not-base64!", "hello world", "ssh-foo AAAA", mismatched, "AAAA"):
        refused = error_of(lambda bad=bad: user("registerSSHKeyPair", name=unique("bad"), publickey=bad))
        assert (refused.errorcode, refused.errortext) == (431, "Public key is invalid"), bad
    assert rsa_blob["fingerprint"]


def test_key_pairs_belong_to_their_account(admin, account_factory):
    owner_acct, _, owner = account_factory()
    _, _, other = account_factory()
    name = unique("mine")
    pair = owner("createSSHKeyPair", name=name)
    assert other.list("listSSHKeyPairs", name=name) == []
    assert other.list("listSSHKeyPairs", name=name, listall=True) == []
    assert error_of(lambda: other.list("listSSHKeyPairs", id=pair["id"])).errorcode == 531
    missing = error_of(lambda: other("deleteSSHKeyPair", name=name))
    assert missing.errorcode == 431 and f"A key pair with name '{name}' does not exist for account" in \
        missing.errortext
    foreign = error_of(lambda: other("deleteSSHKeyPair", name=name, account=owner_acct["name"],
                                     domainid=owner_acct["domainid"]))
    assert foreign.errorcode == 531
    assert [k["id"] for k in admin.list("listSSHKeyPairs", name=name, listall=True)] == [pair["id"]]
    assert admin("deleteSSHKeyPair", name=name, account=owner_acct["name"],
                 domainid=owner_acct["domainid"])["success"] is True
    assert owner.list("listSSHKeyPairs", name=name) == []
    assert owner("createSSHKeyPair", name=name)["name"] == name  # the name is free again
    assert owner("deleteSSHKeyPair", name=name)["success"] is True


def test_admin_creates_a_key_pair_for_an_account(admin, account_factory):
    acct, _, user = account_factory()
    name = unique("forme")
    made = admin("registerSSHKeyPair", name=name, publickey=new_public_key(), account=acct["name"],
                 domainid=acct["domainid"])
    assert made["account"] == acct["name"]
    assert user.list("listSSHKeyPairs", name=name)[0]["id"] == made["id"]
    half = error_of(lambda: admin("createSSHKeyPair", name=unique("x"), account=acct["name"]))
    assert half.errorcode == 431


# ---- user data ------------------------------------------------------------------------------

def test_user_data_register_list_delete(account_factory):
    _, _, user = account_factory()
    _, _, other = account_factory()
    name = unique("ud")
    script = "#cloud-config\nruncmd:\n - echo {{ ds.meta_data.instance_name }}\n"
    made = user("registerUserData", name=name, userdata=b64(script).rstrip("="), params="name, zone")
    assert made["name"] == name and base64.b64decode(made["userdata"]).decode() == script
    assert made["params"] == "name,zone" and made["accountid"] and made["domainid"]
    listed = user.list("listUserData", name=name)
    assert [u["id"] for u in listed] == [made["id"]] and listed[0]["userdata"] == made["userdata"]
    assert user.list("listUserData", keyword=name[-8:])[0]["id"] == made["id"]
    assert other.list("listUserData", name=name) == []
    assert error_of(lambda: other("deleteUserData", id=made["id"])).errorcode == 531
    taken = error_of(lambda: user("registerUserData", name=name, userdata=b64("other")))
    assert taken.errortext == f"A userdata with name {name} already exists for this account."
    same = error_of(lambda: user("registerUserData", name=unique("ud"), userdata=b64(script)))
    assert same.errortext == f"Userdata {name} with same content already exists for this account."
    assert user("deleteUserData", id=made["id"])["success"] is True
    assert user.list("listUserData", name=name) == []


def test_user_data_content_is_validated(account_factory):
    _, _, user = account_factory()
    bad = error_of(lambda: user("registerUserData", name=unique("ud"), userdata="not base64!"))
    assert (bad.errorcode, bad.errortext) == (431, "User data is not base64 encoded")
    reserved = error_of(lambda: user("registerUserData", name=unique("ud"), userdata=b64("x"),
                                     params="instance-id,foo"))
    assert reserved.errorcode == 431 and "metadata file names" in reserved.errortext
    # 20 KB of user data fits the default vm.userdata.max.length (32768 base64 characters) ...
    fits = b64("a" * 20000)
    made = user.request("registerUserData", {"name": unique("big"), "userdata": fits}, method="POST")
    assert made["userdata"]["userdata"] == fits
    # ... 30 KB does not, and more than 1 MB is refused by the parameter itself.
    too_big = error_of(lambda: post(user, "registerUserData", name=unique("big"), userdata=b64("b" * 30000)))
    assert (too_big.errorcode, too_big.errortext) == (431, "User data has exceeded configurable max length : "
                                                           "32768")
    huge = error_of(lambda: post(user, "registerUserData", name=unique("big"), userdata=b64("c" * 800_000)))
    assert huge.errorcode == 431 and "userdata" in huge.errortext


def template_uuid(server, template_id: int) -> str:
    engine = create_engine(server.db_url)
    try:
        with engine.connect() as conn:
            query = text("SELECT uuid FROM vm_template WHERE id = :id")
            return conn.execute(query, {"id": template_id}).scalar()
    finally:
        engine.dispose()


def test_user_data_links_to_a_template(server, admin, account_factory):
    template = template_uuid(server, 111)
    data = admin("registerUserData", name=unique("tmpl"), userdata=b64("#!/bin/sh\necho linked\n"))
    try:
        linked = admin("linkUserDataToTemplate", templateid=template, userdataid=data["id"],
                       userdatapolicy="append")
        assert linked["id"] == template and linked["name"] == "CentOS 5.6 (64-bit) no GUI (Simulator)"
        assert (linked["userdataid"], linked["userdataname"], linked["userdatapolicy"]) == (
            data["id"], data["name"], "APPEND")
        busy = error_of(lambda: admin("deleteUserData", id=data["id"]))
        assert busy.errorcode == 530 and "linked to active template" in busy.errortext
        _, _, user = account_factory()
        mine = user("registerUserData", name=unique("u"), userdata=b64("user"))
        refused = error_of(lambda: user("linkUserDataToTemplate", templateid=template, userdataid=mine["id"]))
        assert refused.errorcode == 531
        both = error_of(lambda: admin("linkUserDataToTemplate", templateid=template, isoid=template))
        assert both.errortext == "Both template ID and ISO ID are passed, API accepts only one"
        assert error_of(lambda: admin("linkUserDataToTemplate", userdataid=data["id"])).errorcode == 431
        policy = error_of(lambda: admin("linkUserDataToTemplate", templateid=template, userdataid=data["id"],
                                        userdatapolicy="sometimes"))
        assert policy.errorcode == 431 and "userdatapolicy" in policy.errortext
    finally:
        unlinked = admin("linkUserDataToTemplate", templateid=template)
        assert "userdataid" not in unlinked
    assert admin("deleteUserData", id=data["id"])["success"] is True


# ---- tags -----------------------------------------------------------------------------------

@pytest.fixture
def zone(admin):
    made = admin("createZone", name=unique("tagzone"), networktype="Advanced", dns1="8.8.8.8",
                 internaldns1="10.0.0.1")
    yield made
    admin("deleteZone", id=made["id"])


def zone_ids(admin, **params) -> set[str]:
    return {z["id"] for z in admin.list("listZones", **params)}


def test_zone_tags_filter_list_zones(admin, zone):
    assert admin("createTags", resourceids=[zone["id"]], resourcetype="zone",
                 tags={"env": "test", "tier": "gold"})["success"] is True
    tags = admin.list("listTags", resourceid=zone["id"], listall=True)
    assert sorted((t["key"], t["value"], t["resourcetype"]) for t in tags) == [
        ("env", "test", "Zone"), ("tier", "gold", "Zone")]
    assert {t["account"] for t in tags} == {"system"} and all(t["resourceid"] == zone["id"] for t in tags)
    assert zone["id"] in zone_ids(admin, tags={"env": "test"})
    assert zone["id"] in zone_ids(admin, tags={"env": "test", "tier": "gold"})
    assert zone["id"] not in zone_ids(admin, tags={"env": "test", "tier": "silver"})
    listed = admin.list("listZones", id=zone["id"])[0]
    assert sorted((t["key"], t["value"]) for t in listed["tags"]) == [("env", "test"), ("tier", "gold")]
    # (`key` is also Client.list's own argument: send it through request.)
    found = admin.request("listTags", {"key": "tier", "value": "gold", "listall": True})["tag"]
    assert [t["key"] for t in found if t["resourceid"] == zone["id"]] == ["tier"]
    duplicate = error_of(lambda: admin("createTags", resourceids=[zone["id"]], resourcetype="Zone",
                                       tags={"env": "prod"}))
    assert isinstance(duplicate, JobFailed) and duplicate.errorcode == 530
    assert duplicate.errortext == f"tag env already on Zone with id {zone['id']}"
    assert admin("deleteTags", resourceids=[zone["id"]], resourcetype="Zone",
                 tags=[{"key": "TIER"}])["success"] is True
    assert [t["key"] for t in admin.list("listTags", resourceid=zone["id"], listall=True)] == ["env"]
    assert admin("deleteTags", resourceids=[zone["id"]], resourcetype="Zone")["success"] is True
    assert admin.list("listTags", resourceid=zone["id"], listall=True) == []
    assert admin.list("listZones", id=zone["id"])[0]["tags"] == []
    nothing = error_of(lambda: admin("deleteTags", resourceids=[zone["id"]], resourcetype="Zone"))
    assert (nothing.errorcode, nothing.errortext) == (530, "Failed to delete tags")


def test_tag_errors(admin, account_factory, zone):
    _, _, user = account_factory()
    denied = error_of(lambda: user("createTags", resourceids=[zone["id"]], resourcetype="Zone",
                                   tags={"owner": "me"}))
    assert denied.errorcode == 531 and "doesn't have permissions to create tags" in denied.errortext
    unknown = error_of(lambda: admin("createTags", resourceids=[zone["id"]], resourcetype="Bogus",
                                     tags={"a": "b"}))
    assert (unknown.errorcode, unknown.errortext) == (431, "Invalid resource type Bogus")
    missing = error_of(lambda: admin("createTags", resourceids=["no-such-zone"], resourcetype="Zone",
                                     tags={"a": "b"}))
    assert missing.errorcode == 431 and "no-such-zone" in missing.errortext
    empty = error_of(lambda: admin("createTags", resourceids=[zone["id"]], resourcetype="Zone",
                                   tags={"a": ""}))
    assert (empty.errorcode, empty.errortext) == (431, "Value for the key a is either null or empty")
    long_key = error_of(lambda: admin("createTags", resourceids=[zone["id"]], resourcetype="Zone",
                                      tags={"k" * 256: "v"}))
    assert long_key.errorcode == 431
    no_tags = error_of(lambda: admin.request("createTags",
                                             {"resourceids": zone["id"], "resourcetype": "Zone"}))
    assert no_tags.errorcode == 431 and "missing parameter tags" in no_tags.errortext
    assert admin.list("listTags", resourceid=zone["id"], listall=True) == []


def test_users_tag_what_they_own(account_factory):
    _, _, user = account_factory()
    _, _, other = account_factory()
    pair = user("createSSHKeyPair", name=unique("tagged"))
    assert user("createTags", resourceids=[pair["id"]], resourcetype="sshkeypair",
                tags=[{"key": "role", "value": "deploy"}], customer="acme")["success"] is True
    mine = user.list("listTags", resourcetype="SSHKeyPair")
    assert [(t["key"], t["value"], t["customer"], t["account"]) for t in mine] == [
        ("role", "deploy", "acme", pair["account"])]
    assert other.list("listTags", resourceid=pair["id"]) == []
    stolen = error_of(lambda: other("deleteTags", resourceids=[pair["id"]], resourcetype="SSHKeyPair"))
    assert stolen.errorcode == 531
    foreign = error_of(lambda: other("createTags", resourceids=[pair["id"]], resourcetype="SSHKeyPair",
                                     tags={"x": "y"}))
    assert foreign.errorcode == 531
    user("deleteSSHKeyPair", name=pair["name"])
    assert user.list("listTags", resourceid=pair["id"]) == []  # the key's tags went with it


# ---- resource limits ------------------------------------------------------------------------

def limits_by_name(client, **params) -> dict[str, dict]:
    return {limit["resourcetypename"]: limit for limit in client.list("listResourceLimits", **params)}


def test_limit_defaults(admin, account_factory):
    acct, _, user = account_factory()
    mine = limits_by_name(user)
    assert len(mine) == 16
    assert {name: mine[name]["max"] for name in ("user_vm", "cpu", "memory", "primary_storage")} == {
        "user_vm": 20, "cpu": 40, "memory": 40960, "primary_storage": 200}
    assert mine["user_vm"]["resourcetype"] == "0" and mine["secondary_storage"]["resourcetype"] == "11"
    assert mine["user_vm"]["account"] == acct["name"] and mine["user_vm"]["domainid"] == acct["domainid"]
    assert {limit["max"] for limit in limits_by_name(admin).values()} == {-1}  # the root admin
    cpu = admin.list("listResourceLimits", account=acct["name"], domainid=acct["domainid"], resourcetype=8)
    assert [(c["resourcetypename"], c["max"]) for c in cpu] == [("cpu", 40)]
    by_name = user.list("listResourceLimits", resourcetypename="volume")
    assert [(v["resourcetype"], v["max"]) for v in by_name] == [("2", 20)]
    assert error_of(lambda: user.list("listResourceLimits", resourcetype=99)).errorcode == 431


def test_update_account_and_domain_limits(admin, account_factory):
    parent = admin("createDomain", name=unique("lim"))
    child = admin("createDomain", name=unique("sub"), parentdomainid=parent["id"])
    acct, _, user = account_factory(domainid=parent["id"])
    updated = admin("updateResourceLimit", resourcetype=0, max=5, account=acct["name"], domainid=parent["id"])
    assert (updated["resourcetypename"], updated["max"], updated["account"]) == ("user_vm", 5, acct["name"])
    assert limits_by_name(user)["user_vm"]["max"] == 5
    unlimited = admin("updateResourceLimit", resourcetype=0, account=acct["name"], domainid=parent["id"])
    assert unlimited["max"] == -1
    assert limits_by_name(admin, domainid=parent["id"])["user_vm"]["max"] == 40  # max.domain.user.vms
    assert "account" not in limits_by_name(admin, domainid=parent["id"])["user_vm"]
    assert admin("updateResourceLimit", resourcetype=0, max=10, domainid=parent["id"])["max"] == 10
    over = error_of(lambda: admin("updateResourceLimit", resourcetype=0, max=11, domainid=child["id"]))
    assert over.errorcode == 431 and "has maximum allowed resource limit 10 for user_vm" in over.errortext
    assert admin("updateResourceLimit", resourcetype=0, max=10, domainid=child["id"])["max"] == 10
    checks = [
        (dict(resourcetype=0, max=-2, domainid=child["id"]), 431, "Please specify either '-1'"),
        (dict(resourcetype=42, max=1, domainid=child["id"]), 431, "Please specify valid resource type"),
        (dict(resourcetype=0, max=1, account=acct["name"]), 431, "domainId"),
        (dict(resourcetype=0, max=1), 431, "AccountId or domainId"),
        (dict(resourcetype=0, max=1, domainid=admin.list("listDomains")[0]["id"]), 531, "ROOT domain"),
        (dict(resourcetype=0, max=1, account="system", domainid=admin.list("listDomains")[0]["id"]), 431,
         "Can't update system account"),
        (dict(resourcetype=0, max=1, account="admin", domainid=admin.list("listDomains")[0]["id"]), 431,
         "Only -1 limit is supported for Root Admin accounts"),
    ]
    for params, code, text_part in checks:
        refused = error_of(lambda params=params: admin("updateResourceLimit", **params))
        assert refused.errorcode == code and text_part in refused.errortext, params
    assert error_of(lambda: user("updateResourceLimit", resourcetype=0, max=100,
                                 domainid=parent["id"])).errorcode == 401


def test_domain_admins_cannot_raise_their_own_limits(admin, account_factory):
    domain = admin("createDomain", name=unique("dadm"))
    sub = admin("createDomain", name=unique("dsub"), parentdomainid=domain["id"])
    dadmin_acct, _, dadmin = account_factory(account_type=2, domainid=domain["id"])
    plain, _, _ = account_factory(domainid=domain["id"])
    own_domain = error_of(lambda: dadmin("updateResourceLimit", resourcetype=8, max=500,
                                         domainid=domain["id"]))
    assert own_domain.errorcode == 531
    own_account = error_of(lambda: dadmin("updateResourceLimit", resourcetype=8, max=500,
                                          account=dadmin_acct["name"], domainid=domain["id"]))
    assert own_account.errorcode == 531
    assert dadmin("updateResourceLimit", resourcetype=8, max=4, account=plain["name"],
                  domainid=domain["id"])["max"] == 4
    assert dadmin("updateResourceLimit", resourcetype=8, max=30, domainid=sub["id"])["max"] == 30
    outside = error_of(lambda: dadmin("updateResourceLimit", resourcetype=8, max=1,
                                      domainid=admin.list("listDomains")[0]["id"]))
    assert outside.errorcode == 531


def test_update_resource_count_recounts_the_tables(server, admin, account_factory):
    domain = admin("createDomain", name=unique("cnt"))
    acct, _, _ = account_factory(domainid=domain["id"])
    counts = admin.list("updateResourceCount", domainid=domain["id"], account=acct["name"])
    assert len(counts) == 16 and {c["resourcecount"] for c in counts} == {0}
    assert {c["account"] for c in counts} == {acct["name"]}
    engine = create_engine(server.db_url)
    try:
        with engine.begin() as conn:
            ids = conn.execute(text("SELECT a.id, a.domain_id, t.guest_os_id FROM account a, vm_template t "
                                    "WHERE a.uuid = :a AND t.id = 111"), {"a": acct["id"]}).one()
            conn.execute(text(
                "INSERT INTO vm_template (uuid, created, unique_name, name, type, format, guest_os_id, "
                "account_id, domain_id, public, featured, cross_zones, password_enabled, bootable, "
                "extractable, size, bits, arch, state) VALUES (:u, CURRENT_TIMESTAMP, :n, :n, 'USER', "
                "'QCOW2', :os, :acct, :dom, 0, 0, 0, 0, 1, 0, 2048, 64, 'x86_64', 'Active')"),
                {"u": unique("tmpl-uuid"), "n": unique("counted"), "os": ids[2], "acct": ids[0],
                 "dom": ids[1]})
        templates = admin.list("updateResourceCount", domainid=domain["id"], account=acct["name"],
                               resourcetype=4)
        assert [(t["resourcetypename"], t["resourcecount"]) for t in templates] == [("template", 1)]
        whole = {c["resourcetypename"]: c for c in admin.list("updateResourceCount", domainid=domain["id"])}
        assert whole["template"]["resourcecount"] == 1 and whole["secondary_storage"]["resourcecount"] == 2048
        assert "account" not in whole["template"] and whole["template"]["domainid"] == domain["id"]
    finally:
        with engine.begin() as conn:  # other suites list templates: leave none of ours behind
            conn.execute(text("UPDATE vm_template SET removed = CURRENT_TIMESTAMP WHERE account_id = "
                              "(SELECT id FROM account WHERE uuid = :a)"), {"a": acct["id"]})
        engine.dispose()
    again = admin.list("updateResourceCount", domainid=domain["id"], resourcetype=4)
    assert again[0]["resourcecount"] == 0
