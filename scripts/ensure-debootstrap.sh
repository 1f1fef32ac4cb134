#!/usr/bin/env bash
# Install debootstrap (needed only to build base images offline) when missing, as root on Debian.
set -euo pipefail
command -v debootstrap >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  exit 0
fi
echo "ensure-debootstrap: debootstrap is missing (only needed when no registry is reachable)." >&2
echo "  fix: sudo apt-get install debootstrap" >&2
exit 0
