#!/usr/bin/env bash
# Install Debian's chromium (the headless browser tests/integration/test_report.py opens the report in)
# when missing, as root on Debian. Only the tests need it; `factory report` itself needs no browser.
exec "$(dirname "$0")/ensure-apt.sh" chromium chromium "tests/integration/test_report.py needs it"
