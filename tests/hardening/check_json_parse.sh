#!/bin/sh
# No plugin (nor the core) parses outside input with jansson directly: every
# json_loads/json_loadb/json_loadf must go through host->json_parse or
# vg_json_parse (depth pre-check; a deep body overflows a 100 KiB worker stack).
# A parse of a plugin's own stored text is marked on its line with
# /* json-own-data */. Usage: check_json_parse.sh <source dir>
src=${1:?source dir}
cd "$src" || exit 2

bad=0
hits=$(grep -rnE '\bjson_load[sbf][[:space:]]*\(' core plugins --include='*.c' --include='*.h' |
       grep -v 'json-own-data')
printf '%s\n' "$hits" | while IFS= read -r line; do
    [ -n "$line" ] || continue
    echo "FAIL: $line"
    echo "      parse outside input with host->json_parse() (or vg_json_parse());"
    echo "      mark a parse of the plugin's own stored text with /* json-own-data */"
    exit 1
done || bad=1
[ "$bad" = 0 ] && echo "OK: no direct jansson parse of outside input"
exit $bad
