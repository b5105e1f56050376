#!/bin/bash
# The benchmark on a lent GPU machine (see ../shared/device/README.md). Runs there from the project root, e.g.
# through the device tool:  command "bash scripts/bench-device.sh"  with carry ["dist/bench", ".gpu"].
#
# Before, on this machine (once):
#   ../shared/device/prepare.sh && cp ../shared/device/on-gpu.sh .gpu/    # Node, Vulkan loader, Dawn -> .gpu/
#   npx vite build --config vite.bench.config.ts                           # -> dist/bench/bench.mjs
#
# Writes $OUT/bench.json, $OUT/bench.md (rewritten after every model, so a crash keeps what was measured),
# $OUT/stdout.txt, $OUT/stderr.txt, $OUT/gpu.txt, and prints the report. Extra arguments go to the benchmark
# (default: --runs 20, models vgg16 and resnet50 plus the built-ins whose files are in public/models).
set -uo pipefail
OUT=${OUT:-/tmp/lrp-lens-bench}
mkdir -p "$OUT"
if [ ! -f dist/bench/bench.mjs ]; then
  echo "bench-device: dist/bench/bench.mjs is missing: build it (npx vite build --config vite.bench.config.ts) and carry dist/bench" >&2
  exit 1
fi
if [ ! -f .gpu/on-gpu.sh ]; then
  echo "bench-device: .gpu/on-gpu.sh is missing: run ../shared/device/prepare.sh, cp ../shared/device/on-gpu.sh .gpu/, and carry .gpu" >&2
  exit 1
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader > "$OUT/gpu.txt" 2>/dev/null || true
[ -s "$OUT/gpu.txt" ] && echo "GPU: $(cat "$OUT/gpu.txt")"

run() {
  # --no-concurrent-recompilation: the V8 flag every Dawn process gets here (scripts/dawn-env.mjs DAWN_NODE_FLAGS).
  timeout "${BENCH_TIMEOUT:-500}" bash .gpu/on-gpu.sh --no-concurrent-recompilation dist/bench/bench.mjs \
    --json "$OUT/bench.json" --md "$OUT/bench.md" --runs 20 "$@" > "$OUT/stdout.txt" 2> "$OUT/stderr.txt"
}

rm -f "$OUT/bench.json" "$OUT/bench.md"
run "$@"
rc=$?
if [ $rc -ne 0 ] && [ ! -s "$OUT/bench.json" ]; then
  # The README's advice: rerun once before believing a failure.
  echo "bench-device: the benchmark failed (exit $rc) before any result; once more" >&2
  tail -n 20 "$OUT/stderr.txt" >&2
  mv "$OUT/stderr.txt" "$OUT/stderr.first.txt"
  run "$@"
  rc=$?
fi
if [ -s "$OUT/bench.md" ]; then
  cat "$OUT/bench.md"
else
  cat "$OUT/stdout.txt"
fi
if [ $rc -ne 0 ]; then
  echo "bench-device: exit $rc; last lines of stderr:" >&2
  tail -n 30 "$OUT/stderr.txt" >&2
fi
exit $rc
