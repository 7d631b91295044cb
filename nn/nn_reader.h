/* nn internals for reading model files (nn_model.c: header; nn_weights.c: tensors). */
#ifndef EMOTIOND_NN_READER_H
#define EMOTIOND_NN_READER_H

#include "nn_internal.h"

#include <stdio.h>
#include <string.h>

#define NN_MAX_STR (1u << 20)   /* longest string a model file may hold */
#define NN_FILE_ALIGN 32         /* data section and tensor alignment */

/* Bounded little-endian reader over a model file buffer (nn_model.c, nn_weights.c). */
typedef struct nn__rd {
    const unsigned char *p;
    size_t len, pos;
} nn__rd;

static inline int nn__rd_need(nn__rd *r, size_t n) { return r->len - r->pos >= n; }

static inline int nn__rd_u32(nn__rd *r, uint32_t *v)
{
    if (!nn__rd_need(r, 4))
        return 0;
    memcpy(v, r->p + r->pos, 4);
    r->pos += 4;
    return 1;
}

static inline int nn__rd_u64(nn__rd *r, uint64_t *v)
{
    if (!nn__rd_need(r, 8))
        return 0;
    memcpy(v, r->p + r->pos, 8);
    r->pos += 8;
    return 1;
}

/* A string as (pointer into the buffer, length); not NUL-terminated. */
static inline int nn__rd_str(nn__rd *r, const char **s, uint32_t *n)
{
    if (!nn__rd_u32(r, n) || *n > NN_MAX_STR || !nn__rd_need(r, *n))
        return 0;
    *s = (const char *)r->p + r->pos;
    r->pos += *n;
    return 1;
}

/* Names from a damaged file go into error messages: keep those one printable line. */
static inline void nn__printable(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
            *s = '?';
}

/* Header key/value entries: a key string, a value type, then the value. */
enum { NN_KV_I32 = 1, NN_KV_F32 = 2, NN_KV_F64 = 3, NN_KV_STR = 4, NN_KV_STRARR = 5 };
#define NN_KEYBUF 64

/* Reads entry e of n_kv's key and type; kbuf gets the key as one printable line for messages.
 * 0 or NN_EFORMAT with err set. */
static inline int nn__rd_key(nn__rd *r, uint32_t e, uint32_t n_kv, const char **k, uint32_t *kn,
                             uint32_t *type, char kbuf[NN_KEYBUF], char *err, size_t errlen)
{
    if (!nn__rd_str(r, k, kn) || !nn__rd_u32(r, type))
        return nn__fail(err, errlen, NN_EFORMAT, "truncated key/value entry %u of %u", e, n_kv);
    snprintf(kbuf, NN_KEYBUF, "%.*s", (int)(*kn < NN_KEYBUF - 4 ? *kn : NN_KEYBUF - 4), *k);
    nn__printable(kbuf);
    return 0;
}

/* Steps over a value of the given type: 1, 0 if the buffer ends inside it, -1 for an unknown
 * type. */
static inline int nn__rd_skip_value(nn__rd *r, uint32_t type)
{
    uint32_t u, n;
    uint64_t u64;
    const char *s;
    int ok;
    switch (type) {
    case NN_KV_I32: case NN_KV_F32: return nn__rd_u32(r, &u);
    case NN_KV_F64: return nn__rd_u64(r, &u64);
    case NN_KV_STR: return nn__rd_str(r, &s, &n);
    case NN_KV_STRARR:
        ok = nn__rd_u32(r, &n);
        for (uint32_t j = 0; ok && j < n; j++)
            ok = nn__rd_str(r, &s, &u);
        return ok;
    default: return -1;
    }
}

/* Reads n_tensors tensor entries at r, checks each against what m's architecture implies (name,
 * dtype, rank, shape, offset and size inside the data section, finite values) and builds m's
 * weight block, including the re-laid copies the kernels use. 0 or NN_E* with err set. */
int nn__load_tensors(nn__rd *r, uint32_t n_tensors, const unsigned char *data, uint64_t data_size,
                     nn_model *m, char *err, size_t errlen);

/* The version-1 loader (nn_model.c), for an ensemble's members: refuses version 2, so ensembles
 * do not nest. */
int nn__load_member(const unsigned char *b, size_t len, nn_model **out, char *err, size_t errlen);
/* A version-2 file (nn_ensemble.c) whose size and checksum the caller has verified: keys and
 * member table at r (r->len = the data offset), the members in data, digest = the file's SHA-256
 * (the ensemble's id). */
int nn__load_ensemble(nn__rd *r, uint32_t n_kv, uint32_t n_members, const unsigned char *data,
                      uint64_t data_size, const unsigned char digest[32], nn_model **out,
                      char *err, size_t errlen);

#endif
