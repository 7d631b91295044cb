/* ws_url: see ws_url.h. */
#include <stdio.h>
#include <string.h>

#include "cli_util.h"
#include "ws_url.h"

int ws_url_parse(const char *cmd, const char *url, ws_url *s)
{
    const char *p;
    if (strncmp(url, "ws://", 5) == 0) {
        p = url + 5;
        s->tls = 0;
    } else if (strncmp(url, "wss://", 6) == 0) {
        p = url + 6;
        s->tls = 1;
    } else {
        cli_usage_error(cmd, "'%.200s' is not a ws:// or wss:// URL", url);
        return -1;
    }
    const char *host_end;
    const char *h = p;
    if (*p == '[') {
        host_end = strchr(p, ']');
        if (!host_end) {
            cli_usage_error(cmd, "'%.200s': unterminated [IPv6] address", url);
            return -1;
        }
        h = p + 1;
        p = host_end + 1;
        if (*p && !strchr(":/?", *p)) {
            cli_usage_error(cmd, "'%.200s': unexpected text after the [IPv6] address", url);
            return -1;
        }
    } else {
        host_end = p + strcspn(p, ":/?");
        p = host_end;
    }
    size_t hl = (size_t)(host_end - h);
    if (hl == 0 || hl >= sizeof s->host) {
        cli_usage_error(cmd, "'%.200s': missing or too long host", url);
        return -1;
    }
    memcpy(s->host, h, hl);
    s->host[hl] = '\0';
    s->port = s->tls ? 443 : 80;
    if (*p == ':') {
        char num[8];
        size_t nl = strcspn(p + 1, "/?");
        long port;
        if (nl == 0 || nl >= sizeof num) {
            cli_usage_error(cmd, "'%.200s': bad port", url);
            return -1;
        }
        memcpy(num, p + 1, nl);
        num[nl] = '\0';
        if (cli_parse_long(cmd, "port", num, 1, 65535, &port) < 0)
            return -1;
        s->port = (int)port;
        p += 1 + nl;
    }
    int n = snprintf(s->path, sizeof s->path, "%s%s", *p == '/' ? "" : "/", p);
    if (n < 0 || (size_t)n >= sizeof s->path) {
        cli_usage_error(cmd, "'%.200s': path too long", url);
        return -1;
    }
    return 0;
}
