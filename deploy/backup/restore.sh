#!/bin/sh
# Restore one service's database from a snapshot written by backup.sh, into a database that does not exist yet:
#
#   restore.sh SNAPSHOT_DIR DATABASE [TARGET]      (TARGET defaults to DATABASE)
#
# It never writes over a database: rename the damaged one first (README "Backup and restore" has the whole
# procedure, including what the service's consumers and outbox do afterwards). The archive's checksum is
# checked first; the restore runs in one transaction, so a failure leaves TARGET empty, never half-restored.
# The server comes from libpq's own variables (PGHOST, PGPORT, PGUSER, PGPASSWORD).
set -eu

if [ $# -lt 2 ]; then
    echo "usage: $0 SNAPSHOT_DIR DATABASE [TARGET]" >&2
    exit 2
fi
snapshot=$1
database=$2
target=${3:-$2}

grep -q " $database.dump\$" "$snapshot/SHA256SUMS" || { echo "restore: $snapshot has no $database.dump" >&2; exit 1; }
(cd "$snapshot" && grep " $database.dump\$" SHA256SUMS | sha256sum --check --quiet --strict) ||
    { echo "restore: $snapshot/$database.dump does not match its checksum; choose another snapshot" >&2; exit 1; }
createdb "$target"
pg_restore --exit-on-error --single-transaction --no-owner --no-privileges --dbname="$target" \
    "$snapshot/$database.dump"
echo "restore: $snapshot/$database.dump is now database $target"
