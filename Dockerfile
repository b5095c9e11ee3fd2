# syntax=docker/dockerfile:1
# PTR Trial API image: a wheel built from pyproject.toml, installed into a venv, copied alone
# into a slim runtime that runs as a non-root user.
#
#   docker build -t ptr-trial-api .
#   docker run -p 8000:8000 -e PTR_JWT_SECRET=<at least 32 characters> \
#              -e PTR_PUBLIC_BASE_URL=https://trial.example.org \
#              -e DATABASE_URL=postgresql://user:pass@db/ptr ptr-trial-api
#
# Without DATABASE_URL the service uses an embedded SQLite file in /var/lib/ptr-trial (a volume)
# and runs one worker. Production is the default: the development token secret is refused, so set
# PTR_JWT_SECRET (or PTR_JWT_JWKS_URL) and an https:// PTR_PUBLIC_BASE_URL, or the container exits
# at start. Behind a reverse proxy, set PTR_FORWARDED_ALLOW_IPS to its address.

ARG PYTHON_IMAGE=python:3.11-slim

# ---- builder: wheel + venv ------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
# .dockerignore lets in only pyproject.toml, README.md, server/, migrations/, clients/diary/ and the
# trusted-documents manifest.
COPY . .

# The wheel carries both packages, `server` and `migrations` (alembic env and versions).
RUN python -m pip wheel --no-deps --wheel-dir /wheels . \
 && python -m venv /opt/venv \
 && /opt/venv/bin/pip install /wheels/*.whl \
 && /opt/venv/bin/python -c "import migrations, server.cli; from server.db.migrate import head_revision; assert head_revision()"

# ---- runtime: only the venv -----------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PTR_ENVIRONMENT=production \
    PTR_DATA_DIR=/var/lib/ptr-trial

RUN groupadd --system --gid 10001 ptr \
 && useradd --system --uid 10001 --gid ptr --home-dir /app --no-create-home --shell /usr/sbin/nologin ptr \
 && mkdir -p /app /var/lib/ptr-trial \
 && chown ptr:ptr /app /var/lib/ptr-trial

COPY --from=builder /opt/venv /opt/venv
# The patients' diary app: static files served at /diary (PTR_DIARY_DIR).
COPY clients/diary /opt/ptr-diary
ENV PTR_DIARY_DIR=/opt/ptr-diary
# The clients' trusted documents (`ptr-trial trusted-documents`), for PTR_TRUSTED_DOCUMENTS_ONLY.
COPY clients/trusted-documents.json /opt/ptr-trusted-documents.json
ENV PTR_TRUSTED_DOCUMENTS_FILE=/opt/ptr-trusted-documents.json
COPY docker/entrypoint.sh /usr/local/bin/ptr-entrypoint
RUN chmod 0755 /usr/local/bin/ptr-entrypoint

WORKDIR /app
USER ptr:ptr
VOLUME ["/var/lib/ptr-trial"]
EXPOSE 8000

# Liveness only (/readyz checks the database and migrations); slim images have no curl.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"]

ENTRYPOINT ["/usr/local/bin/ptr-entrypoint"]
