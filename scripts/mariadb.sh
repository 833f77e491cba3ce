#!/usr/bin/env bash
# Start MariaDB (no systemd here: the init script) and create the test database and its user,
# the way `cloudstack-setup-databases` would. Prints the database URL.
set -euo pipefail
cd "$(dirname "$0")/.."
DATABASE=${1:-cloud_test}

if ! mariadb-admin ping >/dev/null 2>&1; then
    service mariadb start >/dev/null
    for _ in $(seq 50); do mariadb-admin ping >/dev/null 2>&1 && break; sleep 0.2; done
fi
.venv/bin/sandstack db setup --deploy-as root: --socket /run/mysqld/mysqld.sock \
    --user cloud --password cloud --database "$DATABASE" --usage-database "${DATABASE}_usage" >/dev/null
# Tests create one database per server they start, named after this one.
mariadb -e "GRANT ALL ON \`${DATABASE//_/\\_}\\_%\`.* TO 'cloud'@'localhost'; GRANT ALL ON \`${DATABASE//_/\\_}\\_%\`.* TO 'cloud'@'%';"
echo "mysql+pymysql://cloud:cloud@127.0.0.1:3306/$DATABASE?charset=utf8mb4"
