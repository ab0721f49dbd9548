#!/usr/bin/env bash
# Service benchmark (issue 13): with a provisioning of 2,000 targets running in the server,
# 32 clients GET an import's status over HTTP, next to the same clients calling a trivial
# handler of the same server (/healthz); then `ferry status <id>` through a running server
# against the standalone CLI, at ~1,000 and ~220,000 records. Prints a table and a JSON line.
# Target: `ferry status` through the server independent of history, <= 20 ms p50 at both sizes.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec cargo run --release -p ferry-workers -- bench --api "$@"
