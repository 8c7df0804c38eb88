#!/usr/bin/env bash
# Make sure Debian's Chromium is installed for the admin console's browser tests (driven headless by
# Playwright with executable_path; Playwright never downloads a browser of its own). Installs the
# `chromium` package when it is missing and we are root; otherwise says how. Cheap when present.
set -euo pipefail
CHROMIUM=${GURU_MCP_TEST_CHROMIUM:-/usr/bin/chromium}
if [ -x "$CHROMIUM" ]; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "[setup] no Chromium at $CHROMIUM: install it with 'sudo apt-get install -y chromium' (the console's browser tests need it)" >&2
    exit 0
fi
echo "[setup] installing chromium (for the console's browser tests)" >&2
export DEBIAN_FRONTEND=noninteractive
(
    flock 9
    apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }
) 9>/tmp/apt.lock
