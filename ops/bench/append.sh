#!/usr/bin/env bash
# Durable-append benchmark: Ferry's log vs a raw file (write + fdatasync at the same batch
# size), measured in the same run. criterion prints its distributions; the last lines are the
# paired comparison (Ferry and raw alternated round by round) as a table and a JSON line.
# Targets (issue 2): ratio >= 0.9 with one writer, >= 0.8 with 64 writers and group commit.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec cargo bench -p ferry-engine --bench append "$@"
