/* server: HTTP on the WebSocket port (/healthz, /metrics, the dashboard's files) and the
 * token / Origin checks of the WebSocket handshake (see server.h for the rules). */
#include "server_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <jansson.h>

#include "log.h"

/* A response body built per request (HTTP is not on the per-hop path). */
struct server_http_req {
    char *buf;           /* LWS_PRE + cap; is malloc'd */
    size_t cap, len;
    int oom;
};

double server__uptime(const server *s) { return (double)(uv_hrtime() - s->start_ns) / 1e9; }

static void req_free(server_pss *pss)
{
    if (pss && pss->http) {
        free(pss->http->buf);
        free(pss->http);
        pss->http = NULL;
    }
}

static void out(server_http_req *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out(server_http_req *r, const char *fmt, ...)
{
    if (r->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = r->cap - r->len;
        int n = vsnprintf(r->buf + LWS_PRE + r->len, room, fmt, ap);
        va_end(ap);
        if (n < 0) {
            r->oom = 1;
            return;
        }
        if ((size_t)n < room) {
            r->len += (size_t)n;
            return;
        }
        size_t cap = r->cap * 2 + (size_t)n;
        char *b = realloc(r->buf, LWS_PRE + cap);
        if (!b) {
            r->oom = 1;
            return;
        }
        r->buf = b;
        r->cap = cap;
    }
}

/* Prometheus label value: backslash, quote and newline escaped. */
static void out_label(server_http_req *r, const char *s)
{
    for (const char *p = s ? s : ""; *p; p++) {
        if (*p == '\\' || *p == '"')
            out(r, "\\%c", *p);
        else if (*p == '\n')
            out(r, "\\n");
        else
            out(r, "%c", *p);
    }
}

static void daemon_stats(server *s, server_daemon_stats *d)
{
    memset(d, 0, sizeof *d);
    d->state = PROTO_DEV_RUNNING;
    d->uptime_s = server__uptime(s);
    if (s->cb.on_stats)
        s->cb.on_stats(s->user, d);
    if (!proto_device_state_name(d->state))
        d->state = PROTO_DEV_LOST;
}

/* A JSON string value, or "?" when the daemon handed over something that is not UTF-8. */
static json_t *jstr(const char *v)
{
    json_t *j = json_string(v ? v : "");
    return j ? j : json_string("?");
}

static void build_healthz(server *s, server_http_req *r)
{
    server_daemon_stats d;
    server_stats st;
    daemon_stats(s, &d);
    server_get_stats(s, &st);
    json_t *o = json_pack("{s:s, s:o, s:o, s:f, s:I, s:I, s:i, s:i, s:s}",
                          "state", proto_device_state_name(d.state), "input", jstr(d.input),
                          "model", jstr(d.model), "uptime_s", d.uptime_s,
                          "hops", (json_int_t)d.hops, "overruns", (json_int_t)d.overruns,
                          "subscribers", st.subscribers, "sidecars", st.sidecars,
                          "version", EMOTIOND_VERSION);
    char *text = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
    if (text)
        out(r, "%s\n", text);
    else
        r->oom = 1;
    free(text);
    json_decref(o);
}

static void out_hist(server_http_req *r, const char *name, const char *help,
                     const server_histogram *h)
{
    if (h->n <= 0 || !h->le || !h->counts)
        return;
    out(r, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (int i = 0; i < h->n; i++) {
        cum += h->counts[i];
        out(r, "%s_bucket{le=\"%g\"} %llu\n", name, h->le[i], (unsigned long long)cum);
    }
    cum += h->counts[h->n];
    out(r, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.9g\n%s_count %llu\n", name,
        (unsigned long long)cum, name, h->sum, name, (unsigned long long)cum);
}

static void metric(server_http_req *r, const char *name, const char *type, const char *help,
                   unsigned long long v)
{
    out(r, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type, name, v);
}

static void build_metrics(server *s, server_http_req *r)
{
    server_daemon_stats d;
    server_stats st;
    daemon_stats(s, &d);
    server_get_stats(s, &st);
    out(r, "# HELP emotiond_info Build and model of the running daemon.\n"
           "# TYPE emotiond_info gauge\nemotiond_info{version=\"%s\",model=\"", EMOTIOND_VERSION);
    out_label(r, d.model);
    out(r, "\",input=\"");
    out_label(r, d.input);
    out(r, "\"} 1\n");
    out(r, "# HELP emotiond_uptime_seconds Time since the daemon started.\n"
           "# TYPE emotiond_uptime_seconds gauge\nemotiond_uptime_seconds %.3f\n", d.uptime_s);
    out(r, "# HELP emotiond_input_up 1 while the main input is capturing (state running).\n"
           "# TYPE emotiond_input_up gauge\nemotiond_input_up %d\n",
        d.state == PROTO_DEV_RUNNING);
    metric(r, "emotiond_hops_total", "counter", "Hops (10 ms frames) processed on the main input.",
           d.hops);
    metric(r, "emotiond_overruns_total", "counter",
           "Capture ring overruns (audio lost because the loop fell behind).", d.overruns);
    out_hist(r, "emotiond_hop_seconds", "Processing time per hop on the loop.", &d.hop);
    out_hist(r, "emotiond_latency_seconds", "Capture-to-publish latency.", &d.latency);
    metric(r, "emotiond_subscribers", "gauge", "Open WebSocket connections.",
           (unsigned long long)st.subscribers);
    metric(r, "emotiond_sidecar_streams", "gauge", "Sidecar audio streams.",
           (unsigned long long)st.sidecars);
    metric(r, "emotiond_connections_total", "counter", "WebSocket connections accepted.",
           st.connections);
    metric(r, "emotiond_rejected_total", "counter",
           "WebSocket connections refused (busy, token, origin).", st.rejected);
    metric(r, "emotiond_published_total", "counter", "Broadcast messages published.",
           st.published);
    metric(r, "emotiond_dropped_messages_total", "counter",
           "Messages dropped because a subscriber read too slowly.", st.drops);
    metric(r, "emotiond_errors_sent_total", "counter", "Error replies sent to clients.",
           st.errors);
    metric(r, "emotiond_http_requests_total", "counter", "HTTP requests served.",
           st.http_requests);
}

/* ---- access checks ------------------------------------------------------------------- */

/* Constant-time comparison so the token cannot be guessed byte by byte from timings. */
static int token_eq(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char d = la != lb;
    for (size_t i = 0; i < lb; i++)
        d |= (unsigned char)(a[i % (la ? la : 1)] ^ b[i]);
    return d == 0 && la;
}

static int token_ok(server *s, struct lws *wsi)
{
    if (!s->token)
        return 1;
    char h[512];
    if (lws_hdr_copy(wsi, h, sizeof h, WSI_TOKEN_HTTP_AUTHORIZATION) > 0 &&
        strncasecmp(h, "Bearer ", 7) == 0) {
        const char *t = h + 7;
        while (*t == ' ')
            t++;
        if (token_eq(t, s->token))
            return 1;
    }
    const char *v = lws_get_urlarg_by_name(wsi, "token=", h, sizeof h);
    return v && token_eq(v, s->token);
}

/* Origin "scheme://host[:port]" against the Host header or the configured list. */
static int origin_ok(server *s, struct lws *wsi)
{
    char origin[256], host[256];
    int n = lws_hdr_copy(wsi, origin, sizeof origin, WSI_TOKEN_ORIGIN);
    if (n <= 0)
        return lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) == 0; /* no Origin: not a browser */
    if (s->origins) {
        const char *p = s->origins;
        while (*p) {
            while (*p == ',' || *p == ' ')
                p++;
            const char *e = p;
            while (*e && *e != ',')
                e++;
            size_t l = (size_t)(e - p);
            while (l && p[l - 1] == ' ')
                l--;
            if ((l == 1 && *p == '*') || (l == strlen(origin) && strncasecmp(p, origin, l) == 0))
                return 1;
            p = e;
        }
        return 0;
    }
    const char *o = strstr(origin, "://");
    if (!o || lws_hdr_copy(wsi, host, sizeof host, WSI_TOKEN_HOST) <= 0)
        return 0;
    return strcasecmp(o + 3, host) == 0;
}

const char *server__check_ws(server *s, struct lws *wsi, unsigned *status)
{
    if (!token_ok(s, wsi)) {
        *status = HTTP_STATUS_UNAUTHORIZED;
        return "missing or wrong bearer token";
    }
    if (!origin_ok(s, wsi)) {
        *status = HTTP_STATUS_FORBIDDEN;
        return "Origin not allowed (see allowed origins)";
    }
    return NULL;
}

/* ---- static files -------------------------------------------------------------------- */

static const char *mime_of(const char *path)
{
    static const struct { const char *ext, *type; } m[] = {
        {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
        {".json", "application/json"}, {".svg", "image/svg+xml"}, {".png", "image/png"},
        {".ico", "image/x-icon"}, {".woff2", "font/woff2"}, {".txt", "text/plain; charset=utf-8"},
        {".map", "application/json"}, {".wasm", "application/wasm"}, {".webmanifest",
        "application/manifest+json"}, {".wav", "audio/wav"}, {".ogg", "audio/ogg"},
        {".mp3", "audio/mpeg"}, {".jpg", "image/jpeg"},
    };
    const char *dot = strrchr(path, '.');
    if (dot && !strchr(dot, '/'))
        for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
            if (strcasecmp(dot, m[i].ext) == 0)
                return m[i].type;
    return "application/octet-stream";
}

/* Maps a URL path to a file under the web root, or returns 0. Refuses "..", hidden files,
 * odd bytes, and anything whose real path (symlinks resolved) leaves the root. */
static int file_for(server *s, const char *uri, char *path, size_t cap)
{
    if (!s->www_real[0] || uri[0] != '/' || strlen(uri) > 512)
        return 0;
    const char *rel = uri + 1;
    if (!*rel)
        rel = "index.html";
    else if (strcmp(rel, "kiosk") == 0 || strcmp(rel, "kiosk/") == 0)
        rel = "kiosk.html";
    for (const char *p = rel; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c == 0x7f || c == '\\')
            return 0;
        if ((p == rel || p[-1] == '/') && *p == '.')
            return 0; /* "..", ".hidden", "./" */
    }
    char joined[PATH_MAX], real[PATH_MAX];
    int n = snprintf(joined, sizeof joined, "%s/%s", s->www_real, rel);
    if (n < 0 || (size_t)n >= sizeof joined || !realpath(joined, real))
        return 0;
    size_t rl = strlen(s->www_real);
    if (strncmp(real, s->www_real, rl) != 0 || (real[rl] != '/' && real[rl] != '\0'))
        return 0;
    struct stat st;
    if (stat(real, &st) != 0)
        return 0;
    if (S_ISDIR(st.st_mode)) {
        n = snprintf(joined, sizeof joined, "%s/index.html", real);
        if (n < 0 || (size_t)n >= sizeof joined || stat(joined, &st) != 0 || !S_ISREG(st.st_mode))
            return 0;
        memcpy(real, joined, (size_t)n + 1);
    } else if (!S_ISREG(st.st_mode)) {
        return 0;
    }
    if (strlen(real) >= cap)
        return 0;
    strcpy(path, real);
    return 1;
}

/* ---- HTTP callbacks ------------------------------------------------------------------ */

static int finish(struct lws *wsi)
{
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* HEAD gets the headers GET would (content-length included) and no body (RFC 9110 9.3.2). */
static int is_head(struct lws *wsi)
{
    return lws_hdr_total_length(wsi, WSI_TOKEN_HEAD_URI) > 0;
}

/* A fresh response body for pss, or NULL when out of memory. */
static server_http_req *req_new(server_pss *pss)
{
    req_free(pss);
    pss->http = calloc(1, sizeof *pss->http);
    if (pss->http && !(pss->http->buf = malloc(LWS_PRE + 4096)))
        req_free(pss);
    if (pss->http)
        pss->http->cap = 4096;
    return pss->http;
}

/* Headers now; the body (pss->http) now too if `now` (short bodies: lws holds back WRITEABLE
 * while a request body it was not asked to read is pending), else from the WRITEABLE callback;
 * none for HEAD. */
static int respond(struct lws *wsi, server_pss *pss, unsigned code, const char *ctype,
                   const char *cache, int now)
{
    unsigned char hdr[LWS_PRE + 512], *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof hdr;
    server_http_req *r = pss->http;
    if (lws_add_http_common_headers(wsi, code, ctype, (lws_filepos_t)r->len, &p, end) ||
        lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
                                    (const unsigned char *)cache, (int)strlen(cache), &p, end) ||
        lws_add_http_header_by_name(wsi, (const unsigned char *)"x-content-type-options:",
                                    (const unsigned char *)"nosniff", 7, &p, end) ||
        (code == HTTP_STATUS_METHOD_NOT_ALLOWED &&
         lws_add_http_header_by_name(wsi, (const unsigned char *)"allow:",
                                     (const unsigned char *)"GET, HEAD", 9, &p, end)) ||
        (code == HTTP_STATUS_UNAUTHORIZED &&
         lws_add_http_header_by_name(wsi, (const unsigned char *)"www-authenticate:",
                                     (const unsigned char *)"Bearer", 6, &p, end)) ||
        lws_finalize_write_http_header(wsi, start, &p, end))
        return -1;
    if (!is_head(wsi) && !now) {
        lws_callback_on_writable(wsi);
        return 0;
    }
    int n = is_head(wsi) ? 0 : lws_write(wsi, (unsigned char *)r->buf + LWS_PRE, r->len,
                                         LWS_WRITE_HTTP_FINAL);
    req_free(pss);
    return n < 0 ? -1 : finish(wsi);
}

/* An error status with a one-line text body (lws's own status page would send its HTML body
 * to HEAD requests too). */
static int status_only(struct lws *wsi, server_pss *pss, unsigned code)
{
    const char *text = code == HTTP_STATUS_NOT_FOUND            ? "Not Found"
                       : code == HTTP_STATUS_METHOD_NOT_ALLOWED ? "Method Not Allowed"
                       : code == HTTP_STATUS_UNAUTHORIZED       ? "Unauthorized"
                                                                : "Internal Server Error";
    if (!req_new(pss))
        return -1;
    out(pss->http, "%u %s\n", code, text);
    return respond(wsi, pss, code, "text/plain; charset=utf-8", "no-store", 1);
}

static int http_request(server *s, struct lws *wsi, server_pss *pss, const char *uri)
{
    s->st.http_requests++;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0 && !is_head(wsi))
        return status_only(wsi, pss, HTTP_STATUS_METHOD_NOT_ALLOWED);
    int metrics = strcmp(uri, "/metrics") == 0;
    if (strcmp(uri, "/healthz") == 0 || metrics) {
        if (metrics && !token_ok(s, wsi))
            return status_only(wsi, pss, HTTP_STATUS_UNAUTHORIZED);
        if (!req_new(pss))
            return -1;
        if (metrics)
            build_metrics(s, pss->http);
        else
            build_healthz(s, pss->http);
        if (pss->http->oom)
            return status_only(wsi, pss, HTTP_STATUS_INTERNAL_SERVER_ERROR);
        return respond(wsi, pss, HTTP_STATUS_OK,
                       metrics ? "text/plain; version=0.0.4; charset=utf-8" : "application/json",
                       "no-store", 0);
    }
    char path[PATH_MAX];
    if (!file_for(s, uri, path, sizeof path))
        return status_only(wsi, pss, HTTP_STATUS_NOT_FOUND);
    /* lws answers HEAD itself here: the file's headers and no body */
    static const char extra[] = "x-content-type-options: nosniff\r\ncache-control: no-cache\r\n";
    int n = lws_serve_http_file(wsi, path, mime_of(path), extra, (int)sizeof extra - 1);
    if (n < 0 || (n > 0 && lws_http_transaction_completed(wsi)))
        return -1;
    return 0;
}

int server__http_cb(struct lws *wsi, enum lws_callback_reasons reason, server_pss *pss,
                    void *in, size_t len)
{
    server *s = lws_get_vhost_user(lws_get_vhost(wsi));
    switch (reason) {
    case LWS_CALLBACK_HTTP:
        if (!pss || !in)
            return -1;
        return http_request(s, wsi, pss, (const char *)in);
    case LWS_CALLBACK_HTTP_WRITEABLE: {
        if (!pss || !pss->http)
            return 0;
        server_http_req *r = pss->http;
        int n = lws_write(wsi, (unsigned char *)r->buf + LWS_PRE, r->len, LWS_WRITE_HTTP_FINAL);
        req_free(pss);
        if (n < 0)
            return -1;
        return finish(wsi);
    }
    case LWS_CALLBACK_HTTP_BODY:
        return 0; /* GET only: bodies are ignored, the request is answered with 405 */
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
    case LWS_CALLBACK_CLOSED_HTTP:
        req_free(pss);
        return 0;
    default:
        (void)len;
        return lws_callback_http_dummy(wsi, reason, pss, in, len);
    }
}
