/* nn internals for reading model files (nn_model.c: header; nn_weights.c: tensors). */
#ifndef EMOTIOND_NN_READER_H
#define EMOTIOND_NN_READER_H

#include "nn_internal.h"

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
