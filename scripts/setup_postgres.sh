#!/usr/bin/env bash
# Install the PostgreSQL server that the multi-worker sweep tests start on localhost.
#
# Idempotent: does nothing when a server binary (pg_ctl) is already installed. Otherwise installs
# Debian's `postgresql` package with apt-get (as root, or through sudo). The tests themselves create a
# throw-away cluster in a temporary folder (initdb + pg_ctl on a free port) and remove it afterwards;
# the package's own cluster and service are not used, so they are not started here.
set -euo pipefail

find_pg_ctl() {
    command -v pg_ctl 2>/dev/null && return 0
    ls -1d /usr/lib/postgresql/*/bin/pg_ctl 2>/dev/null | sort -V | tail -n 1 | grep . && return 0
    return 1
}

if pg_ctl_path=$(find_pg_ctl); then
    echo "PostgreSQL server present: ${pg_ctl_path}"
    exit 0
fi

# The package's own cluster may or may not start (containers have no init); the tests do not use it.
# shellcheck source=scripts/apt_install.sh
source "$(dirname "$0")/apt_install.sh"
apt_install setup_postgres postgresql
pg_ctl_path=$(find_pg_ctl) || { echo "setup_postgres.sh: error: pg_ctl not found after installing postgresql" >&2; exit 1; }
echo "PostgreSQL server installed: ${pg_ctl_path}"
