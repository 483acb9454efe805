/* The rest of the Rust API through C: every lifecycle hook, event
 * middleware, room events, failures, dynamic namespaces, queries, socket
 * data, full handshakes, connect options, shutdown, userdata ownership and
 * zero-copy messages; with their error paths. */
#include <dirent.h>
#include <stdlib.h>
#include <time.h>
#include "runner.h"

/* ---- helpers ---- */

static int streq(const char *p, size_t len, const char *want) {
    return p != NULL && len == strlen(want) && memcmp(p, want, len) == 0;
}

/* Counts frees of userdata: each registration gets a struct freed once. */
static int g_frees;
static void count_free(void *ud) {
    g_frees++;
    free(ud);
}
static int *new_counter(void) {
    int *c = calloc(1, sizeof *c);
    return c;
}

/* Is `want` one of the entries of `list`? */
static int strings_has(const roomcast_strings *list, const char *want) {
    for (size_t i = 0; i < roomcast_strings_len(list); i++) {
        const char *s; size_t len;
        if (roomcast_strings_get(list, i, &s, &len) == ROOMCAST_RESULT_OK && streq(s, len, want)) return 1;
    }
    return 0;
}

static int drain_count(roomcast_conn *c) {
    int n = 0;
    roomcast_message *m;
    while (roomcast_conn_try_recv(c, &m) == ROOMCAST_RESULT_OK) { n++; roomcast_message_free(m); }
    return n;
}

/* ---- lifecycle and event hooks ---- */

struct log { char buf[512]; };
static void log_add(struct log *l, const char *what, const char *s, size_t len) {
    size_t used = strlen(l->buf);
    snprintf(l->buf + used, sizeof l->buf - used, "%s%s:%.*s", used ? " " : "", what, (int)len, s);
}

static int on_any(void *ud, const roomcast_socket *s, roomcast_str ev, uint32_t fmt,
                  const uint8_t *data, size_t len) {
    (void)fmt; (void)data; (void)len;
    log_add(ud, "any", ev.data, ev.len);
    /* re-enter: join a room and emit to it from inside the hook */
    if (roomcast_socket_join(s, "seen") != ROOMCAST_RESULT_OK) return 1;
    return roomcast_socket_emit(s, "echo", ROOMCAST_FORMAT_TEXT, (const uint8_t *)ev.data, ev.len, NULL) == ROOMCAST_RESULT_OK
               ? 0 : 2;
}
static int on_event(void *ud, const roomcast_socket *s, roomcast_str ev, uint32_t fmt,
                    const uint8_t *data, size_t len, const roomcast_ack *ack) {
    (void)s; (void)fmt; (void)data; (void)len; (void)ack;
    log_add(ud, "on", ev.data, ev.len);
    return 0;
}
static int on_fallback(void *ud, const roomcast_socket *s, roomcast_str ev, uint32_t fmt,
                       const uint8_t *data, size_t len, const roomcast_ack *ack) {
    (void)s; (void)fmt; (void)data; (void)len;
    log_add(ud, "fallback", ev.data, ev.len);
    if (ack) roomcast_ack_send(ack, ROOMCAST_FORMAT_TEXT, (const uint8_t *)"?", 1);
    return 0;
}
static int failing(void *ud, const roomcast_socket *s, roomcast_str ev, uint32_t fmt,
                   const uint8_t *data, size_t len, const roomcast_ack *ack) {
    (void)ud; (void)s; (void)ev; (void)fmt; (void)data; (void)len; (void)ack;
    return 42;
}
/* event middleware: the payload's first byte picks the flow */
static roomcast_flow flow_mw(void *ud, const roomcast_socket *s, roomcast_str ev, roomcast_format fmt,
                             const uint8_t *data, size_t len) {
    (void)s; (void)fmt;
    log_add(ud, "mw", ev.data, ev.len);
    if (len == 0) return ROOMCAST_FLOW_CONTINUE;
    switch (data[0]) {
    case 'd': return ROOMCAST_FLOW_DROP;
    case 'r': return ROOMCAST_FLOW_REJECT;
    case 'x': return 77; /* not a flow code: rejects too */
    default: return ROOMCAST_FLOW_CONTINUE;
    }
}

struct failures { int count; uint32_t site, kind; char event[32], message[96], socket_id[32]; };
static void on_error(void *ud, const roomcast_failure *f) {
    struct failures *fl = ud;
    fl->count++;
    fl->site = f->site;
    fl->kind = f->kind;
    snprintf(fl->event, sizeof fl->event, "%.*s", (int)f->event.len, f->event.data ? f->event.data : "");
    snprintf(fl->message, sizeof fl->message, "%.*s", (int)f->message.len, f->message.data);
    snprintf(fl->socket_id, sizeof fl->socket_id, "%.*s", (int)f->socket_id.len, f->socket_id.data ? f->socket_id.data : "");
}

TEST(any_off_fallback_and_event_middleware) {
    struct log lg; memset(&lg, 0, sizeof lg);
    struct failures fl; memset(&fl, 0, sizeof fl);
    roomcast_engine *e = NULL; roomcast_namespace *ns = NULL; roomcast_conn *c = NULL; roomcast_socket *s = NULL;
    ASSERT_OK(roomcast_engine_new(NULL, &e));
    ASSERT_OK(roomcast_engine_of(e, "/", &ns));
    ASSERT_OK(roomcast_namespace_use_event(ns, flow_mw, &lg, NULL));
    ASSERT_OK(roomcast_namespace_on_any(ns, on_any, &lg, NULL));
    ASSERT_OK(roomcast_namespace_on(ns, "ev", on_event, &lg, NULL));
    ASSERT_OK(roomcast_namespace_on(ns, "bad", failing, NULL, NULL));
    ASSERT_OK(roomcast_namespace_on_fallback(ns, on_fallback, &lg, NULL));
    ASSERT_OK(roomcast_namespace_on_error(ns, on_error, &fl, NULL));
    ASSERT_OK(roomcast_engine_connect(e, &c));
    ASSERT_OK(roomcast_conn_join_namespace(c, "/", 0, NULL, 0, &s));

    uint32_t out = 99;
    ASSERT_OK(roomcast_socket_dispatch(s, "ev", ROOMCAST_FORMAT_TEXT, (const uint8_t *)"go", 2, false, 0, &out));
    EXPECT(out == ROOMCAST_DISPATCHED_HANDLED);
    EXPECT(strcmp(lg.buf, "mw:ev any:ev on:ev") == 0);
    bool in = false;
    ASSERT_OK(roomcast_socket_in_room(s, "seen", &in));
    EXPECT(in); /* on_any joined it */
    roomcast_message *m = NULL;
    ASSERT_OK(roomcast_conn_try_recv(c, &m));
    roomcast_str ev;
    ASSERT_OK(roomcast_message_event(m, &ev));
    EXPECT(streq(ev.data, ev.len, "echo"));
    roomcast_message_free(m);

    /* event middleware: drop, reject, and a non-flow value */
    lg.buf[0] = 0;
    ASSERT_OK(roomcast_socket_dispatch(s, "ev", ROOMCAST_FORMAT_TEXT, (const uint8_t *)"d", 1, false, 0, &out));
    EXPECT(out == ROOMCAST_DISPATCHED_DROPPED);
    EXPECT(strcmp(lg.buf, "mw:ev") == 0 && fl.count == 0);
    ASSERT_OK(roomcast_socket_dispatch(s, "ev", ROOMCAST_FORMAT_TEXT, (const uint8_t *)"r", 1, false, 0, &out));
    EXPECT(out == ROOMCAST_DISPATCHED_REJECTED);
    EXPECT(fl.count == 1 && fl.site == ROOMCAST_SITE_EVENT_MIDDLEWARE && fl.kind == ROOMCAST_FAILURE_KIND_REJECTED);
    EXPECT(strcmp(fl.event, "ev") == 0);
    ASSERT_OK(roomcast_socket_dispatch(s, "ev", ROOMCAST_FORMAT_TEXT, (const uint8_t *)"x", 1, false, 0, &out));
    EXPECT(out == ROOMCAST_DISPATCHED_REJECTED);
    EXPECT(fl.count == 2 && strstr(fl.message, "77") != NULL);

    /* a failing handler is reported with its site, event and socket */
    ASSERT_OK(roomcast_socket_dispatch(s, "bad", ROOMCAST_FORMAT_BINARY, NULL, 0, false, 0, &out));
    EXPECT(out == ROOMCAST_DISPATCHED_HANDLED);
    EXPECT(fl.count == 3 && fl.site == ROOMCAST_SITE_EVENT && fl.kind == ROOMCAST_FAILURE_KIND_ERROR);
    EXPECT(strcmp(fl.event, "bad") == 0 && strstr(fl.message, "42") != NULL);
    roomcast_str id;
    ASSERT_OK(roomcast_socket_id(s, &id));
    EXPECT(streq(id.data, id.len, fl.socket_id));

    /* fallback takes unknown events (and answers their acks) */
    lg.buf[0] = 0;
    ASSERT_OK(roomcast_socket_dispatch(s, "mystery", ROOMCAST_FORMAT_BINARY, NULL, 0, true, 5, &out));
    EXPECT(out == ROOMCAST_DISPATCHED_FALLBACK);
    EXPECT(strcmp(lg.buf, "mw:mystery any:mystery fallback:mystery") == 0);
    drain_count(c);

    /* off: "ev" now goes to the fallback */
    ASSERT_OK(roomcast_namespace_off(ns, "ev"));
    ASSERT_OK(roomcast_namespace_off(ns, "never-registered"));
    ASSERT_OK(roomcast_socket_dispatch(s, "ev", ROOMCAST_FORMAT_BINARY, NULL, 0, false, 0, &out));
    EXPECT(out == ROOMCAST_DISPATCHED_FALLBACK);

    /* error paths */
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_namespace_on_any(ns, NULL, NULL, NULL));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_namespace_on_any(NULL, on_any, NULL, NULL));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_namespace_on_fallback(ns, NULL, NULL, NULL));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_namespace_use_event(ns, NULL, NULL, NULL));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_namespace_on_error(ns, NULL, NULL, NULL));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_namespace_on_room_event(ns, NULL, NULL, NULL));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_namespace_on_disconnecting(ns, NULL, NULL, NULL));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_namespace_off(ns, NULL));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_namespace_off(NULL, "ev"));
    const char bad[] = {'e', (char)0xc3, 0};
    EXPECT_RC(ROOMCAST_RESULT_INVALID_UTF8, roomcast_namespace_off(ns, bad));
    EXPECT_RC(ROOMCAST_RESULT_INVALID_UTF8, roomcast_namespace_on(ns, bad, on_event, NULL, NULL));

    /* after close, dispatch fails */
    ASSERT_OK(roomcast_conn_close(c, NULL));
    EXPECT_RC(ROOMCAST_RESULT_CLOSED,
              roomcast_socket_dispatch(s, "ev", ROOMCAST_FORMAT_BINARY, NULL, 0, false, 0, &out));
    roomcast_socket_free(s); roomcast_conn_free(c); roomcast_namespace_free(ns); roomcast_engine_free(e);
}

/* disconnecting sees the rooms; disconnect no longer does */
struct disc { int disconnecting_saw_room, disconnect_saw_room, calls; char reason[64]; };
static void on_disconnecting(void *ud, const roomcast_socket *s, const char *reason) {
    struct disc *d = ud;
    bool in = false;
    roomcast_socket_in_room(s, "r", &in);
    d->disconnecting_saw_room = in;
    d->calls++;
    snprintf(d->reason, sizeof d->reason, "%s", reason);
}
static void on_disconnect(void *ud, const roomcast_socket *s, const char *reason) {
    struct disc *d = ud;
    roomcast_strings *rooms = NULL;
    (void)reason;
    if (roomcast_socket_rooms(s, &rooms) == ROOMCAST_RESULT_OK) {
        d->disconnect_saw_room = strings_has(rooms, "r");
        roomcast_strings_free(rooms);
    }
    d->calls++;
}

struct rooms_log { int created, deleted, joined, left; char last_room[32]; size_t size_seen; roomcast_namespace *ns; };
static void on_room(void *ud, roomcast_room_change change, roomcast_str room, roomcast_str id) {
    struct rooms_log *r = ud;
    if (!streq(room.data, room.len, "r")) return; /* ignore own-id rooms */
    switch (change) {
    case ROOMCAST_ROOM_CHANGE_CREATED: r->created++; if (id.data != NULL || id.len != 0) r->created += 100; break;
    case ROOMCAST_ROOM_CHANGE_DELETED: r->deleted++; break;
    case ROOMCAST_ROOM_CHANGE_JOINED: r->joined++; if (id.data == NULL || id.len != 20) r->joined += 100; break;
    case ROOMCAST_ROOM_CHANGE_LEFT: r->left++; break;
    default: r->created += 1000;
    }
    snprintf(r->last_room, sizeof r->last_room, "%.*s", (int)room.len, room.data);
    /* re-enter: query the namespace from the observer */
    roomcast_namespace_room_size(r->ns, "r", &r->size_seen);
}

TEST(disconnecting_and_room_events) {
    struct disc d; memset(&d, 0, sizeof d);
    struct rooms_log rl; memset(&rl, 0, sizeof rl);
    roomcast_engine *e = NULL; roomcast_namespace *ns = NULL; roomcast_conn *c = NULL; roomcast_socket *s = NULL;
    ASSERT_OK(roomcast_engine_new(NULL, &e));
    ASSERT_OK(roomcast_engine_of(e, "/p", &ns));
    rl.ns = ns;
    ASSERT_OK(roomcast_namespace_on_disconnecting(ns, on_disconnecting, &d, NULL));
    ASSERT_OK(roomcast_namespace_on_disconnect(ns, on_disconnect, &d, NULL));
    ASSERT_OK(roomcast_namespace_on_room_event(ns, on_room, &rl, NULL));
    ASSERT_OK(roomcast_engine_connect(e, &c));
    ASSERT_OK(roomcast_conn_join_namespace(c, "/p", 0, NULL, 0, &s));
    ASSERT_OK(roomcast_socket_join(s, "r"));
    EXPECT(rl.created == 1 && rl.joined == 1 && rl.size_seen == 1);
    ASSERT_OK(roomcast_socket_leave(s, "r"));
    EXPECT(rl.left == 1 && rl.deleted == 1 && rl.size_seen == 0);
    ASSERT_OK(roomcast_socket_join(s, "r"));
    bool connected = false;
    ASSERT_OK(roomcast_socket_is_connected(s, &connected));
    EXPECT(connected);
    const char *reason = NULL;
    EXPECT_RC(ROOMCAST_RESULT_NO_VALUE, roomcast_socket_disconnect_reason(s, &reason));
    ASSERT_OK(roomcast_socket_disconnect(s));
    EXPECT(d.calls == 2 && d.disconnecting_saw_room == 1 && d.disconnect_saw_room == 0);
    EXPECT(strcmp(d.reason, "server namespace disconnect") == 0);
    EXPECT(rl.left == 2 && rl.deleted == 2);
    ASSERT_OK(roomcast_socket_is_connected(s, &connected));
    EXPECT(!connected);
    ASSERT_OK(roomcast_socket_disconnect_reason(s, &reason));
    EXPECT(strcmp(reason, "server namespace disconnect") == 0);
    EXPECT_RC(ROOMCAST_RESULT_CLOSED, roomcast_socket_join(s, "r"));
    roomcast_socket_free(s); roomcast_conn_free(c); roomcast_namespace_free(ns); roomcast_engine_free(e);
}

/* ---- dynamic namespaces and handshakes ---- */

static bool accept_all_pred(void *ud, roomcast_str n, const roomcast_handshake *hs) {
    (void)ud; (void)n; (void)hs;
    return true;
}

struct pred { int calls; char last_name[64]; };
static bool tenant_predicate(void *ud, roomcast_str name, const roomcast_handshake *hs) {
    struct pred *p = ud;
    p->calls++;
    snprintf(p->last_name, sizeof p->last_name, "%.*s", (int)name.len, name.data);
    roomcast_str v;
    /* the client must say which tenant it is in the query */
    if (roomcast_handshake_query(hs, "tenant", &v) != ROOMCAST_RESULT_OK) return false;
    return name.len > 8 && memcmp(name.data, "/tenant-", 8) == 0 && v.len == name.len - 8 &&
           memcmp(v.data, name.data + 8, v.len) == 0;
}
static int join_everyone(void *ud, const roomcast_socket *s) {
    (void)ud;
    return roomcast_socket_join(s, "everyone") == ROOMCAST_RESULT_OK ? 0 : 1;
}

struct seen_hs { int calls; char auth[32], agent[32], addr[32]; };
static int read_handshake(void *ud, const roomcast_handshake *hs, roomcast_refusal *refusal) {
    struct seen_hs *h = ud;
    const uint8_t *p; size_t len; uint32_t fmt = 99;
    roomcast_str v;
    h->calls++;
    if (roomcast_handshake_auth(hs, &p, &len, &fmt) == ROOMCAST_RESULT_OK && fmt == ROOMCAST_FORMAT_JSON)
        snprintf(h->auth, sizeof h->auth, "%.*s", (int)len, (const char *)p);
    if (roomcast_handshake_header(hs, "User-Agent", &v) == ROOMCAST_RESULT_OK)
        snprintf(h->agent, sizeof h->agent, "%.*s", (int)v.len, v.data);
    if (roomcast_handshake_address(hs, &v) == ROOMCAST_RESULT_OK)
        snprintf(h->addr, sizeof h->addr, "%.*s", (int)v.len, v.data);
    (void)refusal;
    return 0;
}

TEST(dynamic_namespaces_and_handshakes) {
    struct pred pr; memset(&pr, 0, sizeof pr);
    struct seen_hs sh; memset(&sh, 0, sizeof sh);
    roomcast_engine *e = NULL; roomcast_namespace *parent = NULL, *child = NULL, *p2 = NULL;
    roomcast_conn *c = NULL; roomcast_socket *s = NULL, *s2 = NULL; roomcast_handshake *hs = NULL;
    ASSERT_OK(roomcast_engine_new(NULL, &e));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_engine_of_dynamic(e, NULL, NULL, NULL, &parent));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_engine_of_dynamic(e, tenant_predicate, &pr, NULL, NULL));
    ASSERT_OK(roomcast_engine_of_dynamic(e, tenant_predicate, &pr, NULL, &parent));
    bool is_parent = false;
    ASSERT_OK(roomcast_namespace_is_dynamic_parent(parent, &is_parent));
    EXPECT(is_parent);
    ASSERT_OK(roomcast_namespace_use(parent, read_handshake, &sh, NULL));
    ASSERT_OK(roomcast_namespace_on_connection(parent, join_everyone, NULL, NULL));

    ASSERT_OK(roomcast_handshake_new(&hs));
    ASSERT_OK(roomcast_handshake_set_auth(hs, ROOMCAST_FORMAT_JSON, (const uint8_t *)"{\"t\":1}", 7));
    ASSERT_OK(roomcast_handshake_add_header(hs, "User-Agent", "ctest"));
    ASSERT_OK(roomcast_handshake_add_query(hs, "tenant", "42"));
    ASSERT_OK(roomcast_handshake_set_address(hs, "127.0.0.1:5000"));
    EXPECT_RC(ROOMCAST_RESULT_INVALID_PAYLOAD, roomcast_handshake_set_auth(hs, ROOMCAST_FORMAT_JSON, (const uint8_t *)"{", 1));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_handshake_add_header(hs, NULL, "x"));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_handshake_add_query(NULL, "a", "b"));
    const char bad[] = {'a', (char)0xff, 0};
    EXPECT_RC(ROOMCAST_RESULT_INVALID_UTF8, roomcast_handshake_set_address(hs, bad));
    roomcast_str v;
    ASSERT_OK(roomcast_handshake_header(hs, "user-agent", &v));
    EXPECT(streq(v.data, v.len, "ctest"));
    EXPECT_RC(ROOMCAST_RESULT_NO_VALUE, roomcast_handshake_query(hs, "nope", &v));

    ASSERT_OK(roomcast_engine_connect(e, &c));
    /* "/tenant-7" does not match the query's tenant: refused, nothing created */
    EXPECT_RC(ROOMCAST_RESULT_REFUSED, roomcast_conn_join_namespace_with(c, "/tenant-7", hs, &s));
    EXPECT(s == NULL && pr.calls == 1 && strcmp(pr.last_name, "/tenant-7") == 0);
    EXPECT_RC(ROOMCAST_RESULT_NO_VALUE, roomcast_engine_namespace(e, "/tenant-7", &child));
    ASSERT_OK(roomcast_conn_join_namespace_with(c, "/tenant-42", hs, &s));
    roomcast_handshake_free(hs); /* the join kept its own copy */
    EXPECT(sh.calls == 1 && strcmp(sh.auth, "{\"t\":1}") == 0 && strcmp(sh.agent, "ctest") == 0);
    EXPECT(strcmp(sh.addr, "127.0.0.1:5000") == 0);
    bool in = false;
    ASSERT_OK(roomcast_socket_in_room(s, "everyone", &in));
    EXPECT(in); /* the parent's connection handler ran for the child */

    /* the socket keeps a copy of its handshake */
    roomcast_handshake *kept = NULL;
    ASSERT_OK(roomcast_socket_handshake(s, &kept));
    ASSERT_OK(roomcast_handshake_query(kept, "tenant", &v));
    EXPECT(streq(v.data, v.len, "42"));
    roomcast_handshake_free(kept);
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_socket_handshake(s, NULL));

    ASSERT_OK(roomcast_engine_namespace(e, "/tenant-42", &child));
    /* find a socket of the namespace by id */
    roomcast_str sid;
    char idbuf[64];
    ASSERT_OK(roomcast_socket_id(s, &sid));
    snprintf(idbuf, sizeof idbuf, "%.*s", (int)sid.len, sid.data);
    roomcast_socket *by_id = NULL;
    ASSERT_OK(roomcast_namespace_socket(child, idbuf, &by_id));
    roomcast_str bid;
    ASSERT_OK(roomcast_socket_id(by_id, &bid));
    EXPECT(bid.len == sid.len && memcmp(bid.data, sid.data, sid.len) == 0);
    roomcast_socket_free(by_id);
    EXPECT_RC(ROOMCAST_RESULT_NO_VALUE, roomcast_namespace_socket(child, "no-such-socket", &by_id));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_namespace_socket(child, NULL, &by_id));
    roomcast_str name;
    ASSERT_OK(roomcast_namespace_name(child, &name));
    EXPECT(streq(name.data, name.len, "/tenant-42"));
    ASSERT_OK(roomcast_namespace_is_dynamic_parent(child, &is_parent));
    EXPECT(!is_parent);
    ASSERT_OK(roomcast_namespace_parent(child, &p2));
    ASSERT_OK(roomcast_namespace_name(p2, &name));
    roomcast_str pname;
    ASSERT_OK(roomcast_namespace_name(parent, &pname));
    EXPECT(name.len == pname.len && memcmp(name.data, pname.data, name.len) == 0);
    roomcast_namespace *none = NULL;
    EXPECT_RC(ROOMCAST_RESULT_NO_VALUE, roomcast_namespace_parent(parent, &none));
    roomcast_strings *kids = NULL, *all = NULL;
    ASSERT_OK(roomcast_namespace_children(parent, &kids));
    EXPECT(roomcast_strings_len(kids) == 1 && strings_has(kids, "/tenant-42"));
    ASSERT_OK(roomcast_engine_namespaces(e, &all));
    EXPECT(strings_has(all, "/") && strings_has(all, "/tenant-42") && !strings_has(all, "/tenant-7"));

    /* the socket knows its namespace; the connection finds its sockets */
    roomcast_namespace *sns = NULL;
    ASSERT_OK(roomcast_socket_namespace(s, &sns));
    ASSERT_OK(roomcast_namespace_name(sns, &name));
    EXPECT(streq(name.data, name.len, "/tenant-42"));
    ASSERT_OK(roomcast_conn_join_namespace_with(c, "/", NULL, &s2)); /* NULL: empty handshake */
    roomcast_socket *found[4] = {NULL};
    size_t n = 0, total = 0;
    ASSERT_OK(roomcast_conn_sockets(c, found, 1, &n, &total));
    EXPECT(n == 1 && total == 2);
    roomcast_socket_free(found[0]);
    ASSERT_OK(roomcast_conn_sockets(c, found, 4, &n, NULL));
    EXPECT(n == 2);
    for (size_t i = 0; i < n; i++) roomcast_socket_free(found[i]);
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_conn_sockets(c, NULL, 4, &n, NULL));
    ASSERT_OK(roomcast_conn_sockets(c, NULL, 0, &n, &total));
    EXPECT(n == 0 && total == 2);
    roomcast_socket *one = NULL;
    ASSERT_OK(roomcast_conn_socket(c, "/tenant-42", &one));
    roomcast_str id1, id2;
    ASSERT_OK(roomcast_socket_id(one, &id1));
    ASSERT_OK(roomcast_socket_id(s, &id2));
    EXPECT(id1.len == id2.len && memcmp(id1.data, id2.data, id1.len) == 0);
    roomcast_socket_free(one);
    EXPECT_RC(ROOMCAST_RESULT_NO_VALUE, roomcast_conn_socket(c, "/elsewhere", &one));
    uint64_t cid = 0;
    ASSERT_OK(roomcast_conn_id(c, &cid));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_conn_id(c, NULL));

    roomcast_strings_free(kids); roomcast_strings_free(all);
    roomcast_namespace_free(sns); roomcast_namespace_free(p2); roomcast_namespace_free(child);
    roomcast_socket_free(s); roomcast_socket_free(s2); roomcast_conn_free(c);
    roomcast_namespace_free(parent); roomcast_engine_free(e);
}

/* ---- queries, strings, socket data ---- */

TEST(queries_strings_and_socket_data) {
    roomcast_config *cfg = NULL; roomcast_engine *e = NULL; roomcast_namespace *ns = NULL;
    roomcast_conn *c = NULL; roomcast_socket *s = NULL;
    ASSERT_OK(roomcast_config_new(&cfg));
    ASSERT_OK(roomcast_config_set(cfg, "max_payload", "16"));
    ASSERT_OK(roomcast_config_set(cfg, "max_name_len", "8"));
    ASSERT_OK(roomcast_engine_new(cfg, &e));
    roomcast_config_free(cfg);
    ASSERT_OK(roomcast_engine_of(e, "/q", &ns));
    ASSERT_OK(roomcast_engine_connect(e, &c));
    ASSERT_OK(roomcast_conn_join_namespace(c, "/q", 0, NULL, 0, &s));
    ASSERT_OK(roomcast_socket_join(s, "a"));
    ASSERT_OK(roomcast_socket_join(s, "b"));
    EXPECT_RC(ROOMCAST_RESULT_INVALID_NAME, roomcast_socket_join(s, "waytoolongname"));

    roomcast_strings *rooms = NULL;
    ASSERT_OK(roomcast_socket_rooms(s, &rooms));
    EXPECT(roomcast_strings_len(rooms) == 3); /* own id, a, b */
    const char *r0; size_t r0_len;
    ASSERT_OK(roomcast_strings_get(rooms, 0, &r0, &r0_len));
    roomcast_str id;
    ASSERT_OK(roomcast_socket_id(s, &id));
    EXPECT(r0_len == id.len && memcmp(r0, id.data, id.len) == 0 && r0[r0_len] == '\0');
    const char *r1;
    ASSERT_OK(roomcast_strings_get(rooms, 1, &r1, NULL)); /* length optional; NUL-terminated */
    EXPECT(strcmp(r1, "a") == 0);
    EXPECT_RC(ROOMCAST_RESULT_INVALID_ARGUMENT, roomcast_strings_get(rooms, 3, &r1, NULL));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_strings_get(rooms, 0, NULL, NULL));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_strings_get(NULL, 0, &r1, NULL));
    EXPECT(roomcast_strings_len(NULL) == 0);
    roomcast_strings_free(rooms);
    roomcast_strings_free(NULL);

    roomcast_strings *ns_rooms = NULL;
    ASSERT_OK(roomcast_namespace_rooms(ns, &ns_rooms));
    EXPECT(roomcast_strings_len(ns_rooms) == 3 && strings_has(ns_rooms, "b"));
    roomcast_strings_free(ns_rooms);
    size_t count = 0;
    ASSERT_OK(roomcast_namespace_socket_count(ns, &count));
    EXPECT(count == 1);
    bool in = true;
    ASSERT_OK(roomcast_socket_in_room(s, "zzz", &in));
    EXPECT(!in);
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_socket_in_room(s, "a", NULL));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_socket_rooms(NULL, &rooms));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_namespace_rooms(ns, NULL));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_namespace_socket_count(NULL, &count));

    /* socket data: set, read back (shared, no copy), replace, limits */
    roomcast_payload *p = NULL;
    EXPECT_RC(ROOMCAST_RESULT_NO_VALUE, roomcast_socket_data(s, &p));
    EXPECT(p == NULL);
    ASSERT_OK(roomcast_socket_set_data(s, ROOMCAST_FORMAT_JSON, (const uint8_t *)"{\"u\":1}", 7));
    ASSERT_OK(roomcast_socket_data(s, &p));
    const uint8_t *d1, *d2; size_t n1, n2; uint32_t fmt = 99;
    ASSERT_OK(roomcast_payload_data(p, &d1, &n1, &fmt));
    EXPECT(n1 == 7 && memcmp(d1, "{\"u\":1}", 7) == 0 && fmt == ROOMCAST_FORMAT_JSON);
    roomcast_payload *p2 = NULL;
    ASSERT_OK(roomcast_socket_data(s, &p2));
    ASSERT_OK(roomcast_payload_data(p2, &d2, &n2, NULL));
    EXPECT(d1 == d2); /* both views share the socket's bytes */
    ASSERT_OK(roomcast_socket_set_data(s, ROOMCAST_FORMAT_BINARY, NULL, 0));
    /* the old payload handle stays valid after the data is replaced */
    EXPECT(memcmp(d1, "{\"u\":1}", 7) == 0);
    roomcast_payload_free(p); roomcast_payload_free(p2); roomcast_payload_free(NULL);
    ASSERT_OK(roomcast_socket_data(s, &p));
    ASSERT_OK(roomcast_payload_data(p, &d1, &n1, &fmt));
    EXPECT(n1 == 0 && d1 != NULL && fmt == ROOMCAST_FORMAT_BINARY);
    roomcast_payload_free(p);
    uint8_t big[17] = {0};
    /* data stays on the server: max_payload limits what is sent, not this */
    ASSERT_OK(roomcast_socket_set_data(s, ROOMCAST_FORMAT_BINARY, big, sizeof big));
    EXPECT_RC(ROOMCAST_RESULT_PAYLOAD_TOO_LARGE, roomcast_socket_emit(s, "m", ROOMCAST_FORMAT_BINARY, big, sizeof big, NULL));
    EXPECT_RC(ROOMCAST_RESULT_INVALID_PAYLOAD, roomcast_socket_set_data(s, ROOMCAST_FORMAT_TEXT, (const uint8_t *)"\xff", 1));
    EXPECT_RC(ROOMCAST_RESULT_INVALID_ARGUMENT, roomcast_socket_set_data(s, 9, big, 1));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_socket_set_data(s, 0, NULL, 3));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_payload_data(NULL, &d1, &n1, NULL));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_socket_data(s, NULL));

    roomcast_socket_free(s); roomcast_conn_free(c); roomcast_namespace_free(ns); roomcast_engine_free(e);
}

/* ---- connect options, shutdown ---- */

TEST(connect_with_options) {
    roomcast_engine *e = NULL; roomcast_namespace *ns = NULL; roomcast_conn *c = NULL; roomcast_socket *s = NULL;
    ASSERT_OK(roomcast_engine_new(NULL, &e));
    ASSERT_OK(roomcast_engine_of(e, "/", &ns));
    roomcast_connect_options bad = {sizeof bad, 0, 0, "sometimes"};
    EXPECT_RC(ROOMCAST_RESULT_INVALID_CONFIG, roomcast_engine_connect_with(e, &bad, &c));
    roomcast_connect_options small_bytes = {sizeof small_bytes, 0, 10, NULL}; /* below max_payload */
    EXPECT_RC(ROOMCAST_RESULT_INVALID_CONFIG, roomcast_engine_connect_with(e, &small_bytes, &c));
    EXPECT(c == NULL);
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_engine_connect_with(e, NULL, NULL));
    roomcast_connect_options opts = {sizeof opts, 2, 0, "drop_newest"};
    ASSERT_OK(roomcast_engine_connect_with(e, &opts, &c));
    ASSERT_OK(roomcast_conn_join_namespace(c, "/", 0, NULL, 0, &s));
    roomcast_emit_report rep = {.struct_size = sizeof rep};
    for (int i = 0; i < 3; i++) ASSERT_OK(roomcast_namespace_emit(ns, NULL, "m", 0, (const uint8_t *)"x", 1, &rep));
    EXPECT(rep.dropped == 1);
    EXPECT(drain_count(c) == 2); /* drop_newest: no lagged notice */
    roomcast_socket_free(s); roomcast_conn_free(c);
    ASSERT_OK(roomcast_engine_connect_with(e, NULL, &c)); /* NULL: the engine's settings */
    roomcast_conn_free(c);
    roomcast_namespace_free(ns); roomcast_engine_free(e);
}

/* ---- userdata ownership ---- */

static void notify_nop(void *ud) { (void)ud; }
static int conn_nop(void *ud, const roomcast_socket *s) { (void)ud; (void)s; return 0; }
static void disc_nop(void *ud, const roomcast_socket *s, const char *r) { (void)ud; (void)s; (void)r; }
static bool accept_all(void *ud, roomcast_str n, const roomcast_handshake *hs) {
    (void)ud; (void)n; (void)hs;
    return true;
}
static int mw_nop(void *ud, const roomcast_handshake *hs, roomcast_refusal *r) { (void)ud; (void)hs; (void)r; return 0; }
static void room_nop(void *ud, roomcast_room_change c, roomcast_str r, roomcast_str i) {
    (void)ud; (void)c; (void)r; (void)i;
}
static void err_nop(void *ud, const roomcast_failure *f) { (void)ud; (void)f; }
static int any_nop(void *ud, const roomcast_socket *s, roomcast_str e, roomcast_format f, const uint8_t *d,
                   size_t l) {
    (void)ud; (void)s; (void)e; (void)f; (void)d; (void)l;
    return 0;
}

static roomcast_flow flow_nop(void *ud, const roomcast_socket *s, roomcast_str e, roomcast_format f,
                              const uint8_t *d, size_t l) {
    (void)ud; (void)s; (void)e; (void)f; (void)d; (void)l;
    return ROOMCAST_FLOW_CONTINUE;
}

TEST(userdata_is_freed_once_when_dropped) {
    roomcast_engine *e = NULL; roomcast_namespace *ns = NULL, *dyn = NULL; roomcast_conn *c = NULL;
    g_frees = 0;
    ASSERT_OK(roomcast_engine_new(NULL, &e));
    ASSERT_OK(roomcast_engine_of(e, "/u", &ns));
    /* a failed registration does not take the userdata */
    int *kept = new_counter();
    EXPECT_RC(ROOMCAST_RESULT_INVALID_UTF8, roomcast_namespace_on(ns, "\xff", on_event, kept, count_free));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_namespace_on(ns, "ev", NULL, kept, count_free));
    EXPECT(g_frees == 0);
    free(kept);

    /* off frees the handlers' userdata, on this thread, right away */
    ASSERT_OK(roomcast_namespace_on(ns, "ev", on_event, new_counter(), count_free));
    ASSERT_OK(roomcast_namespace_on(ns, "ev", on_event, new_counter(), count_free));
    ASSERT_OK(roomcast_namespace_off(ns, "ev"));
    EXPECT(g_frees == 2);

    /* notify: replaced, removed */
    ASSERT_OK(roomcast_engine_connect(e, &c));
    ASSERT_OK(roomcast_conn_set_notify(c, notify_nop, new_counter(), count_free));
    ASSERT_OK(roomcast_conn_set_notify(c, notify_nop, new_counter(), count_free));
    EXPECT(g_frees == 3);
    ASSERT_OK(roomcast_conn_set_notify(c, NULL, NULL, NULL));
    EXPECT(g_frees == 4);
    /* removing with a userdata and free function frees that userdata too */
    ASSERT_OK(roomcast_conn_set_notify(c, NULL, new_counter(), count_free));
    EXPECT(g_frees == 5);
    /* a callback still installed is released when the connection closes */
    ASSERT_OK(roomcast_conn_set_notify(c, notify_nop, new_counter(), count_free));
    roomcast_conn_free(c);
    EXPECT(g_frees == 6);

    /* every other kind: released by shutdown */
    g_frees = 0;
    ASSERT_OK(roomcast_namespace_on(ns, "ev", on_event, new_counter(), count_free));
    ASSERT_OK(roomcast_namespace_on_fallback(ns, on_event, new_counter(), count_free));
    ASSERT_OK(roomcast_namespace_on_any(ns, any_nop, new_counter(), count_free));
    ASSERT_OK(roomcast_namespace_use_event(ns, flow_nop, new_counter(), count_free));
    ASSERT_OK(roomcast_namespace_use(ns, mw_nop, new_counter(), count_free));
    ASSERT_OK(roomcast_namespace_on_connection(ns, conn_nop, new_counter(), count_free));
    ASSERT_OK(roomcast_namespace_on_disconnecting(ns, disc_nop, new_counter(), count_free));
    ASSERT_OK(roomcast_namespace_on_disconnect(ns, disc_nop, new_counter(), count_free));
    ASSERT_OK(roomcast_namespace_on_room_event(ns, room_nop, new_counter(), count_free));
    ASSERT_OK(roomcast_namespace_on_error(ns, err_nop, new_counter(), count_free));
    ASSERT_OK(roomcast_engine_of_dynamic(e, accept_all, new_counter(), count_free, &dyn));
    ASSERT_OK(roomcast_namespace_on(dyn, "ev", on_event, new_counter(), count_free));
    EXPECT(g_frees == 0);
    size_t closed = 99;
    ASSERT_OK(roomcast_engine_shutdown(e, &closed));
    EXPECT(closed == 0);
    /* every hook goes at shutdown, the dynamic predicate included */
    EXPECT(g_frees == 12);
    roomcast_namespace_free(dyn);
    roomcast_namespace_free(ns);
    roomcast_engine_free(e);
    EXPECT(g_frees == 12);
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_engine_shutdown(NULL, NULL));
}

TEST(userdata_freed_when_the_engine_goes) {
    roomcast_engine *e = NULL; roomcast_namespace *ns = NULL; roomcast_conn *c = NULL; roomcast_socket *s = NULL;
    g_frees = 0;
    ASSERT_OK(roomcast_engine_new(NULL, &e));
    ASSERT_OK(roomcast_engine_of(e, "/", &ns));
    ASSERT_OK(roomcast_namespace_on(ns, "ev", on_event, new_counter(), count_free));
    ASSERT_OK(roomcast_namespace_on_disconnect(ns, disc_nop, new_counter(), count_free));
    ASSERT_OK(roomcast_engine_connect(e, &c));
    ASSERT_OK(roomcast_conn_join_namespace(c, "/", 0, NULL, 0, &s));
    roomcast_engine_free(e);
    roomcast_namespace_free(ns);
    EXPECT(g_frees == 0); /* the connection and socket still hold the engine */
    roomcast_socket_free(s);
    roomcast_conn_free(c);
    EXPECT(g_frees == 2);
}

/* ---- issue 16: one rule for names and payloads, shutdown, timer thread ---- */

static int g_asked;
static bool count_and_accept(void *ud, roomcast_str n, const roomcast_handshake *hs) {
    (void)ud; (void)n; (void)hs;
    g_asked++;
    return true;
}

static roomcast_engine *small_engine(void) {
    roomcast_config *cfg = NULL;
    roomcast_engine *e = NULL;
    if (roomcast_config_new(&cfg) != ROOMCAST_RESULT_OK) return NULL;
    if (roomcast_config_set(cfg, "max_name_len", "8") != ROOMCAST_RESULT_OK ||
        roomcast_config_set(cfg, "max_payload", "16") != ROOMCAST_RESULT_OK ||
        roomcast_engine_new(cfg, &e) != ROOMCAST_RESULT_OK)
        e = NULL;
    roomcast_config_free(cfg);
    return e;
}

TEST(defect_4_on_and_off_refuse_names_dispatch_refuses) {
    roomcast_engine *e = small_engine();
    ASSERT(e != NULL);
    roomcast_namespace *ns = NULL; roomcast_conn *c = NULL; roomcast_socket *s = NULL;
    ASSERT_OK(roomcast_engine_of(e, "/", &ns));
    ASSERT_OK(roomcast_engine_connect(e, &c));
    ASSERT_OK(roomcast_conn_join_namespace(c, "/", 0, NULL, 0, &s));
    const char *bad[] = {"", "123456789", "a\tb", "disconnect", "connect"};
    g_frees = 0;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint32_t outcome = 0;
        EXPECT_RC(ROOMCAST_RESULT_INVALID_NAME,
                  roomcast_socket_dispatch(s, bad[i], ROOMCAST_FORMAT_TEXT, (const uint8_t *)"x", 1, false, 0, &outcome));
        int *ud = new_counter();
        EXPECT_RC(ROOMCAST_RESULT_INVALID_NAME, roomcast_namespace_on(ns, bad[i], on_event, ud, count_free));
        char detail[256];
        EXPECT(roomcast_last_error(detail, sizeof detail) > 0 && strstr(detail, "invalid event name") != NULL);
        EXPECT(g_frees == 0); /* a refused registration leaves the userdata with the caller */
        free(ud);
        EXPECT_RC(ROOMCAST_RESULT_INVALID_NAME, roomcast_namespace_off(ns, bad[i]));
    }
    /* exactly max_name_len bytes: registers and dispatches */
    struct log lg; memset(&lg, 0, sizeof lg);
    ASSERT_OK(roomcast_namespace_on(ns, "12345678", on_event, &lg, NULL));
    uint32_t outcome = 0;
    ASSERT_OK(roomcast_socket_dispatch(s, "12345678", ROOMCAST_FORMAT_TEXT, (const uint8_t *)"x", 1, false, 0, &outcome));
    EXPECT(outcome == ROOMCAST_DISPATCHED_HANDLED);
    ASSERT_OK(roomcast_namespace_off(ns, "12345678"));
    roomcast_socket_free(s);
    roomcast_conn_free(c);
    roomcast_namespace_free(ns);
    roomcast_engine_free(e);
}

TEST(defect_5_join_auth_over_max_payload_is_refused_like_dispatch) {
    roomcast_engine *e = small_engine();
    ASSERT(e != NULL);
    roomcast_conn *c = NULL; roomcast_socket *s = NULL;
    ASSERT_OK(roomcast_engine_connect(e, &c));
    uint8_t big[17] = {0};
    EXPECT_RC(ROOMCAST_RESULT_PAYLOAD_TOO_LARGE,
              roomcast_conn_join_namespace(c, "/", ROOMCAST_FORMAT_BINARY, big, sizeof big, &s));
    char joined[128] = "";
    roomcast_last_error(joined, sizeof joined);
    EXPECT(s == NULL);
    ASSERT_OK(roomcast_conn_join_namespace(c, "/", ROOMCAST_FORMAT_BINARY, big, 16, &s));
    uint32_t outcome = 0;
    EXPECT_RC(ROOMCAST_RESULT_PAYLOAD_TOO_LARGE,
              roomcast_socket_dispatch(s, "ev", ROOMCAST_FORMAT_BINARY, big, sizeof big, false, 0, &outcome));
    char dispatched[128] = "";
    roomcast_last_error(dispatched, sizeof dispatched);
    EXPECT(strcmp(joined, dispatched) == 0); /* one rule, one message */
    EXPECT(strcmp(joined, "payload of 17 bytes exceeds the limit of 16") == 0);
    roomcast_socket_free(s);
    roomcast_conn_free(c);
    roomcast_engine_free(e);
}

TEST(defect_6_a_shut_down_engine_admits_nothing) {
    roomcast_engine *e = NULL; roomcast_namespace *dyn = NULL, *ns = NULL; roomcast_conn *c = NULL;
    roomcast_socket *s = NULL;
    ASSERT_OK(roomcast_engine_new(NULL, &e));
    g_asked = 0;
    ASSERT_OK(roomcast_engine_of_dynamic(e, count_and_accept, NULL, NULL, &dyn));
    ASSERT_OK(roomcast_engine_connect(e, &c));
    ASSERT_OK(roomcast_conn_join_namespace(c, "/t1", 0, NULL, 0, &s));
    roomcast_socket_free(s); s = NULL;
    EXPECT(g_asked == 1);
    ASSERT_OK(roomcast_engine_shutdown(e, NULL));
    roomcast_conn_free(c);
    ASSERT_OK(roomcast_engine_connect(e, &c));
    EXPECT_RC(ROOMCAST_RESULT_SHUT_DOWN, roomcast_conn_join_namespace(c, "/t2", 0, NULL, 0, &s));
    EXPECT_RC(ROOMCAST_RESULT_SHUT_DOWN, roomcast_conn_join_namespace(c, "/", 0, NULL, 0, &s));
    EXPECT(s == NULL);
    EXPECT(g_asked == 1); /* the predicate is gone */
    EXPECT_RC(ROOMCAST_RESULT_NO_VALUE, roomcast_engine_namespace(e, "/t2", &ns));
    EXPECT_RC(ROOMCAST_RESULT_SHUT_DOWN, roomcast_engine_of(e, "/new", &ns));
    EXPECT(ns == NULL);
    EXPECT(strcmp(roomcast_result_message(ROOMCAST_RESULT_SHUT_DOWN), "the engine is shut down") == 0);
    ASSERT_OK(roomcast_engine_of(e, "/t1", &ns)); /* existing namespaces stay reachable */
    roomcast_namespace_free(ns);
    roomcast_conn_free(c);
    roomcast_namespace_free(dyn);
    roomcast_engine_free(e);
}

/* Threads of this process whose name starts with "roomcast". */
static int roomcast_threads(void) {
    DIR *d = opendir("/proc/self/task");
    if (d == NULL) return -1;
    int n = 0;
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL) {
        if (ent->d_name[0] == '.') continue;
        char path[300], comm[64] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", ent->d_name);
        FILE *f = fopen(path, "r");
        if (f == NULL) continue;
        if (fgets(comm, sizeof comm, f) != NULL && strncmp(comm, "roomcast", 8) == 0) n++;
        fclose(f);
    }
    closedir(d);
    return n;
}

/* Polls roomcast_threads() every millisecond for at most `ms` ms. */
static int roomcast_threads_become(int want, int ms) {
    struct timespec tick = {0, 1000000};
    for (int i = 0; i < ms && roomcast_threads() != want; i++) nanosleep(&tick, NULL);
    return roomcast_threads() == want;
}

TEST(defect_3_no_roomcast_thread_outlives_the_engine) {
    roomcast_engine *e = NULL; roomcast_conn *c = NULL; roomcast_socket *s = NULL; roomcast_acks *acks = NULL;
    ASSERT(roomcast_threads() == 0);
    ASSERT_OK(roomcast_engine_new(NULL, &e));
    ASSERT_OK(roomcast_engine_connect(e, &c));
    ASSERT_OK(roomcast_conn_join_namespace(c, "/", 0, NULL, 0, &s));
    /* the first ack emit starts the engine's timer thread */
    ASSERT_OK(roomcast_socket_emit_with_ack(s, "ping", ROOMCAST_FORMAT_TEXT, (const uint8_t *)"?", 1, 5, &acks));
    EXPECT(roomcast_threads_become(1, 2000));
    roomcast_acks_free(acks);
    roomcast_socket_free(s);
    roomcast_conn_free(c);
    roomcast_engine_free(e);
    /* The last release joined the thread: it is gone when the call returns. */
    EXPECT(roomcast_threads() == 0);
}

/* ---- shutdown closes connections ---- */

TEST(shutdown_closes_connections) {
    roomcast_engine *e = NULL; roomcast_namespace *ns = NULL; roomcast_conn *c = NULL; roomcast_socket *s = NULL;
    struct disc d; memset(&d, 0, sizeof d);
    ASSERT_OK(roomcast_engine_new(NULL, &e));
    ASSERT_OK(roomcast_engine_of(e, "/", &ns));
    ASSERT_OK(roomcast_namespace_on_disconnecting(ns, on_disconnecting, &d, NULL));
    ASSERT_OK(roomcast_engine_connect(e, &c));
    ASSERT_OK(roomcast_conn_join_namespace(c, "/", 0, NULL, 0, &s));
    const char *why = NULL;
    EXPECT_RC(ROOMCAST_RESULT_NO_VALUE, roomcast_conn_close_reason(c, &why));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_conn_close_reason(c, NULL));
    size_t closed = 0;
    ASSERT_OK(roomcast_engine_shutdown(e, &closed));
    EXPECT(closed == 1 && d.calls == 1 && strcmp(d.reason, "server shutting down") == 0);
    ASSERT_OK(roomcast_conn_close_reason(c, &why));
    EXPECT(strcmp(why, "server shutting down") == 0);
    bool is_closed = false;
    ASSERT_OK(roomcast_conn_is_closed(c, &is_closed));
    EXPECT(is_closed);
    roomcast_message *m = NULL;
    ASSERT_OK(roomcast_conn_try_recv(c, &m)); /* the disconnect notice stays readable */
    uint32_t kind = 99;
    ASSERT_OK(roomcast_message_kind(m, &kind));
    EXPECT(kind == ROOMCAST_KIND_DISCONNECT);
    roomcast_message_free(m);
    EXPECT_RC(ROOMCAST_RESULT_CLOSED, roomcast_conn_try_recv(c, &m));
    roomcast_socket_free(s); roomcast_conn_free(c); roomcast_namespace_free(ns); roomcast_engine_free(e);
}

/* ---- messages are the shared message, not copies ---- */

TEST(messages_are_zero_copy_and_outlive_everything) {
    roomcast_engine *e = NULL; roomcast_namespace *ns = NULL;
    roomcast_conn *c1 = NULL, *c2 = NULL; roomcast_socket *s1 = NULL, *s2 = NULL;
    ASSERT_OK(roomcast_engine_new(NULL, &e));
    ASSERT_OK(roomcast_engine_of(e, "/z", &ns));
    ASSERT_OK(roomcast_engine_connect(e, &c1));
    ASSERT_OK(roomcast_engine_connect(e, &c2));
    ASSERT_OK(roomcast_conn_join_namespace(c1, "/z", 0, NULL, 0, &s1));
    ASSERT_OK(roomcast_conn_join_namespace(c2, "/z", 0, NULL, 0, &s2));
    const char payload[] = "shared by every recipient";
    ASSERT_OK(roomcast_namespace_emit(ns, NULL, "ev", ROOMCAST_FORMAT_TEXT, (const uint8_t *)payload, sizeof payload - 1, NULL));
    roomcast_message *m1 = NULL, *m2 = NULL;
    ASSERT_OK(roomcast_conn_recv(c1, 1000, &m1));
    ASSERT_OK(roomcast_conn_recv(c2, 1000, &m2));
    EXPECT(m1 == m2); /* the handle is the one shared message */
    const uint8_t *d1, *d2; size_t n1, n2;
    ASSERT_OK(roomcast_message_data(m1, &d1, &n1, NULL));
    ASSERT_OK(roomcast_message_data(m2, &d2, &n2, NULL));
    EXPECT(d1 == d2 && n1 == sizeof payload - 1);
    EXPECT((const void *)d1 != (const void *)payload); /* copied once, at emit */
    /* each recipient releases its own reference; the last one frees it */
    roomcast_message_free(m1);
    roomcast_socket_free(s1); roomcast_socket_free(s2);
    roomcast_conn_free(c1); roomcast_conn_free(c2);
    roomcast_namespace_free(ns); roomcast_engine_free(e);
    EXPECT(memcmp(d2, payload, n2) == 0); /* still valid: m2 holds it */
    roomcast_str ev;
    ASSERT_OK(roomcast_message_event(m2, &ev));
    EXPECT(streq(ev.data, ev.len, "ev"));
    roomcast_message_free(m2);
}

/* ---- NULL arguments, bad UTF-8, oversized names and closed objects, for
 * the functions this file covers ---- */

TEST(error_paths_of_queries_and_builders) {
    roomcast_engine *e = NULL; roomcast_namespace *ns = NULL, *out_ns = NULL; roomcast_conn *c = NULL;
    roomcast_socket *s = NULL, *out_s = NULL; roomcast_handshake *hs = NULL; roomcast_strings *list = NULL;
    roomcast_payload *p = NULL;
    roomcast_str str; size_t len, n; bool flag; uint64_t id;
    const char bad[] = {'/', (char)0xe2, (char)0x28, 0};
    char longname[300];
    memset(longname, 'n', sizeof longname - 1);
    longname[0] = '/';
    longname[sizeof longname - 1] = '\0';

    ASSERT_OK(roomcast_engine_new(NULL, &e));
    ASSERT_OK(roomcast_engine_of(e, "/x", &ns));
    ASSERT_OK(roomcast_engine_connect(e, &c));
    ASSERT_OK(roomcast_conn_join_namespace(c, "/x", 0, NULL, 0, &s));

    /* engine */
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_engine_namespace(NULL, "/x", &out_ns));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_engine_namespace(e, NULL, &out_ns));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_engine_namespace(e, "/x", NULL));
    EXPECT_RC(ROOMCAST_RESULT_INVALID_UTF8, roomcast_engine_namespace(e, bad, &out_ns));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_engine_namespaces(NULL, &list));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_engine_namespaces(e, NULL));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_engine_of_dynamic(NULL, accept_all_pred, NULL, NULL, &out_ns));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_engine_connect_with(NULL, NULL, &c));
    EXPECT_RC(ROOMCAST_RESULT_INVALID_NAME, roomcast_engine_of(e, longname, &out_ns)); /* over max_name_len */
    roomcast_connect_options bad_policy = {sizeof bad_policy, 0, 0, bad};
    roomcast_conn *c2 = NULL;
    EXPECT_RC(ROOMCAST_RESULT_INVALID_UTF8, roomcast_engine_connect_with(e, &bad_policy, &c2));
    EXPECT(out_ns == NULL && c2 == NULL);

    /* namespace */
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_namespace_name(NULL, &str));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_namespace_name(ns, NULL));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_namespace_is_dynamic_parent(ns, NULL));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_namespace_parent(NULL, &out_ns));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_namespace_children(ns, NULL));
    ASSERT_OK(roomcast_namespace_children(ns, &list)); /* not a parent: empty */
    EXPECT(roomcast_strings_len(list) == 0);
    roomcast_strings_free(list);

    /* handshake */
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_handshake_new(NULL));
    ASSERT_OK(roomcast_handshake_new(&hs));
    EXPECT_RC(ROOMCAST_RESULT_NO_VALUE, roomcast_handshake_address(hs, &str));
    EXPECT_RC(ROOMCAST_RESULT_NO_VALUE, roomcast_handshake_header(hs, "x", &str));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_handshake_header(hs, "x", NULL));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_handshake_query(NULL, "x", &str));
    EXPECT_RC(ROOMCAST_RESULT_INVALID_UTF8, roomcast_handshake_query(hs, bad, &str));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_handshake_set_auth(NULL, 0, NULL, 0));
    EXPECT_RC(ROOMCAST_RESULT_INVALID_ARGUMENT, roomcast_handshake_set_auth(hs, 7, (const uint8_t *)"x", 1));
    EXPECT_RC(ROOMCAST_RESULT_INVALID_UTF8, roomcast_handshake_add_header(hs, "h", bad));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_handshake_set_address(NULL, "a"));
    const uint8_t *d;
    EXPECT_RC(ROOMCAST_RESULT_NO_VALUE, roomcast_handshake_auth(hs, &d, &len, NULL));
    roomcast_handshake_free(NULL);

    /* connection */
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_conn_join_namespace_with(NULL, "/x", hs, &out_s));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_conn_join_namespace_with(c, NULL, hs, &out_s));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_conn_join_namespace_with(c, "/x", hs, NULL));
    EXPECT_RC(ROOMCAST_RESULT_INVALID_UTF8, roomcast_conn_join_namespace_with(c, bad, hs, &out_s));
    EXPECT_RC(ROOMCAST_RESULT_ALREADY_JOINED, roomcast_conn_join_namespace_with(c, "/x", hs, &out_s));
    EXPECT_RC(ROOMCAST_RESULT_REFUSED, roomcast_conn_join_namespace_with(c, "/nobody-made-this", hs, &out_s));
    EXPECT_RC(ROOMCAST_RESULT_INVALID_NAME, roomcast_conn_join_namespace_with(c, "no-slash", hs, &out_s));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_conn_socket(c, NULL, &out_s));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_conn_socket(c, "/x", NULL));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_conn_sockets(NULL, NULL, 0, &n, NULL));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_conn_sockets(c, NULL, 0, NULL, NULL));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_conn_id(NULL, &id));
    EXPECT(out_s == NULL);

    /* socket */
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_socket_namespace(NULL, &out_ns));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_socket_namespace(s, NULL));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_socket_is_connected(NULL, &flag));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_socket_disconnect_reason(s, NULL));
    EXPECT_RC(ROOMCAST_RESULT_INVALID_UTF8, roomcast_socket_in_room(s, bad, &flag));
    EXPECT_RC(ROOMCAST_RESULT_INVALID_NAME, roomcast_socket_join(s, longname)); /* over max_name_len */

    /* after close: queries answer, changes fail, joins are refused */
    ASSERT_OK(roomcast_socket_set_data(s, ROOMCAST_FORMAT_TEXT, (const uint8_t *)"kept", 4));
    ASSERT_OK(roomcast_conn_close(c, "server shutting down"));
    ASSERT_OK(roomcast_socket_is_connected(s, &flag));
    EXPECT(!flag);
    ASSERT_OK(roomcast_socket_rooms(s, &list));
    EXPECT(roomcast_strings_len(list) == 0); /* it left every room */
    roomcast_strings_free(list);
    ASSERT_OK(roomcast_socket_data(s, &p)); /* its data stays readable */
    ASSERT_OK(roomcast_payload_data(p, &d, &len, NULL));
    EXPECT(len == 4 && memcmp(d, "kept", 4) == 0);
    roomcast_payload_free(p);
    EXPECT_RC(ROOMCAST_RESULT_CLOSED, roomcast_socket_join(s, "r"));
    EXPECT_RC(ROOMCAST_RESULT_CLOSED, roomcast_conn_join_namespace_with(c, "/", hs, &out_s));
    ASSERT_OK(roomcast_conn_sockets(c, NULL, 0, &n, NULL));
    EXPECT(n == 0);
    EXPECT_RC(ROOMCAST_RESULT_NO_VALUE, roomcast_conn_socket(c, "/x", &out_s));
    ASSERT_OK(roomcast_conn_id(c, &id));
    EXPECT_RC(ROOMCAST_RESULT_CLOSED,
              roomcast_socket_emit(s, "ev", ROOMCAST_FORMAT_TEXT, (const uint8_t *)"x", 1, NULL));

    roomcast_handshake_free(hs);
    roomcast_socket_free(s); roomcast_conn_free(c); roomcast_namespace_free(ns); roomcast_engine_free(e);
}

/* ---- disconnect with a reason, volatile emit from a socket ---- */

TEST(socket_disconnect_with_a_reason) {
    struct disc d; memset(&d, 0, sizeof d);
    roomcast_engine *e = NULL; roomcast_namespace *ns = NULL; roomcast_conn *c = NULL;
    roomcast_socket *s = NULL, *t = NULL;
    ASSERT_OK(roomcast_engine_new(NULL, &e));
    ASSERT_OK(roomcast_engine_of(e, "/", &ns));
    ASSERT_OK(roomcast_namespace_on_disconnecting(ns, on_disconnecting, &d, NULL));
    ASSERT_OK(roomcast_engine_connect(e, &c));
    ASSERT_OK(roomcast_conn_join_namespace(c, "/", 0, NULL, 0, &s));
    ASSERT_OK(roomcast_socket_join(s, "r"));
    bool done = true, connected = false;
    /* bad input: clear errors, the socket stays as it was */
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_socket_disconnect_with(NULL, "ping timeout", &done));
    EXPECT_RC(ROOMCAST_RESULT_INVALID_ARGUMENT, roomcast_socket_disconnect_with(s, "bored", &done));
    EXPECT_RC(ROOMCAST_RESULT_INVALID_UTF8, roomcast_socket_disconnect_with(s, "\xff\xfe", &done));
    EXPECT(done == true); /* outputs written only on success */
    EXPECT(d.calls == 0);
    ASSERT_OK(roomcast_socket_is_connected(s, &connected));
    EXPECT(connected);
    /* the reason reaches the handlers, the socket and the client's notice */
    ASSERT_OK(roomcast_socket_disconnect_with(s, "ping timeout", &done));
    EXPECT(done == true);
    EXPECT(d.calls == 1 && d.disconnecting_saw_room == 1);
    EXPECT(strcmp(d.reason, "ping timeout") == 0);
    const char *reason = NULL;
    ASSERT_OK(roomcast_socket_disconnect_reason(s, &reason));
    EXPECT(strcmp(reason, "ping timeout") == 0);
    size_t members = 99;
    ASSERT_OK(roomcast_namespace_room_size(ns, "r", &members));
    EXPECT(members == 0);
    EXPECT(drain_count(c) == 0); /* a transport-side reason queues no notice */
    /* twice: not an error, reports that nothing happened, keeps the first reason */
    ASSERT_OK(roomcast_socket_disconnect_with(s, "transport close", &done));
    EXPECT(done == false);
    ASSERT_OK(roomcast_socket_disconnect_reason(s, &reason));
    EXPECT(strcmp(reason, "ping timeout") == 0);
    EXPECT(d.calls == 1);
    /* NULL reason = server namespace disconnect; NULL out-pointer allowed */
    ASSERT_OK(roomcast_conn_join_namespace(c, "/", 0, NULL, 0, &t));
    ASSERT_OK(roomcast_socket_disconnect_with(t, NULL, NULL));
    EXPECT(strcmp(d.reason, "server namespace disconnect") == 0);
    EXPECT(drain_count(c) == 1); /* a server-side one does */
    roomcast_socket_free(t);
    roomcast_socket_free(s); roomcast_conn_free(c); roomcast_namespace_free(ns); roomcast_engine_free(e);
}

TEST(socket_volatile_emit_drops_instead_of_overflowing) {
    roomcast_config *cfg = NULL;
    roomcast_engine *e = NULL; roomcast_namespace *ns = NULL; roomcast_conn *c = NULL; roomcast_socket *s = NULL;
    ASSERT_OK(roomcast_config_new(&cfg));
    ASSERT_OK(roomcast_config_set(cfg, "max_queue", "2"));
    ASSERT_OK(roomcast_config_set(cfg, "overflow", "disconnect"));
    ASSERT_OK(roomcast_engine_new(cfg, &e));
    roomcast_config_free(cfg);
    ASSERT_OK(roomcast_engine_of(e, "/", &ns));
    ASSERT_OK(roomcast_engine_connect(e, &c));
    ASSERT_OK(roomcast_conn_join_namespace(c, "/", 0, NULL, 0, &s));
    roomcast_emit_report rep = {.struct_size = sizeof rep};
    memset(&rep, 0xff, sizeof rep);
    ASSERT_OK(roomcast_socket_emit_volatile(s, "v", ROOMCAST_FORMAT_TEXT, (const uint8_t *)"1", 1, &rep));
    EXPECT(rep.recipients == 1 && rep.queued == 1 && rep.dropped == 0);
    ASSERT_OK(roomcast_socket_emit(s, "n", ROOMCAST_FORMAT_TEXT, (const uint8_t *)"2", 1, NULL));
    /* full: the volatile emit is dropped and the connection stays open */
    ASSERT_OK(roomcast_socket_emit_volatile(s, "v", ROOMCAST_FORMAT_TEXT, (const uint8_t *)"3", 1, &rep));
    EXPECT(rep.recipients == 1 && rep.queued == 0 && rep.dropped == 1);
    bool closed = true;
    ASSERT_OK(roomcast_conn_is_closed(c, &closed));
    EXPECT(!closed);
    EXPECT(drain_count(c) == 2);
    /* bad input is refused before anything is queued */
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_socket_emit_volatile(NULL, "v", 0, NULL, 0, NULL));
    EXPECT_RC(ROOMCAST_RESULT_NULL_PARAMETER, roomcast_socket_emit_volatile(s, NULL, 0, NULL, 0, NULL));
    EXPECT_RC(ROOMCAST_RESULT_INVALID_ARGUMENT, roomcast_socket_emit_volatile(s, "v", 77, NULL, 0, NULL));
    EXPECT(drain_count(c) == 0);
    /* the same overflow through a normal emit applies the policy */
    ASSERT_OK(roomcast_socket_emit(s, "n", ROOMCAST_FORMAT_TEXT, (const uint8_t *)"4", 1, NULL));
    ASSERT_OK(roomcast_socket_emit(s, "n", ROOMCAST_FORMAT_TEXT, (const uint8_t *)"5", 1, NULL));
    roomcast_socket_emit(s, "n", ROOMCAST_FORMAT_TEXT, (const uint8_t *)"6", 1, NULL);
    ASSERT_OK(roomcast_conn_is_closed(c, &closed));
    EXPECT(closed);
    roomcast_socket_free(s); roomcast_conn_free(c); roomcast_namespace_free(ns); roomcast_engine_free(e);
}

int main(void) {
    RUN(any_off_fallback_and_event_middleware);
    RUN(disconnecting_and_room_events);
    RUN(dynamic_namespaces_and_handshakes);
    RUN(queries_strings_and_socket_data);
    RUN(connect_with_options);
    RUN(userdata_is_freed_once_when_dropped);
    RUN(userdata_freed_when_the_engine_goes);
    RUN(shutdown_closes_connections);
    RUN(defect_4_on_and_off_refuse_names_dispatch_refuses);
    RUN(defect_5_join_auth_over_max_payload_is_refused_like_dispatch);
    RUN(defect_6_a_shut_down_engine_admits_nothing);
    RUN(defect_3_no_roomcast_thread_outlives_the_engine);
    RUN(messages_are_zero_copy_and_outlive_everything);
    RUN(error_paths_of_queries_and_builders);
    RUN(socket_disconnect_with_a_reason);
    RUN(socket_volatile_emit_drops_instead_of_overflowing);
    return REPORT();
}
