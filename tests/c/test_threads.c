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
        if (roomcast_namespace_emit(em->ns, NULL, em->event, ROOMCAST_FORMAT_JSON, (const uint8_t *)buf, (size_t)len, NULL)
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
            roomcast_str ev; const uint8_t *p; size_t len;
            if (roomcast_message_event(msgs[i], &ev) == ROOMCAST_RESULT_OK &&
                roomcast_message_data(msgs[i], &p, &len, NULL) == ROOMCAST_RESULT_OK) {
                int which = ev.data[0] == 'a' ? 0 : 1;
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

/* Handlers registered and removed (with userdata frees) on one thread
 * while two threads dispatch, re-entering the engine from the handler: no
 * crash, no leak, every userdata freed exactly once. */
#define CHURN_ROUNDS 300
#define DISPATCHES 3000

struct churn_ud { int *frees; };
static void churn_free(void *ud) {
    struct churn_ud *c = ud;
    __atomic_add_fetch(c->frees, 1, __ATOMIC_SEQ_CST);
    free(c);
}
static int churn_handler(void *ud, const roomcast_socket *s, roomcast_str ev, uint32_t fmt,
                         const uint8_t *data, size_t len, const roomcast_ack *ack) {
    (void)ud; (void)ev; (void)ack;
    /* re-enter: join and emit from the handler, on a dispatching thread */
    if (roomcast_socket_join(s, "busy") != ROOMCAST_RESULT_OK) return 1;
    return roomcast_socket_emit(s, "seen", fmt, data, len, NULL) == ROOMCAST_RESULT_OK ? 0 : 2;
}

struct dispatcher { roomcast_socket *s; int handled, fallback_or_unhandled, errors; };
static void *dispatch_loop(void *arg) {
    struct dispatcher *d = arg;
    for (int i = 0; i < DISPATCHES; i++) {
        uint32_t out = 99;
        if (roomcast_socket_dispatch(d->s, "ev", ROOMCAST_FORMAT_TEXT, (const uint8_t *)"x", 1, false, 0, &out) !=
            ROOMCAST_RESULT_OK)
            d->errors++;
        else if (out == ROOMCAST_DISPATCHED_HANDLED)
            d->handled++;
        else
            d->fallback_or_unhandled++;
    }
    return NULL;
}

struct churner { roomcast_namespace *ns; int *frees; int registered, errors; };
static void *churn_loop(void *arg) {
    struct churner *c = arg;
    for (int i = 0; i < CHURN_ROUNDS; i++) {
        struct churn_ud *ud = malloc(sizeof *ud);
        if (!ud) { c->errors++; break; }
        ud->frees = c->frees;
        if (roomcast_namespace_on(c->ns, "ev", churn_handler, ud, churn_free) != ROOMCAST_RESULT_OK) {
            free(ud);
            c->errors++;
            continue;
        }
        c->registered++;
        if (i % 2 == 0 && roomcast_namespace_off(c->ns, "ev") != ROOMCAST_RESULT_OK) c->errors++;
    }
    return NULL;
}

TEST(handlers_churn_while_dispatching) {
    roomcast_config *cfg = NULL;
    roomcast_engine *e = NULL;
    roomcast_namespace *ns = NULL;
    roomcast_conn *c1 = NULL, *c2 = NULL;
    roomcast_socket *s1 = NULL, *s2 = NULL;
    int frees = 0;
    ASSERT_OK(roomcast_config_new(&cfg));
    ASSERT_OK(roomcast_config_set(cfg, "max_queue", "100000"));
    ASSERT_OK(roomcast_config_set(cfg, "max_queue_bytes", "100000000"));
    ASSERT_OK(roomcast_engine_new(cfg, &e));
    roomcast_config_free(cfg);
    ASSERT_OK(roomcast_engine_of(e, "/", &ns));
    ASSERT_OK(roomcast_engine_connect(e, &c1));
    ASSERT_OK(roomcast_engine_connect(e, &c2));
    ASSERT_OK(roomcast_conn_join_namespace(c1, "/", 0, NULL, 0, &s1));
    ASSERT_OK(roomcast_conn_join_namespace(c2, "/", 0, NULL, 0, &s2));
    struct dispatcher d1 = {s1, 0, 0, 0}, d2 = {s2, 0, 0, 0};
    struct churner ch = {ns, &frees, 0, 0};
    pthread_t t1, t2, tc;
    ASSERT(pthread_create(&tc, NULL, churn_loop, &ch) == 0);
    ASSERT(pthread_create(&t1, NULL, dispatch_loop, &d1) == 0);
    ASSERT(pthread_create(&t2, NULL, dispatch_loop, &d2) == 0);
    pthread_join(tc, NULL);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    EXPECT(ch.errors == 0 && d1.errors == 0 && d2.errors == 0);
    EXPECT(d1.handled + d1.fallback_or_unhandled == DISPATCHES);
    /* the last round (odd) registered without removing: one handler left,
     * every other one freed once the dispatchers let go of it */
    EXPECT(__atomic_load_n(&frees, __ATOMIC_SEQ_CST) == CHURN_ROUNDS - 1);
    ASSERT_OK(roomcast_namespace_off(ns, "ev"));
    EXPECT(__atomic_load_n(&frees, __ATOMIC_SEQ_CST) == ch.registered);
    EXPECT(ch.registered == CHURN_ROUNDS);
    roomcast_socket_free(s1); roomcast_socket_free(s2);
    roomcast_conn_free(c1); roomcast_conn_free(c2);
    roomcast_namespace_free(ns);
    roomcast_engine_free(e);
    EXPECT(__atomic_load_n(&frees, __ATOMIC_SEQ_CST) == CHURN_ROUNDS);
}

int main(void) {
    RUN(two_emitters_one_drainer);
    RUN(notify_from_other_threads);
    RUN(handlers_churn_while_dispatching);
    return REPORT();
}
