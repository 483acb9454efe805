/* FFI overhead benchmark, C side: the same workloads as
 * ffi/examples/ffi_bench.rs, through libroomcast. scripts/bench-c.sh runs
 * both, interleaved, and reports medians and ratios.
 *
 *   ffi_bench [--quick] [--only NAME] [--iters N]
 *                          prints one "NAME NS_PER_OP" line per workload
 *
 * Workloads (64-byte binary payloads, default configuration):
 *   room_emit_drain  emit to a 1000-member room, then every member's host
 *                    receives its message and reads the payload; per emit
 *   join_leave       one socket joins a room and leaves it; per pair
 *   round_trip       emit to one socket, receive it, read it; per message
 *   dispatch         an inbound event dispatched to a handler; per event
 * Each workload runs untimed warm-up iterations first. Every run checks
 * its counts and exits 1 on a mismatch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "roomcast.h"

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void check(roomcast_result r, const char *what) {
    if (r != ROOMCAST_RESULT_OK) {
        fprintf(stderr, "%s: %s\n", what, roomcast_result_message(r));
        exit(1);
    }
}

static uint8_t payload[64];

/* Untimed iterations first (allocation of queues, caches), the same on
 * both sides. */
#define WARM_EMITS 20
#define WARM 5000

static void room_emit_drain(roomcast_engine *e, int members, int emits) {
    roomcast_namespace *ns;
    roomcast_conn **conns = calloc((size_t)members, sizeof *conns);
    roomcast_socket **socks = calloc((size_t)members, sizeof *socks);
    if (!conns || !socks) exit(1);
    check(roomcast_engine_of(e, "/big", &ns), "of");
    for (int i = 0; i < members; i++) {
        check(roomcast_engine_connect(e, &conns[i]), "connect");
        check(roomcast_conn_join_namespace(conns[i], "/big", 0, NULL, 0, &socks[i]), "join ns");
        check(roomcast_socket_join(socks[i], "r"), "join");
    }
    const char *rooms[] = {"r"};
    roomcast_target t = {sizeof t, rooms, 1, NULL, 0, NULL, false};
    size_t received = 0, bytes = 0;
    double t0 = now_ns();
    for (int k = -WARM_EMITS; k < emits; k++) {
        if (k == 0) { t0 = now_ns(); received = 0; bytes = 0; }
        check(roomcast_namespace_emit(ns, &t, "ev", ROOMCAST_FORMAT_BINARY, payload, sizeof payload, NULL), "emit");
        for (int i = 0; i < members; i++) {
            roomcast_message *m;
            const uint8_t *p;
            size_t len;
            check(roomcast_conn_try_recv(conns[i], &m), "recv");
            check(roomcast_message_data(m, &p, &len, NULL), "data");
            bytes += len;
            received++;
            roomcast_message_free(m);
        }
    }
    double dt = now_ns() - t0;
    if (received != (size_t)members * (size_t)emits || bytes != received * sizeof payload) {
        fprintf(stderr, "room_emit_drain: received %zu\n", received);
        exit(1);
    }
    printf("room_emit_drain %.1f\n", emits ? dt / emits : 0.0);
    for (int i = 0; i < members; i++) {
        roomcast_socket_free(socks[i]);
        roomcast_conn_free(conns[i]);
    }
    free(conns);
    free(socks);
    roomcast_namespace_free(ns);
}

static void join_leave(roomcast_engine *e, int pairs) {
    roomcast_conn *c;
    roomcast_socket *s;
    char names[64][16];
    for (int i = 0; i < 64; i++) snprintf(names[i], sizeof names[i], "room-%d", i);
    roomcast_namespace *ns;
    check(roomcast_engine_of(e, "/jl", &ns), "of");
    roomcast_namespace_free(ns);
    check(roomcast_engine_connect(e, &c), "connect");
    check(roomcast_conn_join_namespace(c, "/jl", 0, NULL, 0, &s), "join ns");
    double t0 = now_ns();
    for (int k = -WARM; k < pairs; k++) {
        if (k == 0) t0 = now_ns();
        check(roomcast_socket_join(s, names[k & 63]), "join");
        check(roomcast_socket_leave(s, names[k & 63]), "leave");
    }
    double dt = now_ns() - t0;
    printf("join_leave %.1f\n", pairs ? dt / pairs : 0.0);
    roomcast_socket_free(s);
    roomcast_conn_free(c);
}

static void round_trip(roomcast_engine *e, int n) {
    roomcast_conn *c;
    roomcast_socket *s;
    roomcast_namespace *ns;
    check(roomcast_engine_of(e, "/rt", &ns), "of");
    roomcast_namespace_free(ns);
    check(roomcast_engine_connect(e, &c), "connect");
    check(roomcast_conn_join_namespace(c, "/rt", 0, NULL, 0, &s), "join ns");
    size_t bytes = 0;
    double t0 = now_ns();
    for (int k = -WARM; k < n; k++) {
        if (k == 0) { t0 = now_ns(); bytes = 0; }
        roomcast_message *m;
        const uint8_t *p;
        size_t len;
        check(roomcast_socket_emit(s, "ev", ROOMCAST_FORMAT_BINARY, payload, sizeof payload, NULL), "emit");
        check(roomcast_conn_try_recv(c, &m), "recv");
        check(roomcast_message_data(m, &p, &len, NULL), "data");
        bytes += len;
        roomcast_message_free(m);
    }
    double dt = now_ns() - t0;
    if (bytes != (size_t)n * sizeof payload) exit(1);
    printf("round_trip %.1f\n", n ? dt / n : 0.0);
    roomcast_socket_free(s);
    roomcast_conn_free(c);
}

static int on_ev(void *ud, const roomcast_socket *s, roomcast_str ev, roomcast_format fmt,
                 const uint8_t *data, size_t len, const roomcast_ack *ack) {
    (void)s; (void)ev; (void)fmt; (void)data; (void)ack;
    *(size_t *)ud += len;
    return 0;
}

static void dispatch(roomcast_engine *e, int n) {
    roomcast_namespace *ns;
    roomcast_conn *c;
    roomcast_socket *s;
    size_t seen = 0;
    check(roomcast_engine_of(e, "/d", &ns), "of");
    check(roomcast_namespace_on(ns, "ev", on_ev, &seen, NULL), "on");
    check(roomcast_engine_connect(e, &c), "connect");
    check(roomcast_conn_join_namespace(c, "/d", 0, NULL, 0, &s), "join ns");
    double t0 = now_ns();
    for (int k = -WARM; k < n; k++) {
        if (k == 0) { t0 = now_ns(); seen = 0; }
        check(roomcast_socket_dispatch(s, "ev", ROOMCAST_FORMAT_BINARY, payload, sizeof payload, false, 0, NULL),
              "dispatch");
    }
    double dt = now_ns() - t0;
    if (seen != (size_t)n * sizeof payload) exit(1);
    printf("dispatch %.1f\n", n ? dt / n : 0.0);
    roomcast_socket_free(s);
    roomcast_conn_free(c);
    roomcast_namespace_free(ns);
}

int main(int argc, char **argv) {
    int quick = 0;
    const char *only = NULL;
    int iters = 0; /* 0: the defaults below */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) quick = 1;
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) only = argv[++i];
        else if (strcmp(argv[i], "--iters") == 0 && i + 1 < argc) iters = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: ffi_bench [--quick] [--only NAME] [--iters N]\n");
            return 2;
        }
    }
#define PICK(name, full, small) (only && strcmp(only, name) != 0 ? -1 : iters > 0 ? iters : quick ? (small) : (full))
    for (size_t i = 0; i < sizeof payload; i++) payload[i] = (uint8_t)i;
    roomcast_engine *e;
    check(roomcast_engine_new(NULL, &e), "engine");
    int n;
    if ((n = PICK("room_emit_drain", 300, 5)) >= 0) room_emit_drain(e, 1000, n);
    if ((n = PICK("join_leave", 200000, 1000)) >= 0) join_leave(e, n);
    if ((n = PICK("round_trip", 300000, 1000)) >= 0) round_trip(e, n);
    if ((n = PICK("dispatch", 300000, 1000)) >= 0) dispatch(e, n);
    roomcast_engine_free(e);
    return 0;
}
