"""Async jobs are rows: any server's worker claims them; a crash leaves no job pending forever."""

import json
import time

import pytest
from sqlalchemy import create_engine, text

from marvin.client import Client
from marvin.errors import JobFailed

from .conftest import unique
from .server import launch


@pytest.fixture
def own_server():
    running = launch()
    yield running
    running.destroy()


def admin_client(server):
    keys = server.admin_keys()
    return Client(server.url, keys["apikey"], keys["secretkey"])


def test_async_command_answers_jobid_then_result(admin, account_factory):
    acct, user, _ = account_factory()
    started = admin.request("disableUser", {"id": user["id"]})
    assert set(started) == {"jobid"}
    result = admin.wait(started["jobid"])
    assert result["user"]["state"] == "disabled"
    job = admin.request("queryAsyncJobResult", {"jobid": started["jobid"]})
    assert (job["jobstatus"], job["jobresultcode"], job["jobresulttype"]) == (1, 0, "object")
    assert job["jobinstancetype"] == "User" and job["jobinstanceid"] == user["id"]
    assert job["cmd"] == "disableUser" and job["completed"]
    assert started["jobid"] in {j["jobid"] for j in admin.list("listAsyncJobs")}


def test_failed_job_carries_errorcode(admin, account_factory):
    acct, user, _ = account_factory()
    admin_user = admin.list("listUsers", username="admin")[0]
    started = admin.request("disableUser", {"id": admin_user["id"]})
    with pytest.raises(JobFailed) as failed:
        admin.wait(started["jobid"])
    job = admin.request("queryAsyncJobResult", {"jobid": started["jobid"]})
    assert job["jobstatus"] == 2 and job["jobresultcode"] == failed.value.errorcode == 531
    assert job["jobresult"]["errortext"] == failed.value.errortext


def test_user_cannot_read_another_accounts_job(admin, account_factory):
    _, user, client = account_factory()
    started = admin.request("disableUser", {"id": user["id"]})
    admin.wait(started["jobid"])
    _, _, other = account_factory()
    with pytest.raises(Exception) as refused:
        other.request("queryAsyncJobResult", {"jobid": started["jobid"]})
    assert refused.value.errorcode in (431, 531)


def test_worker_claims_unclaimed_job_rows(own_server):
    admin = admin_client(own_server)
    acct = admin("createAccount", username=unique("claim"), password="pw", firstname="a", lastname="b")
    user_id = acct["user"][0]["id"]
    engine = create_engine(own_server.db_url)
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO async_job (uuid, created, user_id, account_id, domain_id, cmd, params, status, "
            "result_code, instance_type, instance_id) VALUES (:uuid, CURRENT_TIMESTAMP, 2, 2, 1, "
            "'disableUser', :params, 0, 0, 'User', :user)"),
            {"uuid": "11111111-2222-3333-4444-555555555555", "user": user_id,
             "params": json.dumps({"command": "disableUser", "id": user_id})})
    result = admin.wait("11111111-2222-3333-4444-555555555555", timeout=15)
    assert result["user"]["state"] == "disabled"
    engine.dispose()


def test_interrupted_job_fails_on_restart(own_server):
    admin = admin_client(own_server)
    acct = admin("createAccount", username=unique("crash"), password="pw", firstname="a", lastname="b")
    started = admin.request("disableUser", {"id": acct["user"][0]["id"]})
    admin.wait(started["jobid"])
    own_server.stop(kill=True)
    engine = create_engine(own_server.db_url)
    # The state a crash mid-job leaves: the row claimed by this server, still pending, no result.
    with engine.begin() as conn:
        conn.execute(text("UPDATE async_job SET status=0, result=NULL, result_code=0, completed=NULL "
                          "WHERE uuid=:uuid"), {"uuid": started["jobid"]})
    engine.dispose()
    own_server.start()
    job = admin.request("queryAsyncJobResult", {"jobid": started["jobid"]})
    assert (job["jobstatus"], job["jobresultcode"]) == (2, 530)
    assert "stopped before it finished" in job["jobresult"]["errortext"]


def test_restart_keeps_data_and_keys(own_server):
    admin = admin_client(own_server)
    name = unique("keep")
    admin("createDomain", name=name)
    own_server.stop()
    started = time.monotonic()
    own_server.start()
    assert time.monotonic() - started < 5
    assert admin.list("listDomains", listall=True, name=name)[0]["name"] == name
