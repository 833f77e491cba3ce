"""The wire protocol as real clients see it: cs, libcloud, raw HTTP (spec/api-protocol.md)."""

import datetime as dt

import pytest
import requests
from cs import CloudStack, CloudStackApiException

from marvin.signing import signature


def cs_client(server, keys, method="get", v3=True):
    return CloudStack(endpoint=server.url, key=keys["apikey"], secret=keys["secretkey"], method=method,
                      expiration=600 if v3 else -1, timeout=10)


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("v3", [True, False])
def test_cs_library_signed_calls(server, method, v3):
    api = cs_client(server, server.admin_keys(), method, v3)
    users = api.listUsers(listall=True)
    assert users["count"] >= 2
    assert {"admin", "system"} <= {u["username"] for u in users["user"]}
    caps = api.listCapabilities()
    assert caps["capability"]["cloudstackversion"].startswith("4.")


def test_cs_fetch_list_pages_through_everything(server, admin):
    for i in range(3):
        admin("createDomain", name=f"paging-{i}")
    api = cs_client(server, server.admin_keys())
    everything = api.listDomains(listall=True, fetch_list=True)
    assert len(everything) == len({d["id"] for d in everything}) >= 4


def raw_get(server, params):
    return requests.get(server.url, params=params, timeout=10)


def signed(keys, **params):
    params = {"apiKey": keys["apikey"], "response": "json", **params}
    params["signature"] = signature(keys["secretkey"], params)
    return params


def test_expired_request_is_401(server):
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S+0000")
    answer = raw_get(server, signed(server.admin_keys(), command="listUsers", signatureVersion="3",
                                    expires=past))
    assert answer.status_code == 401
    assert answer.json() == {"listusersresponse": {"uuidList": [], "errorcode": 401, "errortext":
                             "unable to verify user credentials and/or request signature"}}


def test_v3_without_expires_is_401(server):
    answer = raw_get(server, signed(server.admin_keys(), command="listUsers", signatureVersion="3"))
    assert answer.status_code == 401


def test_wrong_signature_is_401(server):
    params = signed(server.admin_keys(), command="listUsers")
    params["signature"] = "AAAAAAAAAAAAAAAAAAAAAAAAAAA="
    answer = raw_get(server, params)
    assert answer.status_code == 401
    assert answer.json()["listusersresponse"]["errortext"] == \
        "unable to verify user credentials and/or request signature"
    assert "cserrorcode" not in answer.json()["listusersresponse"]


def test_unknown_api_key_is_401(server):
    answer = raw_get(server, signed({"apikey": "nobody", "secretkey": "x"}, command="listUsers"))
    assert answer.status_code == 401


def test_cs_raises_on_401(server):
    api = CloudStack(endpoint=server.url, key="nobody", secret="nothing", timeout=10)
    with pytest.raises(CloudStackApiException) as raised:
        api.listUsers()
    assert raised.value.error["errorcode"] == 401


def test_unknown_command_key_signed_is_401_errorresponse(server):
    answer = raw_get(server, signed(server.admin_keys(), command="frobnicateZone"))
    assert answer.status_code == 401
    assert answer.json() == {"errorresponse": {"uuidList": [], "errorcode": 401, "errortext":
                             "unable to verify user credentials and/or request signature"}}


def test_unknown_command_in_session_is_432(server):
    http = requests.Session()
    login = http.post(server.url, data={"command": "login", "username": "admin", "password": "password",
                                        "response": "json"}, timeout=10).json()["loginresponse"]
    answer = http.get(server.url, params={"command": "frobnicateZone", "response": "json",
                                          "sessionkey": login["sessionkey"]}, timeout=10)
    assert answer.status_code == 432
    assert answer.json()["errorresponse"]["errortext"] == "Unknown API command: frobnicateZone"


def test_unknown_command_on_integration_port_is_432(server):
    answer = requests.get(server.integration_url, params={"command": "frobnicateZone", "response": "json"},
                          timeout=10)
    assert answer.status_code == 432
    assert answer.json() == {"errorresponse": {"uuidList": [], "errorcode": 432,
                                               "errortext": "Unknown API command: frobnicateZone"}}


def test_missing_parameter_is_431_with_exact_text(server):
    answer = raw_get(server, signed(server.admin_keys(), command="createDomain"))
    assert answer.status_code == 431
    assert answer.json() == {"createdomainresponse": {
        "uuidList": [], "errorcode": 431, "cserrorcode": 9999,
        "errortext": "Unable to execute API command createdomain due to missing parameter name"}}
    assert answer.headers["X-Description"].startswith("Unable to execute API command createdomain")


def test_empty_required_parameter_is_431_4350(server):
    answer = raw_get(server, signed(server.admin_keys(), command="createDomain", name=""))
    body = answer.json()["createdomainresponse"]
    assert (answer.status_code, body["cserrorcode"], body["errortext"]) == \
        (431, 4350, "Invalid value provided for API arg: name")


def test_unknown_uuid_is_431(server):
    answer = raw_get(server, signed(server.admin_keys(), command="updateDomain",
                                    id="00000000-0000-0000-0000-000000000000"))
    assert answer.status_code == 431
    assert "Invalid parameter id value=00000000-0000-0000-0000-000000000000" in \
        answer.json()["updatedomainresponse"]["errortext"]


def test_bad_integer_is_431(server):
    answer = raw_get(server, signed(server.admin_keys(), command="listDomains", page="one", pagesize="2"))
    assert answer.status_code == 431
    assert answer.json()["listdomainsresponse"]["errortext"] == \
        "Unable to execute API command listdomains due to invalid value one for parameter page"


def test_paging_rules(admin):
    from marvin.errors import CloudstackError

    with pytest.raises(CloudstackError, match='"pagesize" parameter is required'):
        admin.request("listDomains", {"page": 1})
    with pytest.raises(CloudstackError, match='"page" parameter is required'):
        admin.request("listDomains", {"pagesize": 1})
    with pytest.raises(CloudstackError, match="Can't specify page parameter when pagesize is -1"):
        admin.request("listDomains", {"page": 1, "pagesize": -1})
    with pytest.raises(CloudstackError, match="Page size can't exceed max allowed page size value: 500"):
        admin.request("listDomains", {"page": 1, "pagesize": 501})


def test_count_is_total_and_empty_list_is_empty_object(admin):
    for i in range(3):
        admin("createDomain", name=f"count-{i}")
    page = admin.request("listDomains", {"listall": True, "page": 1, "pagesize": 2})
    assert len(page["domain"]) == 2 and page["count"] >= 4
    past_end = admin.request("listDomains", {"listall": True, "page": 1000, "pagesize": 2})
    assert past_end == {"count": page["count"]}
    assert admin.request("listDomains", {"name": "no-such-domain"}) == {}


def test_xml_is_the_default(server):
    answer = raw_get(server, {k: v for k, v in signed(server.admin_keys(), command="listCapabilities").items()
                              if k != "response"} | {})
    # Signed without `response`: recompute the signature for the exact parameters sent.
    keys = server.admin_keys()
    params = {"apiKey": keys["apikey"], "command": "listCapabilities"}
    params["signature"] = signature(keys["secretkey"], params)
    answer = raw_get(server, params)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/xml")
    assert answer.text.startswith('<?xml version="1.0" encoding="UTF-8"?><listcapabilitiesresponse')
    assert "<cloudstackversion>4.22.0.0</cloudstackversion>" in answer.text


def test_login_session_and_logout(server):
    http = requests.Session()
    assert http.get(server.url, params={"command": "login", "username": "admin", "password": "password"},
                    timeout=10).status_code == 405
    bad = http.post(server.url, data={"command": "login", "username": "admin", "password": "wrong",
                                      "response": "json"}, timeout=10)
    assert bad.status_code == 531
    assert bad.json()["loginresponse"]["errortext"].startswith("Failed to authenticate user admin")
    ok = http.post(server.url, data={"command": "login", "username": "admin", "password": "password",
                                     "domain": "/", "response": "json"}, timeout=10)
    login = ok.json()["loginresponse"]
    assert ok.status_code == 200 and login["username"] == "admin" and login["type"] == "1"
    assert isinstance(login["timeout"], int) and "JSESSIONID" in http.cookies
    listed = http.get(server.url, params={"command": "listUsers", "response": "json",
                                          "sessionkey": login["sessionkey"]}, timeout=10)
    assert listed.status_code == 200 and listed.json()["listusersresponse"]["count"] >= 2
    no_key = http.get(server.url, params={"command": "listUsers", "response": "json"}, timeout=10)
    assert no_key.status_code == 401
    assert no_key.json()["listusersresponse"]["errortext"] == "unable to verify user credentials"
    out = http.get(server.url, params={"command": "logout", "response": "json",
                                       "sessionkey": login["sessionkey"]}, timeout=10)
    assert out.json() == {"logoutresponse": {"description": "success"}}
    after = http.get(server.url, params={"command": "listUsers", "response": "json",
                                         "sessionkey": login["sessionkey"]}, timeout=10)
    assert after.status_code == 401


def test_control_characters_are_refused(admin):
    from marvin.errors import CloudstackError

    with pytest.raises(CloudstackError) as raised:
        admin.request("createDomain", {"name": "bad\x01name"})
    assert raised.value.errorcode == 431
    assert "non-printable characters for parameter name" in raised.value.errortext


def test_libcloud_driver_connects_and_lists(server, admin):
    from libcloud.compute.providers import get_driver
    from libcloud.compute.types import Provider

    keys = server.admin_keys()
    driver = get_driver(Provider.CLOUDSTACK)(keys["apikey"], keys["secretkey"], host="127.0.0.1",
                                             port=server.port, path="/client/api", secure=False)
    accounts = driver._sync_request(command="listAccounts", params={"listall": "true"}, method="GET")
    assert "admin" in {a["name"] for a in accounts["account"]}
    domains = driver._sync_request(command="listDomains", params={"listall": "true"}, method="GET")
    assert domains["domain"][0]["name"] == "ROOT"


def test_libcloud_bad_key_is_invalid_creds(server):
    from libcloud.common.types import InvalidCredsError
    from libcloud.compute.providers import get_driver
    from libcloud.compute.types import Provider

    driver = get_driver(Provider.CLOUDSTACK)("nobody", "nothing", host="127.0.0.1", port=server.port,
                                             path="/client/api", secure=False)
    with pytest.raises(InvalidCredsError):
        driver._sync_request(command="listAccounts", method="GET")


def test_listapis_schema(admin):
    apis = admin.request("listApis", {})
    assert apis["count"] == len(apis["api"])
    by_name = {api["name"]: api for api in apis["api"]}
    create = by_name["createAccount"]
    assert create["isasync"] is False and by_name["deleteAccount"]["isasync"] is True
    assert isinstance(create["params"], list) and isinstance(create["response"], list)
    username = next(p for p in create["params"] if p["name"] == "username")
    assert username["required"] is True and isinstance(username["length"], int)
    assert {"name", "description", "type"} <= set(create["response"][0])


def test_lenient_signatures_are_opt_in(server, admin):
    keys = server.admin_keys()
    params = {"apiKey": keys["apikey"], "command": "listDomains", "response": "json", "keyword": "a~b"}
    # A client that keeps "~" literal (cs, Marvin, cmk) signs differently from Java's encoder.
    import base64
    import hashlib
    import hmac

    canonical = "&".join(f"{k}={v}" for k, v in sorted(params.items())).lower()
    params["signature"] = base64.b64encode(hmac.new(keys["secretkey"].encode(), canonical.encode(),
                                                    hashlib.sha1).digest()).decode()
    assert raw_get(server, params).status_code == 401
    admin("updateConfiguration", name="api.signature.lenient", value="true")
    try:
        assert raw_get(server, params).status_code == 200
    finally:
        admin("updateConfiguration", name="api.signature.lenient", value="false")


def test_admin_json_serves_keys(server, admin):
    keys = server.admin_keys()
    user = admin.list("listUsers", username="admin")[0]
    assert admin("getUserKeys", id=user["id"])["apikey"] == keys["apikey"]
