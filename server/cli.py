"""`sandstack`: serve the API, manage the database."""

import argparse
import asyncio
import logging
import os
import sys

from .core.db import DEFAULT_SQLITE_URL

log = logging.getLogger("sandstack")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sandstack", description="CloudStack-compatible management server")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the management server")
    serve.add_argument("--host", default="0.0.0.0", help="address of the API listener (default 0.0.0.0)")
    serve.add_argument("--port", type=int, default=8080, help="API port (default 8080)")
    serve.add_argument("--db", default=os.environ.get("SANDSTACK_DB", DEFAULT_SQLITE_URL),
                       help="database URL: sqlite:///file.db (default) or mysql+pymysql://user:pw@host/cloud")
    serve.add_argument("--integration-port", type=int, default=None,
                       help="also serve the unauthenticated integration port (e.g. 8096) on 127.0.0.1, "
                            "as the SYSTEM account; off by default")
    serve.add_argument("--sandbox", action="store_true",
                       help="mint admin API keys and serve them at GET /admin.json (test labs only)")
    serve.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                       help="a global setting's value unless the database has one (repeatable)")
    serve.add_argument("--log-format", choices=("json", "text"), default="json")
    serve.add_argument("--log-level", default="INFO")
    serve.add_argument("--access-log", action="store_true", help="log every HTTP request")

    db = commands.add_parser("db", help="database administration")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_commands.add_parser("upgrade", help="migrate the schema to this version")
    upgrade.add_argument("--db", default=os.environ.get("SANDSTACK_DB", DEFAULT_SQLITE_URL))
    setup = db_commands.add_parser("setup", help="create the cloud database and user on MariaDB/MySQL "
                                                 "(like cloudstack-setup-databases), then migrate it")
    setup.add_argument("--host", default="localhost")
    setup.add_argument("--port", type=int, default=3306)
    setup.add_argument("--user", default="cloud")
    setup.add_argument("--password", default="cloud")
    setup.add_argument("--database", default="cloud")
    setup.add_argument("--usage-database", default="cloud_usage")
    setup.add_argument("--deploy-as", required=True, metavar="ROOT_USER:PASSWORD",
                       help="an administrative MariaDB account that may create databases and users")
    setup.add_argument("--socket", default=None,
                       help="connect the administrative account through this unix socket "
                            "(e.g. /run/mysqld/mysqld.sock, where root has no password)")

    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve_forever(args)
    if args.db_command == "upgrade":
        from .core import schema

        schema.upgrade(args.db)
        print(f"database at revision {schema.head_revision()}")
        return 0
    from .core.setup_db import setup_database

    print(setup_database(args))
    return 0


def parse_settings(pairs: list[str]) -> dict[str, str]:
    settings = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--set expects NAME=VALUE, got {pair!r}")
        settings[name.strip()] = value
    return settings


def serve_forever(args) -> int:
    from .core import logs

    logs.configure(args.log_format, args.log_level)
    try:
        asyncio.run(run(args))
    except KeyboardInterrupt:
        pass
    return 0


async def run(args) -> None:
    from aiohttp import web

    from .core.app import create_app, create_integration_app
    from .core.server import ManagementServer

    server = ManagementServer(args.db, host=args.host, port=args.port, settings=parse_settings(args.set),
                              sandbox=args.sandbox, integration_port=args.integration_port)
    server.prepare()
    runner = web.AppRunner(create_app(server), access_log=log if args.access_log else None)
    await runner.setup()
    await web.TCPSite(runner, args.host, args.port, reuse_address=True).start()
    runners = [runner]
    if args.integration_port:
        integration = web.AppRunner(create_integration_app(server), access_log=None)
        await integration.setup()
        await web.TCPSite(integration, "127.0.0.1", args.integration_port, reuse_address=True).start()
        runners.append(integration)
    log.info("management server %s ready on %s:%d (integration port %s, database %s)", server.version,
             args.host, args.port, args.integration_port or "off", server.engine.url.render_as_string())
    try:
        await asyncio.Event().wait()
    finally:
        for each in reversed(runners):
            await each.cleanup()


if __name__ == "__main__":
    sys.exit(main())
