#!/usr/bin/env bash
# `cmake --install` of every component into a temporary prefix installs
# exactly the product: the server, the four plugins, the SDK (headers, CMake
# package, pkg-config file) and the SDK's test-kit probe; nothing else.
# Usage: check_install_tree.sh BUILD_DIR BINDIR INCLUDEDIR LIBDIR
set -euo pipefail
build=$1 bin=$2 inc=$3 lib=$4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/p" > "$tmp/log" || { cat "$tmp/log"; exit 1; }
(cd "$tmp/p" && find . -type f -o -type l | sed 's|^\./||' | sort) > "$tmp/got"
{
    echo "$bin/vigia"
    for h in bus channel config export http json log plugin tz version vigia workq; do echo "$inc/vigia/$h.h"; done
    # every bus contract header of the source tree
    for c in "$(dirname "$0")"/../../include/vigia/contract/*.h; do echo "$inc/vigia/contract/${c##*/}"; done
    for f in VigiaPlugin vigiaConfig vigiaConfigVersion vigiaTargets; do echo "$lib/cmake/vigia/$f.cmake"; done
    echo "$lib/pkgconfig/vigia.pc"
    for p in broker monitor notifications probe rest watch webhook webpush; do echo "$lib/vigia/plugins/$p.so"; done
    # the email plugin and its templates, installed for operators to copy (docs/email.md)
    echo "$lib/vigia/plugins/email.so"
    # the cluster plugin, built when hiredis is found (docs/cluster.md)
    if [ -f "$build/plugins-out/cluster.so" ]; then echo "$lib/vigia/plugins/cluster.so"; fi
    (cd "$(dirname "$0")/../../plugins/email/templates" && find . -type f | sed 's|^\./|share/vigia/email/templates/|')
} | sort > "$tmp/want"
if ! diff -u "$tmp/want" "$tmp/got"; then
    echo "FAIL: the installed tree differs from the product (- expected, + installed)"
    exit 1
fi
echo "OK: $(wc -l < "$tmp/got") files installed, all of them the product's"
