#!/usr/bin/env bash
# Make sure a PostgreSQL server answers on 127.0.0.1:5432 for the database tests.
#
#   scripts/ensure-postgres.sh        (called by `make test`)
#
# 1. If `pg_isready -h 127.0.0.1` succeeds: nothing to do.
# 2. If PostgreSQL is not installed: `apt-get install -y postgresql` (which
#    creates the "main" cluster), then allow passwordless (trust) connections
#    from this machine for that fresh, test-only cluster. An existing cluster's
#    authentication is never touched.
# 3. Start the newest installed cluster with pg_ctlcluster and wait until it
#    accepts connections (30 s at most).
# Exits non-zero with a message when PostgreSQL still does not answer.
set -euo pipefail

HOST=127.0.0.1
PORT=5432
WAIT_SECONDS=30

log() { printf 'ensure-postgres: %s\n' "$*" >&2; }

ready() {
    command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h "$HOST" -p "$PORT"
}

if ready; then
    exit 0
fi

SUDO=""
if [ "$(id -u)" != 0 ]; then
    SUDO="sudo"
fi

installed_now=0
if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ -z "$(ls -A /etc/postgresql 2>/dev/null)" ]; then
    log "PostgreSQL is not installed: installing it with apt-get"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql
    installed_now=1
fi

version="$(ls /etc/postgresql | sort -V | tail -n 1)"
if [ -z "$version" ] || [ ! -d "/etc/postgresql/$version/main" ]; then
    log "no 'main' cluster under /etc/postgresql; create one with: pg_createcluster <version> main"
    exit 1
fi

if [ "$installed_now" = 1 ]; then
    hba="/etc/postgresql/$version/main/pg_hba.conf"
    log "fresh test cluster: trust authentication for local connections in $hba"
    $SUDO tee "$hba" >/dev/null <<'HBA'
# Written by scripts/ensure-postgres.sh for a test-only cluster it installed.
local   all   all                  trust
host    all   all   127.0.0.1/32   trust
host    all   all   ::1/128        trust
HBA
fi

log "starting cluster $version/main"
# pg_ctlcluster exits 2 when the cluster is already running: not an error here.
$SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start || status=$?
if [ "${status:-0}" != 0 ] && [ "${status:-0}" != 2 ]; then
    log "pg_ctlcluster failed with status $status"
fi
if [ "$installed_now" = 1 ]; then
    # the cluster may have been started by the package's post-install script
    # before pg_hba.conf was rewritten: make it re-read the file.
    $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main reload || true
fi

for _ in $(seq 1 "$WAIT_SECONDS"); do
    if ready; then
        log "PostgreSQL $version is ready on $HOST:$PORT"
        exit 0
    fi
    sleep 1
done
log "PostgreSQL did not become ready on $HOST:$PORT within ${WAIT_SECONDS}s"
exit 1
