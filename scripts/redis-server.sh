# Sourced (after scripts/lib.sh) by the scripts that need Redis: starts a
# redis-server on a free loopback port without persistence. Sets
# REDIS_PORT, REDIS_URL and REDIS_PID; the caller's EXIT trap must call
# stop_redis.

start_redis() {
  require redis-server redis-cli python3
  REDIS_PORT=$(free_port)
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
    --daemonize no --loglevel warning >"${REDIS_LOG:-/dev/null}" 2>&1 &
  REDIS_PID=$!
  for _ in $(seq 1 100); do
    if redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; then
      REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
      export REDIS_PORT REDIS_URL REDIS_PID
      return 0
    fi
    sleep 0.1
  done
  echo "redis-server did not start on port $REDIS_PORT"
  return 1
}

stop_redis() {
  if [ -n "${REDIS_PID:-}" ]; then
    kill "$REDIS_PID" 2>/dev/null || true
    wait "$REDIS_PID" 2>/dev/null || true
    REDIS_PID=""
  fi
}
