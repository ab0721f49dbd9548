#!/usr/bin/env bash
# Provisioning benchmark (issue 6): provisions 1,000 and 10,000 targets × a 10-resource package
# through the real path, each next to a baseline measured in the same run (the same decisions
# with their writes done directly: JSON lines + fdatasync, no log, no events, no workers);
# then log appends vs a raw file at the same batch size, and audit verify / projection rebuild
# vs a raw read + SHA-256 of the same log. Prints a table and a JSON line.
# Targets: provisioning ratio >= 0.5; 10,000 targets in <= 60 s with peak RSS <= 500 MB;
# appends ratio >= 0.8; replay/verify ratio >= 0.5.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec cargo run --release -p ferry-workers -- bench "$@"
