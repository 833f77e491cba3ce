"""Fixtures: a live management server (SQLite by default, MariaDB with SANDSTACK_TEST_DB), clients."""

import uuid

import pytest

from marvin.client import Client

from .server import launch


@pytest.fixture(scope="session")
def server():
    running = launch()
    yield running
    running.destroy()


@pytest.fixture(scope="session")
def admin(server):
    keys = server.admin_keys()
    return Client(server.url, keys["apikey"], keys["secretkey"])


@pytest.fixture(scope="session")
def system(server):
    """Unsigned client on the integration port (the SYSTEM account)."""
    return Client(server.integration_url)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def account_factory(admin):
    """Create accounts (with keys) for a test; deleted afterwards."""
    created = []

    def make(account_type: int = 0, domainid: str | None = None, password: str = "Passw0rd!"):
        name = unique("acct")
        acct = admin("createAccount", username=name, password=password, firstname="Test", lastname="User",
                     email=f"{name}@example.test", accounttype=account_type, domainid=domainid)
        user = acct["user"][0]
        keys = admin("registerUserKeys", id=user["id"])
        created.append(acct["id"])
        client = Client(admin.url, keys["apikey"], keys["secretkey"])
        return acct, user, client

    yield make
    for account_id in reversed(created):
        try:
            admin("deleteAccount", id=account_id)
        except Exception:  # already removed by the test
            pass
