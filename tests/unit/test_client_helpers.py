"""marvin.client: the helpers both clients share (query, answer) and Client.list following pages."""

import pytest

from marvin.client import Client, answer, signed_query
from marvin.errors import CloudstackError


def paged_server(items: list[dict], page_size: int, calls: list[dict]):
    """A stand-in for Client.request answering pages of `items` as a server with that page size would."""
    def request(self, command, params=None, **kwargs):
        calls.append(dict(params or {}))
        page, size = params.get("page", 1), params.get("pagesize", page_size)
        return {"count": len(items), "thing": items[(page - 1) * size:page * size]}
    return request


def test_list_follows_count_with_page_and_pagesize(monkeypatch):
    items, calls = [{"id": i} for i in range(7)], []
    monkeypatch.setattr(Client, "request", paged_server(items, 3, calls))
    assert Client("http://x/client/api").list("listThings", listall=True) == items
    assert calls == [{"listall": True}, {"listall": True, "page": 2, "pagesize": 3},
                     {"listall": True, "page": 3, "pagesize": 3}]


def test_list_answers_only_the_page_asked_for(monkeypatch):
    items, calls = [{"id": i} for i in range(7)], []
    monkeypatch.setattr(Client, "request", paged_server(items, 3, calls))
    assert Client("http://x/client/api").list("listThings", page=2, pagesize=2) == items[2:4]
    assert len(calls) == 1


def test_list_of_one_page_or_without_count_is_one_call(monkeypatch):
    calls = []
    monkeypatch.setattr(Client, "request", paged_server([{"id": 1}], 500, calls))
    assert Client("http://x/client/api").list("listThings") == [{"id": 1}]
    monkeypatch.setattr(Client, "request", lambda self, command, params=None, **kw: {"api": [{"name": "a"}]})
    assert Client("http://x/client/api").list("listApis") == [{"name": "a"}]
    assert len(calls) == 1


def test_answer_reads_the_inner_object_or_raises():
    assert answer("listZones", 200, '{"listzonesresponse": {"count": 0}}') == {"count": 0}
    with pytest.raises(CloudstackError) as error:
        answer("listZones", 431, '{"listzonesresponse": {"errorcode": 431, "errortext": "bad", '
                                 '"cserrorcode": 9999}}')
    assert (error.value.errorcode, error.value.errortext, error.value.cserrorcode) == (431, "bad", 9999)
    with pytest.raises(CloudstackError) as error:
        answer("listZones", 502, "<html>bad gateway</html>")
    assert (error.value.errorcode, error.value.status) == (502, 502)


def test_signed_query_is_the_same_for_both_clients():
    from marvin.aio import AsyncClient

    sync = Client("http://x/client/api", "key", "secret", signature_version=3)
    query = signed_query(sync, "listZones", {"available": True})
    assert query["apiKey"] == "key" and query["signatureVersion"] == "3" and query["available"] == "true"
    unsigned = AsyncClient("http://x/client/api").query("listZones", {"id": None}, sign=True)
    assert unsigned == {"command": "listZones", "response": "json"}
