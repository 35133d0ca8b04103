#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for idem's tests, for CI and for developers.
#
#   .ci/postgres.sh start [main|faults]    # install PostgreSQL if missing, initdb, start; prints exports
#   .ci/postgres.sh env [main|faults]      # print the export lines of the running cluster
#   .ci/postgres.sh restart [main|faults]  # pg_ctl restart (the restart test uses it on "faults")
#   .ci/postgres.sh stop [main|faults]     # stop the cluster and delete its folder
#
#   eval "$(.ci/postgres.sh start)" && eval "$(.ci/postgres.sh start faults)"
#   go test -race ./eventstore/postgres/...
#
# "main" is the cluster every test uses (IDEM_POSTGRES_URL); "faults" is a second one that only
# the restart test uses and restarts (IDEM_POSTGRES_FAULTS_URL), so that no other test sees it go
# down. A cluster lives in $IDEM_POSTGRES_HOME, or $IDEM_POSTGRES_FAULTS_HOME (default
# /tmp/idem-postgres-<cluster>-<uid>): data/, the unix socket in run/, the server log, an env file. It is initialised by an unprivileged user (the
# Debian package's "postgres" when run as root), listens on 127.0.0.1 on a free port and on the
# socket, and keeps fsync and synchronous_commit on: what an acknowledged append survives is
# measured as in production. It never touches another cluster (the machine's own on :5432 included).
#
# Exported: IDEM_POSTGRES_URL (database "idem", user "postgres", trust auth) and IDEM_POSTGRES_HOME
# (the cluster's folder); for "faults", IDEM_POSTGRES_FAULTS_URL and IDEM_POSTGRES_FAULTS_HOME (the
# restart test restarts only the cluster named there, and only if its env file names that URL).
set -euo pipefail

# Two clusters can run side by side: "main", for every test, and "faults", which only the
# restart test uses (it restarts it while the other packages' tests keep using main).
cluster="${2:-main}"
case "$cluster" in
main) prefix=IDEM_POSTGRES ;;
faults) prefix=IDEM_POSTGRES_FAULTS ;;
*)
  echo "postgres.sh: unknown cluster $cluster (main or faults)" >&2
  exit 2
  ;;
esac
home_var="${prefix}_HOME"
home="${!home_var:-${TMPDIR:-/tmp}/idem-postgres-$cluster-$(id -u)}"
data="$home/data"
db=idem

log() { echo "postgres.sh: $*" >&2; }

# bindir finds PostgreSQL's server programs, installing Debian's package when they are missing.
bindir() {
  local dir
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  if [ -z "$dir" ] && command -v pg_config >/dev/null 2>&1; then
    dir="$(pg_config --bindir)"
  fi
  if [ -z "$dir" ] || [ ! -x "$dir/initdb" ]; then
    if [ "$(id -u)" != 0 ]; then
      log "PostgreSQL's server is not installed; run as root, or: apt-get install postgresql"
      exit 1
    fi
    log "installing PostgreSQL from Debian's packages"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
    dir="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
  fi
  echo "$dir"
}

# as_owner runs a command as the cluster's owner: the caller, or "postgres" when the caller is
# root (the server refuses to run as root).
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

free_port() {
  local port
  for _ in $(seq 1 50); do
    port=$((20000 + RANDOM % 30000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
  log "no free port found"
  exit 1
}

running() {
  [ -f "$data/PG_VERSION" ] && as_owner "$(bindir)/pg_ctl" -D "$data" status >/dev/null 2>&1
}

print_env() {
  if [ ! -f "$home/env" ]; then
    log "no cluster in $home (start it first)"
    exit 1
  fi
  cat "$home/env"
}

start() {
  local bin port
  bin="$(bindir)"
  if running; then
    print_env
    return
  fi
  mkdir -p "$home"
  if [ "$(id -u)" = 0 ]; then
    if ! id postgres >/dev/null 2>&1; then
      log "user postgres missing (the postgresql package creates it)"
      exit 1
    fi
    chown postgres: "$home"
  fi
  chmod 700 "$home"
  if [ ! -f "$data/PG_VERSION" ]; then
    as_owner mkdir -p "$data" "$home/run"
    as_owner "$bin/initdb" -D "$data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-instructions >"$home/initdb.log" 2>&1 ||
      { cat "$home/initdb.log" >&2; exit 1; }
  fi
  port="$(free_port)"
  # Settings go into the cluster's own configuration, so that pg_ctl restart keeps them.
  as_owner tee -a "$data/postgresql.conf" >/dev/null <<EOF
# idem .ci/postgres.sh
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$home/run'
fsync = on
synchronous_commit = on
full_page_writes = on
max_connections = 300
shared_buffers = 128MB
log_min_messages = warning
EOF
  as_owner "$bin/pg_ctl" -D "$data" -l "$home/server.log" -w -t 120 start >&2 ||
    { tail -n 50 "$home/server.log" >&2; exit 1; }
  as_owner "$bin/psql" -h "$home/run" -p "$port" -U postgres -d postgres -qAtc "CREATE DATABASE $db" >&2
  cat >"$home/env" <<EOF
export ${prefix}_URL='postgres://postgres@127.0.0.1:$port/$db?sslmode=disable'
export ${prefix}_HOME='$home'
EOF
  chmod 644 "$home/env"
  log "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port, data in $data"
  print_env
}

restart() {
  if ! running; then
    log "no running cluster in $home"
    exit 1
  fi
  as_owner "$(bindir)/pg_ctl" -D "$data" -l "$home/server.log" -m fast -w -t 120 restart >&2
}

stop() {
  if [ -f "$data/PG_VERSION" ]; then
    as_owner "$(bindir)/pg_ctl" -D "$data" -m fast -w -t 120 stop >&2 2>/dev/null || true
  fi
  rm -rf "$home"
}

case "${1:-}" in
start) start ;;
env) print_env ;;
restart) restart ;;
stop) stop ;;
*)
  echo "usage: $0 start|env|restart|stop [main|faults]" >&2
  exit 2
  ;;
esac
