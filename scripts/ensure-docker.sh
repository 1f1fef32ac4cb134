#!/usr/bin/env bash
# Make a Docker engine answer, or say exactly what the user must do. Used by `make demo`, `make test`
# and CI. Respects DOCKER_HOST: a remote engine that answers is used as is.
set -euo pipefail

answers() { docker info >/dev/null 2>&1; }

if command -v docker >/dev/null 2>&1 && answers; then
  exit 0
fi
if [ -n "${DOCKER_HOST:-}" ]; then
  echo "ensure-docker: DOCKER_HOST=${DOCKER_HOST} does not answer." >&2
  echo "  fix: start that engine, or unset DOCKER_HOST to use a local one." >&2
  exit 1
fi
if [ "$(id -u)" != "0" ]; then
  echo "ensure-docker: no Docker engine answers and we are not root." >&2
  echo "  fix: run 'sudo scripts/ensure-docker.sh', or install Docker Engine and add yourself to the docker group." >&2
  exit 1
fi
if [ ! -f /etc/debian_version ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-docker: not a Debian-like system; cannot install docker.io automatically." >&2
  echo "  fix: install Docker Engine (https://docs.docker.com/engine/install/) and start it." >&2
  exit 1
fi
if ! command -v dockerd >/dev/null 2>&1 || ! [ -x /usr/bin/docker ]; then
  echo "ensure-docker: installing docker.io from apt ..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
fi
if ! pgrep -x dockerd >/dev/null 2>&1; then
  echo "ensure-docker: starting dockerd (log: /var/log/factory-dockerd.log) ..."
  nohup dockerd >>/var/log/factory-dockerd.log 2>&1 &
  # Who started this engine: the fault suite restarts only an engine this script started.
  echo $! >/run/issue-factory-dockerd.pid
fi
for _ in $(seq 1 60); do
  if answers; then
    echo "ensure-docker: engine $(docker version --format '{{.Server.Version}}') is up"
    exit 0
  fi
  sleep 1
done
echo "ensure-docker: dockerd did not answer within 60 s; see /var/log/factory-dockerd.log" >&2
exit 1
