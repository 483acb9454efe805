/* The Redis cluster adapter from C. Runs without a Redis server (the
 * cluster behaviour itself is tested against a real one by
 * scripts/test-redis.sh): construction, errors, local delivery while
 * Redis is unreachable, and the counters that report it. */
#include <stdlib.h>
#include <unistd.h>
#include <time.h>
#include "runner.h"

TEST(bad_url_is_rejected) {
    roomcast_redis *r = NULL;
    EXPECT_RC(ROOMCAST_RESULT_INVALID_ARGUMENT, roomcast_redis_new("not a url", &r));
    EXPECT(r == NULL);
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_redis_new(NULL, &r));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_redis_new("redis://127.0.0.1:1", NULL));
    roomcast_redis_free(NULL);
}

TEST(local_delivery_continues_without_redis) {
    roomcast_redis *r = NULL;
    roomcast_engine *e = NULL;
    roomcast_namespace *ns = NULL;
    roomcast_conn *c = NULL;
    roomcast_socket *s = NULL;
    /* Port 1 on loopback: nothing listens, connections are refused. */
    ASSERT_OK(roomcast_redis_new("redis://127.0.0.1:1", &r));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_engine_new_with_redis(NULL, NULL, &e));
    ASSERT_OK(roomcast_engine_new_with_redis(NULL, r, &e));
    EXPECT_RC(ROOMCAST_RESULT_TIMEOUT, roomcast_redis_wait_connected(r, 50));
    ASSERT_OK(roomcast_engine_of(e, "/", &ns));
    ASSERT_OK(roomcast_engine_connect(e, &c));
    ASSERT_OK(roomcast_conn_join_namespace(c, "/", ROOMCAST_FORMAT_BINARY, NULL, 0, &s));
    ASSERT_OK(roomcast_socket_join(s, "room"));
    const char *rooms[] = {"room"};
    roomcast_target t = {sizeof t, rooms, 1, NULL, 0, NULL, false};
    roomcast_emit_report rep = {.struct_size = sizeof rep};
    for (int i = 0; i < 20; i++) {
        ASSERT_OK(roomcast_namespace_emit(ns, &t, "ev", ROOMCAST_FORMAT_TEXT, (const uint8_t *)"hi", 2, &rep));
        EXPECT(rep.queued == 1);
    }
    roomcast_message *m = NULL;
    ASSERT_OK(roomcast_conn_recv(c, 1000, &m));
    roomcast_str ev = {NULL, 0};
    ASSERT_OK(roomcast_message_event(m, &ev));
    EXPECT(ev.len == 2 && memcmp(ev.data, "ev", 2) == 0);
    roomcast_message_free(m);

    size_t n = 0;
    ASSERT_OK(roomcast_engine_server_count(e, &n));
    EXPECT(n == 1);
    /* The publisher drops what it cannot send, and counts it. */
    roomcast_cluster_stats st = {.struct_size = sizeof st};
    for (int i = 0; i < 200; i++) {
        ASSERT_OK(roomcast_redis_stats(r, &st));
        if (st.dropped >= 20) break;
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
    EXPECT(st.dropped >= 20);
    EXPECT(!st.connected);
    EXPECT(st.published == 0);
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_redis_stats(r, NULL));

    roomcast_socket_free(s);
    roomcast_conn_free(c);
    roomcast_namespace_free(ns);
    roomcast_redis_free(r); /* the engine still holds the adapter */
    roomcast_engine_free(e);
}

static void on_hello(void *userdata, uint32_t format, const uint8_t *data, size_t len) {
    (void)format; (void)data; (void)len;
    ++*(int *)userdata;
}

static void count_free(void *userdata) {
    ++*(int *)userdata;
}

TEST(cluster_operations_act_locally_and_report_the_outage) {
    roomcast_redis *r = NULL;
    roomcast_engine *e = NULL;
    roomcast_namespace *ns = NULL;
    roomcast_conn *c = NULL;
    roomcast_socket *s = NULL;
    ASSERT_OK(roomcast_redis_new("redis://127.0.0.1:1", &r));
    ASSERT_OK(roomcast_engine_new_with_redis(NULL, r, &e));
    ASSERT_OK(roomcast_engine_of(e, "/", &ns));
    ASSERT_OK(roomcast_engine_connect(e, &c));
    ASSERT_OK(roomcast_conn_join_namespace(c, "/", ROOMCAST_FORMAT_BINARY, NULL, 0, &s));
    ASSERT_OK(roomcast_socket_join(s, "room"));
    const char *rooms[] = {"room"};
    roomcast_target t = {sizeof t, rooms, 1, NULL, 0, NULL, false};

    /* local emit: delivered here, nothing published. */
    roomcast_emit_report rep = {.struct_size = sizeof rep};
    ASSERT_OK(roomcast_namespace_emit_local(ns, &t, "ev", ROOMCAST_FORMAT_TEXT, (const uint8_t *)"x", 1, &rep));
    EXPECT(rep.queued == 1);

    size_t n = 99, missing = 99;
    EXPECT_RC(ROOMCAST_RESULT_CLUSTER_UNAVAILABLE, roomcast_namespace_cluster_count_sockets(ns, &t, &n, &missing));
    EXPECT(n == 99); /* written only on success */
    const char *vip[] = {"vip"};
    EXPECT_RC(ROOMCAST_RESULT_CLUSTER_UNAVAILABLE, roomcast_namespace_cluster_sockets_join(ns, &t, vip, 1, false, &n, &missing));
    size_t size = 0;
    ASSERT_OK(roomcast_namespace_room_size(ns, "vip", &size));
    EXPECT(size == 1); /* this node's part was done */
    EXPECT_RC(ROOMCAST_RESULT_CLUSTER_UNAVAILABLE,
              roomcast_namespace_server_side_emit(ns, "hello", ROOMCAST_FORMAT_TEXT, (const uint8_t *)"x", 1));
    EXPECT(strcmp(roomcast_result_message(ROOMCAST_RESULT_CLUSTER_UNAVAILABLE), "the cluster bus is unavailable") == 0);
    int hits = 0;
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_namespace_on_server_side(ns, "hello", NULL, &hits, NULL));
    ASSERT_OK(roomcast_namespace_on_server_side(ns, "hello", on_hello, &hits, NULL));
    EXPECT(hits == 0); /* only other nodes' emits run it */

    roomcast_socket_free(s);
    roomcast_conn_free(c);
    roomcast_namespace_free(ns);
    roomcast_engine_free(e);
    roomcast_redis_free(r);
}

TEST(cluster_operations_without_a_cluster_are_this_node) {
    roomcast_engine *e = NULL;
    roomcast_namespace *ns = NULL;
    roomcast_conn *c = NULL;
    roomcast_socket *s = NULL;
    ASSERT_OK(roomcast_engine_new(NULL, &e));
    ASSERT_OK(roomcast_engine_of(e, "/", &ns));
    ASSERT_OK(roomcast_engine_connect(e, &c));
    ASSERT_OK(roomcast_conn_join_namespace(c, "/", ROOMCAST_FORMAT_BINARY, NULL, 0, &s));
    ASSERT_OK(roomcast_socket_join(s, "a"));
    const char *rooms[] = {"a"};
    roomcast_target t = {sizeof t, rooms, 1, NULL, 0, NULL, false};
    size_t n = 0, missing = 9;
    ASSERT_OK(roomcast_namespace_cluster_count_sockets(ns, &t, &n, &missing));
    EXPECT(n == 1 && missing == 0);
    const char *b[] = {"b"};
    ASSERT_OK(roomcast_namespace_cluster_sockets_join(ns, &t, b, 1, false, &n, NULL));
    EXPECT(n == 1);
    ASSERT_OK(roomcast_namespace_cluster_sockets_join(ns, &t, b, 1, true, &n, NULL));
    EXPECT(n == 1);
    ASSERT_OK(roomcast_namespace_server_side_emit(ns, "x", ROOMCAST_FORMAT_BINARY, NULL, 0));
    ASSERT_OK(roomcast_engine_server_count(e, &n));
    EXPECT(n == 1);
    ASSERT_OK(roomcast_namespace_cluster_disconnect_sockets(ns, &t, &n, &missing));
    EXPECT(n == 1 && missing == 0);

    /* A server-side handler's userdata is freed once, when the engine drops
       the handler; a refused registration leaves it with the caller. */
    int hits = 0, freed = 0;
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_namespace_on_server_side(ns, "x", NULL, &freed, count_free));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_namespace_on_server_side(ns, NULL, on_hello, &freed, count_free));
    EXPECT(freed == 0);
    ASSERT_OK(roomcast_namespace_on_server_side(ns, "x", on_hello, &hits, NULL));
    ASSERT_OK(roomcast_namespace_on_server_side(ns, "y", on_hello, &freed, count_free));
    roomcast_socket_free(s);
    roomcast_conn_free(c);
    roomcast_namespace_free(ns);
    EXPECT(freed == 0);
    roomcast_engine_free(e);
    EXPECT(freed == 1);
    EXPECT(hits == 0);
}

int main(void) {
    RUN(bad_url_is_rejected);
    RUN(local_delivery_continues_without_redis);
    RUN(cluster_operations_act_locally_and_report_the_outage);
    RUN(cluster_operations_without_a_cluster_are_this_node);
    return REPORT();
}
