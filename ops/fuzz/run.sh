#!/usr/bin/env bash
# A coverage-guided fuzzing campaign (AFL++ through cargo-afl, on the stable toolchain) over
# Ferry's readers of untrusted input: packages (seeded with the real packages in
# ../shared/fixtures), provisioning targets CSV, answer templates (TOML), audit bundles and
# the HTTP API's requests (every route, any body).
#
#   ops/fuzz/run.sh [MINUTES]      default 60: the campaign; CI runs a 2-minute smoke
#
# The minutes are shared between the targets in two lanes (one per core), each lane running
# its targets one after another for its share of the minutes. Each input may
# take at most 1 s (-t 1000) and 256 MB (-m 256): slower or larger ones count as hangs or
# crashes. Prints a table and a JSON line of the findings, keeps them under
# target/fuzz/<target>/ (every crash and hang becomes a regression test), and exits 1 if
# there is any.
set -euo pipefail
cd "$(dirname "$0")"
minutes="${1:-60}"
# target:percent of the minutes, per lane.
lanes=("package:50 template:25 targets:25" "http:60 bundle:40")
targets=(package targets template bundle http)

if ! command -v cargo-afl >/dev/null 2>&1; then
  echo "run.sh: installing cargo-afl (first time: a few minutes)" >&2
  cargo install --locked cargo-afl >&2
fi
# Its own build folder: instrumented builds must not evict the workspace's.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/../../target}/fuzz-build"
cargo afl build --release >&2

out="$PWD/../../target/fuzz"
mkdir -p "$out"
fixtures="$PWD/../../../shared/fixtures/real-packages"
seeds() {
  local target=$1 dir="$out/$1/seeds"
  rm -rf "$dir" && mkdir -p "$dir"
  if [[ $target == package ]]; then
    cp "$fixtures"/*.zip "$dir"/
  elif [[ $target == http ]]; then
    # One request per route of the API document; uploads carry the smallest real package.
    "$CARGO_TARGET_DIR/release/http" --seeds "$dir" "$(ls -S "$fixtures"/*.zip | tail -1)"
  else
    cp seeds/"$target"/* "$dir"/
  fi
  echo "$dir"
}

# AFL's own checks of the machine that this sandbox does not pass, and its screen.
export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1
export AFL_NO_AFFINITY=1 AFL_SKIP_CRASHES=0 AFL_AUTORESUME=0
# `-m` caps the address space, which thread stacks reserve (2 MiB each by default) without
# using: smaller ones keep a thread-spawning target (the http one) within it.
export RUST_MIN_STACK=$((512 << 10))
# glibc gives each thread that allocates an arena of its own and reserves 64 MiB of address
# space for each (the http target's reached 1 GB reserved, 69 MB used): under `-m` an
# allocation then fails for want of address space, not of memory, and the target aborts.
# One arena makes the cap a cap on memory.
export MALLOC_ARENA_MAX=1
run() {
  local target=$1 seconds=$(( minutes * 60 * $2 / 100 ))
  (( seconds < 20 )) && seconds=20
  rm -rf "$out/$target/findings"
  cargo afl fuzz -V "$seconds" -t 1000 -m 256 \
    -i "$(seeds "$target")" -o "$out/$target/findings" \
    -- "$CARGO_TARGET_DIR/release/$target" > "$out/$target/afl.log" 2>&1 || true
}

lane() {
  local entry
  for entry in $1; do run "${entry%%:*}" "${entry##*:}"; done
}
for l in "${lanes[@]}"; do lane "$l" & done
wait
# The http target's data directories of processes the fuzzer killed.
rm -rf /dev/shm/ferry-fuzz-http-* "${TMPDIR:-/tmp}"/ferry-fuzz-http-*

found=0
json="{"
printf '%-10s %10s %8s %8s %8s\n' TARGET EXECS PATHS CRASHES HANGS
for target in "${targets[@]}"; do
  stats="$out/$target/findings/default/fuzzer_stats"
  get() { awk -F' *: *' -v k="$1" '$1 == k {print $2}' "$stats" 2>/dev/null || echo 0; }
  execs=$(get execs_done); paths=$(get corpus_count); crashes=$(get saved_crashes); hangs=$(get saved_hangs)
  printf '%-10s %10s %8s %8s %8s\n' "$target" "${execs:-0}" "${paths:-0}" "${crashes:-0}" "${hangs:-0}"
  found=$(( found + ${crashes:-0} + ${hangs:-0} ))
  json+="\"$target\":{\"execs\":${execs:-0},\"paths\":${paths:-0},\"crashes\":${crashes:-0},\"hangs\":${hangs:-0}},"
done
echo "${json%,}, \"minutes\": $minutes}"
if (( found > 0 )); then
  echo "run.sh: $found finding(s); inputs under $out/*/findings/default/{crashes,hangs}" >&2
  exit 1
fi
