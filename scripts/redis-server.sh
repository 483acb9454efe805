# Sourced by the Redis scripts: makes sure redis-server exists (installing
# it with apt-get when missing) and starts one on a free loopback port
# without persistence. Sets REDIS_PORT, REDIS_URL and REDIS_PID; the
# caller's EXIT trap must call stop_redis.

ensure_redis_server() {
  if ! command -v redis-server >/dev/null 2>&1; then
    echo "redis-server not found; installing it with apt-get"
    if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq redis-server >/dev/null
  fi
  command -v redis-server >/dev/null 2>&1 || { echo "redis-server could not be installed"; return 1; }
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()' 2>/dev/null ||
    echo $((20000 + RANDOM % 20000))
}

start_redis() {
  ensure_redis_server
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
