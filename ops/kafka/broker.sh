#!/usr/bin/env bash
# A throwaway Kafka-protocol broker for Ferry's tests: `start` | `stop` | `address`.
#
#   start    installs tansu if missing, starts one broker on a free 127.0.0.1 port with
#            in-memory storage, waits until it answers the Kafka protocol (ApiVersions), and
#            prints only its address (127.0.0.1:PORT) on stdout. If the broker of this state
#            directory is already up and answering, prints its address and starts nothing.
#   stop     stops the recorded broker (if alive) and removes its state; idempotent.
#   address  prints the running broker's address, or exits 1.
#
# State (pid, address, broker.log) lives in ${FERRY_BROKER_DIR:-${TMPDIR:-/tmp}/ferry-tansu};
# broker.log is kept after `stop` for post-mortems. Progress messages go to stderr.
#
# Why tansu: Apache Kafka (a JVM distribution) cannot be installed on the project's machines,
# while tansu is a single Rust binary from crates.io that speaks the Kafka protocol. tansu 0.6
# has no EndTxn, so Ferry never relies on Kafka transactions (see RUNBOOK.md beside this file).
# Operators run Ferry on real Apache Kafka with compose.yaml.
set -euo pipefail
shopt -s inherit_errexit

readonly TANSU_VERSION=0.6.0
readonly STARTUP_TIMEOUT_SECS=30
readonly STATE_DIR="${FERRY_BROKER_DIR:-${TMPDIR:-/tmp}/ferry-tansu}"
readonly PID_FILE="$STATE_DIR/pid"
readonly ADDRESS_FILE="$STATE_DIR/address"
readonly LOG_FILE="$STATE_DIR/broker.log"

say() { printf 'broker.sh: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# Answers with the path of the tansu binary, installing it first if needed.
tansu_binary() {
  local cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
  if command -v tansu >/dev/null 2>&1; then
    command -v tansu
    return
  fi
  if [[ -x "$cargo_bin/tansu" ]]; then
    printf '%s\n' "$cargo_bin/tansu"
    return
  fi
  # A persistent target dir lets an interrupted build resume instead of starting over.
  local target="${XDG_CACHE_HOME:-$HOME/.cache}/tansu-target"
  say "tansu not found: installing tansu $TANSU_VERSION with cargo (takes about 20 minutes the first time; build dir $target)"
  CARGO_TARGET_DIR="$target" cargo install tansu --locked --version "$TANSU_VERSION" \
    --features dynostore >&2
  [[ -x "$cargo_bin/tansu" ]] || die "cargo install finished but $cargo_bin/tansu is missing"
  printf '%s\n' "$cargo_bin/tansu"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Exit 0 if HOST:PORT answers an ApiVersions v0 request with a well-formed, error-free response.
probe() {
  python3 - "$1" <<'PY'
import socket, struct, sys

host, port = sys.argv[1].rsplit(":", 1)
client_id = b"ferry-probe"
correlation_id = 0x5E77
# Request header v1 (api_key 18 = ApiVersions, version 0, correlation id, client id); empty body.
request = struct.pack(">hhih", 18, 0, correlation_id, len(client_id)) + client_id
try:
    with socket.create_connection((host, int(port)), timeout=1) as s:
        s.sendall(struct.pack(">i", len(request)) + request)
        def read(n):
            data = b""
            while len(data) < n:
                chunk = s.recv(n - len(data))
                if not chunk:
                    raise EOFError
                data += chunk
            return data
        (size,) = struct.unpack(">i", read(4))
        if not 10 <= size <= 1 << 20:
            sys.exit(1)
        body = read(size)
except (OSError, EOFError):
    sys.exit(1)
# Response header v0 (correlation id), then error_code and an array of (key, min, max).
got_id, error_code, count = struct.unpack(">ihi", body[:10])
ok = got_id == correlation_id and error_code == 0 and count > 0 and size == 10 + 6 * count
sys.exit(0 if ok else 1)
PY
}

# Exit 0 if PID runs (a zombie, i.e. our own child that died, does not count).
alive() {
  local state
  state="$(ps -o stat= -p "$1" 2>/dev/null)" || return 1
  [[ -n "$state" && "$state" != Z* ]]
}

# Exit 0 if the recorded pid is alive and is a tansu process (not a recycled pid).
recorded_broker_alive() {
  [[ -s "$PID_FILE" ]] || return 1
  local pid
  pid="$(<"$PID_FILE")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  alive "$pid" || return 1
  [[ "$(ps -o comm= -p "$pid" 2>/dev/null)" == tansu* ]]
}

# Exit 0 (printing the address) if the broker of this state dir is up and answering.
running_address() {
  recorded_broker_alive || return 1
  [[ -s "$ADDRESS_FILE" ]] || return 1
  local address
  address="$(<"$ADDRESS_FILE")"
  probe "$address" || return 1
  printf '%s\n' "$address"
}

# SIGTERM, then SIGKILL if PID is still there after 10 s.
terminate() {
  local pid="$1" waited=0
  say "stopping tansu (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  while alive "$pid"; do
    if ((waited >= 100)); then
      say "tansu (pid $pid) ignored SIGTERM for 10 s: sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      return
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
}

stop_broker() {
  if recorded_broker_alive; then
    terminate "$(<"$PID_FILE")"
  fi
  rm -f "$PID_FILE" "$ADDRESS_FILE"
}

start_broker() {
  local address
  if address="$(running_address)"; then
    say "tansu already running at $address (pid $(<"$PID_FILE"))"
    printf '%s\n' "$address"
    return
  fi
  # A recorded broker that is alive but not answering is wedged: replace it.
  stop_broker

  local tansu port pid
  tansu="$(tansu_binary)"
  port="$(free_port)"
  address="127.0.0.1:$port"
  say "starting $tansu on $address (log: $LOG_FILE)"
  # setsid + nohup: the broker outlives this script and a terminal hangup; it stays until `stop`.
  # 9>&- : it must not inherit the lock, or every later start/stop would wait for it to exit.
  setsid nohup "$tansu" broker \
    --listener-url "tcp://$address" \
    --advertised-listener-url "tcp://$address" \
    --storage-engine memory://tansu/ \
    >"$LOG_FILE" 2>&1 </dev/null 9>&- &
  pid=$!
  printf '%s\n' "$pid" >"$PID_FILE"
  printf '%s\n' "$address" >"$ADDRESS_FILE"

  local deadline=$((SECONDS + STARTUP_TIMEOUT_SECS))
  until probe "$address"; do
    if ! alive "$pid"; then
      say "tansu exited before answering; last lines of $LOG_FILE:"
      tail -n 20 "$LOG_FILE" >&2 || true
      rm -f "$PID_FILE" "$ADDRESS_FILE"
      exit 1
    fi
    if ((SECONDS >= deadline)); then
      say "tansu did not answer ApiVersions on $address within ${STARTUP_TIMEOUT_SECS} s; last lines of $LOG_FILE:"
      tail -n 20 "$LOG_FILE" >&2 || true
      terminate "$pid"
      rm -f "$PID_FILE" "$ADDRESS_FILE"
      exit 1
    fi
    sleep 0.2
  done
  say "tansu ready at $address (pid $pid)"
  printf '%s\n' "$address"
}

# One start/stop at a time per state dir, so two concurrent starts cannot start two brokers.
lock_state_dir() {
  mkdir -p "$STATE_DIR"
  exec 9>"$STATE_DIR/lock"
  flock 9
}

main() {
  case "${1:-}" in
    start)
      lock_state_dir
      start_broker
      ;;
    stop)
      lock_state_dir
      stop_broker
      ;;
    address) running_address || { say "no broker running for $STATE_DIR"; exit 1; } ;;
    *) die "usage: $0 start|stop|address" ;;
  esac
}

main "$@"
