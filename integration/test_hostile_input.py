"""Every registered command, called with missing, malformed and hostile parameters, answers with a
CloudStack error envelope (or succeeds) — never a 500, never a 530, never a traceback."""

import json

import pytest
import requests

from .server import launch

HOSTILE = {
    "uuid": ["not-a-uuid", "' OR '1'='1", "../../../etc/passwd", "99999999999999999999999", "-1",
             "00000000-0000-0000-0000-000000000000", "名前🚀"],
    "integer": ["abc", "1e9", "99999999999999999999", "-2147483649", " 1", "NaN"],
    "long": ["abc", "9223372036854775808", "0x10", "1.5"],
    "short": ["70000", "abc"],
    "boolean": ["maybe", "1", "TRUE", "ßtrue"],
    "date": ["yesterday", "2026-13-45", "2026-01-01T00:00:00Z junk"],
    "tzdate": ["yesterday"],
    "list": [",,,", "a,b,c", "' OR 1=1 --", "x" * 3000],
    "map": [],
    "string": ["", "x" * 5000, "名前🚀 ünïcödé", "'; DROP TABLE user; --", "../../etc/passwd\x00",
               "%00%0d%0a", "<script>alert(1)</script>", "${jndi:ldap://x}", "\x01\x02"],
}
MAP_VALUES = [{"details[0].key": "k", "details[0].value": "\x7f"}, {"details[x].key": "k"},
              {"details[99999999999999999999].key": "a", "details[99999999999999999999].value": "b"}]


@pytest.fixture(scope="module")
def fuzz_server():
    running = launch()
    yield running
    running.destroy()


def call(server, params):
    return requests.get(server.integration_url, params={"response": "json", **params}, timeout=30)


def check(answer, params):
    assert answer.status_code not in (500, 530), (params, answer.status_code, answer.text[:500])
    assert "Traceback" not in answer.text, params
    body = answer.json()
    assert len(body) == 1, (params, body)
    (inner,) = body.values()
    if answer.status_code != 200:
        assert inner["errorcode"] == answer.status_code, (params, body)
        assert inner["errortext"], (params, body)
        assert isinstance(inner["uuidList"], list)


def test_every_command_survives_hostile_parameters(fuzz_server):
    apis = call(fuzz_server, {"command": "listApis"}).json()["listapisresponse"]["api"]
    assert len(apis) > 30
    calls = 0
    for api in apis:
        name = api["name"]
        if name in ("logout", "login"):
            continue
        check(call(fuzz_server, {"command": name}), {"command": name})
        calls += 1
        for param in api["params"]:
            values = HOSTILE.get(param["type"], HOSTILE["string"])
            if param["type"] == "map":
                for extra in MAP_VALUES:
                    renamed = {k.replace("details", param["name"]): v for k, v in extra.items()}
                    check(call(fuzz_server, {"command": name, **renamed}), renamed)
                    calls += 1
                continue
            for value in values:
                params = {"command": name, param["name"]: value}
                check(call(fuzz_server, params), params)
                calls += 1
    assert calls > 200
    json.dumps(calls)


def test_signed_port_survives_hostile_requests(fuzz_server):
    url = fuzz_server.url
    for params in ({}, {"command": ""}, {"command": "listUsers", "apiKey": "x" * 10000, "signature": "\x00"},
                   {"command": "listUsers", "signature": "abc"}, {"command": "listUsers", "apikey": ""},
                   {"command": "listUsers", "apiKey": "k", "signature": "s", "signatureVersion": "3",
                    "expires": "not-a-date"},
                   {"command": "listUsers", "apiKey": "k", "signature": "s", "signatureVersion": "3",
                    "expires": "9999-99-99T99:99:99+9999"},
                   {"command": "login", "username": "admin"}, {"command": "logout"},
                   {"command": "listUsers", "sessionkey": "forged"}):
        for response in ("json", "xml"):
            answer = requests.get(url, params={**params, "response": response}, timeout=10)
            assert answer.status_code not in (500, 530), (params, answer.text)
            assert "Traceback" not in answer.text
    posted = requests.post(url, data=b"\xff\xfe garbage", headers={"Content-Type":
                           "application/x-www-form-urlencoded"}, timeout=10)
    assert posted.status_code not in (500, 530)
    assert requests.get(url + "?command=listUsers&response=json&%zz=%zz", timeout=10).status_code != 500
