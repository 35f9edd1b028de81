#!/bin/sh
# Install the Dovecot IMAP server used by the IMAP integration tests (tests/test_imap.py).
# The tests start their own rootless Dovecot on a free loopback port, so the system
# service must not stay running on port 143. Idempotent and quiet when already installed.
set -eu

DOVECOT=/usr/sbin/dovecot

if [ -x "$DOVECOT" ]; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
else
    if ! command -v sudo >/dev/null 2>&1; then
        echo "ensure-dovecot: $DOVECOT missing and not root (no sudo available)" >&2
        exit 1
    fi
    SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive

# Forbid the package's postinst from starting the system service (policy-rc.d exit 101).
POLICY=/usr/sbin/policy-rc.d
CREATED_POLICY=0
if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
    $SUDO chmod 755 "$POLICY"
    CREATED_POLICY=1
fi
cleanup() {
    if [ "$CREATED_POLICY" -eq 1 ]; then
        $SUDO rm -f "$POLICY"
    fi
}
trap cleanup EXIT

echo "ensure-dovecot: installing dovecot-imapd ..."
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends dovecot-imapd >/dev/null

# Belt and braces: if a service manager started it anyway, stop and disable it.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --now dovecot >/dev/null 2>&1 || true
fi
$SUDO service dovecot stop >/dev/null 2>&1 || true
if command -v update-rc.d >/dev/null 2>&1; then
    $SUDO update-rc.d dovecot disable >/dev/null 2>&1 || true
fi

if [ ! -x "$DOVECOT" ]; then
    echo "ensure-dovecot: installation failed, $DOVECOT not found" >&2
    exit 1
fi
echo "ensure-dovecot: installed $($DOVECOT --version)"
