#!/usr/bin/env bash
# Crash soak: kills `ferry worker` with SIGKILL N times (default 1000) at random instants while
# it runs imports of a synthetic package (a few hundred resources) into eight environments,
# restarting it each time, and checks every finished workload against an uninterrupted
# reference run: steps recorded exactly once, contents equal, hash chain intact.
# Prints the seed (replay: FERRY_CRASH_SEED=<seed> ops/soak/crash.sh N) and a summary line
#   kills: N, lost: 0, duplicated: 0, mismatched: 0 (<seconds>s)
# Exit code 0 only if nothing was lost, duplicated or mismatched.
set -euo pipefail
cd "$(dirname "$0")/../.."
export FERRY_CRASH_KILLS="${1:-1000}"
export FERRY_CRASH_ENVIRONMENTS="${FERRY_CRASH_ENVIRONMENTS:-8}"
exec cargo test --release -p ferry-workers --test crash -- --ignored --exact soak_random_kills --nocapture
