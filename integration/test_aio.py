"""The asyncio client under load: many signed calls and async jobs in flight at once on one client."""

import asyncio

from marvin.aio import AsyncClient
from marvin.errors import CloudstackError

from .conftest import unique


async def signed_calls(cloud, count: int) -> list[dict]:
    client = cloud.client
    async with AsyncClient(cloud.url, client.apikey, client.secretkey, signature_version=3) as api:
        return await asyncio.gather(*(api("listCapabilities") for _ in range(count)))


def test_200_concurrent_signed_calls(cloud):
    answers = asyncio.run(signed_calls(cloud, 200))
    assert len(answers) == 200 and all(a["cloudstackversion"] for a in answers)


async def disable_users(cloud, count: int) -> tuple[list[dict], list[dict]]:
    client = cloud.client
    async with AsyncClient(cloud.url, client.apikey, client.secretkey, method="POST") as api:
        domain = await api("createDomain", name=unique("aio"))
        accounts = await asyncio.gather(*(
            api("createAccount", username=unique("aio"), password="pw", firstname="A", lastname="Io",
                domainid=domain["id"]) for _ in range(count)))
        users = [acct["user"][0] for acct in accounts]
        disabled = await asyncio.gather(*(api("disableUser", id=user["id"]) for user in users))
        listed = await api.list("listUsers", domainid=domain["id"], listall=True)
        await api("deleteDomain", id=domain["id"], cleanup=True)
        return users, disabled, listed


def test_20_concurrent_async_jobs(cloud):
    users, disabled, listed = asyncio.run(disable_users(cloud, 20))
    assert sorted(u["id"] for u in disabled) == sorted(u["id"] for u in users)
    assert {u["state"] for u in disabled} == {"disabled"}
    assert {u["id"]: u["state"] for u in listed} == {u["id"]: "disabled" for u in users}


async def refused(cloud):
    async with AsyncClient(cloud.url, cloud.client.apikey, "wrong secret") as api:
        try:
            await api("listCapabilities")
        except CloudstackError as error:
            return error
    return None


def test_a_bad_signature_is_a_cloudstack_error(cloud):
    error = asyncio.run(refused(cloud))
    assert error is not None and error.errorcode == 401


async def session_calls(cloud, user: str, password: str) -> list[str]:
    async with AsyncClient(cloud.url) as api:
        await api.login(user, password)
        names = await asyncio.gather(*(api.list("listUsers") for _ in range(10)))
        await api.logout()
        return [users[0]["username"] for users in names]


def test_login_session_carries_concurrent_calls(cloud, account_factory):
    acct, user, _ = account_factory(password="s3cret")
    assert set(asyncio.run(session_calls(cloud, user["username"], "s3cret"))) == {user["username"]}
