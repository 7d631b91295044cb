/* proto internals shared by the encoders and the command parser: a bounded JSON writer that
 * never allocates. Not installed, not part of the API. */
#ifndef EMOTIOND_PROTO_INTERNAL_H
#define EMOTIOND_PROTO_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

typedef struct proto__w {
    char *p;
    size_t cap;
    size_t len;
    int err;       /* first error; once set, every write is a no-op */
} proto__w;

void proto__w_init(proto__w *w, char *buf, size_t cap);
/* Finishes: NUL-terminates and returns the length or the first error. */
int proto__w_end(proto__w *w);
void proto__w_raw(proto__w *w, const char *s, size_t n);
void proto__w_lit(proto__w *w, const char *s);           /* NUL-terminated, written as-is */
/* JSON string with quotes; control characters escaped, invalid UTF-8 bytes -> U+FFFD. */
void proto__w_str(proto__w *w, const char *s);
void proto__w_strn(proto__w *w, const char *s, size_t n);
void proto__w_u64(proto__w *w, uint64_t v);
void proto__w_i64(proto__w *w, int64_t v);
/* Fixed-point with at most `decimals` (0..6) digits, trailing zeros trimmed. Non-finite or
 * too large values set PROTO_ERANGE. */
void proto__w_fix(proto__w *w, double v, int decimals);
void proto__w_wall(proto__w *w, int64_t unix_ms);        /* "...Z" with quotes */

#endif
