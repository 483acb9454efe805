#!/usr/bin/env bash
# A mixed hostile load (ack floods, slowloris, a session flood, partial
# attachments, vanished pollers) against the chat example while two users
# keep chatting; fails if the server's RSS passes the bound, a user message
# is lost or the users' p99 latency passes both 250 ms and 4x what they saw
# alone just before. See socketio/examples/hostile_load.rs.
#   ./scripts/hostile-load.sh [seconds, default 180] [RSS bound in MB, default 256] [extra hostile_load args]
. "$(dirname "$0")/lib.sh"
seconds=${1:-180}
bound=${2:-256}
shift $(( $# > 2 ? 2 : $# ))
port=${HOSTILE_PORT:-3917}
cargo build --quiet --release -p roomcast-socketio --example chat --example hostile_load
log=$(mktemp)
trap 'kill ${started_pid:-} 2>/dev/null || true; rm -f "$log"' EXIT
start_listening "$log" "$target/release/examples/chat" --quiet --addr 127.0.0.1 --port "$port" || {
  cat "$log"
  die "chat server did not start"
}
server=$started_pid
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
"$target/release/examples/hostile_load" --addr "127.0.0.1:$port" --pid "$server" \
  --seconds "$seconds" --max-rss-mb "$bound" "$@"
kill -0 "$server" || { echo "the chat server died"; exit 1; }
