#!/usr/bin/env bash
# Start real PostgreSQL and MariaDB servers on loopback for the database test suites.
#   scripts/test-dbs.sh start   install (Debian packages, when root and missing), start,
#                               create the test databases, write .data/test-dbs.env
#   scripts/test-dbs.sh stop    stop both servers
#   scripts/test-dbs.sh create  create ROOKERY_TEST_DB_NAME on both (running) servers
#   scripts/test-dbs.sh drop    drop ROOKERY_TEST_DB_NAME (the servers keep running)
# ROOKERY_TEST_DB_NAME names the test database (default rookery_test, which .data/test-dbs.env
# names); scripts/test-all.sh gives every run its own, so two runs on one machine never empty
# each other's tables.
# The servers live in $ROOKERY_TESTDB_DIR (default /tmp/rookery-testdb) and listen only
# on 127.0.0.1 (PostgreSQL 55432, MariaDB 53306) so they never clash with a system server.
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=${ROOKERY_TESTDB_DIR:-/tmp/rookery-testdb}
PG_PORT=${TEST_PG_PORT:-55432}
MY_PORT=${TEST_MYSQL_PORT:-53306}
DB_NAME=${ROOKERY_TEST_DB_NAME:-rookery_test}
[[ $DB_NAME =~ ^[a-z][a-z0-9_]{0,62}$ ]] || { echo "error: ROOKERY_TEST_DB_NAME must be [a-z][a-z0-9_]*" >&2; exit 2; }
ENV_FILE=.data/test-dbs.env
log() { echo "[test-dbs] $*"; }

as_db_user() {  # PostgreSQL refuses to run as root
  local user=$1; shift
  if [ "$(id -u)" = 0 ]; then runuser -u "$user" -- "$@"; else "$@"; fi
}

pg_bin() {
  local d
  for d in /usr/lib/postgresql/*/bin; do [ -x "$d/initdb" ] && { echo "$d"; return 0; }; done
  return 1
}

apt_install() {
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    log "cannot install $* (not root or no apt-get)"; return 1
  fi
  log "installing Debian packages: $*"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1; then
    apt-get update -qq >/dev/null 2>&1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  fi
}

start_pg() {
  local bin
  bin=$(pg_bin) || { apt_install postgresql && bin=$(pg_bin); } || return 1
  local dir=$BASE/pg
  if [ "$(id -u)" = 0 ]; then id postgres >/dev/null 2>&1 || useradd -r -m postgres; fi
  mkdir -p "$BASE"; chmod 755 "$BASE"
  if [ ! -f "$dir/PG_VERSION" ]; then
    mkdir -p "$dir"; [ "$(id -u)" = 0 ] && chown postgres "$dir"
    as_db_user postgres "$bin/initdb" -D "$dir" -U postgres -A trust >/dev/null
  fi
  if ! as_db_user postgres "$bin/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
    as_db_user postgres "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w \
      -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $dir -c max_connections=200 -c fsync=off" start >/dev/null
  fi
  local psql=("$bin/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1 -qtA)
  "${psql[@]}" -c "SELECT 1 FROM pg_roles WHERE rolname='rookery'" | grep -q 1 ||
    "${psql[@]}" -c "CREATE ROLE rookery LOGIN PASSWORD 'rookery' CREATEDB"
  "${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname='$DB_NAME'" | grep -q 1 ||
    "${psql[@]}" -c "CREATE DATABASE $DB_NAME OWNER rookery"
  log "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$PG_PORT"
}

my_bin() { command -v mariadbd || command -v mysqld || ls /usr/sbin/mariadbd 2>/dev/null; }

start_mysql() {
  local daemon
  daemon=$(my_bin) || { apt_install mariadb-server && daemon=$(my_bin); } || return 1
  local dir=$BASE/mysql user
  user=$( [ "$(id -u)" = 0 ] && echo mysql || id -un)
  mkdir -p "$BASE"
  if [ ! -d "$dir/data/mysql" ]; then
    mkdir -p "$dir/data"; [ "$(id -u)" = 0 ] && chown -R mysql "$dir"
    mariadb-install-db --no-defaults --datadir="$dir/data" --user="$user" \
      --auth-root-authentication-method=normal >"$dir/install.log" 2>&1
  fi
  local client=(mariadb --no-defaults -uroot -h 127.0.0.1 -P "$MY_PORT")
  if ! "${client[@]}" -e 'SELECT 1' >/dev/null 2>&1; then
    "$daemon" --no-defaults --datadir="$dir/data" --user="$user" --port="$MY_PORT" \
      --bind-address=127.0.0.1 --socket="$dir/mysqld.sock" --pid-file="$dir/mysqld.pid" \
      --innodb-flush-log-at-trx-commit=0 --max-connections=300 \
      --log-error="$dir/error.log" >/dev/null 2>&1 &
    for _ in $(seq 1 60); do "${client[@]}" -e 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.5; done
  fi
  # mariadb-install-db creates anonymous ''@'localhost' accounts that would shadow
  # 'rookery'@'%' for loopback logins; drop them and add an explicit localhost account.
  "${client[@]}" -e "DELETE FROM mysql.global_priv WHERE User='';
    FLUSH PRIVILEGES;
    CREATE DATABASE IF NOT EXISTS $DB_NAME CHARACTER SET utf8mb4;
    CREATE USER IF NOT EXISTS 'rookery'@'%' IDENTIFIED BY 'rookery';
    CREATE USER IF NOT EXISTS 'rookery'@'localhost' IDENTIFIED BY 'rookery';
    GRANT ALL PRIVILEGES ON *.* TO 'rookery'@'%';
    GRANT ALL PRIVILEGES ON *.* TO 'rookery'@'localhost'; FLUSH PRIVILEGES;"
  log "MariaDB $("${client[@]}" -NBe 'SELECT VERSION()') on 127.0.0.1:$MY_PORT"
}

drop_dbs() {
  [ "$DB_NAME" = rookery_test ] && return 0  # the shared default stays for manual runs
  local bin
  if bin=$(pg_bin) && [ -f "$BASE/pg/postmaster.pid" ]; then
    "$bin/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -qtA \
      -c "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  mariadb --no-defaults -uroot -h 127.0.0.1 -P "$MY_PORT" \
    -e "DROP DATABASE IF EXISTS $DB_NAME" >/dev/null 2>&1 || true
}

stop_all() {
  local bin
  if bin=$(pg_bin) && [ -f "$BASE/pg/postmaster.pid" ]; then
    as_db_user postgres "$bin/pg_ctl" -D "$BASE/pg" -m fast stop >/dev/null 2>&1 || true
  fi
  if [ -f "$BASE/mysql/mysqld.pid" ]; then kill "$(cat "$BASE/mysql/mysqld.pid")" 2>/dev/null || true; fi
  log "stopped"
}

case "${1:-start}" in
  start)
    DB_NAME=rookery_test  # what .data/test-dbs.env names, for manual runs and benchmarks
    mkdir -p .data
    backends=sqlite
    : >"$ENV_FILE.tmp"
    if start_pg; then
      backends="$backends,postgresql"
      printf 'TEST_PG_HOST=127.0.0.1\nTEST_PG_PORT=%s\nTEST_PG_USER=rookery\nTEST_PG_PASS=rookery\nTEST_PG_NAME=%s\n' "$PG_PORT" "$DB_NAME" >>"$ENV_FILE.tmp"
    else log "PostgreSQL NOT available"; fi
    if start_mysql; then
      backends="$backends,mysql"
      printf 'TEST_MYSQL_HOST=127.0.0.1\nTEST_MYSQL_PORT=%s\nTEST_MYSQL_USER=rookery\nTEST_MYSQL_PASS=rookery\nTEST_MYSQL_NAME=%s\n' "$MY_PORT" "$DB_NAME" >>"$ENV_FILE.tmp"
    else log "MariaDB NOT available"; fi
    echo "ROOKERY_TEST_DBS=$backends" >>"$ENV_FILE.tmp"
    mv "$ENV_FILE.tmp" "$ENV_FILE"
    log "backends for the database suites: $backends (written to $ENV_FILE)"
    ;;
  stop) stop_all ;;
  create) start_pg && start_mysql ;;
  drop) drop_dbs ;;
  *) echo "usage: $0 start|stop|create|drop" >&2; exit 2 ;;
esac
