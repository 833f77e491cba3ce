"""`sandstack db setup`: what cloudstack-setup-databases does, on MariaDB/MySQL.

Creates the `cloud` and `cloud_usage` databases and the `cloud` user (from localhost and elsewhere)
with an administrative account, then migrates the schema.
"""

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL

from . import schema


def setup_database(args) -> str:
    root_user, _, root_password = args.deploy_as.partition(":")
    # Debian's MariaDB authenticates root through the unix socket, without a password.
    query = {"unix_socket": args.socket} if args.socket else {}
    admin_url = URL.create("mysql+pymysql", username=root_user, password=root_password or None,
                           host=args.host, port=args.port, query=query)
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        for database in (args.database, args.usage_database):
            conn.execute(text(f"CREATE DATABASE IF NOT EXISTS `{database}` CHARACTER SET utf8mb4 "
                              "COLLATE utf8mb4_unicode_ci"))
        for host in ("localhost", "%"):
            conn.execute(text("CREATE USER IF NOT EXISTS :user@:host IDENTIFIED BY :password"),
                         {"user": args.user, "host": host, "password": args.password})
            conn.execute(text("ALTER USER :user@:host IDENTIFIED BY :password"),
                         {"user": args.user, "host": host, "password": args.password})
            for database in (args.database, args.usage_database):
                conn.execute(text(f"GRANT ALL ON `{database}`.* TO :user@:host"),
                             {"user": args.user, "host": host})
    engine.dispose()
    url = URL.create("mysql+pymysql", username=args.user, password=args.password, host=args.host,
                     port=args.port, database=args.database, query={"charset": "utf8mb4"})
    rendered = url.render_as_string(hide_password=False)
    schema.upgrade(rendered)
    return rendered
