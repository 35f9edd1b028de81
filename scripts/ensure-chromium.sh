#!/bin/sh
# Install Debian's Chromium for the browser tests (tests/test_web_browser.py drive it with Playwright,
# launched with executable_path=/usr/bin/chromium; `playwright install` is never used, nothing is
# downloaded from Playwright's CDN). Idempotent and quiet when already installed.
set -eu

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
else
    if ! command -v sudo >/dev/null 2>&1; then
        echo "ensure-chromium: $CHROMIUM missing and not root (no sudo available)" >&2
        exit 1
    fi
    SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
echo "ensure-chromium: installing chromium ..."
# try with the current package lists first; refresh them once if that fails
if ! $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1; then
    $SUDO apt-get update -qq >/dev/null
    $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi

if [ ! -x "$CHROMIUM" ]; then
    echo "ensure-chromium: installation failed, $CHROMIUM not found" >&2
    exit 1
fi
echo "ensure-chromium: installed $($CHROMIUM --version 2>/dev/null || echo chromium)"
