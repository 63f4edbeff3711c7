#!/usr/bin/env bash
# Debian's Chromium for the browser tests (pytest -m e2e): /usr/bin/chromium.
#
#   scripts/setup_chromium.sh
#
# The tests drive it through Playwright for Python, which is told to use this binary and never
# downloads a browser of its own. Installs the Debian package `chromium` with apt-get when the
# binary is missing (needs root or sudo, and a reachable Debian mirror). Idempotent: when
# /usr/bin/chromium runs, it only says so and exits.
set -euo pipefail

binary=/usr/bin/chromium
package=chromium

fail() { echo "setup_chromium: $*" >&2; exit 1; }

works() { [[ -x "$binary" ]] && "$binary" --version >/dev/null 2>&1; }

if works; then
    echo "setup_chromium: $("$binary" --version 2>/dev/null | head -n 1) at $binary"
    exit 0
fi

# shellcheck source=scripts/apt_install.sh
source "$(dirname "$0")/apt_install.sh"
apt_install setup_chromium "$package"
works || fail "$binary does not run after installing $package. Fix: check '$binary --version'."
echo "setup_chromium: $("$binary" --version 2>/dev/null | head -n 1) installed at $binary"
