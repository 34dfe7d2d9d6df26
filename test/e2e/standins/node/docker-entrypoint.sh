#!/bin/sh
# As in the official node image: `docker run IMAGE -e "..."` or `docker run IMAGE script.js` means node.
set -e
if [ "${1#-}" != "$1" ] || ! command -v -- "$1" >/dev/null 2>&1; then
  set -- node "$@"
fi
exec "$@"
