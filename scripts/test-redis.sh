#!/usr/bin/env bash
# Runs the Redis cluster adapter's tests against a real redis-server:
# starts it on a free loopback port
# without persistence, runs `cargo test -p roomcast-redis --features
# redis-tests` (the outage test starts and stops its own second server),
# then stops it. Fails, never skips, when Redis cannot run.
. "$(dirname "$0")/lib.sh"
. scripts/redis-server.sh
trap stop_redis EXIT
start_redis
echo "redis-server $(redis-server --version | awk '{print $3}') on $REDIS_URL"
ROOMCAST_REDIS_URL="$REDIS_URL" cargo test -p roomcast-redis --features redis-tests 2>&1
