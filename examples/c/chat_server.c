/* A line-based TCP chat server on 127.0.0.1 built on roomcast.
 *
 *   chat_server [port]        (port 0 or none: an ephemeral port)
 *
 * Prints "listening on 127.0.0.1:PORT", then serves clients speaking lines:
 *   /nick NAME     choose a nickname (default guestN)
 *   /join ROOM     join a room; its members get "* NAME joined ROOM"
 *   /leave ROOM    leave it; its members get "* NAME left ROOM"
 *   anything else  sent as "NAME: text" to every room the sender is in,
 *                  once per recipient, never back to the sender
 * Replies to the sender start with "* ". SIGTERM or SIGINT shut it down.
 *
 * How it uses roomcast: each TCP client is a roomcast connection with one
 * socket in namespace "/chat". Every inbound line is dispatched as an event
 * ("nick", "join", "leave", "say") to handlers registered on the namespace,
 * which join, leave and emit. Outbound messages land in each connection's
 * outbox; its notify callback writes a byte to a pipe that wakes poll(),
 * and the loop drains the outboxes into the TCP sockets. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "roomcast.h"

#define MAX_LINE 1024
#define MAX_CLIENTS 256

struct client {
    int fd;
    roomcast_conn *conn;
    roomcast_socket *sock;
    volatile int pending;  /* set by the notify callback: drain the outbox */
    char in[MAX_LINE + 1];
    size_t in_len;
    int discarding;        /* dropping the rest of an over-long line */
    char *out;             /* bytes waiting for the TCP socket */
    size_t out_len, out_cap;
    int closing;           /* flush what is queued, then close */
};

struct server {
    roomcast_engine *engine;
    roomcast_namespace *chat;
    int wake[2];           /* notify callbacks write here; poll() reads */
    struct client *clients[MAX_CLIENTS];
    size_t n_clients;
};

static volatile sig_atomic_t g_stop;
static int g_wake_fd = -1;

static void on_signal(int sig) {
    (void)sig;
    g_stop = 1;
    if (g_wake_fd >= 0) {
        char b = 's';
        ssize_t r = write(g_wake_fd, &b, 1);
        (void)r;
    }
}

static void die(const char *what) {
    perror(what);
    exit(1);
}

static void check(roomcast_result r, const char *what) {
    if (r != ROOMCAST_RESULT_OK) {
        fprintf(stderr, "%s: %s\n", what, roomcast_result_message(r));
        exit(1);
    }
}

static void set_nonblocking(int fd) {
    int fl = fcntl(fd, F_GETFL, 0);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) die("fcntl");
}

/* ---- notify: runs on the emitting thread (here always the main one) ---- */

static void on_notify(void *userdata) {
    struct client *c = userdata;
    c->pending = 1;
    char b = 'n';
    /* a full pipe already guarantees a wake-up */
    ssize_t r = write(g_wake_fd, &b, 1);
    (void)r;
}

/* ---- helpers over roomcast ---- */

/* The nickname kept in the socket's data, copied into buf. */
static void nick_of(const roomcast_socket *s, char *buf, size_t cap) {
    roomcast_payload *p = NULL;
    const uint8_t *data;
    size_t len;
    if (roomcast_socket_data(s, &p) == ROOMCAST_RESULT_OK &&
        roomcast_payload_data(p, &data, &len, NULL) == ROOMCAST_RESULT_OK) {
        snprintf(buf, cap, "%.*s", (int)len, (const char *)data);
    } else {
        snprintf(buf, cap, "someone");
    }
    roomcast_payload_free(p);
}

static void reply(const roomcast_socket *s, const char *text) {
    roomcast_socket_emit(s, "line", ROOMCAST_FORMAT_TEXT, (const uint8_t *)text, strlen(text), NULL);
}

/* Sends `text` to the members of `rooms` (n names) except socket `s`. */
static void tell_rooms(const roomcast_socket *s, const char *const *rooms, size_t n, const char *text) {
    roomcast_namespace *ns = NULL;
    if (n == 0 || roomcast_socket_namespace(s, &ns) != ROOMCAST_RESULT_OK) return;
    roomcast_target t = {sizeof t, rooms, n, NULL, 0, s, false};
    roomcast_namespace_emit(ns, &t, "line", ROOMCAST_FORMAT_TEXT, (const uint8_t *)text, strlen(text), NULL);
    roomcast_namespace_free(ns);
}

/* The rooms a socket joined (its own-id room left out). Returns the list
 * to free; names[0..*n] point into it. */
static roomcast_strings *joined_rooms(const roomcast_socket *s, const char **names, size_t cap, size_t *n) {
    roomcast_strings *list = NULL;
    roomcast_str id;
    *n = 0;
    if (roomcast_socket_rooms(s, &list) != ROOMCAST_RESULT_OK) return NULL;
    if (roomcast_socket_id(s, &id) != ROOMCAST_RESULT_OK) return list;
    for (size_t i = 0; i < roomcast_strings_len(list) && *n < cap; i++) {
        const char *r;
        size_t len;
        if (roomcast_strings_get(list, i, &r, &len) != ROOMCAST_RESULT_OK) continue;
        if (len == id.len && memcmp(r, id.data, len) == 0) continue;
        names[(*n)++] = r; /* NUL-terminated by the list */
    }
    return list;
}

/* ---- event handlers: run inside roomcast_socket_dispatch ---- */

static int valid_word(const uint8_t *p, size_t len, size_t max) {
    if (len == 0 || len > max) return 0;
    for (size_t i = 0; i < len; i++)
        if (p[i] == ' ' || p[i] < 0x20) return 0;
    return 1;
}

static int on_nick(void *ud, const roomcast_socket *s, roomcast_str ev, roomcast_format fmt,
                   const uint8_t *data, size_t len, const roomcast_ack *ack) {
    (void)ud; (void)ev; (void)ack;
    char line[MAX_LINE + 64], old[64];
    if (!valid_word(data, len, 32)) {
        reply(s, "* usage: /nick NAME (1-32 characters, no spaces)");
        return 0;
    }
    nick_of(s, old, sizeof old);
    roomcast_socket_set_data(s, fmt, data, len);
    snprintf(line, sizeof line, "* %s is now known as %.*s", old, (int)len, (const char *)data);
    const char *rooms[64];
    size_t n;
    roomcast_strings *list = joined_rooms(s, rooms, 64, &n);
    tell_rooms(s, rooms, n, line);
    roomcast_strings_free(list);
    snprintf(line, sizeof line, "* you are now %.*s", (int)len, (const char *)data);
    reply(s, line);
    return 0;
}

static int on_join(void *ud, const roomcast_socket *s, roomcast_str ev, roomcast_format fmt,
                   const uint8_t *data, size_t len, const roomcast_ack *ack) {
    (void)ud; (void)ev; (void)fmt; (void)ack;
    char room[MAX_LINE + 1], nick[64], line[MAX_LINE + 128];
    if (!valid_word(data, len, MAX_LINE)) {
        reply(s, "* usage: /join ROOM");
        return 0;
    }
    snprintf(room, sizeof room, "%.*s", (int)len, (const char *)data);
    bool in = false;
    if (roomcast_socket_in_room(s, room, &in) == ROOMCAST_RESULT_OK && in) {
        snprintf(line, sizeof line, "* already in %s", room);
        reply(s, line);
        return 0;
    }
    roomcast_result r = roomcast_socket_join(s, room);
    if (r != ROOMCAST_RESULT_OK) {
        snprintf(line, sizeof line, "* cannot join %s: %s", room, roomcast_result_message(r));
        reply(s, line);
        return 0;
    }
    nick_of(s, nick, sizeof nick);
    snprintf(line, sizeof line, "* %s joined %s", nick, room);
    const char *rooms[1] = {room};
    tell_rooms(s, rooms, 1, line);
    snprintf(line, sizeof line, "* joined %s", room);
    reply(s, line);
    return 0;
}

static int on_leave(void *ud, const roomcast_socket *s, roomcast_str ev, roomcast_format fmt,
                    const uint8_t *data, size_t len, const roomcast_ack *ack) {
    (void)ud; (void)ev; (void)fmt; (void)ack;
    char room[MAX_LINE + 1], nick[64], line[MAX_LINE + 128];
    if (!valid_word(data, len, MAX_LINE)) {
        reply(s, "* usage: /leave ROOM");
        return 0;
    }
    snprintf(room, sizeof room, "%.*s", (int)len, (const char *)data);
    bool in = false;
    if (roomcast_socket_in_room(s, room, &in) != ROOMCAST_RESULT_OK || !in) {
        snprintf(line, sizeof line, "* not in %s", room);
        reply(s, line);
        return 0;
    }
    nick_of(s, nick, sizeof nick);
    snprintf(line, sizeof line, "* %s left %s", nick, room);
    const char *rooms[1] = {room};
    tell_rooms(s, rooms, 1, line);
    if (roomcast_socket_leave(s, room) != ROOMCAST_RESULT_OK) return 1;
    snprintf(line, sizeof line, "* left %s", room);
    reply(s, line);
    return 0;
}

static int on_say(void *ud, const roomcast_socket *s, roomcast_str ev, roomcast_format fmt,
                  const uint8_t *data, size_t len, const roomcast_ack *ack) {
    (void)ud; (void)ev; (void)fmt; (void)ack;
    char nick[64], line[MAX_LINE + 128];
    const char *rooms[64];
    size_t n;
    roomcast_strings *list = joined_rooms(s, rooms, 64, &n);
    if (n == 0) {
        reply(s, "* join a room first: /join ROOM");
    } else {
        nick_of(s, nick, sizeof nick);
        snprintf(line, sizeof line, "%s: %.*s", nick, (int)len, (const char *)data);
        tell_rooms(s, rooms, n, line); /* union of the rooms: once per recipient */
    }
    roomcast_strings_free(list);
    return 0;
}

/* While a socket disconnects its rooms are still visible: tell them. */
static void on_disconnecting(void *ud, const roomcast_socket *s, const char *reason) {
    (void)ud; (void)reason;
    char nick[64], line[256];
    const char *rooms[64];
    size_t n;
    roomcast_strings *list = joined_rooms(s, rooms, 64, &n);
    nick_of(s, nick, sizeof nick);
    for (size_t i = 0; i < n; i++) {
        snprintf(line, sizeof line, "* %s left %s", nick, rooms[i]);
        tell_rooms(s, &rooms[i], 1, line);
    }
    roomcast_strings_free(list);
}

static int name_guest(void *ud, const roomcast_socket *s) {
    unsigned *next = ud;
    char nick[32];
    int len = snprintf(nick, sizeof nick, "guest%u", ++*next);
    return roomcast_socket_set_data(s, ROOMCAST_FORMAT_TEXT, (const uint8_t *)nick, (size_t)len) == ROOMCAST_RESULT_OK
               ? 0 : 1;
}

/* ---- clients ---- */

static void out_append(struct client *c, const void *p, size_t len) {
    if (c->out_len + len > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 1024;
        while (cap < c->out_len + len) cap *= 2;
        char *n = realloc(c->out, cap);
        if (!n) die("realloc");
        c->out = n;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, p, len);
    c->out_len += len;
}

static void flush_out(struct client *c) {
    while (c->out_len > 0) {
        ssize_t w = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            if (errno == EINTR) continue;
            c->out_len = 0;
            c->closing = 1;
            return;
        }
        memmove(c->out, c->out + w, c->out_len - (size_t)w);
        c->out_len -= (size_t)w;
    }
}

/* Moves queued roomcast messages into the client's TCP buffer. */
static void drain(struct client *c) {
    roomcast_message *msgs[64];
    size_t n;
    c->pending = 0;
    for (;;) {
        roomcast_result r = roomcast_conn_recv_many(c->conn, 0, msgs, 64, &n);
        if (r == ROOMCAST_RESULT_CLOSED) { c->closing = 1; break; }
        if (r != ROOMCAST_RESULT_OK) break; /* EMPTY */
        for (size_t i = 0; i < n; i++) {
            roomcast_kind kind = 0;
            roomcast_message_kind(msgs[i], &kind);
            if (kind == ROOMCAST_KIND_EVENT) {
                const uint8_t *p;
                size_t len;
                if (roomcast_message_data(msgs[i], &p, &len, NULL) == ROOMCAST_RESULT_OK) {
                    out_append(c, p, len); /* zero-copy view of the shared payload */
                    out_append(c, "\n", 1);
                }
            } else if (kind == ROOMCAST_KIND_LAGGED) {
                uint64_t lost = 0;
                char line[64];
                roomcast_message_lagged_count(msgs[i], &lost);
                int len = snprintf(line, sizeof line, "* %llu messages lost\n", (unsigned long long)lost);
                out_append(c, line, (size_t)len);
            }
            roomcast_message_free(msgs[i]);
        }
    }
    flush_out(c);
}

static void add_client(struct server *srv, int fd) {
    if (srv->n_clients == MAX_CLIENTS) {
        close(fd);
        return;
    }
    struct client *c = calloc(1, sizeof *c);
    if (!c) die("calloc");
    c->fd = fd;
    set_nonblocking(fd);
    check(roomcast_engine_connect(srv->engine, &c->conn), "connect");
    check(roomcast_conn_set_notify(c->conn, on_notify, c, NULL), "set_notify");
    check(roomcast_conn_join_namespace(c->conn, "/chat", 0, NULL, 0, &c->sock), "join /chat");
    srv->clients[srv->n_clients++] = c;
    reply(c->sock, "* welcome: /nick NAME, /join ROOM, /leave ROOM, or type to talk");
}

static void free_client(struct client *c) {
    roomcast_conn_close(c->conn, "transport close"); /* runs on_disconnecting */
    roomcast_socket_free(c->sock);
    roomcast_conn_free(c->conn);
    close(c->fd);
    free(c->out);
    free(c);
}

/* Handles one complete line from a client. */
static void handle_line(struct client *c, char *line, size_t len) {
    if (len > 0 && line[len - 1] == '\r') line[--len] = '\0';
    const char *event = "say";
    const char *arg = line;
    if (line[0] == '/') {
        const char *cmds[] = {"nick", "join", "leave"};
        event = NULL;
        for (size_t i = 0; i < 3; i++) {
            size_t n = strlen(cmds[i]);
            if (strncmp(line + 1, cmds[i], n) == 0 && (line[1 + n] == ' ' || line[1 + n] == '\0')) {
                event = cmds[i];
                arg = line[1 + n] ? line + 2 + n : line + 1 + n;
                break;
            }
        }
        if (!event) {
            reply(c->sock, "* unknown command (try /nick, /join, /leave)");
            return;
        }
    }
    if (len == 0) return;
    size_t arg_len = len - (size_t)(arg - line);
    roomcast_result r = roomcast_socket_dispatch(c->sock, event, ROOMCAST_FORMAT_TEXT, (const uint8_t *)arg,
                                                 arg_len, false, 0, NULL);
    if (r == ROOMCAST_RESULT_INVALID_PAYLOAD) reply(c->sock, "* lines must be UTF-8 text");
    else if (r != ROOMCAST_RESULT_OK) reply(c->sock, roomcast_result_message(r));
}

/* Reads what the client sent; returns 0 when it went away. */
static int read_client(struct client *c) {
    char buf[4096];
    for (;;) {
        ssize_t n = recv(c->fd, buf, sizeof buf, 0);
        if (n == 0) return 0;
        if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 1 : 0;
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] == '\n') {
                if (!c->discarding) {
                    c->in[c->in_len] = '\0';
                    handle_line(c, c->in, c->in_len);
                }
                c->in_len = 0;
                c->discarding = 0;
            } else if (c->discarding) {
                continue;
            } else if (c->in_len == MAX_LINE) {
                c->discarding = 1;
                c->in_len = 0;
                reply(c->sock, "* line too long (1024 bytes at most)");
            } else {
                c->in[c->in_len++] = buf[i];
            }
        }
    }
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 0;
    if (port < 0 || port > 65535) {
        fprintf(stderr, "usage: %s [port]\n", argv[0]);
        return 2;
    }
    struct server srv;
    memset(&srv, 0, sizeof srv);
    unsigned guests = 0;

    if (pipe(srv.wake) < 0) die("pipe");
    set_nonblocking(srv.wake[0]);
    set_nonblocking(srv.wake[1]);
    g_wake_fd = srv.wake[1];
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);

    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (lfd < 0) die("socket");
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0) die("bind");
    if (listen(lfd, 64) < 0) die("listen");
    set_nonblocking(lfd);
    socklen_t alen = sizeof addr;
    if (getsockname(lfd, (struct sockaddr *)&addr, &alen) < 0) die("getsockname");

    check(roomcast_engine_new(NULL, &srv.engine), "engine");
    check(roomcast_engine_of(srv.engine, "/chat", &srv.chat), "namespace");
    check(roomcast_namespace_on_connection(srv.chat, name_guest, &guests, NULL), "on_connection");
    check(roomcast_namespace_on(srv.chat, "nick", on_nick, NULL, NULL), "on nick");
    check(roomcast_namespace_on(srv.chat, "join", on_join, NULL, NULL), "on join");
    check(roomcast_namespace_on(srv.chat, "leave", on_leave, NULL, NULL), "on leave");
    check(roomcast_namespace_on(srv.chat, "say", on_say, NULL, NULL), "on say");
    check(roomcast_namespace_on_disconnecting(srv.chat, on_disconnecting, NULL, NULL), "on_disconnecting");

    printf("listening on 127.0.0.1:%d\n", ntohs(addr.sin_port));
    fflush(stdout);

    struct pollfd fds[MAX_CLIENTS + 2];
    while (!g_stop) {
        fds[0].fd = lfd;
        fds[0].events = POLLIN;
        fds[1].fd = srv.wake[0];
        fds[1].events = POLLIN;
        for (size_t i = 0; i < srv.n_clients; i++) {
            fds[2 + i].fd = srv.clients[i]->fd;
            fds[2 + i].events = POLLIN | (srv.clients[i]->out_len ? POLLOUT : 0);
            fds[2 + i].revents = 0;
        }
        size_t polled = srv.n_clients;
        if (poll(fds, 2 + polled, -1) < 0) {
            if (errno == EINTR) continue;
            die("poll");
        }
        if (fds[1].revents & POLLIN) {
            char b[256];
            while (read(srv.wake[0], b, sizeof b) > 0) {}
        }
        for (size_t i = 0; i < polled; i++) {
            struct client *c = srv.clients[i];
            if (fds[2 + i].revents & (POLLIN | POLLHUP | POLLERR))
                if (!read_client(c)) c->closing = 1;
            if (fds[2 + i].revents & POLLOUT) flush_out(c);
        }
        if (fds[0].revents & POLLIN) {
            int fd;
            while ((fd = accept(lfd, NULL, NULL)) >= 0) add_client(&srv, fd);
        }
        /* Closing a client emits leave notices to others: drain until quiet. */
        for (int changed = 1; changed;) {
            changed = 0;
            for (size_t i = 0; i < srv.n_clients; i++)
                if (srv.clients[i]->pending) drain(srv.clients[i]);
            for (size_t i = 0; i < srv.n_clients; i++) {
                struct client *c = srv.clients[i];
                if (!c->closing) continue;
                free_client(c);
                srv.clients[i--] = srv.clients[--srv.n_clients];
                changed = 1;
            }
        }
    }

    /* Shutdown: every connection closes with "server shutting down". */
    size_t closed = 0;
    check(roomcast_engine_shutdown(srv.engine, &closed), "shutdown");
    for (size_t i = 0; i < srv.n_clients; i++) {
        const char *bye = "* server shutting down\n";
        out_append(srv.clients[i], bye, strlen(bye));
        flush_out(srv.clients[i]);
        free_client(srv.clients[i]);
    }
    close(lfd);
    close(srv.wake[0]);
    close(srv.wake[1]);
    roomcast_namespace_free(srv.chat);
    roomcast_engine_free(srv.engine);
    printf("shut down (%zu connections closed)\n", closed);
    return 0;
}
