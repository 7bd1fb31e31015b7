#!/bin/sh
# pg.sh: a private PostgreSQL 15 cluster in a directory, for Faxgate's archive
# on a single machine and in tests (DESIGN.md, Storage). Unix socket only
# (listen_addresses = ''), the socket in the cluster directory itself.
#
#   scripts/pg.sh start  DIR   initialise DIR if needed, start, create the
#                              faxgate database, print the DSN
#   scripts/pg.sh stop   DIR   fast shutdown (waits)
#   scripts/pg.sh status DIR   exit 0 when running
#   scripts/pg.sh dsn    DIR   print the DSN: host=DIR dbname=faxgate user=postgres
#
# initdb refuses to run as root, so as root everything runs as the `postgres`
# system user (Debian's postgresql package creates it) and DIR is chowned to
# it; DIR's parents must be searchable by that user. As another user the
# cluster belongs to that user. The superuser is named postgres either way.
set -eu
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}

usage() { echo "usage: $0 start|stop|status|dsn DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
CMD=$1
DIR=$2
case $DIR in /*) ;; *) DIR=$(pwd)/$DIR ;; esac
DATA=$DIR/data

as_pg() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

dsn() { echo "host=$DIR dbname=faxgate user=postgres"; }

case $CMD in
start)
    mkdir -p "$DIR"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$DIR" && chmod 0700 "$DIR"
    if [ ! -f "$DATA/PG_VERSION" ]; then
        as_pg "$PGBIN/initdb" -D "$DATA" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
            > "$DIR/initdb.log" 2>&1 || { cat "$DIR/initdb.log" >&2; exit 1; }
        # Unix socket only, in DIR: no TCP port to collide with anything.
        cat >> "$DATA/postgresql.conf" <<CONF
# added by faxgate scripts/pg.sh
listen_addresses = ''
unix_socket_directories = '$DIR'
fsync = on
CONF
    fi
    if ! as_pg "$PGBIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
        as_pg "$PGBIN/pg_ctl" -D "$DATA" -l "$DIR/postgresql.log" -w -t 60 start >/dev/null ||
            { tail -n 20 "$DIR/postgresql.log" >&2; exit 1; }
    fi
    if [ "$(as_pg "$PGBIN/psql" -h "$DIR" -U postgres -d postgres -tAc \
            "SELECT 1 FROM pg_database WHERE datname = 'faxgate'")" != 1 ]; then
        as_pg "$PGBIN/createdb" -h "$DIR" -U postgres faxgate
    fi
    dsn
    ;;
stop)
    if [ -f "$DATA/PG_VERSION" ] && as_pg "$PGBIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
        as_pg "$PGBIN/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null
    fi
    ;;
status)
    [ -f "$DATA/PG_VERSION" ] && as_pg "$PGBIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1
    ;;
dsn)
    dsn
    ;;
*)
    usage
    ;;
esac
