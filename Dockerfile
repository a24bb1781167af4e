# One image for every HugMood process. The argument names the process (scripts/entrypoint.sh runs
# its Procfile command): gateway, auth, user, mood, hug, notification, social, worker, relay, or
# migrate (python -m shared.migrate upgrade).
#   docker build -t hugmood .
#   docker run --rm -e DATABASE_URL=... hugmood migrate
#   docker run --rm -p 4000:4000 -e REDIS_URL=... hugmood gateway
FROM python:3.11-slim

# BIND_HOST: listen on every interface, not the Procfile's 127.0.0.1 default. /tmp is the one
# writable place at run time (an emptyDir under k8s, whose root filesystem is read-only).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    BIND_HOST=0.0.0.0 \
    PROMETHEUS_MULTIPROC_BASE=/tmp/prometheus

RUN groupadd --system --gid 10001 hugmood \
    && useradd --system --uid 10001 --gid hugmood --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin hugmood

WORKDIR /app

# The dependencies first, pinned with their hashes by the lock file (`make lock` writes it): a source
# change keeps this layer, and every build installs the same packages.
COPY requirements.lock ./
RUN pip install --require-hashes -r requirements.lock

# The project itself, editable, so migrations/ and the Procfile sit beside shared/ as in the repo.
# The source stays root-owned: the process user can read it, not change it.
COPY . .
RUN pip install --no-deps -e . \
    && chmod 0755 scripts/entrypoint.sh \
    && python -m compileall -q gateway services shared migrations

USER 10001:10001
EXPOSE 4000 5001 5002 5003 5004 5005 5006
ENTRYPOINT ["scripts/entrypoint.sh"]
