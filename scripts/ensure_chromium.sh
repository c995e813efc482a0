#!/usr/bin/env bash
# Install Debian's chromium for the HTML-report browser test (root on Debian; no-op if present).
set -euo pipefail
command -v chromium >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "[setup] installing chromium (headless browser for the report test)"
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
else
  echo "[setup] chromium not installed and cannot install it here; the browser test will fail" >&2
fi
