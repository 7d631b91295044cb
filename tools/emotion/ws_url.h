/* ws_url: the address `emotion listen` connects to, from a ws:// or wss:// URL.
 *
 * Promises: ws://HOST[:PORT][/PATH] and wss://..., HOST a name, an IPv4 address or a [v6]
 * literal (brackets dropped); PORT 1..65535, default 80 / 443; PATH "/" when absent, anything
 * after the authority kept as is (a query with it). Anything else is refused with one usage
 * error naming the URL (its first 200 bytes) and what is wrong (cli_usage_error, under the
 * given command name).
 * No allocation; the result is self-contained.
 */
#ifndef EMOTION_WS_URL_H
#define EMOTION_WS_URL_H

typedef struct ws_url {
    char host[256];
    char path[1024];
    int port;
    int tls;                /* wss:// */
} ws_url;

/* 0, or -1 after printing the usage error. */
int ws_url_parse(const char *cmd, const char *url, ws_url *out);

#endif
