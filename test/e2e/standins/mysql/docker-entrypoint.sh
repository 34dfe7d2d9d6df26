#!/bin/bash
# Entrypoint of the MariaDB stand-in for the official mysql image. Honours MYSQL_ROOT_PASSWORD (or
# MYSQL_ALLOW_EMPTY_PASSWORD / MYSQL_RANDOM_ROOT_PASSWORD), MYSQL_DATABASE, MYSQL_USER, MYSQL_PASSWORD and
# their *_FILE forms; initialises /var/lib/mysql only when it is empty, with networking off, then execs the
# server as PID 1 so `docker stop` (SIGTERM) shuts it down cleanly.
set -Eeuo pipefail

datadir=/var/lib/mysql
socket=/run/mysqld/mysqld.sock
log() { echo "[standin-entrypoint] $*" >&2; }

# As in the official image, `docker run mysql --flag ...` means `mysqld --flag ...`.
if [ "${1:0:1}" = '-' ]; then set -- mysqld "$@"; fi
if [ "$1" != mysqld ] && [ "$1" != mariadbd ]; then exec "$@"; fi
shift

# Long options written for MySQL that MariaDB lacks (e.g. --default-authentication-plugin) would stop
# the server; the --loose- prefix makes MariaDB warn and go on, while known options still apply.
server_args=()
for a in "$@"; do
  case "$a" in
    --loose-*|--defaults-file=*|--defaults-extra-file=*) server_args+=("$a") ;;
    --*) server_args+=("--loose-${a#--}") ;;
    *) server_args+=("$a") ;;
  esac
done

for v in MYSQL_ROOT_PASSWORD MYSQL_DATABASE MYSQL_USER MYSQL_PASSWORD; do
  f="${v}_FILE"
  if [ -n "${!f:-}" ]; then export "$v=$(<"${!f}")"; fi
done

sql_string() { local s=${1//\\/\\\\}; s=${s//\'/\\\'}; printf "'%s'" "$s"; }
sql_name() { printf '`%s`' "${1//\`/\`\`}"; }

initialise() {
  if [ -z "${MYSQL_ROOT_PASSWORD:-}" ] && [ -z "${MYSQL_ALLOW_EMPTY_PASSWORD:-}" ] && [ -z "${MYSQL_RANDOM_ROOT_PASSWORD:-}" ]; then
    log "error: database is uninitialized and password option is not specified"
    log "  You need to specify one of MYSQL_ROOT_PASSWORD, MYSQL_ALLOW_EMPTY_PASSWORD and MYSQL_RANDOM_ROOT_PASSWORD"
    exit 1
  fi
  if [ "${MYSQL_USER:-}" = root ]; then
    log "error: MYSQL_USER=root: MYSQL_USER and MYSQL_PASSWORD are for a regular user, not root"
    exit 1
  fi
  if [ -n "${MYSQL_RANDOM_ROOT_PASSWORD:-}" ] && [ -z "${MYSQL_ROOT_PASSWORD:-}" ]; then
    MYSQL_ROOT_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
    log "GENERATED ROOT PASSWORD: $MYSQL_ROOT_PASSWORD"
  fi
  local root_pw; root_pw=$(sql_string "${MYSQL_ROOT_PASSWORD:-}")

  log "initialising $datadir"
  mariadb-install-db --user=mysql --datadir="$datadir" --skip-test-db --skip-name-resolve >/dev/null
  mariadbd --user=mysql --datadir="$datadir" --skip-networking --socket="$socket" "${server_args[@]}" &
  local pid=$!
  for _ in $(seq 60); do
    if mariadb-admin --socket="$socket" ping --silent >/dev/null 2>&1; then break; fi
    kill -0 "$pid" 2>/dev/null || { log "error: the temporary server died"; exit 1; }
    sleep 1
  done
  local client=(mariadb --protocol=socket --socket="$socket" -uroot)
  {
    # The official image keeps only root; install-db may add anonymous and host-named accounts.
    echo "DELETE FROM mysql.global_priv WHERE User='' OR (User='root' AND Host NOT IN ('localhost'));"
    echo "DELETE FROM mysql.proxies_priv WHERE Host NOT IN ('localhost');"
    echo "FLUSH PRIVILEGES;"
    echo "CREATE USER 'root'@'%' IDENTIFIED BY $root_pw;"
    echo "GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;"
    if [ -n "${MYSQL_DATABASE:-}" ]; then
      echo "CREATE DATABASE IF NOT EXISTS $(sql_name "$MYSQL_DATABASE");"
    fi
    if [ -n "${MYSQL_USER:-}" ] && [ -n "${MYSQL_PASSWORD:-}" ]; then
      echo "CREATE USER $(sql_string "$MYSQL_USER")@'%' IDENTIFIED BY $(sql_string "$MYSQL_PASSWORD");"
      if [ -n "${MYSQL_DATABASE:-}" ]; then
        echo "GRANT ALL ON $(sql_name "$MYSQL_DATABASE").* TO $(sql_string "$MYSQL_USER")@'%';"
      fi
    fi
  } | "${client[@]}"

  local f
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sh) log "running $f"; . "$f" ;;
      *.sql) log "running $f"; "${client[@]}" ${MYSQL_DATABASE:+--database="$MYSQL_DATABASE"} < "$f" ;;
      *) ;;
    esac
  done

  # Last, because it ends root's password-less socket login that the steps above use.
  echo "ALTER USER 'root'@'localhost' IDENTIFIED BY $root_pw;" | "${client[@]}"
  kill "$pid"
  wait "$pid"
  log "initialisation done"
}

install -d -o mysql -g mysql /run/mysqld
# A bind-mounted host directory arrives owned by root.
chown mysql:mysql "$datadir"
if [ ! -d "$datadir/mysql" ]; then initialise; fi
exec mariadbd --user=mysql "${server_args[@]}"
