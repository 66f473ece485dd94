#!/usr/bin/env bash
# The README's install table: the wheel installed as an operator would (uv tool install --compile-bytecode)
# into a fresh tool directory under /tmp, without and with the sandbox extra; packages, MB, seconds.
#   bash scripts/measure_install.sh          # with uv's cache as it is (warm after scripts/setup.sh)
#   COLD=1 bash scripts/measure_install.sh   # with an empty cache: every wheel downloaded
set -euo pipefail
cd "$(dirname "$0")/.."
UV=${UV:-.tools/uv/bin/uv}
dist=$(mktemp -d /tmp/mlopstui-dist.XXXX)
"$UV" build -q --wheel -o "$dist" .
whl=$(ls "$dist"/mlopstui-*.whl)
for extra in "" sandbox; do
  t=$(mktemp -d /tmp/mlopstui-tool.XXXX)
  spec=$whl; [ -n "$extra" ] && spec="mlopstui[$extra] @ file://$whl"
  cache=(); [ -n "${COLD:-}" ] && cache=(--cache-dir "$t/cache")
  s=$(date +%s.%N)
  UV_TOOL_DIR=$t/tools UV_TOOL_BIN_DIR=$t/bin "$UV" tool install -q "${cache[@]}" --python 3.11 --compile-bytecode "$spec"
  e=$(date +%s.%N)
  n=$(ls -d "$t"/tools/mlopstui/lib/python3*/site-packages/*.dist-info | wc -l)
  mb=$(du -sm "$t/tools/mlopstui" | cut -f1)
  printf '%-8s packages %4d   %5d MB   %6.1f s\n' "${extra:-core}" "$n" "$mb" "$(echo "$e - $s" | bc)"
  rm -rf "$t"
done
rm -rf "$dist"
