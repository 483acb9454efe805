/* Handlers, middleware, lifecycle callbacks, dispatch and ack replies. */
#include <stdlib.h>
#include "runner.h"

struct state { int connections, disconnects, events, acks_sent, already; char last_reason[64]; };

static int on_connection(void *ud, const roomcast_socket *s) {
    struct state *st = ud;
    st->connections++;
    /* re-enter the engine from a handler: join a room */
    return roomcast_socket_join(s, "members") == ROOMCAST_RESULT_OK ? 0 : 1;
}

static void on_disconnect(void *ud, const roomcast_socket *s, const char *reason) {
    struct state *st = ud;
    (void)s;
    st->disconnects++;
    snprintf(st->last_reason, sizeof st->last_reason, "%s", reason);
}

static int on_chat(void *ud, const roomcast_socket *s, roomcast_str event, uint32_t format,
                   const uint8_t *data, size_t len, const roomcast_ack *ack) {
    struct state *st = ud;
    st->events++;
    if (event.len != 4 || memcmp(event.data, "chat", 4) != 0) return 2;
    /* relay to the room except the sender, from inside the handler */
    if (roomcast_socket_broadcast(s, "members", "chat", format, data, len, NULL) != ROOMCAST_RESULT_OK) return 3;
    if (ack) {
        if (roomcast_ack_send(ack, ROOMCAST_FORMAT_TEXT, (const uint8_t *)"ok", 2) == ROOMCAST_RESULT_OK) st->acks_sent++;
        if (roomcast_ack_send(ack, ROOMCAST_FORMAT_TEXT, (const uint8_t *)"no", 2) == ROOMCAST_RESULT_ALREADY_ANSWERED)
            st->already++;
    }
    return 0;
}

static int middleware(void *ud, const roomcast_handshake *hs, roomcast_refusal *refusal) {
    (void)ud;
    const uint8_t *p; size_t len;
    if (roomcast_handshake_auth(hs, &p, &len, NULL) == ROOMCAST_RESULT_OK && len == 6 && memcmp(p, "s3cret", 6) == 0)
        return 0;
    roomcast_refusal_set(refusal, "not authorized", ROOMCAST_FORMAT_JSON, (const uint8_t *)"{\"code\":401}", 12);
    return 1;
}

TEST(handlers_middleware_and_acks) {
    struct state st;
    memset(&st, 0, sizeof st);
    roomcast_engine *e = NULL;
    roomcast_namespace *ns = NULL;
    roomcast_conn *ca = NULL, *cb = NULL;
    roomcast_socket *a = NULL, *b = NULL;
    ASSERT_OK(roomcast_engine_new(NULL, &e));
    ASSERT_OK(roomcast_engine_of(e, "/admin", &ns));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_namespace_on(ns, "chat", NULL, NULL, NULL));
    ASSERT_OK(roomcast_namespace_use(ns, middleware, NULL, NULL));
    ASSERT_OK(roomcast_namespace_on_connection(ns, on_connection, &st, NULL));
    ASSERT_OK(roomcast_namespace_on_disconnect(ns, on_disconnect, &st, NULL));
    ASSERT_OK(roomcast_namespace_on(ns, "chat", on_chat, &st, NULL));
    ASSERT_OK(roomcast_engine_connect(e, &ca));
    ASSERT_OK(roomcast_engine_connect(e, &cb));

    EXPECT_RC(ROOMCAST_RESULT_REFUSED, roomcast_conn_join_namespace(ca, "/admin", ROOMCAST_FORMAT_TEXT,
                                                                   (const uint8_t *)"guess", 5, &a));
    char detail[128];
    roomcast_last_error(detail, sizeof detail);
    EXPECT(strstr(detail, "not authorized") != NULL);
    EXPECT(a == NULL && st.connections == 0);
    ASSERT_OK(roomcast_conn_join_namespace(ca, "/admin", ROOMCAST_FORMAT_TEXT, (const uint8_t *)"s3cret", 6, &a));
    ASSERT_OK(roomcast_conn_join_namespace(cb, "/admin", ROOMCAST_FORMAT_TEXT, (const uint8_t *)"s3cret", 6, &b));
    EXPECT(st.connections == 2);
    size_t size = 0;
    ASSERT_OK(roomcast_namespace_room_size(ns, "members", &size));
    EXPECT(size == 2);

    uint32_t outcome = 99;
    ASSERT_OK(roomcast_socket_dispatch(a, "chat", ROOMCAST_FORMAT_TEXT, (const uint8_t *)"hey", 3, true, 7, &outcome));
    EXPECT(outcome == ROOMCAST_DISPATCHED_HANDLED);
    EXPECT(st.events == 1 && st.acks_sent == 1 && st.already == 1);
    ASSERT_OK(roomcast_socket_dispatch(a, "other", ROOMCAST_FORMAT_BINARY, NULL, 0, false, 0, &outcome));
    EXPECT(outcome == ROOMCAST_DISPATCHED_UNHANDLED);
    EXPECT_RC(ROOMCAST_RESULT_INVALID_NAME, roomcast_socket_dispatch(a, "disconnect", 0, NULL, 0, false, 0, NULL));

    /* a got the ack reply, b got the relayed chat */
    roomcast_message *m = NULL;
    uint32_t kind; uint64_t ack_id; const uint8_t *p; size_t len;
    ASSERT_OK(roomcast_conn_try_recv(ca, &m));
    ASSERT_OK(roomcast_message_kind(m, &kind));
    EXPECT(kind == ROOMCAST_KIND_ACK);
    ASSERT_OK(roomcast_message_ack_id(m, &ack_id));
    EXPECT(ack_id == 7);
    ASSERT_OK(roomcast_message_data(m, &p, &len, NULL));
    EXPECT(len == 2 && memcmp(p, "ok", 2) == 0);
    roomcast_message_free(m);
    EXPECT_RC(ROOMCAST_RESULT_EMPTY, roomcast_conn_try_recv(ca, &m));
    ASSERT_OK(roomcast_conn_try_recv(cb, &m));
    ASSERT_OK(roomcast_message_data(m, &p, &len, NULL));
    EXPECT(len == 3 && memcmp(p, "hey", 3) == 0);
    roomcast_message_free(m);

    ASSERT_OK(roomcast_socket_disconnect(b));
    EXPECT(st.disconnects == 1);
    EXPECT(strcmp(st.last_reason, "server namespace disconnect") == 0);
    ASSERT_OK(roomcast_conn_close(ca, "transport close"));
    EXPECT(st.disconnects == 2);
    EXPECT(strcmp(st.last_reason, "transport close") == 0);
    EXPECT_RC(ROOMCAST_RESULT_CLOSED, roomcast_socket_dispatch(a, "chat", 0, NULL, 0, false, 0, NULL));

    roomcast_socket_free(a); roomcast_socket_free(b);
    roomcast_conn_free(ca); roomcast_conn_free(cb);
    roomcast_namespace_free(ns);
    roomcast_engine_free(e);
}

TEST(emit_with_ack_and_bulk_operations) {
    roomcast_engine *e = NULL;
    roomcast_namespace *ns = NULL;
    roomcast_conn *ca = NULL, *cb = NULL;
    roomcast_socket *a = NULL, *b = NULL;
    ASSERT_OK(roomcast_engine_new(NULL, &e));
    ASSERT_OK(roomcast_engine_of(e, "/", &ns));
    ASSERT_OK(roomcast_engine_connect(e, &ca));
    ASSERT_OK(roomcast_engine_connect(e, &cb));
    ASSERT_OK(roomcast_conn_join_namespace(ca, "/", 0, NULL, 0, &a));
    ASSERT_OK(roomcast_conn_join_namespace(cb, "/", 0, NULL, 0, &b));

    /* one socket: the client answers through receive_ack */
    roomcast_acks *acks = NULL;
    ASSERT_OK(roomcast_socket_emit_with_ack(a, "ping", ROOMCAST_FORMAT_TEXT, (const uint8_t *)"?", 1, 0, &acks));
    size_t expected = 0; uint64_t id = 0, msg_id = 1;
    ASSERT_OK(roomcast_acks_info(acks, &expected, &id));
    EXPECT(expected == 1);
    roomcast_message *m = NULL;
    ASSERT_OK(roomcast_conn_try_recv(ca, &m));
    ASSERT_OK(roomcast_message_ack_id(m, &msg_id));
    EXPECT(msg_id == id);
    roomcast_message_free(m);
    roomcast_ack_reply *r = NULL;
    EXPECT_RC(ROOMCAST_RESULT_TIMEOUT, roomcast_acks_next(acks, 0, &r));
    ASSERT_OK(roomcast_socket_receive_ack(a, id, ROOMCAST_FORMAT_TEXT, (const uint8_t *)"pong", 4));
    EXPECT_RC(ROOMCAST_RESULT_IGNORED, roomcast_socket_receive_ack(a, id, ROOMCAST_FORMAT_TEXT, (const uint8_t *)"again", 5));
    ASSERT_OK(roomcast_acks_next(acks, 1000, &r));
    const uint8_t *p; size_t len;
    ASSERT_OK(roomcast_ack_reply_data(r, &p, &len, NULL));
    EXPECT(len == 4 && memcmp(p, "pong", 4) == 0);
    roomcast_ack_reply_free(r);
    r = NULL;
    EXPECT_RC(ROOMCAST_RESULT_CLOSED, roomcast_acks_next(acks, 0, &r));
    roomcast_acks_free(acks);
    roomcast_acks_free(NULL);
    roomcast_ack_reply_free(NULL);

    /* broadcast: a answers, b times out (50 ms) */
    ASSERT_OK(roomcast_namespace_emit_with_ack(ns, NULL, "poll", ROOMCAST_FORMAT_BINARY, NULL, 0, 50, &acks));
    ASSERT_OK(roomcast_acks_info(acks, &expected, &id));
    EXPECT(expected == 2);
    ASSERT_OK(roomcast_socket_receive_ack(a, id, ROOMCAST_FORMAT_JSON, (const uint8_t *)"1", 1));
    int replies = 0, timeouts = 0;
    for (int i = 0; i < 3; i++) {
        roomcast_result rc = roomcast_acks_next(acks, 2000, &r);
        if (rc == ROOMCAST_RESULT_CLOSED) break;
        ASSERT_OK(rc);
        rc = roomcast_ack_reply_data(r, &p, &len, NULL);
        if (rc == ROOMCAST_RESULT_OK) replies++;
        else if (rc == ROOMCAST_RESULT_TIMEOUT) timeouts++;
        roomcast_str sid;
        ASSERT_OK(roomcast_ack_reply_socket_id(r, &sid));
        EXPECT(sid.len > 0 && sid.data != NULL);
        roomcast_ack_reply_free(r);
    }
    EXPECT(replies == 1 && timeouts == 1);
    roomcast_acks_free(acks);
    roomcast_message *msgs[8]; size_t n;
    ASSERT_OK(roomcast_conn_recv_many(ca, 0, msgs, 8, &n));
    for (size_t i = 0; i < n; i++) roomcast_message_free(msgs[i]);
    ASSERT_OK(roomcast_conn_recv_many(cb, 0, msgs, 8, &n));
    for (size_t i = 0; i < n; i++) roomcast_message_free(msgs[i]);

    /* bulk room operations and disconnect */
    const char *rooms[] = {"r1", "r2"};
    size_t count = 0, size = 0;
    ASSERT_OK(roomcast_namespace_sockets_join(ns, NULL, rooms, 2, &count));
    EXPECT(count == 2);
    ASSERT_OK(roomcast_namespace_room_size(ns, "r2", &size));
    EXPECT(size == 2);
    roomcast_target only_a = {sizeof only_a, NULL, 0, NULL, 0, b, false};
    ASSERT_OK(roomcast_namespace_sockets_leave(ns, &only_a, rooms, 1, &count));
    EXPECT(count == 1);
    ASSERT_OK(roomcast_namespace_room_size(ns, "r1", &size));
    EXPECT(size == 1);
    roomcast_socket *fetched[1] = {NULL};
    size_t total = 0;
    ASSERT_OK(roomcast_namespace_fetch_sockets(ns, NULL, fetched, 1, &count, &total));
    EXPECT(count == 1 && total == 2);
    roomcast_socket_free(fetched[0]);
    ASSERT_OK(roomcast_namespace_fetch_sockets(ns, NULL, NULL, 0, &count, &total));
    EXPECT(count == 0 && total == 2);
    const char *r2[] = {"r2"};
    roomcast_target in_r2 = {sizeof in_r2, r2, 1, NULL, 0, NULL, false};
    ASSERT_OK(roomcast_namespace_disconnect_sockets(ns, &in_r2, &count));
    EXPECT(count == 2);
    EXPECT_RC(ROOMCAST_RESULT_CLOSED, roomcast_socket_join(a, "x"));

    roomcast_socket_free(a); roomcast_socket_free(b);
    roomcast_conn_free(ca); roomcast_conn_free(cb);
    roomcast_namespace_free(ns);
    roomcast_engine_free(e);
}

static int fail_handler(void *ud, const roomcast_socket *s, roomcast_str event, uint32_t format,
                        const uint8_t *data, size_t len, const roomcast_ack *ack) {
    (void)s; (void)event; (void)format; (void)data; (void)len; (void)ack;
    (*(int *)ud)++;
    return 42; /* reported as a failure; the next handler still runs */
}

static int self_disconnect(void *ud, const roomcast_socket *s, roomcast_str event, uint32_t format,
                           const uint8_t *data, size_t len, const roomcast_ack *ack) {
    (void)event; (void)format; (void)data; (void)len; (void)ack;
    (*(int *)ud)++;
    return roomcast_socket_disconnect(s) == ROOMCAST_RESULT_OK ? 0 : 1;
}

TEST(handler_failure_and_self_disconnect) {
    roomcast_engine *e = NULL;
    roomcast_namespace *ns = NULL;
    roomcast_conn *c = NULL;
    roomcast_socket *s = NULL;
    int calls = 0;
    ASSERT_OK(roomcast_engine_new(NULL, &e));
    ASSERT_OK(roomcast_engine_of(e, "/quiet", &ns));
    ASSERT_OK(roomcast_namespace_on(ns, "bye", fail_handler, &calls, NULL));
    ASSERT_OK(roomcast_namespace_on(ns, "bye", self_disconnect, &calls, NULL));
    ASSERT_OK(roomcast_engine_connect(e, &c));
    ASSERT_OK(roomcast_conn_join_namespace(c, "/quiet", 0, NULL, 0, &s));
    uint32_t outcome = 99;
    ASSERT_OK(roomcast_socket_dispatch(s, "bye", 0, NULL, 0, false, 0, &outcome));
    EXPECT(outcome == ROOMCAST_DISPATCHED_HANDLED);
    EXPECT(calls == 2);
    roomcast_message *m = NULL;
    uint32_t kind = 99;
    ASSERT_OK(roomcast_conn_try_recv(c, &m));
    ASSERT_OK(roomcast_message_kind(m, &kind));
    EXPECT(kind == ROOMCAST_KIND_DISCONNECT);
    roomcast_message_free(m);
    EXPECT_RC(ROOMCAST_RESULT_CLOSED, roomcast_socket_dispatch(s, "bye", 0, NULL, 0, false, 0, NULL));
    roomcast_socket_free(s);
    roomcast_conn_free(c);
    roomcast_namespace_free(ns);
    roomcast_engine_free(e);
}

int main(void) {
    RUN(handler_failure_and_self_disconnect);
    RUN(handlers_middleware_and_acks);
    RUN(emit_with_ack_and_bulk_operations);
    return REPORT();
}
