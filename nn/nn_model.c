/* Model file loader (.emod, format version 1). tools/train/export.py is the writer and documents
 * the layout; every field read here is checked against what the architecture implies, so a file
 * that loads is safe to run: shapes, offsets and sizes are all proven in bounds here, and the
 * runners never check them again. */
#include "nn_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEADER_BYTES 32
#define TRAILER_BYTES 32
#define ALIGN 32
#define MAX_FILE_BYTES (1u << 30)
#define MAX_KV 256
#define MAX_TENSORS 64
#define MAX_STR 1u << 20
#define MAX_LABELS 256
#define MAX_LABEL_LEN 64

enum { T_I32 = 1, T_F32 = 2, T_F64 = 3, T_STR = 4, T_STRARR = 5 };

int nn__fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

const char *nn_strerror(int code)
{
    switch (code) {
    case NN_OK: return "success";
    case NN_EINVAL: return "invalid argument";
    case NN_ENOMEM: return "out of memory";
    case NN_EIO: return "model file could not be read";
    case NN_EFORMAT: return "not a valid model file";
    case NN_EVERSION: return "unsupported model file version";
    case NN_EMISMATCH: return "model and feature parameters or shapes inconsistent";
    default: return "unknown nn error";
    }
}

/* ---- bounded little-endian reader ---- */
typedef struct rd {
    const unsigned char *p;
    size_t len, pos;
} rd;

static int rd_need(rd *r, size_t n) { return r->len - r->pos >= n; }

static int rd_u32(rd *r, uint32_t *v)
{
    if (!rd_need(r, 4))
        return 0;
    memcpy(v, r->p + r->pos, 4);
    r->pos += 4;
    return 1;
}

static int rd_u64(rd *r, uint64_t *v)
{
    if (!rd_need(r, 8))
        return 0;
    memcpy(v, r->p + r->pos, 8);
    r->pos += 8;
    return 1;
}

/* A string as (pointer into the buffer, length); not NUL-terminated. */
static int rd_str(rd *r, const char **s, uint32_t *n)
{
    if (!rd_u32(r, n) || *n > MAX_STR || !rd_need(r, *n))
        return 0;
    *s = (const char *)r->p + r->pos;
    r->pos += *n;
    return 1;
}

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

/* ---- key/value header ---- */
typedef struct hdr {
    int32_t i[32];
    int i_seen[32];
    float f[8];
    double d[4];
    char name[128];
    char cmvn[32], readout[32];
    int name_seen, cmvn_seen, readout_seen, labels_seen;
} hdr;

/* Integer keys, in the order of hdr.i. */
static const char *const I_KEYS[] = {
    "dsp.sample_rate", "dsp.win_length", "dsp.hop_length", "dsp.n_fft", "dsp.n_mels",
    "dsp.mel_scale", "arch.n_mels", "arch.window", "arch.min_frames", "arch.c1", "arch.c2",
    "arch.c3", "arch.lstm_hidden", "arch.lstm_layers", "arch.dense"};
enum { I_SR, I_WIN, I_HOP, I_NFFT, I_NMELS, I_MELSCALE, I_ANMELS, I_WINDOW, I_MINF, I_C1, I_C2,
       I_C3, I_HID, I_LAYERS, I_DENSE, I_COUNT };
static const char *const F_KEYS[] = {"dsp.f_min", "dsp.f_max", "dsp.log_floor"};
enum { F_FMIN, F_FMAX, F_FLOOR, F_COUNT };

/* Names from a damaged file go into error messages: keep those one printable line. */
static void printable(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
            *s = '?';
}

static int key_is(const char *k, uint32_t n, const char *want)
{
    return strlen(want) == n && memcmp(k, want, n) == 0;
}

static int has_control(const char *s, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 1;
    return 0;
}

static int copy_small_str(char *dst, size_t cap, const char *s, uint32_t n)
{
    if (n >= cap || has_control(s, n))
        return 0;
    memcpy(dst, s, n);
    dst[n] = 0;
    return 1;
}

static int parse_kvs(rd *r, uint32_t n_kv, hdr *h, nn_model *m, char *err, size_t errlen)
{
    float fseen[F_COUNT] = {0};
    int eps_seen = 0;
    for (uint32_t e = 0; e < n_kv; e++) {
        const char *k;
        uint32_t kn, type;
        if (!rd_str(r, &k, &kn) || !rd_u32(r, &type))
            return nn__fail(err, errlen, NN_EFORMAT, "truncated key/value entry %u of %u", e, n_kv);
        char kbuf[64];
        snprintf(kbuf, sizeof kbuf, "%.*s", (int)(kn < 60 ? kn : 60), k);
        printable(kbuf);
        int want = 0, slot = -1;
        for (int i = 0; i < I_COUNT && slot < 0; i++)
            if (key_is(k, kn, I_KEYS[i]))
                want = T_I32, slot = i;
        for (int i = 0; i < F_COUNT && slot < 0; i++)
            if (key_is(k, kn, F_KEYS[i]))
                want = T_F32, slot = 100 + i;
        if (slot < 0) {
            if (key_is(k, kn, "arch.cmvn_eps")) want = T_F64, slot = 200;
            else if (key_is(k, kn, "general.name")) want = T_STR, slot = 201;
            else if (key_is(k, kn, "arch.cmvn")) want = T_STR, slot = 202;
            else if (key_is(k, kn, "arch.readout")) want = T_STR, slot = 203;
            else if (key_is(k, kn, "meta.json")) want = T_STR, slot = 204;
            else if (key_is(k, kn, "labels")) want = T_STRARR, slot = 205;
            else if (kn >= 5 && memcmp(k, "meta.", 5) == 0) want = (int)type, slot = 300;
            else
                return nn__fail(err, errlen, NN_EFORMAT, "unknown key '%s' in the model header", kbuf);
        }
        if ((int)type != want)
            return nn__fail(err, errlen, NN_EFORMAT, "key '%s' has type %u, expected %d", kbuf, type, want);
        int dup = 0;
        uint32_t u, n;
        uint64_t u64;
        const char *s;
        switch (type) {
        case T_I32:
            if (!rd_u32(r, &u))
                goto trunc;
            if (slot < I_COUNT) {
                dup = h->i_seen[slot]++;
                memcpy(&h->i[slot], &u, 4);
            }
            break;
        case T_F32:
            if (!rd_u32(r, &u))
                goto trunc;
            if (slot >= 100 && slot < 100 + F_COUNT) {
                dup = fseen[slot - 100]++ > 0;
                memcpy(&h->f[slot - 100], &u, 4);
            }
            break;
        case T_F64:
            if (!rd_u64(r, &u64))
                goto trunc;
            if (slot == 200) {
                dup = eps_seen++;
                memcpy(&h->d[0], &u64, 8);
            }
            break;
        case T_STR:
            if (!rd_str(r, &s, &n))
                goto trunc;
            if (slot == 201) {
                dup = h->name_seen++;
                if (n == 0 || !copy_small_str(h->name, sizeof h->name, s, n))
                    return nn__fail(err, errlen, NN_EFORMAT, "general.name must be 1..127 bytes "
                                    "without control characters");
            } else if (slot == 202 || slot == 203) {
                char *dst = slot == 202 ? h->cmvn : h->readout;
                dup = slot == 202 ? h->cmvn_seen++ : h->readout_seen++;
                if (!copy_small_str(dst, 32, s, n))
                    return nn__fail(err, errlen, NN_EFORMAT, "key '%s': value too long or not printable", kbuf);
            } else if (slot == 204) {
                dup = m->meta_json != NULL;
                free(m->meta_json);
                if (!(m->meta_json = dup_n(s, n)))
                    return nn__fail(err, errlen, NN_ENOMEM, "out of memory reading meta.json");
            }
            break;
        case T_STRARR:
            if (!rd_u32(r, &n))
                goto trunc;
            if (slot == 205) {
                dup = h->labels_seen++;
                if (dup)
                    break;
                if (n < 1 || n > MAX_LABELS)
                    return nn__fail(err, errlen, NN_EFORMAT, "%u labels, expected 1..%d", n, MAX_LABELS);
                if (!(m->labels = calloc(n, sizeof *m->labels)))
                    return nn__fail(err, errlen, NN_ENOMEM, "out of memory reading labels");
                m->n_labels = (int)n;
            }
            for (uint32_t j = 0; j < n; j++) {
                uint32_t ln;
                if (!rd_str(r, &s, &ln))
                    goto trunc;
                if (slot != 205)
                    continue;
                if (ln < 1 || ln > MAX_LABEL_LEN || has_control(s, ln))
                    return nn__fail(err, errlen, NN_EFORMAT, "label %u: length %u, expected 1..%d "
                                    "bytes without control characters", j, ln, MAX_LABEL_LEN);
                if (!(m->labels[j] = dup_n(s, ln)))
                    return nn__fail(err, errlen, NN_ENOMEM, "out of memory reading labels");
            }
            break;
        default:
            return nn__fail(err, errlen, NN_EFORMAT, "key '%s' has unknown type %u", kbuf, type);
        }
        if (dup)
            return nn__fail(err, errlen, NN_EFORMAT, "key '%s' appears twice", kbuf);
        continue;
    trunc:
        return nn__fail(err, errlen, NN_EFORMAT, "truncated value of key '%s'", kbuf);
    }
    for (int i = 0; i < I_COUNT; i++)
        if (!h->i_seen[i])
            return nn__fail(err, errlen, NN_EFORMAT, "missing key '%s'", I_KEYS[i]);
    for (int i = 0; i < F_COUNT; i++)
        if (!fseen[i])
            return nn__fail(err, errlen, NN_EFORMAT, "missing key '%s'", F_KEYS[i]);
    if (!eps_seen) return nn__fail(err, errlen, NN_EFORMAT, "missing key 'arch.cmvn_eps'");
    if (!h->name_seen) return nn__fail(err, errlen, NN_EFORMAT, "missing key 'general.name'");
    if (!h->cmvn_seen) return nn__fail(err, errlen, NN_EFORMAT, "missing key 'arch.cmvn'");
    if (!h->readout_seen) return nn__fail(err, errlen, NN_EFORMAT, "missing key 'arch.readout'");
    if (!h->labels_seen) return nn__fail(err, errlen, NN_EFORMAT, "missing key 'labels'");
    return 0;
}

/* Fills and checks the feature parameters and architecture. */
static int check_arch(const hdr *h, nn_model *m, char *err, size_t errlen)
{
    char msg[200];
    dsp_params *p = &m->dsp;
    p->sample_rate = h->i[I_SR];
    p->win_length = h->i[I_WIN];
    p->hop_length = h->i[I_HOP];
    p->n_fft = h->i[I_NFFT];
    p->n_mels = h->i[I_NMELS];
    p->mel_scale = h->i[I_MELSCALE];
    p->f_min = h->f[F_FMIN];
    p->f_max = h->f[F_FMAX];
    p->log_floor = h->f[F_FLOOR];
    if (dsp_params_check(p, msg, sizeof msg) != 0)
        return nn__fail(err, errlen, NN_EMISMATCH, "feature parameters in the model: %s", msg);
    snprintf(m->name, sizeof m->name, "%s", h->name);
    m->n_mels = h->i[I_ANMELS];
    if (m->n_mels != p->n_mels)
        return nn__fail(err, errlen, NN_EMISMATCH,
                        "the network takes %d mel bands but its feature parameters give n_mels=%d",
                        m->n_mels, (int)p->n_mels);
    m->window = h->i[I_WINDOW];
    m->min_frames = h->i[I_MINF];
    if (m->window < 4 || m->window > (1 << 20) || m->window % 2)
        return nn__fail(err, errlen, NN_EFORMAT, "arch.window %d, expected an even value in 4..%d",
                        m->window, 1 << 20);
    if (m->min_frames < 2 || m->min_frames > m->window / 2)
        return nn__fail(err, errlen, NN_EFORMAT, "arch.min_frames %d, expected 2..window/2 (%d)",
                        m->min_frames, m->window / 2);
    char cm[32], ro[32];
    snprintf(cm, sizeof cm, "%s", h->cmvn);
    snprintf(ro, sizeof ro, "%s", h->readout);
    printable(cm);
    printable(ro);
    if (strcmp(h->cmvn, "cumulative") == 0) m->cmvn = NN_CMVN_CUMULATIVE;
    else if (strcmp(h->cmvn, "none") == 0) m->cmvn = NN_CMVN_NONE;
    else return nn__fail(err, errlen, NN_EFORMAT, "arch.cmvn '%s', expected 'cumulative' or 'none'", cm);
    if (strcmp(h->readout, "attention") == 0) m->readout = NN_READOUT_ATTENTION;
    else if (strcmp(h->readout, "mean") == 0) m->readout = NN_READOUT_MEAN;
    else return nn__fail(err, errlen, NN_EFORMAT, "arch.readout '%s', expected 'attention' or 'mean'", ro);
    m->cmvn_eps = h->d[0];
    if (!(m->cmvn_eps > 0 && m->cmvn_eps < 1e6))
        return nn__fail(err, errlen, NN_EFORMAT, "arch.cmvn_eps %g, expected > 0", m->cmvn_eps);
    m->c1 = h->i[I_C1]; m->c2 = h->i[I_C2]; m->c3 = h->i[I_C3];
    m->hidden = h->i[I_HID]; m->layers = h->i[I_LAYERS]; m->dense = h->i[I_DENSE];
    const struct { const char *k; int v, lo, hi; } rng[] = {
        {"arch.c1", m->c1, 1, 1024}, {"arch.c2", m->c2, 1, 1024}, {"arch.c3", m->c3, 1, 1024},
        {"arch.lstm_hidden", m->hidden, 0, 4096}, {"arch.dense", m->dense, 1, 4096},
        {"arch.lstm_layers", m->layers, m->hidden ? 1 : 0, m->hidden ? NN_MAX_LSTM_LAYERS : 0}};
    for (size_t i = 0; i < sizeof rng / sizeof rng[0]; i++)
        if (rng[i].v < rng[i].lo || rng[i].v > rng[i].hi)
            return nn__fail(err, errlen, NN_EFORMAT, "%s %d, expected %d..%d", rng[i].k, rng[i].v,
                            rng[i].lo, rng[i].hi);
    m->f1 = (m->n_mels - 1) / 2 + 1;
    m->p1 = m->f1 / 2;
    m->p2 = m->p1 / 2;
    m->p3 = m->p2 / 2;
    if (m->p3 < 1)
        return nn__fail(err, errlen, NN_EMISMATCH, "n_mels %d leaves no frequency bins after the "
                        "conv blocks (need >= 15)", m->n_mels);
    m->feat_dim = m->c3 * m->p3;
    m->seq_dim = m->hidden ? m->hidden : m->feat_dim;
    return 0;
}

/* ---- tensors ---- */
typedef struct tspec {
    char name[32];
    int rank;
    int dims[4];
    const float **dst;   /* where the pointer into the weight block goes */
    uint64_t off;        /* offset in the data section once found */
    int found;
} tspec;

static void add_spec(tspec *t, int *n, const char *name, const float **dst, int rank, int d0,
                     int d1, int d2, int d3)
{
    tspec *s = &t[(*n)++];
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", name);
    s->rank = rank;
    s->dims[0] = d0; s->dims[1] = d1; s->dims[2] = d2; s->dims[3] = d3;
    s->dst = dst;
}

static size_t spec_count(const tspec *s)
{
    size_t n = 1;
    for (int i = 0; i < s->rank; i++)
        n *= (size_t)s->dims[i];
    return n;
}

static void fmt_dims(char *b, size_t cap, int rank, const uint32_t *d)
{
    size_t o = 0;
    o += (size_t)snprintf(b + o, cap - o, "[");
    for (int i = 0; i < rank && o < cap; i++)
        o += (size_t)snprintf(b + o, cap - o, "%s%u", i ? "," : "", d[i]);
    if (o < cap)
        snprintf(b + o, cap - o, "]");
}

static int load_tensors(rd *r, uint32_t n_tensors, const unsigned char *data, uint64_t data_size,
                        nn_model *m, char *err, size_t errlen)
{
    tspec t[8 + 3 * NN_MAX_LSTM_LAYERS + 8];
    const float *conv_w[3] = {0};
    int n = 0, K = m->n_labels, H = m->hidden;
    add_spec(t, &n, "norm.mean", &m->norm_mean, 1, m->n_mels, 0, 0, 0);
    add_spec(t, &n, "norm.std", &m->norm_std, 1, m->n_mels, 0, 0, 0);
    add_spec(t, &n, "conv1.weight", &conv_w[0], 4, m->c1, 1, 3, 3);
    add_spec(t, &n, "conv1.bias", &m->conv1_b, 1, m->c1, 0, 0, 0);
    add_spec(t, &n, "conv2.weight", &conv_w[1], 4, m->c2, m->c1, 3, 3);
    add_spec(t, &n, "conv2.bias", &m->conv2_b, 1, m->c2, 0, 0, 0);
    add_spec(t, &n, "conv3.weight", &conv_w[2], 4, m->c3, m->c2, 3, 3);
    add_spec(t, &n, "conv3.bias", &m->conv3_b, 1, m->c3, 0, 0, 0);
    for (int k = 0; k < m->layers; k++) {
        char nm[32];
        int in = k == 0 ? m->feat_dim : H;
        m->lstm[k].in = in;
        snprintf(nm, sizeof nm, "lstm.l%d.w_ih", k);
        add_spec(t, &n, nm, &m->lstm[k].w_ih, 2, 4 * H, in, 0, 0);
        snprintf(nm, sizeof nm, "lstm.l%d.w_hh", k);
        add_spec(t, &n, nm, &m->lstm[k].w_hh, 2, 4 * H, H, 0, 0);
        snprintf(nm, sizeof nm, "lstm.l%d.bias", k);
        add_spec(t, &n, nm, &m->lstm[k].bias, 1, 4 * H, 0, 0, 0);
    }
    if (m->readout == NN_READOUT_ATTENTION)
        add_spec(t, &n, "att.weight", &m->att_w, 1, m->seq_dim, 0, 0, 0);
    add_spec(t, &n, "fc1.weight", &m->fc1_w, 2, m->dense, m->seq_dim, 0, 0);
    add_spec(t, &n, "fc1.bias", &m->fc1_b, 1, m->dense, 0, 0, 0);
    add_spec(t, &n, "fc2.weight", &m->fc2_w, 2, K, m->dense, 0, 0);
    add_spec(t, &n, "fc2.bias", &m->fc2_b, 1, K, 0, 0, 0);

    for (uint32_t e = 0; e < n_tensors; e++) {
        const char *nm;
        uint32_t nl, dtype, rank, dims[4];
        uint64_t off;
        if (!rd_str(r, &nm, &nl) || !rd_u32(r, &dtype) || !rd_u32(r, &rank))
            return nn__fail(err, errlen, NN_EFORMAT, "truncated tensor entry %u of %u", e, n_tensors);
        char nbuf[64];
        snprintf(nbuf, sizeof nbuf, "%.*s", (int)(nl < 60 ? nl : 60), nm);
        printable(nbuf);
        if (rank < 1 || rank > 4)
            return nn__fail(err, errlen, NN_EFORMAT, "tensor '%s' has rank %u, expected 1..4", nbuf, rank);
        for (uint32_t i = 0; i < rank; i++)
            if (!rd_u32(r, &dims[i]))
                return nn__fail(err, errlen, NN_EFORMAT, "truncated tensor entry '%s'", nbuf);
        if (!rd_u64(r, &off))
            return nn__fail(err, errlen, NN_EFORMAT, "truncated tensor entry '%s'", nbuf);
        tspec *s = NULL;
        for (int i = 0; i < n && !s; i++)
            if (strlen(t[i].name) == nl && memcmp(t[i].name, nm, nl) == 0)
                s = &t[i];
        if (!s)
            return nn__fail(err, errlen, NN_EMISMATCH, "unexpected tensor '%s' for this architecture", nbuf);
        if (s->found++)
            return nn__fail(err, errlen, NN_EFORMAT, "tensor '%s' appears twice", nbuf);
        if (dtype != 0)
            return nn__fail(err, errlen, NN_EFORMAT, "tensor '%s' has dtype %u, expected 0 (f32)", nbuf, dtype);
        int same = (int)rank == s->rank;
        for (int i = 0; same && i < s->rank; i++)
            same = dims[i] == (uint32_t)s->dims[i];
        if (!same) {
            char got[64], exp[64];
            uint32_t ed[4];
            for (int i = 0; i < s->rank; i++)
                ed[i] = (uint32_t)s->dims[i];
            fmt_dims(got, sizeof got, (int)rank, dims);
            fmt_dims(exp, sizeof exp, s->rank, ed);
            return nn__fail(err, errlen, NN_EMISMATCH, "tensor '%s' has shape %s, expected %s",
                            nbuf, got, exp);
        }
        uint64_t bytes = (uint64_t)spec_count(s) * 4;
        if (off % ALIGN || off > data_size || data_size - off < bytes)
            return nn__fail(err, errlen, NN_EFORMAT, "tensor '%s': offset %llu + %llu bytes outside "
                            "the %llu-byte data section or not %d-aligned", nbuf,
                            (unsigned long long)off, (unsigned long long)bytes,
                            (unsigned long long)data_size, ALIGN);
        s->off = off;
    }
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        if (!t[i].found)
            return nn__fail(err, errlen, NN_EMISMATCH, "missing tensor '%s'", t[i].name);
        total += (spec_count(&t[i]) + 15) & ~(size_t)15;
    }
    /* One block: the tensors (each 64-byte aligned), then the re-laid copies the kernels use. */
    m->c1p = (m->c1 + NN_C1BLK - 1) / NN_C1BLK * NN_C1BLK;
    m->c2p = (m->c2 + NN_CBLK - 1) / NN_CBLK * NN_CBLK;
    m->c3p = (m->c3 + NN_CBLK - 1) / NN_CBLK * NN_CBLK;
    m->gp = (4 * H + NN_GBLK - 1) / NN_GBLK * NN_GBLK;
    size_t relaid = ((size_t)9 * m->c1p + 15) / 16 * 16 + ((size_t)m->c1p + 15) / 16 * 16 +
                    ((size_t)9 * m->c1 * m->c2p + 15) / 16 * 16 + ((size_t)9 * m->c2 * m->c3p + 15) / 16 * 16;
    for (int k = 0; k < m->layers; k++)
        relaid += ((size_t)(m->lstm[k].in + H) * m->gp + 15) / 16 * 16 + ((size_t)m->gp + 15) / 16 * 16;
    relaid += ((size_t)m->seq_dim * m->dense + 15) / 16 * 16;
    if (posix_memalign((void **)&m->weights, 64, (total + relaid + 16) * sizeof(float)) != 0) {
        m->weights = NULL;
        return nn__fail(err, errlen, NN_ENOMEM, "out of memory for %zu weights", total + relaid);
    }
    memset(m->weights, 0, (total + relaid + 16) * sizeof(float));
    float *w = m->weights;
    for (int i = 0; i < n; i++) {
        size_t cnt = spec_count(&t[i]);
        memcpy(w, data + t[i].off, cnt * sizeof(float));
        for (size_t j = 0; j < cnt; j++)
            if (!isfinite(w[j]))
                return nn__fail(err, errlen, NN_EFORMAT, "tensor '%s' has a non-finite value at %zu",
                                t[i].name, j);
        *t[i].dst = w;
        w += (cnt + 15) & ~(size_t)15;
    }
    for (int b = 0; b < m->n_mels; b++)
        if (!(m->norm_std[b] > 0))
            return nn__fail(err, errlen, NN_EFORMAT, "norm.std[%d] = %g, expected > 0", b,
                            (double)m->norm_std[b]);
    /* torch [out][in][kt][kf] -> [kt][kf][in][out_padded]: rows in the order of our im2col
     * patch, output channels contiguous and zero-padded for the kernels. */
    m->conv1_w = w;
    w += ((size_t)9 * m->c1p + 15) / 16 * 16;
    m->conv1_bp = w;
    w += ((size_t)m->c1p + 15) / 16 * 16;
    m->conv2_w = w;
    w += ((size_t)9 * m->c1 * m->c2p + 15) / 16 * 16;
    m->conv3_w = w;
    w += ((size_t)9 * m->c2 * m->c3p + 15) / 16 * 16;
    float *dst[3] = {m->conv1_w, m->conv2_w, m->conv3_w};
    int cout[3] = {m->c1, m->c2, m->c3}, coutp[3] = {m->c1p, m->c2p, m->c3p};
    int cin[3] = {1, m->c1, m->c2};
    for (int L = 0; L < 3; L++)
        for (int co = 0; co < cout[L]; co++)
            for (int ci = 0; ci < cin[L]; ci++)
                for (int k = 0; k < 9; k++)
                    dst[L][((size_t)k * cin[L] + ci) * coutp[L] + co] =
                        conv_w[L][((size_t)co * cin[L] + ci) * 9 + k];
    memcpy(m->conv1_bp, m->conv1_b, sizeof(float) * (size_t)m->c1);
    m->fc1_t = w;
    w += ((size_t)m->seq_dim * m->dense + 15) / 16 * 16;
    for (int i = 0; i < m->dense; i++)
        for (int j = 0; j < m->seq_dim; j++)
            m->fc1_t[(size_t)j * m->dense + i] = m->fc1_w[(size_t)i * m->seq_dim + j];
    /* LSTM: (W_ih | W_hh) transposed to [in + H][gp] in panels, gates zero-padded. */
    for (int k = 0; k < m->layers; k++) {
        nn__lstm_layer *Ly = &m->lstm[k];
        Ly->wt = w;
        w += ((size_t)(Ly->in + H) * m->gp + 15) / 16 * 16;
        Ly->bias_p = w;
        w += ((size_t)m->gp + 15) / 16 * 16;
        const size_t K = (size_t)(Ly->in + H);
        for (int g = 0; g < 4 * H; g++) {
            /* panel g / NN_GBLK, row i, column g % NN_GBLK */
            float *col = Ly->wt + (size_t)(g / NN_GBLK) * K * NN_GBLK + g % NN_GBLK;
            for (int i = 0; i < Ly->in; i++)
                col[(size_t)i * NN_GBLK] = Ly->w_ih[(size_t)g * Ly->in + i];
            for (int i = 0; i < H; i++)
                col[(size_t)(Ly->in + i) * NN_GBLK] = Ly->w_hh[(size_t)g * H + i];
            Ly->bias_p[g] = Ly->bias[g];
        }
    }
    return 0;
}

void nn_model_free(nn_model *m)
{
    if (!m)
        return;
    for (int i = 0; m->labels && i < m->n_labels; i++)
        free(m->labels[i]);
    free(m->labels);
    free(m->meta_json);
    free(m->weights);
    free(m);
}

static int load(const unsigned char *b, size_t len, nn_model **out, char *err, size_t errlen)
{
    int rc;
    nn_model *m = NULL;
    hdr h;
    if (!out)
        return nn__fail(err, errlen, NN_EINVAL, "out is NULL");
    *out = NULL;
    if (!b && len)
        return nn__fail(err, errlen, NN_EINVAL, "buffer is NULL");
    if (len < 4 || memcmp(b, "EMOD", 4) != 0) {
        if (len < 4)
            return nn__fail(err, errlen, NN_EFORMAT, "truncated: %zu bytes, not a model file", len);
        return nn__fail(err, errlen, NN_EFORMAT, "not an emotiond model file (magic %02x %02x %02x "
                        "%02x, expected \"EMOD\")", b[0], b[1], b[2], b[3]);
    }
    if (len < HEADER_BYTES + TRAILER_BYTES)
        return nn__fail(err, errlen, NN_EFORMAT, "truncated: %zu bytes, a model file has at least %d",
                        len, HEADER_BYTES + TRAILER_BYTES);
    rd r = {b, len, 4};
    uint32_t version, n_kv, n_tensors;
    uint64_t data_offset, data_size;
    rd_u32(&r, &version);
    rd_u32(&r, &n_kv);
    rd_u32(&r, &n_tensors);
    rd_u64(&r, &data_offset);
    rd_u64(&r, &data_size);
    if (version != 1)
        return nn__fail(err, errlen, NN_EVERSION, "model format version %u, this build reads version 1",
                        version);
    if (data_offset > len || data_size > len || data_offset + data_size + TRAILER_BYTES > len)
        return nn__fail(err, errlen, NN_EFORMAT, "truncated: file has %zu bytes, its header declares "
                        "%llu", len, (unsigned long long)(data_offset + data_size + TRAILER_BYTES));
    if (data_offset + data_size + TRAILER_BYTES < len)
        return nn__fail(err, errlen, NN_EFORMAT, "%llu unexpected bytes after the checksum",
                        (unsigned long long)(len - data_offset - data_size - TRAILER_BYTES));
    unsigned char digest[32];
    nn__sha256(b, len - TRAILER_BYTES, digest);
    if (memcmp(digest, b + len - TRAILER_BYTES, 32) != 0)
        return nn__fail(err, errlen, NN_EFORMAT, "checksum mismatch: the file is corrupt (SHA-256 of "
                        "its content differs from the stored one)");
    if (data_offset % ALIGN || data_offset < HEADER_BYTES || n_kv > MAX_KV || n_tensors > MAX_TENSORS)
        return nn__fail(err, errlen, NN_EFORMAT, "bad header: data offset %llu, %u keys, %u tensors",
                        (unsigned long long)data_offset, n_kv, n_tensors);
    if (!(m = calloc(1, sizeof *m)))
        return nn__fail(err, errlen, NN_ENOMEM, "out of memory");
    for (int i = 0; i < 32; i++)
        snprintf(m->sha256_hex + 2 * i, 3, "%02x", digest[i]);
    memset(&h, 0, sizeof h);
    r.len = (size_t)data_offset; /* header entries must end before the data */
    if ((rc = parse_kvs(&r, n_kv, &h, m, err, errlen)) != 0)
        goto fail;
    if ((rc = check_arch(&h, m, err, errlen)) != 0)
        goto fail;
    if ((rc = load_tensors(&r, n_tensors, b + data_offset, data_size, m, err, errlen)) != 0)
        goto fail;
    if (!m->meta_json && !(m->meta_json = dup_n("", 0))) {
        rc = nn__fail(err, errlen, NN_ENOMEM, "out of memory");
        goto fail;
    }
    snprintf(m->id, sizeof m->id, "%s@sha256:%.16s", m->name, m->sha256_hex);
    *out = m;
    return 0;
fail:
    nn_model_free(m);
    return rc;
}

int nn_model_load_buffer(const void *buf, size_t len, nn_model **out, char *err, size_t errlen)
{
    /* The loader copies every tensor out of buf, so buf is never kept. */
    return load(buf, len, out, err, errlen);
}

int nn_model_load_file(const char *path, nn_model **out, char *err, size_t errlen)
{
    unsigned char *buf = NULL;
    FILE *f = NULL;
    int rc;
    long size;
    char msg[256];
    if (!path || !out)
        return nn__fail(err, errlen, NN_EINVAL, "path or out is NULL");
    *out = NULL;
    if (!(f = fopen(path, "rb")))
        return nn__fail(err, errlen, NN_EIO, "%s: cannot open: %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        rc = nn__fail(err, errlen, NN_EIO, "%s: cannot seek: %s", path, strerror(errno));
        goto fail;
    }
    if ((unsigned long)size > MAX_FILE_BYTES) {
        rc = nn__fail(err, errlen, NN_EFORMAT, "%s: %ld bytes, larger than any model (%u max)", path,
                      size, MAX_FILE_BYTES);
        goto fail;
    }
    if (!(buf = malloc(size ? (size_t)size : 1))) {
        rc = nn__fail(err, errlen, NN_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    if (fread(buf, 1, (size_t)size, f) != (size_t)size) {
        rc = nn__fail(err, errlen, NN_EIO, "%s: read error", path);
        goto fail;
    }
    if ((rc = load(buf, (size_t)size, out, msg, sizeof msg)) != 0)
        nn__fail(err, errlen, rc, "%s: %s", path, msg);
fail:
    free(buf);
    fclose(f);
    return rc;
}

int nn_model_n_labels(const nn_model *m) { return m->n_labels; }

const char *nn_model_label(const nn_model *m, int i)
{
    return i >= 0 && i < m->n_labels ? m->labels[i] : NULL;
}

const dsp_params *nn_model_features(const nn_model *m) { return &m->dsp; }
const char *nn_model_id(const nn_model *m) { return m->id; }
int nn_model_window_frames(const nn_model *m) { return m->window; }
