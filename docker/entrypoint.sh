#!/bin/sh
# Container entrypoint: apply migrations (under a lock: replicas may start together), then serve on 0.0.0.0:8000.
# Any arguments run instead of that, e.g. `docker run IMAGE ptr-trial migrate` or `docker run -it IMAGE sh`.
set -eu

if [ "$#" -gt 0 ]; then
  exec "$@"
fi

# The embedded SQLite database is served by a single worker (`ptr-trial serve` refuses more).
if [ -z "${DATABASE_URL:-}" ]; then
  WORKERS="${WORKERS:-1}"
fi

ptr-trial migrate
exec ptr-trial serve --host 0.0.0.0 --port 8000 --workers "${WORKERS:-2}"
