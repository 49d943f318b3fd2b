#!/usr/bin/env bash
# Installs what the build ("deps.sh build", for make demo) or the build and
# the tests ("deps.sh test", the default) need on a fresh Debian 12
# machine, and only what is missing. Run as root (CI and the dev machines are).
set -euo pipefail
export PATH="$PATH:/usr/local/go/bin"

command -v go >/dev/null || { echo "deps: Go is not installed (expected at /usr/local/go): install Go 1.26" >&2; exit 1; }
command -v gcc >/dev/null || NEED_GCC=1

# Debian packages the build and the suite need: gcc for cgo (PKCS#11,
# PC/SC) and -race; libpcsclite-dev to build against pcsc-lite; pcscd with
# the vsmartcard vpcd driver for the PC/SC tests; SoftHSM2; OpenSC
# (pkcs11-tool, openpgp-tool, opensc-tool) and GnuPG's scdaemon as
# independent clients of the emulated cards; Chromium and poppler-utils to
# print the ceremony report to PDF and read it back.
PACKAGES=(libpcsclite-dev)
if [ "${1:-test}" = test ]; then
	PACKAGES+=(pcscd vsmartcard-vpcd softhsm2 opensc gnupg scdaemon chromium poppler-utils)
fi
[ "${NEED_GCC:-0}" = 1 ] && PACKAGES+=(gcc libc6-dev)

missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
go version
