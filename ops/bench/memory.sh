#!/usr/bin/env bash
# Memory under hostile input (issue 14): the peak RSS of `ferry package inspect` and of
# `ferry import` on the worst packages within the codec's limits (and just past them), next
# to the same commands on a tiny package measured in the same run (the idle size).
# Target: no input makes a command exceed 256 MB above its idle size. Prints a table and a
# JSON line. Needs a release build (made here).
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -p ferry-workers >&2
ferry="$PWD/target/release/ferry"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 - "$work" <<'PY'
import json, os, sys, zipfile
work = sys.argv[1]
def connectors(n, deps):
    return {"schema": "1.0", "details": {"displayName": "P"}, "resources": {
        f"c{i:05}": {"name": f"shared_c{i}", "type": "Microsoft.PowerApps/apis",
                      "suggestedCreationType": "Existing", "details": {"displayName": f"C{i}"},
                      "dependsOn": [f"c{j:05}" for j in deps(i)]} for i in range(n)}}
def write(name, manifest, extra=()):
    with zipfile.ZipFile(os.path.join(work, name), "w", zipfile.ZIP_DEFLATED) as z:
        for path, data in extra:
            z.writestr(path, data)
        z.writestr("manifest.json", json.dumps(manifest))
write("tiny.zip", connectors(1, lambda i: []))
# The densest graph within the limits: 2,000 resources, 20,000 edges.
write("graph.zip", connectors(2000, lambda i: range(max(0, i - 10), i)))
# 1,999 entries of 64 KiB of zeros (under the ratio floor): 125 MiB inflated, just in.
zeros = bytes(64 << 10)
write("entries.zip", connectors(1, lambda i: []), [(f"x/{i}", zeros) for i in range(1999)])
# One incompressible entry of 60 MiB.
write("random.zip", connectors(1, lambda i: []), [("x/blob", os.urandom(60 << 20))])
# Past the total: 1,999 entries of 1 MiB of zeros (2 GiB inflated, refused part way).
write("bomb.zip", connectors(1, lambda i: []), [(f"x/{i}", bytes(1 << 20)) for i in range(1999)])
PY
peak() { # peak RSS in MB of a command, whatever its exit
  /usr/bin/time -f '%M' "$@" >/dev/null 2>"$work/time" || true
  echo $(( $(tail -1 "$work/time") / 1024 ))
}
"$ferry" --data-dir "$work/d" init >/dev/null
"$ferry" --data-dir "$work/d" tenant create acme >/dev/null
"$ferry" --data-dir "$work/d" env create acme/prod >/dev/null
idle_inspect=$(peak "$ferry" package inspect "$work/tiny.zip")
idle_import=$(peak "$ferry" --data-dir "$work/d" import "$work/tiny.zip" --into acme/prod)
printf '%-12s %14s %14s %10s\n' PACKAGE "INSPECT MB" "IMPORT MB" "OVER IDLE"
printf '%-12s %14s %14s %10s\n' tiny "$idle_inspect" "$idle_import" 0
json="{\"idle\":{\"inspect_mb\":$idle_inspect,\"import_mb\":$idle_import}"
worst=0
for p in graph entries random bomb; do
  i=$(peak "$ferry" package inspect "$work/$p.zip")
  m=$(peak "$ferry" --data-dir "$work/d" import "$work/$p.zip" --into acme/prod)
  over=$(( i - idle_inspect > m - idle_import ? i - idle_inspect : m - idle_import ))
  (( over > worst )) && worst=$over
  printf '%-12s %14s %14s %10s\n' "$p" "$i" "$m" "$over"
  json+=",\"$p\":{\"inspect_mb\":$i,\"import_mb\":$m,\"over_idle_mb\":$over}"
done
echo "$json,\"worst_over_idle_mb\":$worst,\"target_mb\":256}"
