"""The suite's own fixtures. The cloud, the clients, accounts and cleanup come from the marvin pytest
plugin (marvin/plugin.py): a sandbox server on a fresh database (SQLite, or MariaDB with
SANDSTACK_TEST_DB) unless a --marvin-config names a management server."""

import uuid

import pytest


@pytest.fixture(scope="session")
def server(cloud):
    """The RunningServer behind the cloud, for tests that reach into its database or restart it."""
    if cloud.server is None:
        pytest.skip("needs a server started by the harness (this cloud was not)")
    return cloud.server


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
