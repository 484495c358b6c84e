#!/bin/sh
# Logical backups of every service's database (DESIGN §1: one database per service).
#
# A snapshot is a directory named by its UTC time, holding one pg_dump archive (custom format: compressed,
# restorable table by table) per database and a SHA-256 manifest. It is written under a hidden name and renamed
# when complete, so a snapshot directory that exists is whole. Each archive is read back with pg_restore
# --list before the snapshot counts. The newest BACKUP_KEEP snapshots are kept; older ones are removed.
#
#   backup.sh once    one snapshot now, then exit (what the restore test and an operator before an upgrade run)
#   backup.sh         one snapshot now, then one every day at BACKUP_AT (local time of TZ), forever
#
# The server comes from libpq's own variables (PGHOST, PGPORT, PGUSER, PGPASSWORD). pg_dump must be of the
# server's major version or newer, which the compose service guarantees by running the server's own image.
set -eu

BACKUP_DIR=${BACKUP_DIR:-/backups}
BACKUP_DATABASES=${BACKUP_DATABASES:-identity ledger matching aed audit}
BACKUP_KEEP=${BACKUP_KEEP:-14}
BACKUP_AT=${BACKUP_AT:-02:30}

log() { echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) backup: $*"; }

snapshot() {
    stamp=$(date -u +%Y%m%dT%H%M%SZ)
    partial="$BACKUP_DIR/.partial-$stamp"
    rm -rf "$partial"
    mkdir -p "$partial"
    for database in $BACKUP_DATABASES; do
        pg_dump --format=custom --compress=6 --dbname="$database" --file="$partial/$database.dump"
        pg_restore --list "$partial/$database.dump" >/dev/null
    done
    (cd "$partial" && sha256sum -- *.dump >SHA256SUMS)
    mv "$partial" "$BACKUP_DIR/$stamp"
    log "snapshot $BACKUP_DIR/$stamp ($(du -sh "$BACKUP_DIR/$stamp" | cut -f1)): $BACKUP_DATABASES"
    prune
}

prune() {
    # Snapshot names sort by time; everything but the newest BACKUP_KEEP goes.
    find "$BACKUP_DIR" -mindepth 1 -maxdepth 1 -type d -name '[0-9]*T[0-9]*Z' | sort | head -n "-$BACKUP_KEEP" |
        while read -r old; do
            rm -rf "$old"
            log "removed $old (keeping the newest $BACKUP_KEEP)"
        done
}

seconds_until_next_run() {
    now=$(date +%s)
    next=$(date -d "$BACKUP_AT" +%s)
    [ "$next" -gt "$now" ] || next=$(date -d "tomorrow $BACKUP_AT" +%s)
    echo $((next - now))
}

mkdir -p "$BACKUP_DIR"
if [ "${1:-}" = once ]; then
    snapshot
    exit 0
fi
snapshot || log "FAILED; the health check turns unhealthy when no snapshot is younger than a day"
while :; do
    sleep "$(seconds_until_next_run)"
    snapshot || log "FAILED; the health check turns unhealthy when no snapshot is younger than a day"
done
