#!/usr/bin/env bash
# Installs the Debian 12 packages Vigía needs, only those missing, and the
# test-only Node packages from package-lock.json. Usage: install-deps.sh run|test
set -euo pipefail
cd "$(dirname "$0")/.."

run_pkgs=(build-essential cmake pkg-config libcivetweb-dev libwebsockets-dev libsqlite3-dev libcurl4-openssl-dev
          libjansson-dev libltdl-dev libinih-dev libcmocka-dev)
run_pkgs+=(libidn2-dev) # the monitor converts IDN resource hosts itself
run_pkgs+=(libssl-dev) # the watch plugin: RAND_bytes and SHA-256 for its tokens (libcrypto); cluster: rediss://
run_pkgs+=(libhiredis-dev) # the cluster plugin (built only when hiredis is found)
test_pkgs=(valgrind chromium wrk curl procps python3 clang-format)
test_pkgs+=(python3-aiosmtpd openssl) # the email plugin's SMTP tests; cluster_tls_it makes certificates
test_pkgs+=(python3-feedparser)  # the watch plugin's Atom feeds are parsed by it
# The cluster tests start their own redis-server (and, later, nginx) on free ports.
test_pkgs+=(redis-server nginx-light)
# libFuzzer targets (make fuzz, and the last step of make test): clang with its fuzzer runtime.
test_pkgs+=(clang-14 libfuzzer-14-dev libclang-rt-14-dev)
pkgs=("${run_pkgs[@]}")
[ "${1:-run}" = test ] && pkgs+=("${test_pkgs[@]}")
command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
command -v npm >/dev/null 2>&1 || pkgs+=(npm)

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "install-deps: installing missing Debian packages: ${missing[*]}"
    sudo_cmd=()
    [ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    # Installing redis-server or nginx must not start the system services (they
    # would hold 6379/80): policy-rc.d answers "not now" to invoke-rc.d, and only
    # while we install, and only when no policy is in place already.
    policy=/usr/sbin/policy-rc.d
    own_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | "${sudo_cmd[@]}" tee "$policy" >/dev/null
        "${sudo_cmd[@]}" chmod 755 "$policy"
        own_policy=1
    fi
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" \
        || { [ "$own_policy" = 1 ] && "${sudo_cmd[@]}" rm -f "$policy"; exit 1; }
    [ "$own_policy" = 1 ] && "${sudo_cmd[@]}" rm -f "$policy"
    # Under systemd the units are enabled all the same: disable and stop them.
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        for unit in redis-server nginx; do
            "${sudo_cmd[@]}" systemctl disable --now "$unit" >/dev/null 2>&1 || true
        done
    fi
fi

# Node packages (socket.io-client is also served to browsers by the portal).
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error
fi
mkdir -p web/vendor
cp -f node_modules/socket.io-client/dist/socket.io.esm.min.js web/vendor/socket.io.esm.min.js
