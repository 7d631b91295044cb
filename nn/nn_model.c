/* Model file loader (.emod, format version 1). tools/train/export.py is the writer and documents
 * the layout; every field read here is checked against what the architecture implies, so a file
 * that loads is safe to run: shapes, offsets and sizes are all proven in bounds here, and the
 * runners never check them again. */
#include "nn_reader.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEADER_BYTES 32
#define TRAILER_BYTES 32
#define MAX_FILE_BYTES (1u << 30)
#define MAX_KV 256
#define MAX_TENSORS 64
#define MAX_LABELS 256
#define MAX_LABEL_LEN 64

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
    double d[4];          /* arch.cmvn_eps, spk.level_floor, spk.prior_level */
    int d_seen[4];
    char name[128];
    char cmvn[32], readout[32], pitch_input[32];
    int name_seen, cmvn_seen, readout_seen, labels_seen, pitch_input_seen;
} hdr;

/* Integer keys, in the order of hdr.i. */
static const char *const I_KEYS[] = {
    "dsp.sample_rate", "dsp.win_length", "dsp.hop_length", "dsp.n_fft", "dsp.n_mels",
    "dsp.mel_scale", "arch.n_mels", "arch.window", "arch.min_frames", "arch.c1", "arch.c2",
    "arch.c3", "arch.lstm_hidden", "arch.lstm_layers", "arch.dense", "arch.freq_stride",
    "arch.time_pool", "dsp.denoise_db", "arch.prosody"};
enum { I_SR, I_WIN, I_HOP, I_NFFT, I_NMELS, I_MELSCALE, I_ANMELS, I_WINDOW, I_MINF, I_C1, I_C2,
       I_C3, I_HID, I_LAYERS, I_DENSE, I_FSTRIDE, I_TPOOL, I_DENOISE, I_PROSODY, I_COUNT };
static const char *const F_KEYS[] = {"dsp.f_min", "dsp.f_max", "dsp.log_floor"};
enum { F_FMIN, F_FMAX, F_FLOOR, F_COUNT };

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

static int parse_kvs(nn__rd *r, uint32_t n_kv, hdr *h, nn_model *m, char *err, size_t errlen)
{
    float fseen[F_COUNT] = {0};
    for (uint32_t e = 0; e < n_kv; e++) {
        const char *k = NULL;
        uint32_t kn = 0, type = 0;
        char kbuf[NN_KEYBUF];
        int rc = nn__rd_key(r, e, n_kv, &k, &kn, &type, kbuf, err, errlen);
        if (rc)
            return rc;
        int want = 0, slot = -1;
        for (int i = 0; i < I_COUNT && slot < 0; i++)
            if (key_is(k, kn, I_KEYS[i]))
                want = NN_KV_I32, slot = i;
        for (int i = 0; i < F_COUNT && slot < 0; i++)
            if (key_is(k, kn, F_KEYS[i]))
                want = NN_KV_F32, slot = 100 + i;
        if (slot < 0) {
            if (key_is(k, kn, "arch.cmvn_eps")) want = NN_KV_F64, slot = 200;
            else if (key_is(k, kn, "spk.level_floor")) want = NN_KV_F64, slot = 206;
            else if (key_is(k, kn, "spk.prior_level")) want = NN_KV_F64, slot = 207;
            else if (key_is(k, kn, "general.name")) want = NN_KV_STR, slot = 201;
            else if (key_is(k, kn, "arch.cmvn")) want = NN_KV_STR, slot = 202;
            else if (key_is(k, kn, "arch.readout")) want = NN_KV_STR, slot = 203;
            else if (key_is(k, kn, "arch.pitch_input")) want = NN_KV_STR, slot = 208;
            else if (key_is(k, kn, "meta.json")) want = NN_KV_STR, slot = 204;
            else if (key_is(k, kn, "labels")) want = NN_KV_STRARR, slot = 205;
            else if (kn >= 5 && memcmp(k, "meta.", 5) == 0) want = (int)type, slot = 300;
            else
                return nn__fail(err, errlen, NN_EFORMAT, "unknown key '%s' in the model header", kbuf);
        }
        if ((int)type != want)
            return nn__fail(err, errlen, NN_EFORMAT, "key '%s' has type %u, expected %d", kbuf, type, want);
        if (slot == 300) {   /* other meta.* keys: not ours to read */
            int ok = nn__rd_skip_value(r, type);
            if (ok < 0)
                return nn__fail(err, errlen, NN_EFORMAT, "key '%s' has unknown type %u", kbuf, type);
            if (!ok)
                goto trunc;
            continue;
        }
        int dup = 0;
        uint32_t u, n;
        uint64_t u64;
        const char *s;
        switch (type) {
        case NN_KV_I32:
            if (!nn__rd_u32(r, &u))
                goto trunc;
            dup = h->i_seen[slot]++;
            memcpy(&h->i[slot], &u, 4);
            break;
        case NN_KV_F32:
            if (!nn__rd_u32(r, &u))
                goto trunc;
            dup = fseen[slot - 100]++ > 0;
            memcpy(&h->f[slot - 100], &u, 4);
            break;
        case NN_KV_F64:
            if (!nn__rd_u64(r, &u64))
                goto trunc;
            int di = slot == 200 ? 0 : slot - 205;
            dup = h->d_seen[di]++;
            memcpy(&h->d[di], &u64, 8);
            break;
        case NN_KV_STR:
            if (!nn__rd_str(r, &s, &n))
                goto trunc;
            if (slot == 201) {
                dup = h->name_seen++;
                if (n == 0 || !copy_small_str(h->name, sizeof h->name, s, n))
                    return nn__fail(err, errlen, NN_EFORMAT, "general.name must be 1..127 bytes "
                                    "without control characters");
            } else if (slot == 202 || slot == 203 || slot == 208) {
                char *dst = slot == 202 ? h->cmvn : slot == 203 ? h->readout : h->pitch_input;
                dup = slot == 202 ? h->cmvn_seen++ : slot == 203 ? h->readout_seen++
                                                                  : h->pitch_input_seen++;
                if (!copy_small_str(dst, 32, s, n))
                    return nn__fail(err, errlen, NN_EFORMAT, "key '%s': value too long or not printable", kbuf);
            } else {   /* 204: meta.json */
                dup = m->meta_json != NULL;
                free(m->meta_json);
                if (!(m->meta_json = dup_n(s, n)))
                    return nn__fail(err, errlen, NN_ENOMEM, "out of memory reading meta.json");
            }
            break;
        case NN_KV_STRARR:
            if (!nn__rd_u32(r, &n))
                goto trunc;
            dup = h->labels_seen++;
            if (dup)
                break;
            if (n < 1 || n > MAX_LABELS)
                return nn__fail(err, errlen, NN_EFORMAT, "%u labels, expected 1..%d", n, MAX_LABELS);
            if (!(m->labels = calloc(n, sizeof *m->labels)))
                return nn__fail(err, errlen, NN_ENOMEM, "out of memory reading labels");
            m->n_labels = (int)n;
            for (uint32_t j = 0; j < n; j++) {
                uint32_t ln;
                if (!nn__rd_str(r, &s, &ln))
                    goto trunc;
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
    /* optional: files of the default architecture (and front end: no denoiser; no pitch input)
     * omit them */
    const int optional[][2] = {{I_FSTRIDE, 2}, {I_TPOOL, 2}, {I_DENOISE, 0}, {I_PROSODY, 0}};
    for (size_t i = 0; i < sizeof optional / sizeof optional[0]; i++)
        if (!h->i_seen[optional[i][0]]) {
            h->i[optional[i][0]] = optional[i][1];
            h->i_seen[optional[i][0]] = 1;
        }
    for (int i = 0; i < I_COUNT; i++)
        if (!h->i_seen[i])
            return nn__fail(err, errlen, NN_EFORMAT, "missing key '%s'", I_KEYS[i]);
    for (int i = 0; i < F_COUNT; i++)
        if (!fseen[i])
            return nn__fail(err, errlen, NN_EFORMAT, "missing key '%s'", F_KEYS[i]);
    if (!h->d_seen[0]) return nn__fail(err, errlen, NN_EFORMAT, "missing key 'arch.cmvn_eps'");
    if (!h->name_seen) return nn__fail(err, errlen, NN_EFORMAT, "missing key 'general.name'");
    if (!h->cmvn_seen) return nn__fail(err, errlen, NN_EFORMAT, "missing key 'arch.cmvn'");
    if (!h->readout_seen) return nn__fail(err, errlen, NN_EFORMAT, "missing key 'arch.readout'");
    if (!h->labels_seen) return nn__fail(err, errlen, NN_EFORMAT, "missing key 'labels'");
    return 0;
}

/* The pitch input (optional pair arch.prosody, arch.pitch_input: files without it take the
 * bands alone and are byte-identical to those written before it existed). */
static int check_prosody(const hdr *h, nn_model *m, char *err, size_t errlen)
{
    m->prosody = h->i[I_PROSODY];
    if (m->prosody != 0 && m->prosody != DSP_PITCH_DIM)
        return nn__fail(err, errlen, NN_EFORMAT, "arch.prosody %d, expected 0 or %d (the pitch "
                        "tracker's columns)", m->prosody, DSP_PITCH_DIM);
    if (!m->prosody != !h->pitch_input_seen)
        return nn__fail(err, errlen, NN_EFORMAT, "%s: a model reading pitch needs both "
                        "arch.prosody and arch.pitch_input", m->prosody ? "arch.pitch_input missing"
                        : "arch.pitch_input without arch.prosody");
    m->in_dim = m->n_mels + m->prosody;
    if (!m->prosody)
        return 0;
    char pi[32];
    snprintf(pi, sizeof pi, "%s", h->pitch_input);
    nn__printable(pi);
    if (strcmp(h->pitch_input, "raw") == 0)
        m->pitch_flags = 0;
    else if (strcmp(h->pitch_input, "suppressed") == 0)
        m->pitch_flags = DSP_PITCH_SUPPRESSED;
    else
        return nn__fail(err, errlen, NN_EFORMAT, "arch.pitch_input '%s', expected 'raw' or "
                        "'suppressed'", pi);
    if (m->pitch_flags && !m->dsp.denoise_db)
        return nn__fail(err, errlen, NN_EMISMATCH, "arch.pitch_input 'suppressed' reads the noise "
                        "suppressor's output, but the model's front end has none (dsp.denoise_db 0)");
    /* Both lanes must see the same prosody means for one to borrow the other's features, and
     * the level floor's statistics are of bands: neither is defined for pitch columns. */
    if (m->cmvn == NN_CMVN_CUMULATIVE || m->level_floor > 0)
        return nn__fail(err, errlen, NN_EFORMAT, "a model reading pitch (arch.prosody %d) cannot "
                        "have %s", m->prosody, m->level_floor > 0 ? "a level floor" : "arch.cmvn "
                        "'cumulative'");
    return 0;
}

/* Fills and checks the feature parameters and architecture. */
static int check_arch(const hdr *h, nn_model *m, char *err, size_t errlen)
{
    char msg[200];
    int rc;
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
    p->denoise_db = h->i[I_DENOISE];
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
    m->tpool = h->i[I_TPOOL];
    if (m->tpool != 2 && m->tpool != 4)
        return nn__fail(err, errlen, NN_EFORMAT, "arch.time_pool %d, expected 2 or 4", m->tpool);
    if (m->window < 4 || m->window > (1 << 20) || m->window % m->tpool)
        return nn__fail(err, errlen, NN_EFORMAT, "arch.window %d, expected a multiple of the time "
                        "pool %d in 4..%d", m->window, m->tpool, 1 << 20);
    if (m->min_frames < m->tpool || m->min_frames > m->window / 2)
        return nn__fail(err, errlen, NN_EFORMAT, "arch.min_frames %d, expected %d..window/2 (%d)",
                        m->min_frames, m->tpool, m->window / 2);
    char cm[32], ro[32];
    snprintf(cm, sizeof cm, "%s", h->cmvn);
    snprintf(ro, sizeof ro, "%s", h->readout);
    nn__printable(cm);
    nn__printable(ro);
    if (strcmp(h->cmvn, "cumulative") == 0) m->cmvn = NN_CMVN_CUMULATIVE;
    else if (strcmp(h->cmvn, "none") == 0) m->cmvn = NN_CMVN_NONE;
    else if (strcmp(h->cmvn, "speaker") == 0) m->cmvn = NN_CMVN_SPEAKER;
    else if (strcmp(h->cmvn, "speaker-mean") == 0) m->cmvn = NN_CMVN_SPEAKER_MEAN;
    else return nn__fail(err, errlen, NN_EFORMAT, "arch.cmvn '%s', expected 'cumulative', 'none', "
                         "'speaker' or 'speaker-mean'", cm);
    if (strcmp(h->readout, "attention") == 0) m->readout = NN_READOUT_ATTENTION;
    else if (strcmp(h->readout, "mean") == 0) m->readout = NN_READOUT_MEAN;
    else return nn__fail(err, errlen, NN_EFORMAT, "arch.readout '%s', expected 'attention' or 'mean'", ro);
    m->cmvn_eps = h->d[0];
    if (!(m->cmvn_eps > 0 && m->cmvn_eps < 1e6))
        return nn__fail(err, errlen, NN_EFORMAT, "arch.cmvn_eps %g, expected > 0", m->cmvn_eps);
    /* Optional pair (files without it are byte-identical to those written before it existed). */
    if (h->d_seen[1] != h->d_seen[2])
        return nn__fail(err, errlen, NN_EFORMAT,
                        "key '%s' without '%s': the level floor needs both",
                        h->d_seen[1] ? "spk.level_floor" : "spk.prior_level",
                        h->d_seen[1] ? "spk.prior_level" : "spk.level_floor");
    if (h->d_seen[1]) {
        if (!NN_IS_SPEAKER(m))
            return nn__fail(err, errlen, NN_EFORMAT, "spk.level_floor in a model with arch.cmvn "
                            "'%s': only speaker normalisers have a level floor", cm);
        m->level_floor = h->d[1];
        m->spk_prior_level = h->d[2];
        if (!(m->level_floor > 0 && m->level_floor <= 10) || !(fabs(m->spk_prior_level) < 1e4))
            return nn__fail(err, errlen, NN_EFORMAT, "spk.level_floor %g (expected in (0, 10]) or "
                            "spk.prior_level %g (expected finite) out of range", m->level_floor,
                            m->spk_prior_level);
    }
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
    m->fstride = h->i[I_FSTRIDE];
    if (m->fstride != 1 && m->fstride != 2)
        return nn__fail(err, errlen, NN_EFORMAT, "arch.freq_stride %d, expected 1 or 2", m->fstride);
    m->f1 = (m->n_mels - 1) / m->fstride + 1;
    m->p1 = m->f1 / 2;
    m->p2 = m->p1 / 2;
    m->p3 = m->p2 / 2;
    if (m->p3 < 1)
        return nn__fail(err, errlen, NN_EMISMATCH, "n_mels %d leaves no frequency bins after the "
                        "conv blocks (need >= %d)", m->n_mels, m->fstride == 2 ? 15 : 8);
    if ((rc = check_prosody(h, m, err, errlen)) != 0)
        return rc;
    m->feat_dim = m->c3 * m->p3 + m->prosody;
    m->seq_dim = m->hidden ? m->hidden : m->feat_dim;
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
    for (int i = 0; i < m->n_more; i++)
        nn_model_free(m->more[i]);
    free(m->more);
    free(m);
}

/* Version 1: one network. Version 2: an ensemble of version-1 files (nn_ensemble.c), which
 * passes member = 1 for its members so that an ensemble cannot nest. */
static int load(const unsigned char *b, size_t len, nn_model **out, char *err, size_t errlen,
                int member)
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
    nn__rd r = {b, len, 4};
    uint32_t version, n_kv, n_tensors;
    uint64_t data_offset, data_size;
    nn__rd_u32(&r, &version);
    nn__rd_u32(&r, &n_kv);
    nn__rd_u32(&r, &n_tensors);
    nn__rd_u64(&r, &data_offset);
    nn__rd_u64(&r, &data_size);
    if (version != 1 && (version != 2 || member))
        return nn__fail(err, errlen, NN_EVERSION, "model format version %u, this build reads %s",
                        version, member ? "version 1 (an ensemble's member)" : "versions 1 and 2");
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
    if (data_offset % NN_FILE_ALIGN || data_offset < HEADER_BYTES || n_kv > MAX_KV || n_tensors > MAX_TENSORS)
        return nn__fail(err, errlen, NN_EFORMAT, "bad header: data offset %llu, %u keys, %u %s",
                        (unsigned long long)data_offset, n_kv, n_tensors,
                        version == 2 ? "members" : "tensors");
    if (version == 2) {
        nn__rd kv = {b, (size_t)data_offset, HEADER_BYTES};
        return nn__load_ensemble(&kv, n_kv, n_tensors, b + data_offset, data_size, digest, out,
                                 err, errlen);
    }
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
    if ((rc = nn__load_tensors(&r, n_tensors, b + data_offset, data_size, m, err, errlen)) != 0)
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
    return load(buf, len, out, err, errlen, 0);
}

int nn__load_member(const unsigned char *b, size_t len, nn_model **out, char *err, size_t errlen)
{
    return load(b, len, out, err, errlen, 1);
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
    if ((rc = load(buf, (size_t)size, out, msg, sizeof msg, 0)) != 0)
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
int nn_model_members(const nn_model *m) { return 1 + m->n_more; }
int nn_model_input_dim(const nn_model *m) { return m->in_dim; }

int nn_model_pitch(const nn_model *m, unsigned *flags)
{
    if (flags)
        *flags = m->pitch_flags;
    return m->prosody > 0;
}
