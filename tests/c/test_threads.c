/* Threads: two emitting threads and one draining thread, per-emitter order. */
#include <pthread.h>
#include <stdlib.h>
#include "runner.h"

#define PER_THREAD 2000

struct emitter { roomcast_namespace *ns; const char *event; int failures; };

static void *emit_loop(void *arg) {
    struct emitter *em = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        char buf[16];
        int len = snprintf(buf, sizeof buf, "%d", i);
        if (roomcast_emit(em->ns, NULL, em->event, ROOMCAST_FORMAT_JSON, (const uint8_t *)buf, (size_t)len, NULL)
            != ROOMCAST_RESULT_OK)
            em->failures++;
    }
    return NULL;
}

struct drainer { roomcast_conn *conn; int next[2]; int received; int out_of_order; int other; };

static void *drain_loop(void *arg) {
    struct drainer *d = arg;
    roomcast_message *msgs[64];
    /* bounded: stops on CLOSED (after the main thread closes) or after many idle rounds */
    for (int idle = 0; idle < 2000;) {
        size_t n = 0;
        roomcast_result r = roomcast_conn_recv_many(d->conn, 10, msgs, 64, &n);
        if (r == ROOMCAST_RESULT_CLOSED) break;
        if (r == ROOMCAST_RESULT_TIMEOUT) { idle++; continue; }
        if (r != ROOMCAST_RESULT_OK) { d->other++; break; }
        for (size_t i = 0; i < n; i++) {
            const char *ev; size_t ev_len; const uint8_t *p; size_t len;
            if (roomcast_message_event(msgs[i], &ev, &ev_len) == ROOMCAST_RESULT_OK &&
                roomcast_message_data(msgs[i], &p, &len, NULL) == ROOMCAST_RESULT_OK) {
                int which = ev[0] == 'a' ? 0 : 1;
                char num[16] = {0};
                memcpy(num, p, len < 15 ? len : 15);
                if (atoi(num) != d->next[which]) d->out_of_order++;
                d->next[which] = atoi(num) + 1;
                d->received++;
            } else {
                d->other++;
            }
            roomcast_message_free(msgs[i]);
        }
    }
    return NULL;
}

TEST(two_emitters_one_drainer) {
    roomcast_config *cfg = NULL;
    roomcast_engine *e = NULL;
    roomcast_namespace *ns = NULL;
    roomcast_conn *c = NULL;
    roomcast_socket *s = NULL;
    ASSERT_OK(roomcast_config_new(&cfg));
    ASSERT_OK(roomcast_config_set(cfg, "max_queue", "100000"));
    ASSERT_OK(roomcast_config_set(cfg, "max_queue_bytes", "100000000"));
    ASSERT_OK(roomcast_engine_new(cfg, &e));
    roomcast_config_free(cfg);
    ASSERT_OK(roomcast_engine_of(e, "/", &ns));
    ASSERT_OK(roomcast_engine_connect(e, &c));
    ASSERT_OK(roomcast_conn_join_namespace(c, "/", 0, NULL, 0, &s));

    struct emitter ea = {ns, "a", 0}, eb = {ns, "b", 0};
    struct drainer d = {c, {0, 0}, 0, 0, 0};
    pthread_t ta, tb, td;
    ASSERT(pthread_create(&td, NULL, drain_loop, &d) == 0);
    ASSERT(pthread_create(&ta, NULL, emit_loop, &ea) == 0);
    ASSERT(pthread_create(&tb, NULL, emit_loop, &eb) == 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    ASSERT_OK(roomcast_conn_close(c, NULL));
    pthread_join(td, NULL);

    EXPECT(ea.failures == 0 && eb.failures == 0);
    EXPECT(d.received == 2 * PER_THREAD);
    EXPECT(d.out_of_order == 0);
    EXPECT(d.other == 0);
    EXPECT(d.next[0] == PER_THREAD && d.next[1] == PER_THREAD);
    roomcast_socket_free(s);
    roomcast_conn_free(c);
    roomcast_namespace_free(ns);
    roomcast_engine_free(e);
}

/* notify from emitting threads, counted atomically */
static void on_notify_count(void *userdata) {
    __atomic_add_fetch((int *)userdata, 1, __ATOMIC_SEQ_CST);
}

TEST(notify_from_other_threads) {
    roomcast_engine *e = NULL;
    roomcast_namespace *ns = NULL;
    roomcast_conn *c = NULL;
    roomcast_socket *s = NULL;
    int count = 0;
    ASSERT_OK(roomcast_engine_new(NULL, &e));
    ASSERT_OK(roomcast_engine_of(e, "/", &ns));
    ASSERT_OK(roomcast_engine_connect(e, &c));
    ASSERT_OK(roomcast_conn_join_namespace(c, "/", 0, NULL, 0, &s));
    ASSERT_OK(roomcast_conn_set_notify(c, on_notify_count, &count, NULL));
    struct emitter ea = {ns, "a", 0};
    pthread_t ta;
    ASSERT(pthread_create(&ta, NULL, emit_loop, &ea) == 0);
    pthread_join(ta, NULL);
    EXPECT(__atomic_load_n(&count, __ATOMIC_SEQ_CST) >= 1);
    ASSERT_OK(roomcast_conn_set_notify(c, NULL, NULL, NULL));
    roomcast_socket_free(s);
    roomcast_conn_free(c);
    roomcast_namespace_free(ns);
    roomcast_engine_free(e);
}

int main(void) {
    RUN(two_emitters_one_drainer);
    RUN(notify_from_other_threads);
    return REPORT();
}
