/* server: lifecycle, broadcast, the hello template and the libwebsockets callback (see
 * server.h). Connections are in server_conn.c, HTTP and the handshake checks in server_http.c. */
#include "server_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netdb.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

void server_config_default(server_config *c)
{
    memset(c, 0, sizeof *c);
    c->address = "127.0.0.1";
    c->port = 8765;
    c->max_subscribers = 1024;
    c->max_sidecars = 8;
    c->max_message = 65536;
    c->max_command = PROTO_MAX_COMMAND;
    c->max_audio = 262144;
    c->queue_len = 64;
    c->ping_s = 30;
}

int server__bit_index(unsigned bit)
{
    for (int i = 0; i < 4; i++)
        if (bit == 1u << i)
            return i;
    return -1;
}

/* Keeps n_sub (broadcast subscribers per stream) in step with a connection's subscriptions. */
void server__count_streams(server *s, const server_conn *c, int sign)
{
    if (!c->counted || c->sc)
        return;
    for (int i = 0; i < 4; i++)
        if (c->streams & (1u << i))
            s->n_sub[i] += sign;
}

/* Messages this connection lost, including those it is about to find overwritten. */
char *server_publish_buf(server *s, size_t *cap)
{
    if (cap)
        *cap = fanout_max_msg(s->bcast);
    return fanout_buf(s->bcast);
}

int server_publish_commit(server *s, unsigned kind, size_t len)
{
    int i = server__bit_index(kind);
    if (i < 0)
        return PROTO_EINVAL;
    if (fanout_commit(s->bcast, kind, len))
        return PROTO_ETOOBIG;
    s->st.published++;
    if (!s->n_sub[i] || s->stopping) /* stopping: connections are going, nobody to wake */
        return 0;
    for (server_conn *c = s->conns; c; c = c->next)
        if (c->counted && !c->sc && (c->streams & kind))
            lws_callback_on_writable(c->wsi);
    return 0;
}

int server_publish(server *s, unsigned kind, const char *msg, size_t len)
{
    if (!s || !msg || server__bit_index(kind) < 0)
        return PROTO_EINVAL;
    if (len > fanout_max_msg(s->bcast))
        return PROTO_ETOOBIG;
    memcpy(fanout_buf(s->bcast), msg, len);
    return server_publish_commit(s, kind, len);
}

int server_subscribers(const server *s, unsigned kind)
{
    int i = server__bit_index(kind);
    return s && i >= 0 ? s->n_sub[i] : 0;
}

/* ---- hello template ------------------------------------------------------------------- */

int server_set_hello(server *s, const proto_hello *h, int broadcast)
{
    if (!s || !h || !h->daemon || !h->model || !h->labels || h->n_labels < 1 || h->n_labels > 64)
        return PROTO_EINVAL;
    /* validate by encoding once; the copy below is then known to be encodable */
    char *test = malloc(SERVER_PRIV_MSG);
    if (!test)
        return PROTO_EINVAL;
    int rc = proto_encode_hello(h, test, SERVER_PRIV_MSG);
    free(test);
    if (rc < 0)
        return rc;
    size_t total = strlen(h->daemon) + strlen(h->model) + 3 +
                   (h->input.device ? strlen(h->input.device) + 1 : 0);
    for (int i = 0; i < h->n_labels; i++)
        total += strlen(h->labels[i]) + 1;
    char *strs = malloc(total);
    const char **labels = malloc(sizeof *labels * (size_t)h->n_labels);
    if (!strs || !labels) {
        free(strs);
        free(labels);
        return PROTO_EINVAL;
    }
    char *p = strs;
#define COPY(dst, src)                     \
    do {                                   \
        size_t l_ = strlen(src) + 1;       \
        memcpy(p, (src), l_);              \
        (dst) = p;                         \
        p += l_;                           \
    } while (0)
    proto_hello c = *h;
    COPY(c.daemon, h->daemon);
    COPY(c.model, h->model);
    if (h->input.device)
        COPY(c.input.device, h->input.device);
    for (int i = 0; i < h->n_labels; i++)
        COPY(labels[i], h->labels[i]);
#undef COPY
    c.labels = labels;
    /* a sidecar stream runs on the daemon's current model: a new model reaches sidecars too */
    int model_changed = !s->have_hello || strcmp(s->hello.model, c.model) != 0;
    int to_sidecars = broadcast == SERVER_HELLO_ALL || (broadcast && model_changed);
    free(s->hello_strings);
    free(s->hello_labels);
    s->hello_strings = strs;
    s->hello_labels = labels;
    s->hello = c;
    s->have_hello = 1;
    for (server_conn *k = s->stopping ? NULL : s->conns; k; k = k->next)
        if (k->counted && (k->sc ? k->sidecar && to_sidecars : k->need_hello || broadcast))
            server__send_hello(k);
    return 0;
}

/* A plain HTTP/1.1 refusal of a WebSocket handshake (lws's own status page says HTTP/1.0 at
 * this point, which some clients reject as malformed instead of reporting the status). */
static void refuse(struct lws *wsi, unsigned status, const char *why)
{
    unsigned char b[LWS_PRE + 512];
    const char *text = status == HTTP_STATUS_UNAUTHORIZED ? "Unauthorized"
                       : status == HTTP_STATUS_FORBIDDEN  ? "Forbidden"
                                                          : "Service Unavailable";
    int n = snprintf((char *)b + LWS_PRE, sizeof b - LWS_PRE,
                     "HTTP/1.1 %u %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
                     "content-length: %zu\r\nconnection: close\r\n%s\r\n%s\n", status, text,
                     strlen(why) + 1, status == HTTP_STATUS_UNAUTHORIZED ?
                     "www-authenticate: Bearer\r\n" : "", why);
    if (n > 0 && (size_t)n < sizeof b - LWS_PRE)
        lws_write(wsi, b + LWS_PRE, (size_t)n, LWS_WRITE_HTTP_HEADERS);
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    struct lws_vhost *vh = lws_get_vhost(wsi);
    server *s = vh ? lws_get_vhost_user(vh) : NULL;
    server_pss *pss = user;
    if (!s)
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: {
        unsigned status = 0;
        const char *why = server__check_ws(s, wsi, &status);
        if (!why && (s->stopping || s->n_counted >= s->cfg.max_subscribers)) {
            why = s->stopping ? "shutting down" : "max_subscribers reached";
            status = HTTP_STATUS_SERVICE_UNAVAILABLE;
        }
        if (why) {
            char peer[64] = "";
            lws_get_peer_simple(wsi, peer, sizeof peer);
            log_msg(LOG_NOTICE, "server: WebSocket from %s refused (%u): %s", peer, status, why);
            s->st.rejected++;
            refuse(wsi, status, why);
            return -1;
        }
        return 0;
    }
    case LWS_CALLBACK_ESTABLISHED:
        if (!pss)
            return -1;
        memset(pss, 0, sizeof *pss);
        return server__conn_open(s, wsi, pss);
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return pss && pss->conn ? server__conn_writable(pss->conn) : 0;
    case LWS_CALLBACK_RECEIVE:
        if (pss && pss->conn && !s->stopping)
            server__conn_receive(pss->conn, in, len);
        return 0;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        return pss && pss->conn ? server__conn_peer_close(pss->conn) : 0;
    case LWS_CALLBACK_CLOSED:
        if (pss)
            server__conn_close(s, pss);
        return 0;
    default:
        return server__http_cb(wsi, reason, pss, in, len);
    }
}

/* ---- lifecycle ----------------------------------------------------------------------- */

static void lws_log(int level, const char *line)
{
    if (strstr(line, "User code denied connection"))
        return; /* our own refusal, already logged with its reason */
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    log_msg(level == LLL_ERR ? LOG_ERR : LOG_WARNING, "lws: %.*s", (int)n, line);
}

/* libwebsockets sizes its descriptor table from RLIMIT_NOFILE when the context is made; the
 * usual soft limit of 1024 would cap max_subscribers below what is configured. */
static void raise_fd_limit(int max_subscribers)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)max_subscribers + 128;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
        return;
    rlim_t old = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want)
        log_msg(LOG_WARNING, "server: open files limited to %llu (hard limit): fewer than "
                "max_subscribers %d connections fit", (unsigned long long)rl.rlim_cur,
                max_subscribers);
    else if (rl.rlim_cur != old)
        log_msg(LOG_DEBUG, "server: open files limit raised from %llu to %llu",
                (unsigned long long)old, (unsigned long long)rl.rlim_cur);
}

/* libwebsockets takes a non-numeric iface as an interface name and, when the bind fails, keeps
 * the vhost and retries later, so a wrong address would start a server listening nowhere. The
 * address is therefore checked here first: numeric only (no name lookups), and bindable now. */
static int check_listen(const char *addr, int port, char *err, size_t errlen)
{
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
    hints.ai_socktype = SOCK_STREAM;
    char ps[8];
    snprintf(ps, sizeof ps, "%d", port);
    if (getaddrinfo(addr, ps, &hints, &ai) != 0 || !ai) {
        snprintf(err, errlen, "server: listen address \"%s\" is not a numeric IPv4 or IPv6 "
                 "address", addr);
        return PROTO_EINVAL;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, rc = 0;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        snprintf(err, errlen, "server: cannot listen on %s port %d: %s", addr, port,
                 strerror(errno));
        rc = PROTO_EINVAL;
    }
    if (fd >= 0)
        close(fd);
    freeaddrinfo(ai);
    return rc;
}

static char *dup_or_null(const char *s)
{
    return s && *s ? strdup(s) : NULL;
}

int server_new(uv_loop_t *loop, const server_config *cfg, const server_callbacks *cb,
               void *user, server **out, char *err, size_t errlen)
{
    server_config def;
    server *s = NULL;
    *out = NULL;
    if (!cfg) {
        server_config_default(&def);
        cfg = &def;
    }
    if (!loop || cfg->port < 0 || cfg->port > 65535 || cfg->max_subscribers < 1 ||
        cfg->max_sidecars < 0 || cfg->ping_s < 0 || cfg->ping_s > 3600 || cfg->queue_len < 2 || cfg->queue_len > 65536 ||
        cfg->max_message < 1024 || cfg->max_message > (64u << 20) || cfg->max_command < 64 ||
        cfg->max_command > (1u << 20) || cfg->max_audio < 1024 || cfg->max_audio > (64u << 20)) {
        snprintf(err, errlen, "server: invalid configuration (port 0..65535, max_subscribers >= 1, ping_s 0..3600, "
                 "queue_len 2..65536, max_message 1 KiB..64 MiB, max_command 64 B..1 MiB, "
                 "max_audio 1 KiB..64 MiB)");
        return PROTO_EINVAL;
    }
    int rc = check_listen(cfg->address && *cfg->address ? cfg->address : "127.0.0.1", cfg->port,
                          err, errlen);
    if (rc)
        return rc;
    s = calloc(1, sizeof *s);
    if (!s)
        goto nomem;
    s->loop = loop;
    s->cfg = *cfg;
    s->address = dup_or_null(cfg->address);
    s->www_dir = dup_or_null(cfg->www_dir);
    s->token = dup_or_null(cfg->token);
    s->origins = dup_or_null(cfg->origins);
    if ((cfg->address && *cfg->address && !s->address) || (cfg->www_dir && *cfg->www_dir &&
        !s->www_dir) || (cfg->token && *cfg->token && !s->token) ||
        (cfg->origins && *cfg->origins && !s->origins))
        goto nomem;
    s->cfg.address = s->address;
    s->cfg.www_dir = s->www_dir;
    s->cfg.token = s->token;
    s->cfg.origins = s->origins;
    if (s->www_dir && !realpath(s->www_dir, s->www_real)) {
        /* not fatal: the daemon still serves the protocol; the page says 404 */
        log_msg(LOG_WARNING, "server: web root %s: %s; serving no files", s->www_dir,
                strerror(errno));
        s->www_real[0] = '\0';
    }
    s->cb = cb ? *cb : (server_callbacks){0};
    s->user = user;
    s->start_ns = uv_hrtime();
    if (fanout_new(cfg->queue_len, cfg->max_message, LWS_PRE, &s->bcast))
        goto nomem;

    raise_fd_limit(cfg->max_subscribers);
    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log);
    s->protocols[0] = (struct lws_protocols){
        .name = PROTO_SUBPROTOCOL,
        .callback = callback,
        .per_session_data_size = sizeof(server_pss),
        /* bytes lws hands us per RECEIVE at most; longer messages come in pieces */
        .rx_buffer_size = 8192,
    };
    /* a client that names no subprotocol gets ours too */
    s->pvo_default = (struct lws_protocol_vhost_options){NULL, NULL, "default", "1"};
    s->pvo = (struct lws_protocol_vhost_options){NULL, &s->pvo_default, PROTO_SUBPROTOCOL, ""};

    void *foreign[1] = {loop};
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = cfg->port; /* 0: the kernel picks one (server_port tells) */
    info.iface = s->address ? s->address : "127.0.0.1";
    info.protocols = s->protocols;
    info.pvo = &s->pvo;
    info.user = s;
    info.foreign_loops = foreign;
    info.pcontext = &s->ctx; /* lws sets it to NULL once the context is completely gone */
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_UV_NO_SIGSEGV_SIGFPE_SPIN |
                   LWS_SERVER_OPTION_EXPLICIT_VHOSTS |
                   (strchr(info.iface, ':') ? 0 : LWS_SERVER_OPTION_DISABLE_IPV6);
    info.timeout_secs = 10;
    info.max_http_header_data = 4096;
    info.vhost_name = "emotiond";
    info.pt_serv_buf_size = 16384;
    if (cfg->ping_s > 0) {
        s->idle.secs_since_valid_ping = (uint16_t)cfg->ping_s;
        s->idle.secs_since_valid_hangup = (uint16_t)(2 * cfg->ping_s);
        info.retry_and_idle_policy = &s->idle;
    }

    s->ctx = lws_create_context(&info);
    if (!s->ctx) {
        snprintf(err, errlen, "server: could not start libwebsockets on the libuv loop (is "
                 "libwebsockets-evlib-uv installed?)");
        goto fail;
    }
    /* the vhost separately, so a bind failure is reported as such */
    s->vh = lws_create_vhost(s->ctx, &info);
    if (!s->vh) {
        snprintf(err, errlen, "server: cannot listen on %s port %d (address in use, not a local "
                 "address, or not permitted)", info.iface, cfg->port);
        goto fail;
    }
    s->port = lws_get_vhost_listen_port(s->vh);
    if (s->port <= 0 || (cfg->port && s->port != cfg->port)) {
        snprintf(err, errlen, "server: cannot listen on %s port %d", info.iface, cfg->port);
        goto fail;
    }
    *out = s;
    return 0;
nomem:
    snprintf(err, errlen, "server: out of memory");
fail:
    server_free(s); /* also finishes destroying a context that was made */
    return s ? PROTO_EINTERNAL : PROTO_EINVAL;
}

int server_port(const server *s) { return s ? s->port : 0; }

void server_get_stats(const server *s, server_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!s)
        return;
    *out = s->st;
    out->subscribers = s->n_counted;
    out->sidecars = s->n_sidecars;
    for (server_conn *c = s->conns; c; c = c->next)
        out->drops += server__conn_dropped(c);
}

/* The drain is over (every connection closed, or SERVER_DRAIN_MS passed): lws closes what is
 * left without a close frame and then its own handles. Runs on the loop, never inside an lws
 * callback, where destroying the context would pull the connection out from under lws. */
static void drain_closed(uv_handle_t *h)
{
    server *s = h->data;
    s->drain_open = 0;
}

static void drain_cb(uv_timer_t *t)
{
    server *s = t->data;
    if (!s->draining)
        return;
    s->draining = 0;
    int left = 0;
    for (server_conn *c = s->conns; c; c = c->next)
        left++;
    if (left)
        log_msg(LOG_NOTICE, "server: %d connection%s did not finish the close handshake within "
                "%d ms; dropping them", left, left == 1 ? "" : "s", SERVER_DRAIN_MS);
    uv_close((uv_handle_t *)&s->drain, drain_closed);
    if (s->ctx)
        lws_context_destroy(s->ctx);
}

void server__drain_check(server *s)
{
    if (s->draining && !s->conns)
        uv_timer_start(&s->drain, drain_cb, 0, 0);
}

void server_stop(server *s)
{
    if (!s || s->stopping)
        return;
    s->stopping = 1;
    /* the daemon frees its sidecar pipelines now, while everything is still consistent */
    for (server_conn *c = s->conns; c; c = c->next)
        server__sidecar_close(c);
    if (!s->ctx)
        return;
    /* every connection sends what is queued, then a close frame (1001) from its WRITEABLE
     * callback; the context goes when all have closed (server__drain_check) or at the timeout */
    uv_timer_init(s->loop, &s->drain);
    s->drain.data = s;
    s->drain_open = 1;
    s->draining = 1;
    uv_timer_start(&s->drain, drain_cb, s->conns ? SERVER_DRAIN_MS : 0, 0);
    for (server_conn *c = s->conns; c; c = c->next)
        lws_callback_on_writable(c->wsi);
}

/* With a foreign libuv loop, lws 4.1 can need a second lws_context_destroy after the loop has
 * run the first one's closes (its own minimal example calls it again after the loop); each
 * pass finishes in close callbacks, which a non-blocking loop iteration runs. Other handles
 * are closed by then (STYLE.md order), so this only runs what is left of lws. */
static void finish_lws(server *s)
{
    if (s->draining) /* server_free without running the loop after server_stop */
        drain_cb(&s->drain);
    for (int pass = 0; (s->ctx || s->drain_open) && pass < 2; pass++) {
        if (s->ctx)
            lws_context_destroy(s->ctx);
        for (int i = 0; (s->ctx || s->drain_open) && i < 1000; i++)
            uv_run(s->loop, UV_RUN_NOWAIT);
    }
}

void server_free(server *s)
{
    if (!s)
        return;
    s->stopping = 1;
    finish_lws(s);
    if (s->ctx || s->drain_open) {
        log_msg(LOG_ERR, "server: libwebsockets did not finish closing; leaking it");
        return;
    }
    while (s->conns) { /* lws normally closed them all; anything left is only memory */
        server_pss p = {s->conns, NULL};
        server__conn_close(s, &p);
    }
    fanout_free(s->bcast);
    free(s->hello_strings);
    free(s->hello_labels);
    free(s->address);
    free(s->www_dir);
    free(s->token);
    free(s->origins);
    free(s);
}
