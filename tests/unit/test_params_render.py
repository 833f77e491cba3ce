"""Parameter conversion and the response envelope."""

import datetime as dt

import pytest
from sandstack.core import params, render
from sandstack.core.errors import ApiError, InvalidParameter


@pytest.mark.parametrize(("typ", "value", "expected"), [
    ("boolean", "TRUE", True), ("boolean", "1", False), ("boolean", "yes", False),
    ("integer", "42", 42), ("integer", "-7", -7), ("long", "9223372036854775807", 9223372036854775807),
    ("short", "-32768", -32768), ("float", "1.5", 1.5), ("string", "x", "x"),
])
def test_convert(typ, value, expected):
    assert params.convert_scalar("cmd", "p", typ, value) == expected


@pytest.mark.parametrize(("typ", "value"), [
    ("integer", "2147483648"), ("integer", "abc"), ("short", "32768"), ("long", "1.0"), ("float", "x"),
])
def test_convert_rejects_with_text(typ, value):
    with pytest.raises(ApiError) as raised:
        params.convert_scalar("listthings", "p", typ, value)
    assert raised.value.errorcode == 431
    assert raised.value.text == f"Unable to execute API command listthings due to invalid value {value} for parameter p"


def test_string_length():
    with pytest.raises(InvalidParameter, match="max allowed length 255 for param: name"):
        params.convert_scalar("c", "name", "string", "x" * 256)


def test_maps_both_spellings():
    raw = {"details[0].key": "cpu", "details[0].value": "2", "details[1].ram": "512", "other": "x",
           "Details[2].key": "a", "Details[2].value": "b"}
    maps = params.collect_maps(raw, {"details"})
    assert params.map_to_dict(maps["details"]) == {"cpu": "2", "ram": "512", "a": "b"}


def test_control_characters():
    with pytest.raises(InvalidParameter, match="non-printable characters for parameter name"):
        params.check_printable("name", "a\x00b")
    params.check_printable("certificate", "-----BEGIN-----\nabc\r\n")


def test_list_envelope_counts_and_empty():
    assert render.body("listzonesresponse", "zone", render.ListResult([], 0)) == {"listzonesresponse": {}}
    body = render.body("listzonesresponse", "zone", render.ListResult([{"id": "a", "x": None}], 7))
    assert body == {"listzonesresponse": {"count": 7, "zone": [{"id": "a"}]}}


def test_dates_and_xml():
    when = dt.datetime(2026, 11, 22, 22, 40)
    body = render.body("listthingsresponse", "thing", render.ListResult([{"created": when, "ok": True,
                                                                         "name": "a<b"}], 1))
    assert body["listthingsresponse"]["thing"][0]["created"] == "2026-11-22T22:40:00+0000"
    xml = render.to_xml(body).decode()
    assert xml == ('<?xml version="1.0" encoding="UTF-8"?><listthingsresponse><count>1</count><thing>'
                   "<created>2026-11-22T22:40:00+0000</created><ok>true</ok><name>a&lt;b</name></thing>"
                   "</listthingsresponse>")


def test_error_envelope():
    body = render.error_body("createzoneresponse", InvalidParameter("bad"))
    assert body == {"createzoneresponse": {"uuidList": [], "errorcode": 431, "cserrorcode": 4350,
                                           "errortext": "bad"}}


def test_default_admin_hash_is_password():
    from sandstack.core.passwords import check_password
    from sandstack.iam.bootstrap import DEFAULT_ADMIN_PASSWORD_HASH

    assert check_password("password", DEFAULT_ADMIN_PASSWORD_HASH)
    assert not check_password("Password", DEFAULT_ADMIN_PASSWORD_HASH)
