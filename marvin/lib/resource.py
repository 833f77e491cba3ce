"""The machinery every resource class stands on: `api_of()`, the one place that knows how to talk to a
given client (ours, or the upstream-style api client of the compatibility layer, via `register_adapter`),
`Record` (a server object: fields as attributes and as items) and `Resource`, the base class that gives
every entity upstream's call forms (`Cls.list(apiclient, **kwargs)` → objects or None,
`obj.delete(apiclient)`) and the pytest-style ones (`obj.refresh()`, `obj.wait("Up")`, `obj.update(...)`
with the client the object was made with).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..client import Client, unwrap
from .utils import describe, poll

# ---- the adapter point --------------------------------------------------------------------------------


class Api:
    """What resource classes call: `call(command, **params)` answers the command's object (async jobs
    awaited), `list(command, **params)` answers the listed items."""

    def call(self, command: str, **params: Any) -> dict:
        raise NotImplementedError

    def list(self, command: str, **params: Any) -> list[dict]:
        raise NotImplementedError

    def post(self, command: str, **params: Any) -> dict:
        """`call` sent as an HTTP POST (upstream's `method="POST"`, for large user data); clients that
        have no choice of method just call."""
        return self.call(command, **params)


class ClientApi(Api):
    def __init__(self, client: Client):
        self.client = client

    def call(self, command: str, **params: Any) -> dict:
        return self.client(command, **params)

    def list(self, command: str, **params: Any) -> list[dict]:
        return self.client.list(command, **params)

    def post(self, command: str, **params: Any) -> dict:
        inner = self.client.request(command, params, method="POST")
        if "jobid" in inner and set(inner) <= {"jobid", "id"}:  # an async command: wait, as __call__ does
            inner = self.client.wait(inner["jobid"], command)
        return unwrap(inner)

    def signed_as(self, apikey: str, secretkey: str) -> Client:
        """A client for the same server signed with other keys (a user's, say). Signed calls go to the API
        port: on the integration port (8096) every call runs as SYSTEM, so Marvin switches to 8080."""
        url = self.client.url
        parts = urlsplit(url)
        if parts.port == 8096:
            url = urlunsplit(parts._replace(netloc=f"{parts.hostname}:8080"))
        return Client(url, apikey, secretkey, signature_version=self.client.signature_version)


ADAPTERS: list[tuple[type, Callable[[Any], Api]]] = [(Client, ClientApi)]


def register_adapter(kind: type, factory: Callable[[Any], Api]) -> None:
    """Teach `api_of` a new kind of client (the latest registration wins)."""
    ADAPTERS.insert(0, (kind, factory))


def api_of(apiclient: Any) -> Api:
    """Turn whatever a test passes as `apiclient` into an Api."""
    if isinstance(apiclient, Api):
        return apiclient
    for kind, factory in ADAPTERS:
        if isinstance(apiclient, kind):
            return factory(apiclient)
    own = getattr(apiclient, "marvin_api", None)  # a client may also bring its own adapter
    if own is not None:
        return own()
    raise TypeError(f"cannot call the API through {type(apiclient).__name__}")


# ---- records and resources ----------------------------------------------------------------------------


def wrap(value: Any) -> Any:
    if isinstance(value, dict):
        return Record(value)
    if isinstance(value, list):
        return [wrap(item) for item in value]
    return value


class Record:
    """A server object: its fields as attributes (nested objects too) and as items."""

    def __init__(self, items: Any = None, services: dict | None = None):
        self._load(items or {})

    def _load(self, items: Any) -> None:
        if isinstance(items, Record):
            items = items._fields
        items = items.get("_fields", items)  # `Account(other.__dict__)`, as upstream tests write it
        for old in self.__dict__.pop("_fields", {}):
            self.__dict__.pop(old, None)
        self.__dict__["_fields"] = dict(items)
        for name, value in items.items():
            # A field never hides a method: `update` the field stays readable as obj["update"].
            if not callable(getattr(type(self), name, None)):
                self.__dict__[name] = wrap(value)

    def __getitem__(self, name: str) -> Any:
        return self._fields[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self._fields.get(name, default)

    def to_dict(self) -> dict:
        return dict(self._fields)

    def __repr__(self) -> str:
        ident = self._fields.get("id") or self._fields.get("name")
        return f"{type(self).__name__}({ident!r})"


class hybridmethod:
    """A method callable on the class, as upstream calls `Host.update(apiclient, id=...)`, or on an
    object (`host.update(apiclient, ...)`, or `host.update(...)` with the object's own client)."""

    def __init__(self, func: Callable):
        self.func = func
        functools.update_wrapper(self, func)

    def __get__(self, obj: Any, owner: type) -> Callable:
        return functools.partial(self.func, owner, obj)


class Resource(Record):
    list_command: str = ""
    update_command: str = ""
    delete_command: str = ""
    state_field = "state"
    _api: Api | None = None

    @classmethod
    def bind(cls, api: Api, items: Any) -> Resource:
        obj = cls(items)
        obj._api = api
        return obj

    @classmethod
    def _call(cls, apiclient: Any, command: str, **params: Any) -> Resource:
        api = api_of(apiclient)
        return cls.bind(api, api.call(command, **params))

    @classmethod
    def _call_listed(cls, apiclient: Any, command: str, **params: Any) -> Resource:
        """For commands that answer a list (addHost, registerTemplate): its first item."""
        api = api_of(apiclient)
        return cls.bind(api, api.list(command, **params)[0])

    def api(self, apiclient: Any = None) -> Api:
        if apiclient is not None:
            return api_of(apiclient)
        if self._api is None:
            raise TypeError(f"{describe(self)} was not made by a call: pass the apiclient")
        return self._api

    @classmethod
    def list(cls, apiclient: Any, **kwargs: Any) -> list | None:
        """The matching objects, or None when there are none (as upstream answers)."""
        api = api_of(apiclient)
        if "account" in kwargs and "domainid" in kwargs:
            kwargs.setdefault("listall", True)
        return [cls.bind(api, item) for item in api.list(cls.list_command, **kwargs)] or None

    @classmethod
    def first(cls, apiclient: Any, **kwargs: Any) -> Resource | None:
        return (cls.list(apiclient, **kwargs) or [None])[0]

    def fetch(self, api: Api) -> list[dict]:
        return api.list(self.list_command, id=self.id, listall=True)

    def refresh(self, apiclient: Any = None) -> Resource:
        """Read the object again from the server; LookupError when it is gone."""
        found = self.fetch(self.api(apiclient))
        if not found:
            raise LookupError(f"{describe(self)} is no longer listed")
        self._load(found[0])
        return self

    @classmethod
    def act(cls, obj: Resource | None, apiclient: Any, command: str, id: str | None = None,
            **params: Any) -> Any:
        """Run a command on one object: `obj` (its fields then follow the answer, and it is answered)
        or, called on the class, the object `id` (a new object is answered)."""
        if obj is None:
            return cls._call(apiclient, command, id=id, **params)
        answer = obj.api(apiclient).call(command, id=id or obj.id, **params)
        if "id" in answer:
            obj._load(answer)
        return obj

    @hybridmethod
    def update(cls, self, apiclient: Any = None, id: str | None = None, **kwargs: Any) -> Resource:
        return cls.act(self, apiclient, cls.update_command, id, **kwargs)

    def delete(self, apiclient: Any = None, **kwargs: Any) -> Any:
        return self.api(apiclient).call(self.delete_command, id=self.id, **kwargs)

    def wait(self, until: str | Callable[[Any], Any], timeout: float = 60, interval: float = 0.2,
             apiclient: Any = None) -> Resource:
        """Refresh until `until` holds: a state (compared with `state_field`, ignoring case) or a
        predicate on the refreshed object."""
        def reached(obj: Resource) -> bool:
            if callable(until):
                return bool(until(obj))
            return str(obj.get(obj.state_field, "")).lower() == until.lower()

        try:
            poll(lambda: reached(self.refresh(apiclient)), timeout, interval)
        except TimeoutError:
            raise TimeoutError(f"{describe(self)}: {until!r} not reached in {timeout}s "
                               f"({self.state_field}={self.get(self.state_field)!r})") from None
        return self

    def expect(self, state: str, timeout: float = 60, apiclient: Any = None) -> Resource:
        """The answer of an async command is final, so this rarely polls; it is here for servers
        (and states) that settle after the job."""
        if str(self.get(self.state_field, "")).lower() != state.lower():
            self.wait(state, timeout, apiclient=apiclient)
        return self


def services_or(services: dict | None, **defaults: Any) -> dict:
    return {**defaults, **(services or {})}


def given(**params: Any) -> dict:
    """The parameters that were given (upstream only sets a command's field when a value is passed)."""
    return {name: value for name, value in params.items() if value is not None}


def pick(value: Any, services: dict, key: str) -> Any:
    """Upstream's rule for most parameters: the argument when given, else `services[key]`."""
    return value if value is not None else services.get(key)


def ostype_id(api: Api, services: dict) -> str | None:
    """services["ostypeid"], or the id of the guest OS named services["ostype"] (upstream's lookup)."""
    if services.get("ostypeid") or not services.get("ostype"):
        return services.get("ostypeid")
    found = api.list("listOsTypes", description=services["ostype"])
    if not found:
        raise LookupError(f"no guest OS type is described as {services['ostype']!r}")
    return found[0]["id"]
