#!/usr/bin/env bash
# Runs the Redis cluster adapter's benchmark: starts a redis-server on a
# free loopback port, runs
# roomcast-redis-bench against it, stops it. Extra arguments go to the
# benchmark (--reps N, --quick). Writes the table to docs/bench/redis.md
# unless --quick.
. "$(dirname "$0")/lib.sh"
. scripts/redis-server.sh
trap stop_redis EXIT
start_redis
cargo build --release -p roomcast-redis --bin roomcast-redis-bench
out=$(mktemp)
"$target/release/roomcast-redis-bench" "$REDIS_URL" "$@" | tee "$out"
case " $* " in
  *" --quick "*) ;;
  *)
    mkdir -p docs/bench
    {
      cat "$out"
      echo
      echo "Produced by \`scripts/bench-redis.sh $*\` on $(nproc) cores, redis-server $(redis-server --version | awk '{print $3}' | sed 's/^v=//'), load average $(cut -d' ' -f1-3 /proc/loadavg) at the end of the run."
    } >docs/bench/redis.md
    ;;
esac
rm -f "$out"
