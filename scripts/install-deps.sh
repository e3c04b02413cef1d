#!/usr/bin/env bash
# Installs the Debian 12 packages Vigía needs, only those missing, and the
# test-only Node packages from package-lock.json. Usage: install-deps.sh run|test
set -euo pipefail
cd "$(dirname "$0")/.."

run_pkgs=(build-essential cmake pkg-config libcivetweb-dev libwebsockets-dev libsqlite3-dev libcurl4-openssl-dev
          libjansson-dev libltdl-dev libinih-dev libcmocka-dev)
run_pkgs+=(libidn2-dev) # the monitor converts IDN resource hosts itself
run_pkgs+=(libssl-dev) # the watch plugin: RAND_bytes and SHA-256 for its tokens (libcrypto)
test_pkgs=(valgrind chromium wrk curl procps python3 clang-format)
test_pkgs+=(python3-aiosmtpd openssl) # the email plugin's SMTP tests
test_pkgs+=(python3-feedparser)  # the watch plugin's Atom feeds are parsed by it
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
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Node packages (socket.io-client is also served to browsers by the portal).
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error
fi
mkdir -p web/vendor
cp -f node_modules/socket.io-client/dist/socket.io.esm.min.js web/vendor/socket.io.esm.min.js
