#!/usr/bin/env bash
# ensure-apt.sh COMMAND PACKAGE WHY: install Debian's PACKAGE when COMMAND is missing, as root on Debian;
# elsewhere say what to do (and succeed: WHY says when the package is needed at all).
set -euo pipefail
command_name=$1 package=$2 why=$3
command -v "$command_name" >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null
  exit 0
fi
echo "ensure-apt: $command_name is missing ($why)." >&2
echo "  fix: sudo apt-get install $package" >&2
exit 0
