#!/usr/bin/env bash
# C bindings: header drift and version checks, every header function has a
# C caller, the header as C++, the C quickstart (shared and static), the C
# tests and the chat server example (driven over loopback by
# tests/c/chat_test.py) under ASan/UBSan (static lib) and under valgrind
# (shared lib; definite leaks are errors: the core's ack timer thread may
# still be running at exit, which valgrind calls "possibly lost").
# test_redis_live.c runs two cluster nodes against a redis-server this
# script starts and stops. Build outputs go to $CARGO_TARGET_DIR/ctest/.
# Prints "N passed, N failed" per suite; exits non-zero on any failure.
. "$(dirname "$0")/lib.sh"
require gcc g++ valgrind python3

out=$target/ctest
mkdir -p "$out"
lib=$target/debug
# The library is built with its default features, `redis` among them: the
# header's Redis section is compiled in (ROOMCAST_FEATURE_REDIS).
CFLAGS=(-std=c11 -D_POSIX_C_SOURCE=200809L -DROOMCAST_FEATURE_REDIS -Wall -Wextra -Wpedantic -Werror -g -Iinclude -Itests/c)
STATIC_LIBS=(-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc)
failures=0
fail() { echo "FAILED: $*"; failures=$((failures + 1)); }

echo "== C: header drift"
./scripts/gen-header.sh --check || fail "header drift"

echo "== C: the header's version macros, doc comments and C callers"
cargo run --quiet -p xtask -- check-header || fail "header checks"
version=$(workspace_version)

echo "== C: a redis-server on a free loopback port for tests/c/test_redis_live.c"
. scripts/redis-server.sh
trap stop_redis EXIT
start_redis
export ROOMCAST_REDIS_URL="$REDIS_URL"
echo "redis-server on $REDIS_URL"

echo "== C: build libroomcast"
cargo build --quiet -p roomcast-ffi

echo "== C: the crate without its redis feature passes clippy"
cargo clippy --quiet -p roomcast-ffi --no-default-features -- -D warnings || fail "clippy --no-default-features"

echo "== C: header compiles as C++17 (with and without ROOMCAST_FEATURE_REDIS)"
printf '#include "roomcast.h"\nint main() { return ROOMCAST_RESULT_OK; }\n' >"$out/header.cpp"
for define in -DROOMCAST_FEATURE_REDIS -UROOMCAST_FEATURE_REDIS; do
  g++ -std=c++17 -Wall -Wextra -Werror "$define" -Iinclude "$out/header.cpp" -o "$out/header_cpp" && "$out/header_cpp" ||
    fail "header as C++ ($define)"
done

echo "== C: quickstart (shared and static)"
gcc "${CFLAGS[@]}" examples/c/quickstart.c -L"$lib" -lroomcast -Wl,-rpath,"$(realpath "$lib")" -o "$out/quickstart_shared" &&
  "$out/quickstart_shared" || fail "quickstart (shared)"
gcc "${CFLAGS[@]}" examples/c/quickstart.c "$lib/libroomcast.a" "${STATIC_LIBS[@]}" -o "$out/quickstart_static" &&
  "$out/quickstart_static" >/dev/null || fail "quickstart (static)"

passed=0 failed=0
count() { # adds the "N passed, N failed" last line of a run's output
  local line
  line=$(grep -E "^[0-9]+ passed, [0-9]+ failed$" "$1" | tail -1 || true)
  echo "$line"
  if [[ $line =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
    passed=$((passed + BASH_REMATCH[1])) failed=$((failed + BASH_REMATCH[2]))
  else
    failed=$((failed + 1))
  fi
}

for t in tests/c/test_*.c; do
  name=$(basename "$t" .c)
  echo "== C: $name under ASan/UBSan (static lib)"
  if gcc "${CFLAGS[@]}" -DCARGO_VERSION="\"$version\"" -fsanitize=address,undefined -fno-sanitize-recover=all \
    "$t" "$lib/libroomcast.a" "${STATIC_LIBS[@]}" -o "$out/${name}_asan"; then
    ASAN_OPTIONS=detect_leaks=1 "$out/${name}_asan" >"$out/${name}_asan.log" 2>&1 || fail "$name (asan)"
    grep -E "^FAIL|ERROR|runtime error" "$out/${name}_asan.log" || true
    count "$out/${name}_asan.log"
  else
    fail "$name (asan build)"
  fi

  echo "== C: $name under valgrind (shared lib)"
  if gcc "${CFLAGS[@]}" -DCARGO_VERSION="\"$version\"" "$t" -L"$lib" -lroomcast -lpthread \
    -Wl,-rpath,"$(realpath "$lib")" -o "$out/${name}_vg"; then
    valgrind --quiet --error-exitcode=9 --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite "$out/${name}_vg" >"$out/${name}_vg.log" 2>&1 ||
      fail "$name (valgrind, exit $?)"
    grep -E "^FAIL|==[0-9]+==" "$out/${name}_vg.log" | head -40 || true
    count "$out/${name}_vg.log"
  else
    fail "$name (valgrind build)"
  fi
done

echo "== C: chat server example driven over loopback, under ASan/UBSan (static lib)"
if gcc "${CFLAGS[@]}" -fsanitize=address,undefined -fno-sanitize-recover=all examples/c/chat_server.c \
  "$lib/libroomcast.a" "${STATIC_LIBS[@]}" -o "$out/chat_server_asan"; then
  ASAN_OPTIONS=detect_leaks=1 python3 tests/c/chat_test.py -- "$out/chat_server_asan" >"$out/chat_asan.log" 2>&1 ||
    fail "chat server (asan)"
  grep -E "^FAIL|ERROR|runtime error|Error" "$out/chat_asan.log" || true
  count "$out/chat_asan.log"
else
  fail "chat server (asan build)"
fi

echo "== C: chat server example driven over loopback, under valgrind (shared lib)"
if gcc "${CFLAGS[@]}" examples/c/chat_server.c -L"$lib" -lroomcast -lpthread -Wl,-rpath,"$(realpath "$lib")" \
  -o "$out/chat_server_vg"; then
  python3 tests/c/chat_test.py --timeout 60 -- valgrind --quiet --error-exitcode=9 --leak-check=full \
    --show-leak-kinds=definite --errors-for-leak-kinds=definite "$out/chat_server_vg" >"$out/chat_vg.log" 2>&1 ||
    fail "chat server (valgrind)"
  grep -E "^FAIL|==[0-9]+==|Error" "$out/chat_vg.log" | head -40 || true
  count "$out/chat_vg.log"
else
  fail "chat server (valgrind build)"
fi

echo "c tests: $passed passed, $failed failed"
if [ "$failures" -ne 0 ] || [ "$failed" -ne 0 ]; then
  echo "C bindings: $failures step(s) failed"
  exit 1
fi
echo "C bindings: all steps passed"
