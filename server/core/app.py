"""The aiohttp application: routes in one place, the server's lifecycle in a cleanup context."""

import asyncio
import contextlib
import logging

from aiohttp import web

from .errors import INTERNAL_ERROR_TEXT
from .server import ManagementServer

SERVER = web.AppKey("server", ManagementServer)
# Large user data and certificates arrive in POST bodies.
MAX_BODY = 8 * 1024 * 1024


@web.middleware
async def safety_net(request: web.Request, handler):
    """Whatever escapes the dispatcher is still answered with CloudStack's envelope, never a 500 page."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception:
        logging.getLogger("sandstack.api").exception("unhandled error on %s", request.path)
        body = {"errorresponse": {"uuidList": [], "errorcode": 530, "errortext": INTERNAL_ERROR_TEXT}}
        return web.json_response(body, status=530)


def create_app(server: ManagementServer) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY, middlewares=[safety_net])
    app[SERVER] = server
    app.router.add_route("GET", "/client/api", server.dispatcher.handle)
    app.router.add_route("POST", "/client/api", server.dispatcher.handle)
    app.router.add_route("GET", "/client/api/", server.dispatcher.handle)
    app.router.add_route("POST", "/client/api/", server.dispatcher.handle)
    if server.sandbox:
        app.router.add_get("/admin.json", admin_json)
        app.router.add_get("/sandstack/coverage", coverage)
    app.cleanup_ctx.append(lifecycle)
    return app


def create_integration_app(server: ManagementServer) -> web.Application:
    """The unauthenticated integration port: any path, SYSTEM caller, query string only."""
    app = web.Application(middlewares=[safety_net])
    app.router.add_route("GET", "/{tail:.*}", server.dispatcher.handle_integration)
    app.router.add_route("POST", "/{tail:.*}", server.dispatcher.handle_integration)
    return app


async def lifecycle(app: web.Application):
    server = app[SERVER]
    task = asyncio.get_running_loop().create_task(server.background())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await server.shutdown()


async def admin_json(request: web.Request) -> web.Response:
    """Sandbox convention: the admin's keys, unauthenticated (only with --sandbox)."""
    from ..iam.bootstrap import admin_keys

    with request.app[SERVER].session() as db:
        keys = admin_keys(db)
    if not keys["apikey"]:
        return web.json_response({"error": "not ready"}, status=503)
    return web.json_response(keys)


async def coverage(request: web.Request) -> web.Response:
    """Sandbox only: how often each command was called since start (the harness's coverage gate)."""
    server = request.app[SERVER]
    return web.json_response({"called": dict(server.called), "registered": sorted(server.registry)})
