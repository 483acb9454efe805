/* Functions and error paths of the roomcast C API. */
#include <stdlib.h>
#include <unistd.h>
#include "runner.h"

#ifndef CARGO_VERSION
#error "build with -DCARGO_VERSION=\"x.y.z\" (the ffi crate's Cargo.toml version)"
#endif

#define STR2(x) #x
#define STR(x) STR2(x)

static roomcast_engine *engine_with(const char *const *kv, size_t n) {
    roomcast_config *cfg = NULL;
    roomcast_engine *e = NULL;
    if (roomcast_config_new(&cfg) != ROOMCAST_RESULT_OK) return NULL;
    for (size_t i = 0; i + 1 < n; i += 2)
        if (roomcast_config_set(cfg, kv[i], kv[i + 1]) != ROOMCAST_RESULT_OK) { roomcast_config_free(cfg); return NULL; }
    if (roomcast_engine_new(cfg, &e) != ROOMCAST_RESULT_OK) e = NULL;
    roomcast_config_free(cfg);
    return e;
}

TEST(version_matches_cargo) {
    char v[64];
    snprintf(v, sizeof v, "%d.%d.%d", ROOMCAST_VERSION_MAJOR, ROOMCAST_VERSION_MINOR, ROOMCAST_VERSION_PATCH);
    EXPECT(strcmp(v, CARGO_VERSION) == 0);
    EXPECT(strcmp(roomcast_version(), CARGO_VERSION) == 0);
}

TEST(free_null_is_noop) {
    roomcast_config_free(NULL);
    roomcast_engine_free(NULL);
    roomcast_namespace_free(NULL);
    roomcast_conn_free(NULL);
    roomcast_socket_free(NULL);
    roomcast_message_free(NULL);
}

TEST(result_messages) {
    EXPECT(strcmp(roomcast_result_message(ROOMCAST_RESULT_OK), "success") == 0);
    EXPECT(strcmp(roomcast_result_message(ROOMCAST_RESULT_CLOSED), roomcast_result_message(ROOMCAST_RESULT_TIMEOUT)) != 0);
    EXPECT(strcmp(roomcast_result_message(123456), "unknown result code") == 0);
    EXPECT(ROOMCAST_RESULT_OK == 0);
}

TEST(null_arguments) {
    roomcast_engine *e = NULL;
    roomcast_namespace *ns = NULL;
    roomcast_conn *c = NULL;
    roomcast_message *m = NULL;
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_engine_new(NULL, NULL));
    ASSERT_OK(roomcast_engine_new(NULL, &e));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_engine_of(NULL, "/a", &ns));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_engine_of(e, NULL, &ns));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_engine_of(e, "/a", NULL));
    EXPECT(ns == NULL);
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_engine_connect(e, NULL));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_conn_recv(NULL, 0, &m));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_namespace_emit(NULL, NULL, "x", 0, NULL, 0, NULL));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_socket_join(NULL, "r"));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_message_kind(NULL, NULL));
    ASSERT_OK(roomcast_engine_of(e, "/a", &ns));
    /* non-empty buffer with a NULL pointer */
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_namespace_emit(ns, NULL, "x", ROOMCAST_FORMAT_BINARY, NULL, 3, NULL));
    ASSERT_OK(roomcast_engine_connect(e, &c));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_conn_try_recv(c, NULL));
    char detail[128];
    size_t n = roomcast_last_error(detail, sizeof detail);
    EXPECT(n > 0 && strstr(detail, "msg_out") != NULL);
    EXPECT(roomcast_last_error(NULL, 0) == n);
    roomcast_conn_free(c);
    roomcast_namespace_free(ns);
    roomcast_engine_free(e);
}

TEST(invalid_names_and_utf8) {
    roomcast_engine *e = NULL;
    roomcast_namespace *ns = NULL;
    roomcast_conn *c = NULL;
    roomcast_socket *s = NULL;
    ASSERT_OK(roomcast_engine_new(NULL, &e));
    EXPECT_RC(ROOMCAST_RESULT_INVALID_NAME, roomcast_engine_of(e, "chat", &ns));
    EXPECT_RC(ROOMCAST_RESULT_INVALID_NAME, roomcast_engine_of(e, "", &ns));
    EXPECT_RC(ROOMCAST_RESULT_INVALID_UTF8, roomcast_engine_of(e, "/\xff\xfe", &ns));
    EXPECT(ns == NULL);
    ASSERT_OK(roomcast_engine_of(e, "/", &ns));
    ASSERT_OK(roomcast_engine_connect(e, &c));
    ASSERT_OK(roomcast_conn_join_namespace(c, "/", 0, NULL, 0, &s));
    EXPECT_RC(ROOMCAST_RESULT_INVALID_UTF8, roomcast_socket_join(s, "r\xc3"));
    EXPECT_RC(ROOMCAST_RESULT_INVALID_NAME, roomcast_socket_join(s, ""));
    EXPECT_RC(ROOMCAST_RESULT_INVALID_NAME, roomcast_namespace_emit(ns, NULL, "", 0, NULL, 0, NULL));
    EXPECT_RC(ROOMCAST_RESULT_INVALID_NAME, roomcast_namespace_emit(ns, NULL, "connect", 0, NULL, 0, NULL));
    EXPECT_RC(ROOMCAST_RESULT_INVALID_UTF8, roomcast_namespace_emit(ns, NULL, "\x80", 0, NULL, 0, NULL));
    /* payload checks: bad format, text that is not UTF-8, json that is not JSON */
    EXPECT_RC(ROOMCAST_RESULT_INVALID_ARGUMENT, roomcast_namespace_emit(ns, NULL, "e", 7, NULL, 0, NULL));
    EXPECT_RC(ROOMCAST_RESULT_INVALID_PAYLOAD, roomcast_namespace_emit(ns, NULL, "e", ROOMCAST_FORMAT_TEXT, (const uint8_t *)"\xff", 1, NULL));
    EXPECT_RC(ROOMCAST_RESULT_INVALID_PAYLOAD, roomcast_namespace_emit(ns, NULL, "e", ROOMCAST_FORMAT_JSON, (const uint8_t *)"{", 1, NULL));
    const char *bad_rooms[] = {"ok", "\xff"};
    roomcast_target t = {sizeof t, bad_rooms, 2, NULL, 0, NULL, false};
    EXPECT_RC(ROOMCAST_RESULT_INVALID_UTF8, roomcast_namespace_emit(ns, &t, "e", 0, NULL, 0, NULL));
    roomcast_socket_free(s);
    roomcast_conn_free(c);
    roomcast_namespace_free(ns);
    roomcast_engine_free(e);
}

TEST(limits_from_config) {
    const char *kv[] = {"max_name_len", "8", "max_payload", "16", "max_rooms_per_socket", "3"};
    roomcast_engine *e = engine_with(kv, 6);
    ASSERT(e != NULL);
    roomcast_namespace *ns = NULL;
    roomcast_conn *c = NULL;
    roomcast_socket *s = NULL;
    EXPECT_RC(ROOMCAST_RESULT_INVALID_NAME, roomcast_engine_of(e, "/toolongname", &ns));
    ASSERT_OK(roomcast_engine_of(e, "/a", &ns));
    ASSERT_OK(roomcast_engine_connect(e, &c));
    ASSERT_OK(roomcast_conn_join_namespace(c, "/a", 0, NULL, 0, &s));
    EXPECT_RC(ROOMCAST_RESULT_ALREADY_JOINED, roomcast_conn_join_namespace(c, "/a", 0, NULL, 0, &s));
    EXPECT_RC(ROOMCAST_RESULT_INVALID_NAME, roomcast_socket_join(s, "123456789"));
    uint8_t big[17] = {0};
    EXPECT_RC(ROOMCAST_RESULT_PAYLOAD_TOO_LARGE, roomcast_namespace_emit(ns, NULL, "e", ROOMCAST_FORMAT_BINARY, big, sizeof big, NULL));
    EXPECT_RC(ROOMCAST_RESULT_OK, roomcast_namespace_emit(ns, NULL, "e", ROOMCAST_FORMAT_BINARY, big, 16, NULL));
    ASSERT_OK(roomcast_socket_join(s, "r1"));
    ASSERT_OK(roomcast_socket_join(s, "r2"));
    ASSERT_OK(roomcast_socket_join(s, "r3"));
    EXPECT_RC(ROOMCAST_RESULT_TOO_MANY_ROOMS, roomcast_socket_join(s, "r4"));
    ASSERT_OK(roomcast_socket_join(s, "r3")); /* already in it: fine */
    roomcast_config *cfg = NULL;
    ASSERT_OK(roomcast_config_new(&cfg));
    EXPECT_RC(ROOMCAST_RESULT_INVALID_CONFIG, roomcast_config_set(cfg, "overflow", "sometimes"));
    EXPECT_RC(ROOMCAST_RESULT_INVALID_CONFIG, roomcast_config_set(cfg, "no_such_option", "1"));
    ASSERT_OK(roomcast_config_set(cfg, "max_payload", "100"));
    ASSERT_OK(roomcast_config_set(cfg, "max_queue_bytes", "10"));
    roomcast_engine *e2 = NULL;
    EXPECT_RC(ROOMCAST_RESULT_INVALID_CONFIG, roomcast_engine_new(cfg, &e2));
    EXPECT(e2 == NULL);
    roomcast_config_free(cfg);
    roomcast_socket_free(s);
    roomcast_conn_free(c);
    roomcast_namespace_free(ns);
    roomcast_engine_free(e);
}

TEST(refused_and_closed) {
    roomcast_engine *e = NULL;
    roomcast_conn *c = NULL;
    roomcast_socket *s = NULL;
    roomcast_message *m = NULL;
    ASSERT_OK(roomcast_engine_new(NULL, &e));
    ASSERT_OK(roomcast_engine_connect(e, &c));
    EXPECT_RC(ROOMCAST_RESULT_REFUSED, roomcast_conn_join_namespace(c, "/nobody", 0, NULL, 0, &s));
    char detail[128];
    roomcast_last_error(detail, sizeof detail);
    EXPECT(strstr(detail, "Invalid namespace") != NULL);
    ASSERT_OK(roomcast_conn_join_namespace(c, "/", ROOMCAST_FORMAT_JSON, (const uint8_t *)"{\"t\":1}", 7, &s));
    EXPECT_RC(ROOMCAST_RESULT_EMPTY, roomcast_conn_try_recv(c, &m));
    EXPECT_RC(ROOMCAST_RESULT_TIMEOUT, roomcast_conn_recv(c, 20, &m));
    EXPECT_RC(ROOMCAST_RESULT_EMPTY, roomcast_conn_recv(c, 0, &m));
    EXPECT_RC(ROOMCAST_RESULT_INVALID_ARGUMENT, roomcast_conn_close(c, "because"));
    ASSERT_OK(roomcast_conn_close(c, "forced server close"));
    ASSERT_OK(roomcast_conn_close(c, NULL)); /* twice: fine */
    bool closed = false;
    ASSERT_OK(roomcast_conn_is_closed(c, &closed));
    EXPECT(closed);
    /* the server-side close queued a disconnect notice for the socket */
    ASSERT_OK(roomcast_conn_recv(c, 100, &m));
    uint32_t kind = 99;
    ASSERT_OK(roomcast_message_kind(m, &kind));
    EXPECT(kind == ROOMCAST_KIND_DISCONNECT);
    const char *reason = NULL;
    ASSERT_OK(roomcast_message_disconnect_reason(m, &reason));
    EXPECT(strcmp(reason, "forced server close") == 0);
    const uint8_t *p; size_t len;
    EXPECT_RC(ROOMCAST_RESULT_NO_VALUE, roomcast_message_data(m, &p, &len, NULL));
    roomcast_message_free(m);
    m = NULL;
    EXPECT_RC(ROOMCAST_RESULT_CLOSED, roomcast_conn_try_recv(c, &m));
    EXPECT_RC(ROOMCAST_RESULT_CLOSED, roomcast_conn_recv(c, 10, &m));
    EXPECT_RC(ROOMCAST_RESULT_CLOSED, roomcast_conn_recv(c, -1, &m));
    EXPECT(m == NULL);
    EXPECT_RC(ROOMCAST_RESULT_CLOSED, roomcast_socket_join(s, "r"));
    EXPECT_RC(ROOMCAST_RESULT_CLOSED, roomcast_socket_emit(s, "e", 0, NULL, 0, NULL));
    roomcast_socket *s2 = NULL;
    EXPECT_RC(ROOMCAST_RESULT_CLOSED, roomcast_conn_join_namespace(c, "/", 0, NULL, 0, &s2));
    roomcast_socket_free(s);
    roomcast_conn_free(c);
    roomcast_engine_free(e);
}

TEST(targets_and_recv_many) {
    roomcast_engine *e = NULL;
    roomcast_namespace *ns = NULL;
    roomcast_conn *c[3] = {NULL, NULL, NULL};
    roomcast_socket *s[3] = {NULL, NULL, NULL};
    ASSERT_OK(roomcast_engine_new(NULL, &e));
    ASSERT_OK(roomcast_engine_of(e, "/chat", &ns));
    for (int i = 0; i < 3; i++) {
        ASSERT_OK(roomcast_engine_connect(e, &c[i]));
        ASSERT_OK(roomcast_conn_join_namespace(c[i], "/chat", 0, NULL, 0, &s[i]));
        ASSERT_OK(roomcast_socket_join(s[i], "all"));
    }
    ASSERT_OK(roomcast_socket_join(s[2], "vip"));
    const char *rooms[] = {"all", "vip"};
    const char *except[] = {"vip"};
    roomcast_emit_report rep = {.struct_size = sizeof rep};
    roomcast_target t = {sizeof t, rooms, 2, except, 1, s[0], false};
    ASSERT_OK(roomcast_namespace_emit(ns, &t, "e1", ROOMCAST_FORMAT_TEXT, (const uint8_t *)"x", 1, &rep));
    EXPECT(rep.recipients == 1 && rep.queued == 1);
    ASSERT_OK(roomcast_namespace_emit(ns, NULL, "e2", ROOMCAST_FORMAT_TEXT, (const uint8_t *)"", 0, &rep));
    EXPECT(rep.recipients == 3);
    ASSERT_OK(roomcast_socket_broadcast(s[0], "all", "e3", ROOMCAST_FORMAT_BINARY, NULL, 0, &rep));
    EXPECT(rep.recipients == 2);
    ASSERT_OK(roomcast_socket_emit(s[1], "e4", ROOMCAST_FORMAT_JSON, (const uint8_t *)"[1,2]", 5, NULL));
    roomcast_str id; char idbuf[64];
    ASSERT_OK(roomcast_socket_id(s[0], &id));
    ASSERT(id.len > 0 && id.len < sizeof idbuf);
    memcpy(idbuf, id.data, id.len); idbuf[id.len] = 0;
    EXPECT_RC(ROOMCAST_RESULT_OWN_ROOM, roomcast_socket_leave(s[0], idbuf));
    size_t size = 0;
    ASSERT_OK(roomcast_namespace_room_size(ns, idbuf, &size));
    EXPECT(size == 1);
    ASSERT_OK(roomcast_namespace_room_size(ns, "all", &size));
    EXPECT(size == 3);

    roomcast_message *msgs[8];
    size_t n = 0;
    EXPECT_RC(ROOMCAST_RESULT_INVALID_ARGUMENT, roomcast_conn_recv_many(c[1], 0, msgs, 0, &n));
    ASSERT_OK(roomcast_conn_recv_many(c[1], 100, msgs, 8, &n));
    EXPECT(n == 4);
    const char *names[] = {"e1", "e2", "e3", "e4"};
    for (size_t i = 0; i < n && i < 4; i++) {
        roomcast_str ev; const uint8_t *p; size_t len; uint32_t fmt;
        ASSERT_OK(roomcast_message_event(msgs[i], &ev));
        EXPECT(ev.len == 2 && memcmp(ev.data, names[i], 2) == 0);
        ASSERT_OK(roomcast_message_data(msgs[i], &p, &len, &fmt));
        EXPECT(p != NULL);
        roomcast_str nsname;
        ASSERT_OK(roomcast_message_namespace(msgs[i], &nsname));
        EXPECT(nsname.len == 5 && memcmp(nsname.data, "/chat", 5) == 0);
        uint64_t ack;
        EXPECT_RC(ROOMCAST_RESULT_NO_VALUE, roomcast_message_ack_id(msgs[i], &ack));
        if (i == 3) EXPECT(fmt == ROOMCAST_FORMAT_JSON && len == 5);
        roomcast_message_free(msgs[i]);
    }
    EXPECT_RC(ROOMCAST_RESULT_EMPTY, roomcast_conn_recv_many(c[1], 0, msgs, 8, &n));
    /* c[0] was excluded from e1 and is the sender of e3: only e2 */
    ASSERT_OK(roomcast_conn_recv_many(c[0], 0, msgs, 8, &n));
    EXPECT(n == 1);
    for (size_t i = 0; i < n; i++) roomcast_message_free(msgs[i]);
    roomcast_stats st = {.struct_size = sizeof st};
    ASSERT_OK(roomcast_engine_stats(e, &st));
    EXPECT(st.connections == 3 && st.sockets == 3);
    for (int i = 0; i < 3; i++) { roomcast_socket_free(s[i]); roomcast_conn_free(c[i]); }
    ASSERT_OK(roomcast_engine_stats(e, &st));
    EXPECT(st.connections == 0 && st.sockets == 0);
    roomcast_namespace_free(ns);
    roomcast_engine_free(e);
}

TEST(struct_size_is_checked_before_anything_happens) {
    roomcast_engine *e; roomcast_namespace *ns; roomcast_conn *c; roomcast_socket *s;
    ASSERT_OK(roomcast_engine_new(NULL, &e));
    ASSERT_OK(roomcast_engine_of(e, "/", &ns));
    ASSERT_OK(roomcast_engine_connect(e, &c));
    ASSERT_OK(roomcast_conn_join_namespace(c, "/", ROOMCAST_FORMAT_TEXT, NULL, 0, &s));
    roomcast_target zero = {0, NULL, 0, NULL, 0, NULL, false}; /* struct_size forgotten */
    EXPECT_RC(ROOMCAST_RESULT_INVALID_ARGUMENT,
              roomcast_namespace_emit(ns, &zero, "e", ROOMCAST_FORMAT_TEXT, (const uint8_t *)"x", 1, NULL));
    char detail[160];
    roomcast_last_error(detail, sizeof detail);
    EXPECT(strstr(detail, "sizeof(roomcast_target)") != NULL);
    roomcast_emit_report small = {sizeof(size_t), 7, 7, 7};
    EXPECT_RC(ROOMCAST_RESULT_INVALID_ARGUMENT,
              roomcast_namespace_emit(ns, NULL, "e", ROOMCAST_FORMAT_TEXT, (const uint8_t *)"x", 1, &small));
    EXPECT_RC(ROOMCAST_RESULT_INVALID_ARGUMENT, roomcast_socket_emit(s, "e", ROOMCAST_FORMAT_TEXT, NULL, 0, &small));
    EXPECT_RC(ROOMCAST_RESULT_INVALID_ARGUMENT, roomcast_socket_broadcast(s, NULL, "e", ROOMCAST_FORMAT_TEXT, NULL, 0, &small));
    EXPECT(small.recipients == 7 && small.queued == 7); /* untouched */
    roomcast_message *m = NULL;
    EXPECT_RC(ROOMCAST_RESULT_EMPTY, roomcast_conn_try_recv(c, &m)); /* nothing was emitted */
    roomcast_stats st = {.struct_size = 3};
    EXPECT_RC(ROOMCAST_RESULT_INVALID_ARGUMENT, roomcast_engine_stats(e, &st));
    roomcast_connect_options o = {1, 4, 0, NULL};
    roomcast_conn *c2 = NULL;
    EXPECT_RC(ROOMCAST_RESULT_INVALID_ARGUMENT, roomcast_engine_connect_with(e, &o, &c2));
    EXPECT(c2 == NULL);
    /* A caller whose struct is larger (a newer header) gets the fields this
       library knows; the bytes past them are left alone. */
    struct { roomcast_stats st; uint64_t later; } big = {{.struct_size = sizeof big}, 0xfeed};
    ASSERT_OK(roomcast_engine_stats(e, &big.st));
    EXPECT(big.st.connections == 1 && big.st.struct_size == sizeof big && big.later == 0xfeed);
    roomcast_socket_free(s);
    roomcast_conn_free(c);
    roomcast_namespace_free(ns);
    roomcast_engine_free(e);
}

TEST(drop_oldest_reports_lag) {
    const char *kv[] = {"max_queue", "2", "overflow", "drop_oldest"};
    roomcast_engine *e = engine_with(kv, 4);
    ASSERT(e != NULL);
    roomcast_namespace *ns = NULL;
    roomcast_conn *c = NULL;
    roomcast_socket *s = NULL;
    ASSERT_OK(roomcast_engine_of(e, "/", &ns));
    ASSERT_OK(roomcast_engine_connect(e, &c));
    ASSERT_OK(roomcast_conn_join_namespace(c, "/", 0, NULL, 0, &s));
    for (int i = 0; i < 5; i++) ASSERT_OK(roomcast_namespace_emit(ns, NULL, "e", 0, NULL, 0, NULL));
    roomcast_message *m = NULL;
    int lagged = 0, events = 0;
    for (int i = 0; i < 10 && roomcast_conn_try_recv(c, &m) == ROOMCAST_RESULT_OK; i++) {
        uint32_t kind; uint64_t count;
        ASSERT_OK(roomcast_message_kind(m, &kind));
        if (kind == ROOMCAST_KIND_LAGGED) {
            ASSERT_OK(roomcast_message_lagged_count(m, &count));
            EXPECT(count > 0);
            lagged++;
        } else {
            events++;
        }
        roomcast_message_free(m);
    }
    EXPECT(lagged == 1 && events >= 1);
    /* volatile emits never trigger the policy */
    roomcast_target vol = {sizeof vol, NULL, 0, NULL, 0, NULL, true};
    roomcast_emit_report rep = {.struct_size = sizeof rep};
    for (int i = 0; i < 4; i++) ASSERT_OK(roomcast_namespace_emit(ns, &vol, "v", 0, NULL, 0, &rep));
    EXPECT(rep.dropped == 1);
    roomcast_socket_free(s);
    roomcast_conn_free(c);
    roomcast_namespace_free(ns);
    roomcast_engine_free(e);
}

/* notify: writes one byte to a pipe */
static void on_notify_pipe(void *userdata) {
    int fd = *(int *)userdata;
    char b = 1;
    if (write(fd, &b, 1) != 1) abort();
}

TEST(notify_writes_to_pipe) {
    int fds[2];
    ASSERT(pipe(fds) == 0);
    roomcast_engine *e = NULL;
    roomcast_namespace *ns = NULL;
    roomcast_conn *c = NULL;
    roomcast_socket *s = NULL;
    ASSERT_OK(roomcast_engine_new(NULL, &e));
    ASSERT_OK(roomcast_engine_of(e, "/", &ns));
    ASSERT_OK(roomcast_engine_connect(e, &c));
    ASSERT_OK(roomcast_conn_join_namespace(c, "/", 0, NULL, 0, &s));
    ASSERT_OK(roomcast_conn_set_notify(c, on_notify_pipe, &fds[1], NULL));
    ASSERT_OK(roomcast_namespace_emit(ns, NULL, "a", 0, NULL, 0, NULL));
    ASSERT_OK(roomcast_namespace_emit(ns, NULL, "b", 0, NULL, 0, NULL)); /* not empty: no second notify */
    char buf[8];
    EXPECT(read(fds[0], buf, sizeof buf) == 1);
    roomcast_message *msgs[4]; size_t n = 0;
    ASSERT_OK(roomcast_conn_recv_many(c, 0, msgs, 4, &n));
    EXPECT(n == 2);
    for (size_t i = 0; i < n; i++) roomcast_message_free(msgs[i]);
    ASSERT_OK(roomcast_conn_set_notify(c, NULL, NULL, NULL));
    ASSERT_OK(roomcast_namespace_emit(ns, NULL, "c", 0, NULL, 0, NULL));
    roomcast_socket_free(s);
    roomcast_conn_free(c);
    roomcast_namespace_free(ns);
    roomcast_engine_free(e);
    close(fds[0]); close(fds[1]);
}

/* a notify callback that re-enters the engine: forwards to another connection */
struct relay { roomcast_namespace *ns; roomcast_socket *to; int calls; };
static void on_notify_relay(void *userdata) {
    struct relay *r = userdata;
    r->calls++;
    /* drains nothing; just emits to the other socket and reads stats */
    roomcast_emit_report rep = {.struct_size = sizeof rep};
    if (roomcast_socket_emit(r->to, "relayed", 0, NULL, 0, &rep) != ROOMCAST_RESULT_OK) abort();
    roomcast_stats st = {.struct_size = sizeof st};
    if (roomcast_namespace_room_size(r->ns, "x", &(size_t){0}) != ROOMCAST_RESULT_OK) abort();
    (void)st;
}

TEST(callback_reenters_engine) {
    roomcast_engine *e = NULL;
    roomcast_namespace *ns = NULL;
    roomcast_conn *a = NULL, *b = NULL;
    roomcast_socket *sa = NULL, *sb = NULL;
    ASSERT_OK(roomcast_engine_new(NULL, &e));
    ASSERT_OK(roomcast_engine_of(e, "/", &ns));
    ASSERT_OK(roomcast_engine_connect(e, &a));
    ASSERT_OK(roomcast_engine_connect(e, &b));
    ASSERT_OK(roomcast_conn_join_namespace(a, "/", 0, NULL, 0, &sa));
    ASSERT_OK(roomcast_conn_join_namespace(b, "/", 0, NULL, 0, &sb));
    struct relay r = {ns, sb, 0};
    ASSERT_OK(roomcast_conn_set_notify(a, on_notify_relay, &r, NULL));
    ASSERT_OK(roomcast_socket_emit(sa, "hello", 0, NULL, 0, NULL));
    EXPECT(r.calls == 1);
    roomcast_message *m = NULL;
    ASSERT_OK(roomcast_conn_try_recv(b, &m));
    roomcast_str ev;
    ASSERT_OK(roomcast_message_event(m, &ev));
    EXPECT(ev.len == 7 && memcmp(ev.data, "relayed", 7) == 0);
    roomcast_message_free(m);
    ASSERT_OK(roomcast_conn_set_notify(a, NULL, NULL, NULL));
    roomcast_socket_free(sa); roomcast_socket_free(sb);
    roomcast_conn_free(a); roomcast_conn_free(b);
    roomcast_namespace_free(ns);
    roomcast_engine_free(e);
}

int main(void) {
    RUN(version_matches_cargo);
    RUN(free_null_is_noop);
    RUN(result_messages);
    RUN(null_arguments);
    RUN(invalid_names_and_utf8);
    RUN(limits_from_config);
    RUN(refused_and_closed);
    RUN(targets_and_recv_many);
    RUN(struct_size_is_checked_before_anything_happens);
    RUN(drop_oldest_reports_lag);
    RUN(notify_writes_to_pipe);
    RUN(callback_reenters_engine);
    return REPORT();
}
