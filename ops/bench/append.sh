#!/usr/bin/env bash
# Durable-append benchmark: Ferry's log vs a raw file (write + fdatasync at the same batch
# size), measured in the same run. Prints a table and a JSON line with the ratios
# (ratio = raw time / Ferry time per record; 1.0 means Ferry is as fast as the raw file).
# Targets (issue 2): >= 0.9 with one writer, >= 0.8 with 64 writers and group commit.
set -euo pipefail
cd "$(dirname "$0")/../.."

cargo bench -p ferry-engine --bench append "$@" >&2

python3 - <<'PY'
import json, pathlib
root = pathlib.Path("target/criterion")
def mean_ns(group, name):
    path = root / group / name / "new" / "estimates.json"
    return json.loads(path.read_text())["mean"]["point_estimate"]
batch_file = next(pathlib.Path("target").glob("**/bench-append/batch.txt"), None)
batch = int(batch_file.read_text()) if batch_file else None
rows = []
for label, group, target in [("1 writer", "append_1-writer", 0.9), ("64 writers", "append_64-writers", 0.8)]:
    ferry, raw = mean_ns(group, "ferry"), mean_ns(group, "raw")
    rows.append({"case": label, "ferry_us": round(ferry / 1000, 2), "raw_us": round(raw / 1000, 2),
                 "ratio": round(raw / ferry, 3), "target": target, "met": raw / ferry >= target})
print(f"{'case':<12}{'ferry µs/rec':>14}{'raw µs/rec':>12}{'ratio':>8}{'target':>8}  met")
for r in rows:
    print(f"{r['case']:<12}{r['ferry_us']:>14}{r['raw_us']:>12}{r['ratio']:>8}{r['target']:>8}  {'yes' if r['met'] else 'NO'}")
print(json.dumps({"benchmark": "append", "group_commit_mean_batch": batch, "results": rows}))
PY
