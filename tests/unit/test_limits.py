"""reserve/release: account and domain-tree limits, units, undo on failure, and the last slot under a race."""

import threading
import time

import pytest
from sandstack.core import auth
from sandstack.core.context import Context
from sandstack.core.errors import ResourceLimitExceeded
from sandstack.core.server import ManagementServer
from sandstack.iam import limits
from sandstack.iam.models import USER_ACCOUNT, Account, Domain, ResourceCount, ResourceLimit, User
from sqlalchemy import select


@pytest.fixture
def server(tmp_path):
    running = ManagementServer(f"sqlite:///{tmp_path / 'limits.db'}")
    running.prepare()
    yield running
    running.engine.dispose()


def add_domain(server, name: str, parent_id: int = 1) -> int:
    with server.session() as db:
        parent = db.get(Domain, parent_id)
        domain = Domain(name=name, parent_id=parent.id, path=f"{parent.path}{name}/", level=parent.level + 1)
        db.add(domain)
        db.commit()
        server.caches.clear(["domains"])
        return domain.id


def add_account(server, name: str, domain_id: int) -> int:
    """An account with one user; answers the user id (contexts are built from users)."""
    with server.session() as db:
        acct = Account(account_name=name, type=USER_ACCOUNT, role_id=4, domain_id=domain_id)
        db.add(acct)
        db.flush()
        user = User(username=name, password="x", account_id=acct.id)
        db.add(user)
        db.commit()
        return user.id


def context(server, user_id: int) -> Context:
    return Context(server, None, auth.by_user_id(server, user_id))


def set_limit(server, type_name: str, maximum: int, *, account_id=None, domain_id=None) -> None:
    with server.session() as db:
        db.add(ResourceLimit(type=type_name, max=maximum, account_id=account_id, domain_id=domain_id))
        db.commit()


def counts(server, type_name: str) -> dict:
    """{("account", id) | ("domain", id): count}."""
    with server.session() as db:
        rows = db.scalars(select(ResourceCount).where(ResourceCount.type == type_name))
        return {("account", r.account_id) if r.account_id else ("domain", r.domain_id): r.count for r in rows}


def reserve(server, user_id: int, type_name: str, amount: int = 1) -> None:
    ctx = context(server, user_id)
    try:
        limits.reserve(ctx, ctx.caller.account_id, type_name, amount)
        ctx.commit()
    finally:
        ctx.rollback()
        ctx.close()


def test_account_limit_counts_up_the_domain_tree(server):
    domain = add_domain(server, "d1")
    user = add_account(server, "alice", domain)
    account_id = auth.by_user_id(server, user).account_id
    set_limit(server, "user_vm", 2, account_id=account_id)
    reserve(server, user, "user_vm")
    reserve(server, user, "user_vm")
    with pytest.raises(ResourceLimitExceeded) as over:
        reserve(server, user, "user_vm")
    assert over.value.errorcode == 532
    assert over.value.text.startswith("Maximum amount of resources of Type = 'user_vm', tag = 'null' for "
                                      f"Account Name = alice in Domain Id = {domain} is exceeded: Account "
                                      "Resource Limit = 2, Current Account Resource Amount = 2")
    assert counts(server, "user_vm") == {("account", account_id): 2, ("domain", domain): 2, ("domain", 1): 2}


def test_every_domain_limit_up_the_tree_applies(server):
    parent = add_domain(server, "parent")
    child = add_domain(server, "child", parent)
    first, second = add_account(server, "bob", child), add_account(server, "carol", child)
    set_limit(server, "volume", 3, domain_id=parent)
    reserve(server, first, "volume", 2)
    reserve(server, second, "volume")
    with pytest.raises(ResourceLimitExceeded) as over:
        reserve(server, second, "volume")
    with server.session() as db:
        parent_uuid = db.get(Domain, parent).uuid
    assert over.value.text.startswith(f"Maximum domain resource limits of Type 'volume' for Domain Id = "
                                      f"{parent_uuid} is exceeded: Domain Resource Limit = 3")
    # The refused reservation left nothing behind, not even on the rows it passed.
    second_account = auth.by_user_id(server, second).account_id
    found = counts(server, "volume")
    assert found[("account", second_account)] == 1 and found[("domain", child)] == 3
    assert found[("domain", parent)] == 3 and found[("domain", 1)] == 3


def test_release_lowers_counts_but_never_below_zero(server):
    domain = add_domain(server, "d2")
    user = add_account(server, "dave", domain)
    account_id = auth.by_user_id(server, user).account_id
    reserve(server, user, "snapshot", 3)
    ctx = context(server, user)
    limits.release(ctx, account_id, "snapshot", 2)
    limits.release(ctx, account_id, limits.BY_NUMBER[3], 5)
    ctx.commit()
    ctx.close()
    assert set(counts(server, "snapshot").values()) == {0}


def test_storage_limits_are_in_gib_and_counts_in_bytes(server):
    domain = add_domain(server, "d3")
    user = add_account(server, "erin", domain)
    set_limit(server, "primary_storage", 1, account_id=auth.by_user_id(server, user).account_id)
    half = 512 * 1024**2
    reserve(server, user, "primary_storage", half)
    reserve(server, user, "primary_storage", half)
    expected = (r"Account Resource Limit = 1\.00 GB, Current Account Resource Amount = 1\.00 GB.*"
                r"Requested Resource Amount = 1 bytes")
    with pytest.raises(ResourceLimitExceeded, match=expected):
        reserve(server, user, "primary_storage", 1)


def test_root_admin_is_unlimited(server):
    set_limit(server, "user_vm", 0, domain_id=1)
    reserve(server, 2, "user_vm", 1000)  # user 2 is the admin user
    assert counts(server, "user_vm")[("account", 2)] == 1000


def test_defaults_come_from_the_settings(server):
    domain = add_domain(server, "d4")
    user = add_account(server, "frank", domain)
    reserve(server, user, "vpc", 20)  # max.account.vpcs = 20
    with pytest.raises(ResourceLimitExceeded):
        reserve(server, user, "vpc")


def test_first_reservation_counts_what_exists(server):
    from sandstack.storage.models import VMTemplate

    domain = add_domain(server, "d5")
    user = add_account(server, "gina", domain)
    account_id = auth.by_user_id(server, user).account_id
    with server.session() as db:
        guest_os = db.get(VMTemplate, 111).guest_os_id  # a seeded template's OS type
        db.add(VMTemplate(unique_name="t", name="t", format="QCOW2", guest_os_id=guest_os,
                          account_id=account_id, domain_id=domain, type="USER", size=10))
        db.commit()
    reserve(server, user, "template")
    assert counts(server, "template") == {("account", account_id): 2, ("domain", domain): 2, ("domain", 1): 2}


def test_two_reservations_racing_for_the_last_slot(server):
    domain = add_domain(server, "race")
    user = add_account(server, "hank", domain)
    account_id = auth.by_user_id(server, user).account_id
    set_limit(server, "network", 1, account_id=account_id)
    reserve(server, user, "network")  # creates the rows, then frees the slot
    ctx = context(server, user)
    limits.release(ctx, account_id, "network")
    ctx.commit()
    ctx.close()

    start = threading.Barrier(2)
    outcomes: list[str] = []

    def contender():
        start.wait()
        try:
            reserve(server, user, "network")
            outcomes.append("reserved")
        except ResourceLimitExceeded:
            outcomes.append("refused")

    threads = [threading.Thread(target=contender) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == ["refused", "reserved"]
    assert counts(server, "network")[("account", account_id)] == 1


def test_unknown_type_is_refused(server):
    ctx = context(server, 2)
    with pytest.raises(Exception, match="Please specify valid resource type"):
        limits.reserve(ctx, 2, "gpus")
    ctx.close()


def test_a_reservation_waits_for_one_holding_the_last_slot(server):
    """The second reservation starts while the first is uncommitted: it must wait, then be refused."""
    domain = add_domain(server, "hold")
    user = add_account(server, "ivy", domain)
    account_id = auth.by_user_id(server, user).account_id
    set_limit(server, "cpu", 4, account_id=account_id)
    reserve(server, user, "cpu", 3)
    holding = threading.Event()
    outcome: dict[str, object] = {}

    def first():
        ctx = context(server, user)
        limits.reserve(ctx, account_id, "cpu")
        holding.set()
        time.sleep(0.3)
        ctx.commit()
        ctx.close()

    def second():
        holding.wait(10)
        began = time.monotonic()
        try:
            reserve(server, user, "cpu")
            outcome["result"] = "reserved"
        except ResourceLimitExceeded:
            outcome["result"] = "refused"
        outcome["waited"] = time.monotonic() - began

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert outcome["result"] == "refused" and outcome["waited"] >= 0.2
    assert counts(server, "cpu")[("account", account_id)] == 4


def reserve_many(server, user_id: int, amounts) -> None:
    ctx = context(server, user_id)
    try:
        limits.reserve_many(ctx, ctx.caller.account_id, amounts)
        ctx.commit()
    finally:
        ctx.rollback()
        ctx.close()


def test_reserve_many_counts_every_type_in_one_pass(server):
    domain = add_domain(server, "many")
    user = add_account(server, "ivan", domain)
    account_id = auth.by_user_id(server, user).account_id
    reserve_many(server, user, [("user_vm", 1), ("cpu", 2), ("memory", 512), ("volume", 1), ("cpu", 1)])
    assert counts(server, "cpu") == {("account", account_id): 3, ("domain", domain): 3, ("domain", 1): 3}
    assert counts(server, "memory")[("domain", domain)] == 512
    assert counts(server, "user_vm")[("account", account_id)] == 1
    ctx = context(server, user)
    limits.release_many(ctx, account_id, {"cpu": 5, "memory": 100})
    ctx.commit()
    ctx.close()
    assert set(counts(server, "cpu").values()) == {0} and set(counts(server, "memory").values()) == {412}


def test_reserve_many_is_all_or_nothing_and_names_the_first_type_over(server):
    domain = add_domain(server, "tight")
    user = add_account(server, "judy", domain)
    account_id = auth.by_user_id(server, user).account_id
    set_limit(server, "memory", 1024, account_id=account_id)
    set_limit(server, "volume", 1, domain_id=domain)
    reserve_many(server, user, [("user_vm", 1), ("memory", 1000), ("volume", 1)])
    with pytest.raises(ResourceLimitExceeded) as over:
        reserve_many(server, user, [("user_vm", 1), ("memory", 100), ("volume", 1)])
    assert "Type = 'memory'" in over.value.text and "Account Resource Limit = 1024" in over.value.text
    with pytest.raises(ResourceLimitExceeded) as over:
        reserve_many(server, user, [("user_vm", 1), ("memory", 10), ("volume", 1)])
    assert "Type 'volume'" in over.value.text  # the domain's limit this time
    assert counts(server, "user_vm")[("account", account_id)] == 1
    assert counts(server, "memory")[("account", account_id)] == 1000
    assert counts(server, "volume") == {("account", account_id): 1, ("domain", domain): 1, ("domain", 1): 1}


def test_reserve_many_racing_for_the_last_slot(server):
    domain = add_domain(server, "race2")
    user = add_account(server, "kim", domain)
    account_id = auth.by_user_id(server, user).account_id
    set_limit(server, "user_vm", 1, account_id=account_id)
    reserve_many(server, user, [("user_vm", 1), ("cpu", 1)])
    ctx = context(server, user)
    limits.release_many(ctx, account_id, [("user_vm", 1), ("cpu", 1)])
    ctx.commit()
    ctx.close()
    start, outcomes = threading.Barrier(2), []

    def contender():
        start.wait()
        try:
            reserve_many(server, user, [("user_vm", 1), ("cpu", 1)])
            outcomes.append("reserved")
        except ResourceLimitExceeded:
            outcomes.append("refused")

    threads = [threading.Thread(target=contender) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == ["refused", "reserved"]
    assert counts(server, "user_vm")[("account", account_id)] == 1
    assert counts(server, "cpu")[("account", account_id)] == 1
