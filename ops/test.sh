#!/usr/bin/env bash
# The project's full test command (README, .ci/run): starts a throwaway Kafka-protocol broker
# (ops/kafka/broker.sh: tansu, in memory), runs the whole workspace's tests against it through
# FERRY_TEST_BROKERS, then the migration suite on the Kafka log (mock cluster, then tansu), and
# stops the broker on any exit. Arguments go to `cargo test`, e.g.
#   ops/test.sh -p ferry-engine -- kafka
# Each run has its own broker (its own state dir), so concurrent runs don't stop each other's;
# the broker's log is kept and its path printed when the tests fail. Exit status is cargo's.
set -euo pipefail
cd "$(dirname "$0")/.."

broker=ops/kafka/broker.sh
FERRY_BROKER_DIR="$(mktemp -d "${TMPDIR:-/tmp}/ferry-test-broker.XXXXXX")"
export FERRY_BROKER_DIR

finish() {
  local status=$?
  "$broker" stop || true
  if ((status == 0)); then
    rm -rf "$FERRY_BROKER_DIR"
  else
    echo "test.sh: broker log kept in $FERRY_BROKER_DIR/broker.log" >&2
  fi
  exit "$status"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

FERRY_TEST_BROKERS="$("$broker" start)"
export FERRY_TEST_BROKERS
echo "test.sh: FERRY_TEST_BROKERS=$FERRY_TEST_BROKERS" >&2

cargo test --workspace "$@"

# The migration suite and the server's suites again, unchanged, on the Kafka log: on
# librdkafka's mock cluster (in the test process) and on tansu. Skipped when arguments narrow
# the run.
if (($# == 0)); then
  echo "test.sh: the migration suite on Kafka (mock cluster)" >&2
  FERRY_TEST_LOG=kafka FERRY_TEST_BROKERS='' cargo test --workspace --test migration_cli \
    --test serve_api --test serve_metrics --test serve_cli
  echo "test.sh: the migration suite on Kafka (tansu at $FERRY_TEST_BROKERS)" >&2
  FERRY_TEST_LOG=kafka cargo test --workspace --test migration_cli --test serve_api --test serve_metrics --test serve_cli
fi

# A short coverage-guided fuzzing smoke of the untrusted-input readers (the campaign is
# `ops/fuzz/run.sh 60`). Installs cargo-afl on first use; skipped when arguments narrow the run.
if (($# == 0)); then
  echo "test.sh: a 2-minute fuzzing smoke (ops/fuzz/run.sh 2)" >&2
  ops/fuzz/run.sh 2
fi
