"""Helpers for tests, under the names upstream Marvin's `marvin.lib.utils` gives them, plus the LIFO
cleanup the pytest plugin hands to every test (it works without pytest too)."""

from __future__ import annotations

import inspect
import random
import string
import time
from collections.abc import Callable
from typing import Any

from ..codes import EMPTY_LIST, FAIL, INVALID_INPUT, PASS


def random_gen(id: str | None = None, size: int = 6,
               chars: str = string.ascii_uppercase + string.digits) -> str:
    """A random suffix for names that must be unique (`id-` prefixed when given)."""
    suffix = "".join(random.choice(chars) for _ in range(size))
    return f"{id}-{suffix}" if id else suffix


def validateList(inp: Any) -> list:
    """[PASS, first item, None] for a non-empty list; [FAIL, None, reason] otherwise."""
    if not isinstance(inp, list):
        return [FAIL, None, INVALID_INPUT]
    if not inp:
        return [FAIL, None, EMPTY_LIST]
    return [PASS, inp[0], None]


def wait_until(retry_interval: float = 2, num_tries: int = 5, callback: Callable | None = None,
               *callback_args: Any) -> tuple[bool, Any]:
    """Call `callback(*args)` → (done, value) until done or tries run out; answer (done, last value)."""
    value = None
    for attempt in range(num_tries):
        done, value = callback(*callback_args)
        if done:
            return True, value
        if attempt < num_tries - 1:
            time.sleep(retry_interval)
    return False, value


def poll(predicate: Callable[[], Any], timeout: float = 60, interval: float = 0.2, what: str = "condition"):
    """Answer predicate()'s first truthy value; TimeoutError after `timeout` seconds (never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not met after {timeout}s")
        time.sleep(interval)


# ---- cleanup ----------------------------------------------------------------------------------------


class CleanupFailed(Exception):
    def __init__(self, errors: list[str]):
        super().__init__(f"{len(errors)} cleanup step(s) failed:\n" + "\n".join(f"  - {e}" for e in errors))
        self.errors = errors


def describe(thing: Any) -> str:
    """A resource's class and id (or a callable's name), for cleanup reports."""
    if inspect.isfunction(thing) or inspect.ismethod(thing):
        return thing.__qualname__
    ident = getattr(thing, "id", None) or getattr(thing, "name", None)
    return f"{type(thing).__name__} {ident}" if ident else repr(thing)


def takes_no_arguments(function: Callable) -> bool:
    try:
        inspect.signature(function).bind()
        return True
    except (TypeError, ValueError):
        return False


class Cleanup:
    """What a test created, undone last-in first-out when the test ends.

    `add(resource)` deletes the resource (`resource.delete()`, or `resource.delete(apiclient)` for
    upstream-style objects); `add(callable, *args, **kwargs)` calls it. `run()` goes through every step
    even when some fail, and raises CleanupFailed naming all the failures."""

    def __init__(self, apiclient: Any = None):
        self.apiclient = apiclient
        self.steps: list[tuple[Any, tuple, dict]] = []

    def add(self, thing: Any, *args: Any, **kwargs: Any) -> Any:
        self.steps.append((thing, args, kwargs))
        return thing

    def __len__(self) -> int:
        return len(self.steps)

    def undo(self, thing: Any, args: tuple, kwargs: dict) -> None:
        delete = getattr(thing, "delete", None)
        if delete is None or args or kwargs:
            thing(*args, **kwargs)
        elif takes_no_arguments(delete):
            delete()
        else:
            delete(self.apiclient)

    def run(self) -> None:
        errors = []
        while self.steps:
            thing, args, kwargs = self.steps.pop()
            try:
                self.undo(thing, args, kwargs)
            except Exception as error:  # keep going: every failure is reported together below
                errors.append(f"{describe(thing)}: {type(error).__name__}: {error}")
        if errors:
            raise CleanupFailed(errors)


def cleanup_resources(api_client: Any, resources: list) -> None:
    """Delete each resource in order (upstream's helper; it stops at the first failure)."""
    for resource in resources:
        resource.delete(api_client)
