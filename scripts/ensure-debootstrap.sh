#!/usr/bin/env bash
# Install debootstrap (needed only to build base images offline) when missing, as root on Debian.
exec "$(dirname "$0")/ensure-apt.sh" debootstrap debootstrap "only needed when no registry is reachable"
