/* Connection state recovery from C: session id, offsets, the resume call,
 * the kept socket, the per-namespace setting and the failure cases. */
#include <stdlib.h>
#include "runner.h"

static roomcast_engine *recovering_engine(const char *window_ms, const char *max_events) {
    roomcast_config *cfg = NULL;
    roomcast_engine *e = NULL;
    if (roomcast_config_new(&cfg) != ROOMCAST_RESULT_OK) return NULL;
    if (roomcast_config_set(cfg, "max_disconnection_duration", window_ms) != ROOMCAST_RESULT_OK ||
        (max_events && roomcast_config_set(cfg, "recovery_max_events", max_events) != ROOMCAST_RESULT_OK) ||
        roomcast_engine_new(cfg, &e) != ROOMCAST_RESULT_OK)
        e = NULL;
    roomcast_config_free(cfg);
    return e;
}

static void emit_to(roomcast_namespace *ns, const char *room, const char *text) {
    const char *rooms[] = {room};
    roomcast_target t = {sizeof t, rooms, 1, NULL, 0, NULL, false};
    roomcast_namespace_emit(ns, &t, "m", ROOMCAST_FORMAT_TEXT, (const uint8_t *)text, strlen(text), NULL);
}

/* Receives one event without waiting; writes its text (NUL-terminated) and
 * offset; false when the outbox is empty. */
static bool next_event(roomcast_conn *c, char *text, size_t cap, uint64_t *offset) {
    roomcast_message *m = NULL;
    if (roomcast_conn_recv(c, 0, &m) != ROOMCAST_RESULT_OK) return false;
    const uint8_t *d = NULL;
    size_t n = 0;
    roomcast_message_data(m, &d, &n, NULL);
    if (n >= cap) n = cap - 1;
    memcpy(text, d, n);
    text[n] = '\0';
    if (roomcast_message_offset(m, offset) != ROOMCAST_RESULT_OK) *offset = 0;
    roomcast_message_free(m);
    return true;
}

static char *session_of(roomcast_socket *s) {
    roomcast_str pid;
    if (roomcast_socket_session_id(s, &pid) != ROOMCAST_RESULT_OK) return NULL;
    char *out = malloc(pid.len + 1);
    memcpy(out, pid.data, pid.len);
    out[pid.len] = '\0';
    return out;
}

TEST(recovery_after_a_short_drop_restores_the_socket_and_replays_what_it_missed) {
    roomcast_engine *e = recovering_engine("60000", NULL);
    ASSERT(e != NULL);
    roomcast_namespace *ns = NULL;
    roomcast_conn *c1 = NULL, *c2 = NULL;
    roomcast_socket *s1 = NULL, *s2 = NULL;
    ASSERT_OK(roomcast_engine_of(e, "/chat", &ns));
    ASSERT_OK(roomcast_engine_connect(e, &c1));
    ASSERT_OK(roomcast_conn_join_namespace(c1, "/chat", ROOMCAST_FORMAT_JSON, NULL, 0, &s1));
    ASSERT_OK(roomcast_socket_join(s1, "lobby"));
    char *pid = session_of(s1);
    ASSERT(pid != NULL);
    bool flag = true;
    ASSERT_OK(roomcast_socket_recovered(s1, &flag));
    EXPECT(!flag);

    char text[64];
    uint64_t seen = 0, off = 0;
    emit_to(ns, "lobby", "seen");
    ASSERT(next_event(c1, text, sizeof text, &seen));
    EXPECT(strcmp(text, "seen") == 0 && seen > 0);
    ASSERT_OK(roomcast_conn_close(c1, "transport close"));
    ASSERT_OK(roomcast_socket_is_awaiting_recovery(s1, &flag));
    EXPECT(flag);
    size_t members = 0;
    ASSERT_OK(roomcast_namespace_room_size(ns, "lobby", &members));
    EXPECT(members == 1); /* a kept socket counts */
    emit_to(ns, "lobby", "missed 1");
    emit_to(ns, "lobby", "missed 2");

    ASSERT_OK(roomcast_engine_connect(e, &c2));
    ASSERT_OK(roomcast_conn_resume_namespace(c2, "/chat", ROOMCAST_FORMAT_JSON, NULL, 0, pid, true, seen, &s2));
    ASSERT_OK(roomcast_socket_recovered(s2, &flag));
    EXPECT(flag);
    roomcast_str id1, id2;
    ASSERT_OK(roomcast_socket_id(s1, &id1));
    ASSERT_OK(roomcast_socket_id(s2, &id2));
    EXPECT(id1.len == id2.len && memcmp(id1.data, id2.data, id1.len) == 0);
    bool in = false;
    ASSERT_OK(roomcast_socket_in_room(s2, "lobby", &in));
    EXPECT(in);
    emit_to(ns, "lobby", "newer");
    const char *want[] = {"missed 1", "missed 2", "newer"};
    for (size_t i = 0; i < 3; i++) {
        ASSERT(next_event(c2, text, sizeof text, &off));
        EXPECT(strcmp(text, want[i]) == 0);
        EXPECT(off == seen + 1 + i);
    }
    EXPECT(!next_event(c2, text, sizeof text, &off));
    roomcast_recovery_stats st = {.struct_size = sizeof st};
    ASSERT_OK(roomcast_namespace_recovery_stats(ns, &st));
    EXPECT(st.kept_sockets == 0 && st.kept_events == 4 && st.next_offset == seen + 4);

    free(pid);
    roomcast_socket_free(s1);
    roomcast_socket_free(s2);
    roomcast_conn_free(c1);
    roomcast_conn_free(c2);
    roomcast_namespace_free(ns);
    roomcast_engine_free(e);
}

TEST(too_late_or_offset_gone_or_unknown_gets_a_fresh_socket) {
    roomcast_engine *e = recovering_engine("60000", "2");
    ASSERT(e != NULL);
    roomcast_namespace *ns = NULL;
    roomcast_conn *c1 = NULL, *c2 = NULL, *c3 = NULL;
    roomcast_socket *s1 = NULL, *s2 = NULL, *s3 = NULL;
    ASSERT_OK(roomcast_engine_of(e, "/", &ns));
    ASSERT_OK(roomcast_engine_connect(e, &c1));
    ASSERT_OK(roomcast_conn_join_namespace(c1, "/", ROOMCAST_FORMAT_JSON, NULL, 0, &s1));
    ASSERT_OK(roomcast_socket_join(s1, "r"));
    char *pid = session_of(s1);
    ASSERT(pid != NULL);
    ASSERT_OK(roomcast_conn_close(c1, "ping timeout"));
    emit_to(ns, "r", "a");
    emit_to(ns, "r", "b");
    emit_to(ns, "r", "c"); /* "a" is trimmed: the log keeps 2 */
    ASSERT_OK(roomcast_engine_connect(e, &c2));
    ASSERT_OK(roomcast_conn_resume_namespace(c2, "/", ROOMCAST_FORMAT_JSON, NULL, 0, pid, false, 0, &s2));
    bool flag = true;
    ASSERT_OK(roomcast_socket_recovered(s2, &flag));
    EXPECT(!flag);
    char text[16];
    uint64_t off;
    EXPECT(!next_event(c2, text, sizeof text, &off)); /* never a partial replay */
    ASSERT_OK(roomcast_socket_is_awaiting_recovery(s1, &flag));
    EXPECT(!flag); /* the kept socket ended */
    const char *reason = NULL;
    ASSERT_OK(roomcast_socket_disconnect_reason(s1, &reason));
    EXPECT(strcmp(reason, "recovery expired") == 0);
    /* An unknown session id. */
    ASSERT_OK(roomcast_engine_connect(e, &c3));
    ASSERT_OK(roomcast_conn_resume_namespace(c3, "/", ROOMCAST_FORMAT_JSON, NULL, 0, "nope", true, 1, &s3));
    ASSERT_OK(roomcast_socket_recovered(s3, &flag));
    EXPECT(!flag);
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER,
              roomcast_conn_resume_namespace(c3, "/x", ROOMCAST_FORMAT_JSON, NULL, 0, NULL, false, 0, &s1));
    ASSERT_OK(roomcast_engine_sweep_recovery(e));

    free(pid);
    roomcast_socket_free(s1);
    roomcast_socket_free(s2);
    roomcast_socket_free(s3);
    roomcast_conn_free(c1);
    roomcast_conn_free(c2);
    roomcast_conn_free(c3);
    roomcast_namespace_free(ns);
    roomcast_engine_free(e);
}

TEST(a_namespace_sets_its_own_recovery_and_plain_ones_have_none) {
    roomcast_engine *e = NULL;
    roomcast_namespace *on = NULL, *off = NULL;
    roomcast_conn *c = NULL;
    roomcast_socket *s = NULL;
    ASSERT_OK(roomcast_engine_new(NULL, &e));
    ASSERT_OK(roomcast_engine_of(e, "/on", &on));
    ASSERT_OK(roomcast_engine_of(e, "/off", &off));
    ASSERT_OK(roomcast_namespace_set_recovery(on, 5000, 100, 0));
    EXPECT_RC(ROOMCAST_RESULT_INVALID_CONFIG, roomcast_namespace_set_recovery(on, 1000, 0, 0));
    roomcast_recovery_stats st = {.struct_size = sizeof st};
    ASSERT_OK(roomcast_namespace_recovery_stats(on, &st));
    EXPECT(st.kept_events == 0 && st.next_offset == 1);
    EXPECT_RC(ROOMCAST_RESULT_NO_VALUE, roomcast_namespace_recovery_stats(off, &st));
    ASSERT_OK(roomcast_engine_connect(e, &c));
    ASSERT_OK(roomcast_conn_join_namespace(c, "/off", ROOMCAST_FORMAT_JSON, NULL, 0, &s));
    roomcast_str pid;
    EXPECT_RC(ROOMCAST_RESULT_NO_VALUE, roomcast_socket_session_id(s, &pid));
    roomcast_message *m = NULL;
    roomcast_target all = {sizeof all, NULL, 0, NULL, 0, NULL, false};
    ASSERT_OK(roomcast_namespace_emit(off, &all, "m", ROOMCAST_FORMAT_TEXT, (const uint8_t *)"x", 1, NULL));
    ASSERT_OK(roomcast_conn_recv(c, 0, &m));
    uint64_t off_value = 0;
    EXPECT_RC(ROOMCAST_RESULT_NO_VALUE, roomcast_message_offset(m, &off_value));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_message_offset(m, NULL));
    roomcast_message_free(m);
    roomcast_socket_free(s);
    roomcast_conn_free(c);
    roomcast_namespace_free(on);
    roomcast_namespace_free(off);
    roomcast_engine_free(e);
}

int main(void) {
    RUN(recovery_after_a_short_drop_restores_the_socket_and_replays_what_it_missed);
    RUN(too_late_or_offset_gone_or_unknown_gets_a_fresh_socket);
    RUN(a_namespace_sets_its_own_recovery_and_plain_ones_have_none);
    return REPORT();
}
