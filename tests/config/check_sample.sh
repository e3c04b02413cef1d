#!/usr/bin/env bash
# config/vigia.ini.sample stays true: with every commented key switched on
# (and the plugin list filled in), `vigia --check-config` accepts it and warns
# about no unknown key or section. Usage: check_sample.sh VIGIA_BIN PLUGIN_DIR SOURCE_DIR
set -euo pipefail
bin=$1 plugin_dir=$2 src=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# ";key = value" -> "key = value"; prose comments ("; text") stay comments.
sed -E 's/^;([a-z_]+ = )/\1/; s/^;([a-z_]+ =)$/\1/' "$src/config/vigia.ini.sample" \
    | sed -E "s|^plugin_dir = .*|plugin_dir = $plugin_dir|; s|^plugins =.*|plugins = notifications, monitor, broker, rest|; s|^database = .*|database = $tmp/v.db|; s|^log_file =.*|log_file =|" \
    > "$tmp/all.ini"
out=$("$bin" --check-config "$tmp/all.ini" 2>&1) || { echo "$out"; echo "FAIL: the sample with every key set is refused"; exit 1; }
if grep -E "unknown (key|section)" <<< "$out"; then
    echo "FAIL: the sample documents keys nobody reads"; exit 1
fi
n=$(grep -cE '^[a-z_]+ =' "$tmp/all.ini")
echo "OK: $n keys of config/vigia.ini.sample are all known and valid"
# The shipped configs are valid too.
for f in vigia.ini demo.ini; do
    sed -E "s|^plugin_dir = .*|plugin_dir = $plugin_dir|; s|^database = .*|database = $tmp/$f.db|" "$src/config/$f" > "$tmp/$f"
    "$bin" --check-config "$tmp/$f" >/dev/null 2>"$tmp/err" || { cat "$tmp/err"; echo "FAIL: config/$f"; exit 1; }
    if grep -E "unknown (key|section)" "$tmp/err"; then echo "FAIL: config/$f has unknown keys"; exit 1; fi
    echo "OK: config/$f"
done
