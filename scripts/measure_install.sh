#!/usr/bin/env bash
# The README's install table: the wheel installed as an operator would (uv tool install --compile-bytecode)
# into a fresh tool directory under /tmp: the core, the core without mypy (--excludes, the README's
# lean command) and with the sandbox extra; packages, MB, seconds.
#   bash scripts/measure_install.sh          # with uv's cache as it is (warm after scripts/setup.sh)
#   COLD=1 bash scripts/measure_install.sh   # with an empty cache in a temp dir: every wheel downloaded
#                                            # (the shared cache is not touched)
set -euo pipefail
cd "$(dirname "$0")/.."
UV=${UV:-.tools/uv/bin/uv}
dist=$(mktemp -d /tmp/mlopstui-dist.XXXX); t=""
trap 'rm -rf "$dist" ${t:+"$t"}' EXIT  # also when a step fails: a tool directory is 0.9-1.5 GB
"$UV" build -q --wheel -o "$dist" .
whl=$(ls "$dist"/mlopstui-*.whl)
printf 'mypy\n' > "$dist/excludes.txt"  # Feast's SQLAlchemy[mypy]: a type checker, never imported at run time
for row in core lean sandbox; do
  t=$(mktemp -d /tmp/mlopstui-tool.XXXX)
  spec=$whl; args=()
  [ "$row" = sandbox ] && spec="mlopstui[sandbox] @ file://$whl"
  [ "$row" = lean ] && args=(--excludes "$dist/excludes.txt")
  [ -n "${COLD:-}" ] && args+=(--cache-dir "$t/cache")
  s=$(date +%s.%N)
  UV_TOOL_DIR=$t/tools UV_TOOL_BIN_DIR=$t/bin "$UV" tool install -q "${args[@]}" --python 3.11 --compile-bytecode "$spec"
  e=$(date +%s.%N)
  n=$(ls -d "$t"/tools/mlopstui/lib/python3*/site-packages/*.dist-info | wc -l)
  mb=$(du -sm "$t/tools/mlopstui" | cut -f1)
  printf '%-8s packages %4d   %5d MB   %6.1f s\n' "$row" "$n" "$mb" "$(echo "$e - $s" | bc)"
  if [ -n "${SIZES:-}" ]; then  # the largest packages of the row, MB with their bytecode
    du -sm "$t"/tools/mlopstui/lib/python3*/site-packages/* | sort -rn | head -n "$SIZES" | sed 's#	.*/site-packages/#  #;s#^#    #' || true  # (head may close the pipe early)
  fi
  rm -rf "$t"; t=""
done
