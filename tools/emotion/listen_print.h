/* listen_print: how `emotion listen` shows protocol v1 messages in a terminal.
 *
 * Promises: one line per message on stdout (two for hello), each ending in '\n'; ANSI colour
 * only when the printer was made with colour on; block-character bars only in a UTF-8 locale
 * ('#' otherwise). Status lines are printed only when a field an operator cares about changed
 * (state, device, overruns, drops, subscribers), since the daemon repeats status every 2 s.
 * Missing or mistyped fields print as "?" or 0, never crash. No allocation.
 */
#ifndef EMOTION_LISTEN_PRINT_H
#define EMOTION_LISTEN_PRINT_H

#include <jansson.h>

typedef struct listen_printer {
    int color;              /* ANSI escapes on */
    int utf8;               /* the terminal takes UTF-8 (bars, markers) */
    char last_status[256];  /* the last status line printed, to skip repeats */
} listen_printer;

/* Each takes one parsed message of the named type (borrowed). */
void listen_print_hello(listen_printer *p, const char *url, json_t *m);
void listen_print_posteriors(listen_printer *p, json_t *m);
void listen_print_event(listen_printer *p, json_t *m);
void listen_print_status(listen_printer *p, json_t *m);
void listen_print_frames(listen_printer *p, json_t *m);

/* Field helpers shared with cmd_listen.c: the value, or dflt when absent or of another type. */
const char *listen_jstr(json_t *o, const char *key, const char *dflt);
double listen_jnum(json_t *o, const char *key, double dflt);

#endif
