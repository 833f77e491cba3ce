"""The throughput baseline: a bare aiohttp app answering GET / with a small JSON body."""

import argparse

from aiohttp import web

BODY = {"listcapabilitiesresponse": {"capability": {"cloudstackversion": "4.22.0.0"}}}


async def hello(request: web.Request) -> web.Response:
    return web.json_response(BODY)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = web.Application()
    app.router.add_get("/", hello)
    # No access log: the management server under test runs without one too.
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
