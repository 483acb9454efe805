/* roomcast from C: two connections, one room, one emit. See docs/c.md. */
#include <stdio.h>
#include <string.h>
#include "roomcast.h"

#define CHECK(call) do { roomcast_result r_ = (call); if (r_ != ROOMCAST_RESULT_OK) { \
    fprintf(stderr, "%s: %s\n", #call, roomcast_result_message(r_)); return 1; } } while (0)

int main(void) {
    roomcast_engine *e; roomcast_namespace *chat; roomcast_conn *ca, *cb;
    roomcast_socket *a, *b; roomcast_message *m;
    CHECK(roomcast_engine_new(NULL, &e));
    CHECK(roomcast_engine_of(e, "/chat", &chat));
    CHECK(roomcast_engine_connect(e, &ca));
    CHECK(roomcast_engine_connect(e, &cb));
    CHECK(roomcast_conn_join_namespace(ca, "/chat", ROOMCAST_FORMAT_JSON, NULL, 0, &a));
    CHECK(roomcast_conn_join_namespace(cb, "/chat", ROOMCAST_FORMAT_JSON, NULL, 0, &b));
    CHECK(roomcast_socket_join(a, "lobby"));
    CHECK(roomcast_socket_join(b, "lobby"));

    const char *rooms[] = {"lobby"};
    roomcast_target to_lobby = {sizeof to_lobby, rooms, 1, NULL, 0, NULL, false};
    const char *json = "{\"text\":\"hi\"}";
    roomcast_emit_report report = {.struct_size = sizeof report};
    CHECK(roomcast_namespace_emit(chat, &to_lobby, "chat message", ROOMCAST_FORMAT_JSON,
                        (const uint8_t *)json, strlen(json), &report));

    CHECK(roomcast_conn_recv(cb, 1000, &m));
    roomcast_str ev; const uint8_t *data; size_t len;
    CHECK(roomcast_message_event(m, &ev));
    CHECK(roomcast_message_data(m, &data, &len, NULL));
    printf("%zu recipients; b got %.*s: %.*s\n", report.recipients, (int)ev.len, ev.data, (int)len, (const char *)data);

    roomcast_message_free(m);
    roomcast_socket_free(a); roomcast_socket_free(b);
    roomcast_conn_free(ca); roomcast_conn_free(cb);
    roomcast_namespace_free(chat); roomcast_engine_free(e);
    return 0;
}
