/* The Redis cluster adapter from C against a live redis-server, whose URL
 * scripts/test-c.sh passes in ROOMCAST_REDIS_URL (the test fails without
 * it). Two engines in this process are two nodes of one cluster. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "runner.h"

struct node {
    roomcast_redis *redis;
    roomcast_engine *engine;
    roomcast_namespace *ns;
};

static const char *redis_url(void) {
    const char *u = getenv("ROOMCAST_REDIS_URL");
    return u && *u ? u : NULL;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int node_start(struct node *n, const char *ns_name) {
    memset(n, 0, sizeof *n);
    if (roomcast_redis_new(redis_url(), &n->redis) != ROOMCAST_RESULT_OK) return 0;
    if (roomcast_engine_new_with_redis(NULL, n->redis, &n->engine) != ROOMCAST_RESULT_OK) return 0;
    if (roomcast_redis_wait_connected(n->redis, 5000) != ROOMCAST_RESULT_OK) return 0;
    return roomcast_engine_of(n->engine, ns_name, &n->ns) == ROOMCAST_RESULT_OK;
}

static void node_stop(struct node *n) {
    roomcast_namespace_free(n->ns);
    roomcast_engine_free(n->engine);
    roomcast_redis_free(n->redis);
}

/* Waits until both engines count `want` nodes (heartbeats). */
static int wait_nodes(struct node *a, struct node *b, size_t want) {
    for (int i = 0; i < 100; i++) {
        size_t x = 0, y = 0;
        if (roomcast_engine_server_count(a->engine, &x) == ROOMCAST_RESULT_OK &&
            roomcast_engine_server_count(b->engine, &y) == ROOMCAST_RESULT_OK && x >= want && y >= want)
            return 1;
        sleep_ms(50);
    }
    return 0;
}

/* Receives the next event within 3 s; 1 if it is `event` with text `text`. */
static int recv_event(roomcast_conn *c, const char *event, const char *text) {
    roomcast_message *m = NULL;
    if (roomcast_conn_recv(c, 3000, &m) != ROOMCAST_RESULT_OK) return 0;
    roomcast_str ev = {NULL, 0};
    size_t len = 0;
    const uint8_t *data = NULL;
    int ok = roomcast_message_event(m, &ev) == ROOMCAST_RESULT_OK && ev.len == strlen(event) &&
             memcmp(ev.data, event, ev.len) == 0 && roomcast_message_data(m, &data, &len, NULL) == ROOMCAST_RESULT_OK &&
             len == strlen(text) && memcmp(data, text, len) == 0;
    roomcast_message_free(m);
    return ok;
}

TEST(the_url_is_given) {
    ASSERT(redis_url() != NULL);
}

struct asked { int calls; char last[32]; };

/* Answers "b:<data>" when the data is not "quiet". */
static void answer(void *ud, uint32_t format, const uint8_t *data, size_t len, roomcast_reply *reply) {
    struct asked *a = ud;
    char buf[40];
    a->calls++;
    snprintf(a->last, sizeof a->last, "%.*s", (int)len, (const char *)data);
    if (format != ROOMCAST_FORMAT_TEXT || (len == 5 && memcmp(data, "quiet", 5) == 0)) return;
    int n = snprintf(buf, sizeof buf, "b:%.*s", (int)len, (const char *)data);
    if (roomcast_reply_set(reply, ROOMCAST_FORMAT_TEXT, (const uint8_t *)buf, (size_t)n) != ROOMCAST_RESULT_OK) abort();
    /* a bad reply is refused and leaves the good one in place */
    if (roomcast_reply_set(reply, ROOMCAST_FORMAT_JSON, (const uint8_t *)"{", 1) == ROOMCAST_RESULT_OK) abort();
}

static int g_freed;
static void count_free(void *ud) { (void)ud; g_freed++; }

TEST(server_side_emit_with_ack_across_nodes) {
    struct node a, b;
    struct asked on_a = {0, ""}, on_b = {0, ""};
    ASSERT(redis_url() != NULL);
    ASSERT(node_start(&a, "/ssa") && node_start(&b, "/ssa"));
    ASSERT(wait_nodes(&a, &b, 2));
    ASSERT_OK(roomcast_namespace_on_server_side_reply(a.ns, "ask", answer, &on_a, NULL));
    ASSERT_OK(roomcast_namespace_on_server_side_reply(b.ns, "ask", answer, &on_b, count_free));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_namespace_on_server_side_reply(b.ns, "ask", NULL, NULL, NULL));

    roomcast_payloads *replies = NULL;
    size_t missing = 99;
    ASSERT_OK(roomcast_namespace_server_side_emit_with_ack(a.ns, "ask", ROOMCAST_FORMAT_TEXT, (const uint8_t *)"hi", 2,
                                                           3000, &replies, &missing));
    EXPECT(missing == 0);
    EXPECT(roomcast_payloads_len(replies) == 1);
    const uint8_t *data = NULL;
    size_t len = 0;
    uint32_t fmt = 0;
    ASSERT_OK(roomcast_payloads_get(replies, 0, &data, &len, &fmt));
    EXPECT(fmt == ROOMCAST_FORMAT_TEXT && len == 4 && memcmp(data, "b:hi", 4) == 0);
    EXPECT_RC(ROOMCAST_RESULT_INVALID_ARGUMENT, roomcast_payloads_get(replies, 1, &data, &len, &fmt));
    roomcast_payloads_free(replies);
    /* only the other node's handler ran */
    EXPECT(on_b.calls == 1 && strcmp(on_b.last, "hi") == 0 && on_a.calls == 0);

    /* a handler that sets no reply sends none */
    replies = NULL;
    ASSERT_OK(roomcast_namespace_server_side_emit_with_ack(a.ns, "ask", ROOMCAST_FORMAT_TEXT, (const uint8_t *)"quiet",
                                                           5, 1000, &replies, &missing));
    EXPECT(roomcast_payloads_len(replies) == 0 && on_b.calls == 2);
    roomcast_payloads_free(replies);

    /* bad input: clear errors, nothing sent, outputs untouched */
    replies = NULL;
    EXPECT_RC(ROOMCAST_RESULT_INVALID_ARGUMENT,
              roomcast_namespace_server_side_emit_with_ack(a.ns, "ask", ROOMCAST_FORMAT_TEXT, NULL, 0, 0, &replies, NULL));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER,
              roomcast_namespace_server_side_emit_with_ack(a.ns, "ask", ROOMCAST_FORMAT_TEXT, NULL, 0, 100, NULL, NULL));
    EXPECT_RC(ROOMCAST_RESULT_INVALID_PAYLOAD,
              roomcast_namespace_server_side_emit_with_ack(a.ns, "ask", ROOMCAST_FORMAT_JSON, (const uint8_t *)"{", 1,
                                                           100, &replies, NULL));
    EXPECT(replies == NULL && on_b.calls == 2);
    EXPECT(roomcast_payloads_len(NULL) == 0);
    roomcast_payloads_free(NULL);
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_reply_set(NULL, ROOMCAST_FORMAT_TEXT, NULL, 0));

    node_stop(&a);
    node_stop(&b);
    EXPECT(g_freed == 1);
}

TEST(rooms_span_both_nodes) {
    struct node a, b;
    roomcast_conn *ca = NULL, *cb = NULL;
    roomcast_socket *sa = NULL, *sb = NULL;
    ASSERT(redis_url() != NULL);
    ASSERT(node_start(&a, "/rooms") && node_start(&b, "/rooms"));
    ASSERT(wait_nodes(&a, &b, 2));
    ASSERT_OK(roomcast_engine_connect(a.engine, &ca));
    ASSERT_OK(roomcast_engine_connect(b.engine, &cb));
    ASSERT_OK(roomcast_conn_join_namespace(ca, "/rooms", 0, NULL, 0, &sa));
    ASSERT_OK(roomcast_conn_join_namespace(cb, "/rooms", 0, NULL, 0, &sb));
    ASSERT_OK(roomcast_socket_join(sa, "r"));
    ASSERT_OK(roomcast_socket_join(sb, "r"));

    /* a room emit on node A reaches the member on node B */
    const char *r[] = {"r"};
    roomcast_target to_r = {sizeof to_r, r, 1, NULL, 0, NULL, false};
    ASSERT_OK(roomcast_namespace_emit(a.ns, &to_r, "all", ROOMCAST_FORMAT_TEXT, (const uint8_t *)"1", 1, NULL));
    EXPECT(recv_event(ca, "all", "1"));
    EXPECT(recv_event(cb, "all", "1"));

    /* the sender excluded: only B's member gets it, exactly once */
    roomcast_target from_a = {sizeof from_a, r, 1, NULL, 0, sa, false};
    ASSERT_OK(roomcast_namespace_emit(a.ns, &from_a, "others", ROOMCAST_FORMAT_TEXT, (const uint8_t *)"2", 1, NULL));
    EXPECT(recv_event(cb, "others", "2"));
    roomcast_message *m = NULL;
    EXPECT_RC(ROOMCAST_RESULT_EMPTY, roomcast_conn_try_recv(ca, &m));

    /* cluster-wide queries and room changes see both nodes */
    size_t count = 0, missing = 99;
    ASSERT_OK(roomcast_namespace_cluster_count_sockets(a.ns, &to_r, &count, &missing));
    EXPECT(count == 2 && missing == 0);
    const char *s[] = {"s"};
    ASSERT_OK(roomcast_namespace_cluster_sockets_join(a.ns, &to_r, s, 1, false, &count, &missing));
    EXPECT(count == 2 && missing == 0);
    bool in = false;
    for (int i = 0; i < 60 && !in; i++) {
        ASSERT_OK(roomcast_socket_in_room(sb, "s", &in));
        if (!in) sleep_ms(50);
    }
    EXPECT(in);
    ASSERT_OK(roomcast_socket_in_room(sa, "s", &in));
    EXPECT(in);
    /* a local emit stays on its node */
    ASSERT_OK(roomcast_namespace_emit_local(a.ns, &to_r, "here", ROOMCAST_FORMAT_TEXT, (const uint8_t *)"3", 1, NULL));
    EXPECT(recv_event(ca, "here", "3"));
    sleep_ms(200);
    EXPECT_RC(ROOMCAST_RESULT_EMPTY, roomcast_conn_try_recv(cb, &m));

    roomcast_socket_free(sa); roomcast_socket_free(sb);
    roomcast_conn_free(ca); roomcast_conn_free(cb);
    node_stop(&a);
    node_stop(&b);
}

int main(void) {
    RUN(the_url_is_given);
    RUN(server_side_emit_with_ack_across_nodes);
    RUN(rooms_span_both_nodes);
    return REPORT();
}
