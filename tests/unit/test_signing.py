"""Golden signature vectors of spec/api-protocol.md §4-6."""

import pytest
from sandstack.core import signing

SECRET = "Example-Secret_Key-0001"
DEPLOY = {"command": "deployVirtualMachine", "response": "json",
          "zoneid": "3b1f6a52-7c1e-4b8e-9d55-0a1b2c3d4e5f", "templateid": "111",
          "serviceofferingid": "a7d9e2c0-5f43-4c1b-8e6a-112233445566", "displayname": "web server *1",
          "apiKey": "EXAMPLE-ApiKey_0001"}


def test_worked_example_v3():
    params = {**DEPLOY, "signatureVersion": "3", "expires": "2031-05-01T12:00:00+0000"}
    assert signing.canonical(params) == (
        "apikey=example-apikey_0001&command=deployvirtualmachine&displayname=web%20server%20*1&"
        "expires=2031-05-01t12%3a00%3a00%2b0000&response=json&serviceofferingid=a7d9e2c0-5f43-4c1b-8e6a-"
        "112233445566&signatureversion=3&templateid=111&zoneid=3b1f6a52-7c1e-4b8e-9d55-0a1b2c3d4e5f")
    assert signing.sign_params(SECRET, params) == "75P1woBv2WlSX0rIFwRbrMt3PiE="


def test_worked_example_legacy():
    assert signing.sign_params(SECRET, DEPLOY) == "ABev7GcNcsB+L7Mj6cqwh3//H00="


@pytest.mark.parametrize(("secret", "params", "expected"), [
    ("VDaACYb0LV9eNjTetIOElcVQkvJck_J_QljX_FcHRj87ZKiy0z0ty0ZsYBkoXkY9b7eq1EhwJaw7FF3akA3KBQ",
     {"command": "listUsers", "response": "json",
      "apikey": "plgWJfZK4gyS3mOMTVmjUVg-X-jlWlnfaUJ9GAbBbf9EdM-kAYMmAiLqzzq1ElZLYq_u38zCm0bewzGUdP66mg"},
     "TTpdDq/7j/J58XCRHomKoQXEQds="),
    ("bar", {"apiKey": "foo", "command": "listZones"}, "vRCL4rttwUS7s3a3m53Py1iHaAw="),
    ("bar", {"apiKey": "foo", "command": "listZones", "response": "json", "signatureVersion": "3",
             "expires": "2030-01-01T00:00:00+0000"}, "S0OtoIAS+Tu8ylB/nsQh4B370TM="),
    ("bar", {"command": "deployVirtualMachine", "apiKey": "foo", "response": "json", "zoneid": "z1",
             "templateid": "t1", "serviceofferingid": "s1", "displayname": "my vm*1"},
     "4cjrWgFh5/LP++eYll6rIo8eAGc="),
    ("bar", {"command": "listZones", "response": "json", "apiKey": "foo", "name": "Of4N~H$JP9"},
     "o/XyA9u1qHtD9oZvpzlJLsLi86U="),
])
def test_golden_vectors(secret, params, expected):
    assert signing.sign_params(secret, params) == expected
    assert signing.verify(secret, params, expected) == "strict"


VARIANTS = [  # value, strict, client variant signature, variant name
    ("p@ss~word", "+6azJjRbmmgfupthtAuv+WeNesY=", "zKH7BzeSbqA63o18qyRJlVhJGmc=", "keep-tilde"),
    ("[x]", "XrBe2g5Dtv84t8PMdNtuWJr2ToM=", "yWVXtf/Tp7Z+lW9b+ebeneNrKzA=", "keep-brackets"),
    ("*.example.com", "zAkOUTUpPChoBbsEMtSnitTxxRw=", "dECj+i4W3okM9qxGzkkEbMqt8aM=", "star-encoded"),
]


@pytest.mark.parametrize(("value", "strict", "variant", "name"), VARIANTS)
def test_client_variants_only_in_lenient_mode(value, strict, variant, name):
    params = {"command": "updateHost", "response": "json", "apiKey": "EXAMPLE-ApiKey_0001", "id": "h1",
              "annotation": value}
    assert signing.sign_params(SECRET, params) == strict
    assert signing.verify(SECRET, params, variant) is None
    assert signing.verify(SECRET, params, variant, lenient=True) == name


def test_space_is_percent_20():
    params = {"command": "updateHost", "response": "json", "apiKey": "EXAMPLE-ApiKey_0001", "id": "h1",
              "annotation": "a b"}
    assert signing.sign_params(SECRET, params) == "MMB2A2i8FqSEPiHNpHGoqy6agCc="


@pytest.mark.parametrize("value", ["2031-05-01T12:00:00+0000", "2031-05-01T12:00:00+00:00",
                                   "2031-05-01T12:00:00Z", "2031-05-01T12:00:00.123456Z",
                                   "2031-05-01T12:00:00Z+0000"])
def test_expires_formats(value):
    parsed = signing.parse_expires(value)
    assert parsed is not None and parsed.year == 2031 and parsed.utcoffset().total_seconds() == 0


@pytest.mark.parametrize("value", ["", "tomorrow", "2031-05-01", "2031-05-01T12:00:00"])
def test_expires_rejects(value):
    assert signing.parse_expires(value) is None
