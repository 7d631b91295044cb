/* ws_url_parse (tools/emotion/ws_url.c): the URLs `emotion listen` accepts, what it makes of
 * them, and the one usage error each malformed URL gets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ws_url.h"

static int failures;

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stdout, "FAIL %s:%d: ", __FILE__, __LINE__);           \
            fprintf(stdout, __VA_ARGS__);                                  \
            fputc('\n', stdout);                                           \
            failures++;                                                    \
        }                                                                  \
    } while (0)

static void good(const char *url, const char *host, int port, const char *path, int tls)
{
    ws_url u;
    memset(&u, 0x55, sizeof u);
    int rc = ws_url_parse("listen", url, &u);
    CHECK(rc == 0, "%s refused", url);
    if (rc)
        return;
    CHECK(strcmp(u.host, host) == 0, "%s: host '%s', want '%s'", url, u.host, host);
    CHECK(u.port == port, "%s: port %d, want %d", url, u.port, port);
    CHECK(strcmp(u.path, path) == 0, "%s: path '%s', want '%s'", url, u.path, path);
    CHECK(u.tls == tls, "%s: tls %d, want %d", url, u.tls, tls);
}

/* The URL is refused, with one line on stderr that holds `what`. */
static void bad(const char *url, const char *what)
{
    char err[4096] = "";
    FILE *tmp = tmpfile();
    int saved = dup(2);
    if (!tmp || saved < 0) {
        perror("test_ws_url: tmpfile/dup");
        exit(1);
    }
    fflush(stderr);
    dup2(fileno(tmp), 2);
    ws_url u;
    int rc = ws_url_parse("listen", url, &u);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(tmp);
    size_t n = fread(err, 1, sizeof err - 1, tmp);
    err[n] = '\0';
    fclose(tmp);
    CHECK(rc == -1, "'%s' accepted", url);
    CHECK(strstr(err, what) != NULL, "'%s': error '%s' does not say '%s'", url, err, what);
    CHECK(strchr(err, '\n') == err + strlen(err) - 1, "'%s': not one line: '%s'", url, err);
}

int main(void)
{
    good("ws://127.0.0.1:8765/ws", "127.0.0.1", 8765, "/ws", 0);
    good("ws://localhost", "localhost", 80, "/", 0);
    good("wss://example.org/ws", "example.org", 443, "/ws", 1);
    good("ws://[::1]:9000/ws", "::1", 9000, "/ws", 0);
    good("wss://[fe80::1]", "fe80::1", 443, "/", 1);
    good("ws://h:1/a/b?token=x", "h", 1, "/a/b?token=x", 0);
    good("ws://h?x=1", "h", 80, "/?x=1", 0);
    good("ws://h:65535", "h", 65535, "/", 0);

    bad("http://h/ws", "not a ws:// or wss:// URL");
    bad("h:8765", "not a ws:// or wss:// URL");
    bad("ws://", "missing or too long host");
    bad("ws://:8765/ws", "missing or too long host");
    bad("ws://[::1/ws", "unterminated [IPv6] address");
    bad("ws://[::1]x/ws", "unexpected text after the [IPv6] address");
    bad("ws://h:/ws", "bad port");
    bad("ws://h:12345678/ws", "bad port");
    bad("ws://h:1234567/ws", "out of range (allowed 1..65535)");
    bad("ws://h:0/ws", "port");
    bad("ws://h:65536", "port");
    bad("ws://h:80x/ws", "port");
    char longhost[400];
    memset(longhost, 'a', sizeof longhost);
    memcpy(longhost, "ws://", 5);
    longhost[sizeof longhost - 1] = '\0';
    bad(longhost, "missing or too long host");
    char longpath[1200];
    memset(longpath, 'p', sizeof longpath);
    memcpy(longpath, "ws://h/", 7);
    longpath[sizeof longpath - 1] = '\0';
    bad(longpath, "path too long");

    if (failures)
        return 1;
    printf("ok: ws_url\n");
    return 0;
}
