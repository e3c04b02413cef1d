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
    | sed -E "s|^plugin_dir = .*|plugin_dir = $plugin_dir|; s|^plugins =.*|plugins = notifications, monitor, broker, rest, email, watch, webpush, webhook|; s|^database = .*|database = $tmp/v.db|; s|^log_file =.*|log_file =|" \
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
# --strict: a misspelled key in a plugin's section is an error (exit 1),
# printed once; without --strict it is a warning (exit 0).
{ cat "$tmp/all.ini"; printf '[rest]\ntiemout = 5\n'; } > "$tmp/typo.ini"
"$bin" --check-config "$tmp/typo.ini" > "$tmp/lax" 2>&1 || { cat "$tmp/lax"; echo "FAIL: a typo without --strict must only warn"; exit 1; }
if "$bin" --check-config "$tmp/typo.ini" --strict > "$tmp/strict" 2>&1; then
    cat "$tmp/strict"; echo "FAIL: --strict accepted an unknown key"; exit 1
fi
for f in lax strict; do
    n=$(grep -c "\[rest\] tiemout: unknown key" "$tmp/$f" || true)
    [ "$n" = 1 ] || { cat "$tmp/$f"; echo "FAIL: the unknown key is reported $n times ($f)"; exit 1; }
done
grep -q "1 unknown key or section (listed above) is an error with --strict" "$tmp/strict" \
    || { cat "$tmp/strict"; echo "FAIL: no --strict error line"; exit 1; }
"$bin" --check-config "$tmp/all.ini" --strict >/dev/null 2>&1 || { echo "FAIL: --strict refuses the sample"; exit 1; }
echo "OK: --strict makes an unknown key an error"
