# syntax=docker/dockerfile:1
# Ticketing: one image for every service (api, worker, beat, notifier, migrate); the command
# picks the role. `docker compose` (docker-compose.yml) runs the whole system from it.

# --- builder: installs the project and its dependencies into a venv --------------------------
FROM python:3.11-slim-bookworm AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
# README.md is the package's long description: setuptools reads it while building.
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
# The image's own pip builds the project (pyproject.toml, setuptools); no lock file exists yet,
# so the dependencies are the newest versions that pyproject.toml allows at build time.
RUN pip install --no-cache-dir .

# --- runtime: the venv on a slim Python, no compilers, not root ------------------------------
FROM python:3.11-slim-bookworm

# HOST: inside a container the API must listen on every interface, not loopback.
# DATABASE_URL: the SQLite file lives in /app/data, the volume the services share.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOST=0.0.0.0 \
    PORT=8000 \
    DATABASE_URL=sqlite:////app/data/tickets.db

RUN groupadd --system --gid 10001 ticketing \
    && useradd --system --uid 10001 --gid ticketing --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin ticketing

# The same path as in the builder: the venv's scripts point at /opt/venv/bin/python.
COPY --from=builder /opt/venv /opt/venv

WORKDIR /app
# Owned by the service user: a new named volume mounted here takes this owner, so SQLite, the
# beat schedule and the demo keys are writable without root.
RUN mkdir -p /app/data && chown ticketing:ticketing /app/data

# Numeric, so that a runtime checking runAsNonRoot can tell it is not root.
USER 10001:10001

EXPOSE 8000

# For the api (the default command); compose replaces it for the roles without an HTTP port.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '8000'), timeout=4)"]

CMD ["ticketing", "serve"]
