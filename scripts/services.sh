#!/usr/bin/env bash
# Makes sure PostgreSQL (127.0.0.1:5432, user postgres, trust) and Redis (127.0.0.1:6379) answer.
# Uses running servers when there are; else installs Debian's packages if missing and starts
# private instances under .ci-state/ (left running for later test runs; `scripts/services.sh stop` ends them).
set -euo pipefail
cd "$(dirname "$0")/.."
STATE=$PWD/.ci-state
PGPORT=${MLOPSTUI_TEST_PG_PORT:-5432}
REDISPORT=${MLOPSTUI_TEST_REDIS_PORT:-6379}

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if [ "${1:-}" = stop ]; then
  [ -f "$STATE/redis.pid" ] && kill "$(cat "$STATE/redis.pid")" 2>/dev/null || true
  if [ -d "$STATE/pg" ]; then
    PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$STATE/pg" stop -m fast >/dev/null 2>&1 || true
  fi
  exit 0
fi

install_pkgs() {
  if [ "$(id -u)" != 0 ]; then echo "please install $* (apt-get install $*)" >&2; exit 2; fi
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if listening "$PGPORT"; then
  echo "== PostgreSQL answers on 127.0.0.1:$PGPORT"
else
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || install_pkgs postgresql
  PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
  mkdir -p "$STATE"
  if [ ! -f "$STATE/pg/PG_VERSION" ]; then
    mkdir -p "$STATE/pg" && chown postgres "$STATE/pg" && chmod 700 "$STATE/pg"
    (cd /tmp && runuser -u postgres -- "$PGBIN/initdb" -D "$STATE/pg" -A trust -U postgres >/dev/null)
  fi
  chown postgres "$STATE"
  (cd /tmp && runuser -u postgres -- "$PGBIN/pg_ctl" -D "$STATE/pg" -l "$STATE/pg.log" -w \
      -o "-p $PGPORT -k /tmp -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null)
  echo "== started PostgreSQL on 127.0.0.1:$PGPORT (data in .ci-state/pg)"
fi

if listening "$REDISPORT"; then
  echo "== Redis answers on 127.0.0.1:$REDISPORT"
else
  command -v redis-server >/dev/null || install_pkgs redis-server
  mkdir -p "$STATE"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDISPORT" --save "" --appendonly no \
    --dir "$STATE" --pidfile "$STATE/redis.pid" --logfile "$STATE/redis.log"
  for _ in $(seq 50); do listening "$REDISPORT" && break; sleep 0.1; done
  echo "== started Redis on 127.0.0.1:$REDISPORT"
fi
