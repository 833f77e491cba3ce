"""The pytest plugin: Marvin's options, markers and fixtures over the harness library.

Options (group "marvin"): --marvin-config (else $MARVIN_CONFIG), --deploy, --zone, --hypervisor,
--sandbox, --coverage-gate; ini `marvin_coverage_allowlist`. Fixtures: marvin_config, cloud, admin (alias
api), system, hypervisor, zone, cleanup, make_account, account, user, account_factory. Upstream's nose
selection `-a tags=advanced,required_hardware=false` reads `-m "advanced and required_hardware(value=False)"`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from . import coverage, sandbox
from .client import Client
from .configfile import load
from .errors import CloudstackError
from .lib.base import Account, User, Zone
from .lib.utils import Cleanup, CleanupFailed, random_gen

# Upstream Marvin's test tags: registered so `--strict-markers` accepts them.
TAGS = {
    "smoke": "quick checks of a deployed cloud",
    "basic": "needs a Basic zone",
    "advanced": "needs an Advanced zone",
    "advancedns": "needs an Advanced zone with network services devices",
    "advancedsg": "needs an Advanced zone with security groups",
    "sg": "needs security groups",
    "eip": "needs elastic IPs",
    "elb": "needs elastic load balancing",
    "vpc": "needs VPCs",
    "speed": "measures speed",
    "selfservice": "runs as a plain user",
    "provisioning": "provisions resources",
    "devcloud": "runs on DevCloud",
    "simulator": "runs on the simulator",
}
DEFAULT_ALLOWLIST = "integration/coverage-allowlist.txt"


@dataclass
class SessionState:
    first_server: int = 0  # where this session's servers begin in sandbox.LAUNCHED
    deselected: int = 0
    external: bool = False  # the cloud under test was not started here: coverage cannot be complete
    admin: Client | None = None
    report: coverage.Report | None = None
    verdict: str = ""


STATE = pytest.StashKey[SessionState]()


# ---- options, markers, hooks ----------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("marvin", "Marvin-style CloudStack tests")
    group.addoption("--marvin-config", metavar="FILE",
                    help="datacenter config (Marvin JSON); default $MARVIN_CONFIG")
    group.addoption("--deploy", action="store_true",
                    help="deploy the config's zones before the tests and tear them down after")
    group.addoption("--zone", metavar="NAME", help="zone under test (default: the config's first zone)")
    group.addoption("--hypervisor", metavar="NAME",
                    help="hypervisor under test (default: the config's first cluster's, else Simulator)")
    group.addoption("--sandbox", action="store_true",
                    help="start a server here even when the config names a management server")
    group.addoption("--coverage-gate", action="store_true",
                    help="fail when a registered command is neither exercised nor on the allow-list")
    parser.addini("marvin_coverage_allowlist",
                  f"allow-list for the coverage gate (default {DEFAULT_ALLOWLIST})")


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("deploy") and not config_path(config):
        raise pytest.UsageError("--deploy needs a config: --marvin-config FILE (or $MARVIN_CONFIG)")
    config.stash[STATE] = SessionState()
    for name, doc in TAGS.items():
        config.addinivalue_line("markers", f"{name}: {doc}")
    config.addinivalue_line("markers", "required_hardware(value): whether the test needs real hardware "
                                       "(select with -m 'required_hardware(value=False)')")
    config.addinivalue_line("markers", "tags(*names, required_hardware=None): Marvin tags; each name "
                                       "becomes a marker of its own")


def config_path(config: pytest.Config) -> str | None:
    return config.getoption("marvin_config") or os.environ.get("MARVIN_CONFIG")


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[STATE].first_server = len(sandbox.LAUNCHED)


def as_bool(value: Any) -> bool:
    return str(value).strip().lower() not in ("false", "0", "no", "none", "")


def needs_hardware(value: Any) -> pytest.MarkDecorator:
    return pytest.mark.required_hardware(value=as_bool(value))


def registered_markers(config: pytest.Config) -> set[str]:
    return {line.split(":")[0].split("(")[0].strip() for line in config.getini("markers")}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Before -m selects: `tags("advanced", ...)` becomes marker `advanced`, and every required_hardware
    value is normalized to `required_hardware(value=<bool>)` (nose compared strings)."""
    known = registered_markers(config)
    for item in items:
        for mark in list(item.iter_markers("tags")):
            for name in mark.args:
                if name not in known:  # any Marvin tag is welcome, also under --strict-markers
                    config.addinivalue_line("markers", f"{name}: Marvin tag")
                    known.add(name)
                item.add_marker(name)
            if "required_hardware" in mark.kwargs:
                item.add_marker(needs_hardware(mark.kwargs["required_hardware"]))
        hardware = item.get_closest_marker("required_hardware")
        if hardware is not None and "value" not in hardware.kwargs:
            item.add_marker(needs_hardware(hardware.args[0] if hardware.args else True))


def pytest_deselected(items: list[pytest.Item]) -> None:
    if items:
        items[0].config.stash[STATE].deselected += len(items)


def allowlist_path(config: pytest.Config) -> Path:
    return config.rootpath / (config.getini("marvin_coverage_allowlist") or DEFAULT_ALLOWLIST)


def gate_verdict(session: pytest.Session, state: SessionState, suite: Path) -> str:
    """Why the gate cannot judge this run, or "" when it can: it needs every test of the suite (the
    test files beside the allow-list) run against servers started here."""
    if state.external:
        return "the cloud under test was not started here"
    collected = {item.path for item in session.items}
    left_out = [path.name for path in sorted(suite.glob("test_*.py")) if path not in collected]
    if left_out:
        return f"only part of the suite ran (not collected: {', '.join(left_out)})"
    if state.deselected or session.shouldstop or session.shouldfail:
        return "only part of the suite ran"
    return ""


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = session.config.stash[STATE]
    servers = sandbox.LAUNCHED[state.first_server:]
    if not servers:
        return
    path = allowlist_path(session.config)
    state.report = coverage.report((server.coverage() for server in servers), coverage.read_allowlist(path))
    if state.report is None or not session.config.getoption("coverage_gate"):
        return
    state.verdict = gate_verdict(session, state, path.parent)
    if not state.verdict and not state.report.ok:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    state = config.stash[STATE]
    if state.report is None:
        return
    terminalreporter.write_sep("-", "API coverage")
    terminalreporter.write_line(state.report.summary())
    if not config.getoption("coverage_gate"):
        return
    if state.verdict:
        terminalreporter.write_line(f"coverage gate not applied: {state.verdict}")
    elif state.report.ok:
        terminalreporter.write_line("coverage gate passed")
    else:
        for problem in state.report.problems():
            terminalreporter.write_line(f"coverage gate FAILED: {problem}", red=True)


# ---- the cloud ------------------------------------------------------------------------------------------


def zone_names(config: Any) -> list[str]:
    return [zone.name for zone in (config.zones if config else None) or []]


@pytest.fixture(scope="session")
def marvin_config(pytestconfig: pytest.Config) -> Any:
    """The --marvin-config (or $MARVIN_CONFIG), loaded and validated; None without one."""
    path = config_path(pytestconfig)
    return load(path, deploy=pytestconfig.getoption("deploy")) if path else None


def deploy(config: Any, cloud: sandbox.Cloud, workdir: Path) -> Callable[[], None]:
    """Deploy the config's zones; answer the teardown, which fails unless nothing is left. A deploy that
    fails half-way is torn down at once (the teardown works from the config too)."""
    from .deployer import Progress
    from .deployer import deploy as build
    from .teardown import teardown

    state = workdir / "dc_entries.json"

    def undeploy() -> None:
        left, errors = teardown(config, cloud.client, state, Progress(quiet=True))
        assert not left and not errors, f"teardown left {left} ({'; '.join(errors)})"

    try:
        build(config, cloud.client, state, Progress(quiet=True))
    except Exception:
        undeploy()
        raise
    return undeploy


@pytest.fixture(scope="session")
def cloud(pytestconfig: pytest.Config, marvin_config: Any, tmp_path_factory: pytest.TempPathFactory):
    """The management server under test: the config's mgtSvr, else (or with --sandbox) a server started
    here on a fresh database and destroyed at the end. With --deploy, the config's zones are built
    first and torn down last."""
    found = None if pytestconfig.getoption("sandbox") else sandbox.Cloud.from_config(marvin_config)
    found = found or sandbox.Cloud.start()
    pytestconfig.stash[STATE].external = not found.sandbox
    try:
        undeploy = None
        if pytestconfig.getoption("deploy"):
            undeploy = deploy(marvin_config, found, tmp_path_factory.mktemp("deploy"))
        yield found
        if undeploy:
            undeploy()
    finally:
        if found.server:
            found.server.destroy()


@pytest.fixture(scope="session")
def admin(pytestconfig: pytest.Config, cloud: sandbox.Cloud) -> Client:
    """The root admin, signing with its API keys."""
    pytestconfig.stash[STATE].admin = cloud.client
    return cloud.client


@pytest.fixture(scope="session")
def api(admin: Client) -> Client:
    return admin


@pytest.fixture(scope="session")
def system(cloud: sandbox.Cloud) -> Client:
    """Unsigned client on the integration port (the SYSTEM account)."""
    client = cloud.system()
    if client is None:
        pytest.skip("the cloud under test has no integration port")
    return client


def hypervisor_of(config: Any, chosen: str | None = None) -> str:
    """`chosen`, else the config's first cluster's hypervisor, else Simulator (upstream's default is
    XenServer; ours is the simulator)."""
    clusters = [cluster for zone in (config.zones if config else None) or []
                for pod in zone.pods or [] for cluster in pod.clusters or []]
    return chosen or next((c.hypervisor for c in clusters if c.hypervisor), None) or "Simulator"


@pytest.fixture(scope="session")
def hypervisor(pytestconfig: pytest.Config, marvin_config: Any) -> str:
    """The hypervisor under test: --hypervisor, else the config's, else Simulator."""
    return hypervisor_of(marvin_config, pytestconfig.getoption("hypervisor"))


@pytest.fixture(scope="session")
def zone(pytestconfig: pytest.Config, marvin_config: Any, admin: Client) -> Zone:
    """The zone under test (--zone, else the config's first zone), as found on the server."""
    name = pytestconfig.getoption("zone") or next(iter(zone_names(marvin_config)), None)
    if not name:
        pytest.skip("no zone under test: pass --zone NAME or a --marvin-config with zones")
    found = Zone.first(admin, name=name)
    if found is None:
        pytest.skip(f"zone {name!r} is not on {admin.url} (pass --deploy to build it from the config)")
    return found


# ---- per test ------------------------------------------------------------------------------------------


@pytest.fixture
def cleanup(pytestconfig: pytest.Config):
    """`cleanup.add(resource_or_callable, *args)`: undone last-in first-out after the test; every
    failure is reported (the test's teardown fails listing them all)."""
    steps = Cleanup()
    yield steps
    steps.apiclient = pytestconfig.stash[STATE].admin  # for upstream-style `delete(apiclient)`
    try:
        steps.run()
    except CleanupFailed as failed:
        pytest.fail(str(failed), pytrace=False)


@pytest.fixture
def make_account(admin: Client, cleanup: Cleanup):
    """make(admin=False, domainid=None, roleid=None, services=None) → a new Account whose first user has
    fresh keys: `account.client` signs as that user, `account.users[0]` is that User."""
    def make(admin_account: bool = False, domainid: str | None = None, roleid: str | None = None,
             services: dict | None = None) -> Account:
        account = cleanup.add(Account.create(admin, services, admin=admin_account, domainid=domainid,
                                             roleid=roleid))
        first = User.bind(account.api(), account.user[0].to_dict())
        first.client = first.signed_client()
        account.users, account.client = [first], first.client
        return account

    return make


@pytest.fixture
def account(make_account) -> Account:
    """A fresh user account with its own keys (`account.client`), deleted after the test."""
    return make_account()


@pytest.fixture
def user(account: Account) -> User:
    """The fresh account's user (`user.client` signs as it)."""
    return account.users[0]


def delete_account_unless_gone(admin: Client, account_id: str) -> None:
    try:
        admin("deleteAccount", id=account_id)
    except CloudstackError as error:
        if error.errorcode != 431:  # 431: the test already removed it
            raise


@pytest.fixture
def account_factory(admin: Client, cleanup: Cleanup):
    """make(account_type=0, domainid=None, password=...) → (account, user, client) as plain dicts and a
    Client signed with the user's keys; each account is deleted after the test."""
    def make(account_type: int = 0, domainid: str | None = None, password: str = "Passw0rd!"):
        name = f"acct-{random_gen(size=8).lower()}"
        acct = admin("createAccount", username=name, password=password, firstname="Test", lastname="User",
                     email=f"{name}@example.test", accounttype=account_type, domainid=domainid)
        cleanup.add(delete_account_unless_gone, admin, acct["id"])
        user = acct["user"][0]
        keys = admin("registerUserKeys", id=user["id"])
        return acct, user, Client(admin.url, keys["apikey"], keys["secretkey"])

    return make
