#!/usr/bin/env bash
# Makes sure PostgreSQL (127.0.0.1:5432, user postgres, trust) and Redis (127.0.0.1:6379) answer, and that
# Prometheus is installed for the sandbox (Debian's package; not started here: `sandbox up` runs it).
# Uses running servers when there are; else installs Debian's packages if missing and starts
# private instances (PostgreSQL data in /var/tmp/mlopstui-test-pg, Redis in .ci-state/; left running for later test runs; `scripts/services.sh stop` ends them).
set -euo pipefail
cd "$(dirname "$0")/.."
STATE=$PWD/.ci-state
# PostgreSQL runs as the postgres user, who may not traverse the clone's path (e.g. under /root)
PGSTATE=${MLOPSTUI_TEST_PG_DIR:-/var/tmp/mlopstui-test-pg}
PGPORT=${MLOPSTUI_TEST_PG_PORT:-5432}
REDISPORT=${MLOPSTUI_TEST_REDIS_PORT:-6379}

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if [ "${1:-}" = stop ]; then
  [ -f "$STATE/redis.pid" ] && kill "$(cat "$STATE/redis.pid")" 2>/dev/null || true
  if [ -d "$PGSTATE/data" ]; then
    PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
    (cd /tmp && runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGSTATE/data" stop -m fast >/dev/null 2>&1) || true
  fi
  exit 0
fi

install_pkgs() {
  if [ "$(id -u)" != 0 ]; then echo "please install $* (apt-get install $*)" >&2; exit 2; fi
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

pg_trusts() { PGCONNECT_TIMEOUT=3 psql -h 127.0.0.1 -p "$PGPORT" -U postgres -w -tAc 'select 1' >/dev/null 2>&1; }

if listening "$PGPORT"; then
  echo "== PostgreSQL answers on 127.0.0.1:$PGPORT"
  if command -v psql >/dev/null && ! pg_trusts && [ "$(id -u)" = 0 ] && command -v pg_lsclusters >/dev/null; then
    # a Debian cluster that `apt-get install postgresql` just started asks for passwords on TCP:
    # let the test user in from loopback (this script is for test machines only)
    read -r ver name < <(pg_lsclusters -h | awk -v p="$PGPORT" '$3 == p {print $1, $2; exit}')
    if [ -n "${ver:-}" ]; then
      hba=/etc/postgresql/$ver/$name/pg_hba.conf
      grep -q "mlopstui-test" "$hba" || sed -i "1i host all postgres 127.0.0.1/32 trust # mlopstui-test" "$hba"
      pg_ctlcluster "$ver" "$name" reload
      echo "== PostgreSQL $ver/$name: trust for postgres@127.0.0.1 (test machine)"
    fi
  fi
else
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || install_pkgs postgresql
  PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
  mkdir -p "$PGSTATE" && chown postgres "$PGSTATE"
  if [ ! -f "$PGSTATE/data/PG_VERSION" ]; then
    (cd /tmp && runuser -u postgres -- "$PGBIN/initdb" -D "$PGSTATE/data" -A trust -U postgres >/dev/null)
  fi
  (cd /tmp && runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGSTATE/data" -l "$PGSTATE/postgres.log" -w \
      -o "-p $PGPORT -k /tmp -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null)
  echo "== started PostgreSQL on 127.0.0.1:$PGPORT (data in $PGSTATE)"
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

# the sandbox runs a real Prometheus for the rollout gates when Debian's binary is there (about 15 MB
# without recommends); MLOPSTUI_SANDBOX_PROMETHEUS=0 leaves it out
if [ "${MLOPSTUI_SANDBOX_PROMETHEUS:-1}" != 0 ] && ! command -v prometheus >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null \
      && echo "== installed prometheus ($(prometheus --version 2>&1 | head -n1))" \
      || echo "== prometheus could not be installed: the sandbox runs without it (rollout tests on Prometheus skip)"
  else
    echo "== no prometheus (apt-get install prometheus): the sandbox runs without it"
  fi
fi
