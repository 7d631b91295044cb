/* Ensemble model files (.emod format version 2): several networks that read the same features
 * and share one speaker normaliser, whose posteriors are averaged (nn_stream, nn_offline_run).
 *
 * Layout (tools/train/export.py write_ensemble is the writer): the version-1 header, with the
 * tensor count replaced by the member count; key/value entries (general.name, meta.json, other
 * meta.* keys); one (u64 offset from data_offset, u64 size) entry per member; the members, each a
 * complete version-1 file with its own checksum, at 32-byte aligned offsets in order with only
 * alignment padding between them; the SHA-256 of everything before it.
 *
 * Every member must agree with the first on what the ensemble's users see or share: labels,
 * feature parameters, window, minimum frames, time pool and the whole speaker normaliser (mode,
 * eps, level floor and prior, bit for bit). The networks themselves may differ (channels, LSTM
 * size, readout). */
#include "nn_reader.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MEMBER_MIN_BYTES 64

/* The container's own keys: general.name (required), meta.json (kept), other meta.* (skipped). */
static int parse_keys(nn__rd *r, uint32_t n_kv, char *name, size_t name_cap, char **meta,
                      char *err, size_t errlen)
{
    int have_name = 0;
    for (uint32_t e = 0; e < n_kv; e++) {
        const char *k = NULL, *s = NULL;
        uint32_t kn = 0, type = 0, n = 0;
        char kbuf[NN_KEYBUF];
        int rc = nn__rd_key(r, e, n_kv, &k, &kn, &type, kbuf, err, errlen);
        if (rc)
            return rc;
        int is_name = kn == 12 && memcmp(k, "general.name", 12) == 0;
        int is_meta_json = kn == 9 && memcmp(k, "meta.json", 9) == 0;
        if (!is_name && !(kn >= 5 && memcmp(k, "meta.", 5) == 0))
            return nn__fail(err, errlen, NN_EFORMAT, "unknown key '%s' in the ensemble header "
                            "(general.name and meta.* only: the rest is in its members)", kbuf);
        if ((is_name || is_meta_json) && type != NN_KV_STR)
            return nn__fail(err, errlen, NN_EFORMAT, "key '%s' has type %u, expected %d", kbuf,
                            type, NN_KV_STR);
        int ok = is_name || is_meta_json ? nn__rd_str(r, &s, &n) : nn__rd_skip_value(r, type);
        if (ok < 0)
            return nn__fail(err, errlen, NN_EFORMAT, "key '%s' has unknown type %u", kbuf, type);
        if (!ok)
            return nn__fail(err, errlen, NN_EFORMAT, "truncated value of key '%s'", kbuf);
        if (is_name) {
            if (have_name++)
                return nn__fail(err, errlen, NN_EFORMAT, "key 'general.name' appears twice");
            int bad = n == 0 || n >= name_cap;
            for (uint32_t j = 0; j < n && !bad; j++)
                bad = (unsigned char)s[j] < 0x20 || s[j] == 0x7f;
            if (bad)
                return nn__fail(err, errlen, NN_EFORMAT, "general.name must be 1..%zu bytes "
                                "without control characters", name_cap - 1);
            memcpy(name, s, n);
            name[n] = 0;
        } else if (is_meta_json) {
            if (*meta)
                return nn__fail(err, errlen, NN_EFORMAT, "key 'meta.json' appears twice");
            if (!(*meta = malloc((size_t)n + 1)))
                return nn__fail(err, errlen, NN_ENOMEM, "out of memory reading meta.json");
            memcpy(*meta, s, n);
            (*meta)[n] = 0;
        }
    }
    if (!have_name)
        return nn__fail(err, errlen, NN_EFORMAT, "missing key 'general.name'");
    return 0;
}

static int same_floats(const float *a, const float *b, int n)
{
    return (!a && !b) || (a && b && memcmp(a, b, sizeof(float) * (size_t)n) == 0);
}

/* Member j against member 0: what the ensemble's users see or share must be identical. */
static int check_compatible(const nn_model *a, const nn_model *b, int j, char *err, size_t errlen)
{
    const dsp_params *p = &a->dsp, *q = &b->dsp;
    const char *what = NULL;
    if (a->n_labels != b->n_labels)
        what = "the number of labels";
    for (int k = 0; !what && k < a->n_labels; k++)
        if (strcmp(a->labels[k], b->labels[k]) != 0)
            what = "the labels";
    if (!what && (p->sample_rate != q->sample_rate || p->win_length != q->win_length ||
                  p->hop_length != q->hop_length || p->n_fft != q->n_fft ||
                  p->n_mels != q->n_mels || p->mel_scale != q->mel_scale ||
                  p->f_min != q->f_min || p->f_max != q->f_max ||
                  p->log_floor != q->log_floor || p->denoise_db != q->denoise_db))
        what = "the feature parameters";
    if (!what && (a->window != b->window || a->min_frames != b->min_frames || a->tpool != b->tpool))
        what = "the window, minimum frames or time pool";
    if (!what && (a->cmvn != b->cmvn || a->cmvn_eps != b->cmvn_eps))
        what = "the input normalisation mode";
    if (!what && (a->prosody != b->prosody || a->pitch_flags != b->pitch_flags))
        what = "the pitch input (arch.prosody, arch.pitch_input)";
    if (!what && (a->level_floor != b->level_floor || a->spk_prior_level != b->spk_prior_level ||
                  !same_floats(a->spk_prior_mean, b->spk_prior_mean, a->in_dim) ||
                  !same_floats(a->spk_prior_var, b->spk_prior_var, a->in_dim)))
        what = "the speaker normaliser (prior or level floor)";
    if (what)
        return nn__fail(err, errlen, NN_EMISMATCH, "member %d differs from member 0 in %s: an "
                        "ensemble's members must share them", j, what);
    return 0;
}

int nn__load_ensemble(nn__rd *r, uint32_t n_kv, uint32_t n_members, const unsigned char *data,
                      uint64_t data_size, const unsigned char digest[32], nn_model **out,
                      char *err, size_t errlen)
{
    nn_model *mem[NN_MAX_MEMBERS] = {0};
    char name[128], *meta = NULL, msg[256];
    uint64_t off[NN_MAX_MEMBERS], size[NN_MAX_MEMBERS];
    int rc;
    uint32_t n_loaded = 0;
    *out = NULL;
    if (n_members < 2 || n_members > NN_MAX_MEMBERS)
        return nn__fail(err, errlen, NN_EFORMAT, "an ensemble of %u members, expected 2..%d",
                        n_members, NN_MAX_MEMBERS);
    if ((rc = parse_keys(r, n_kv, name, sizeof name, &meta, err, errlen)) != 0)
        goto fail;
    uint64_t end = 0;
    for (uint32_t j = 0; j < n_members; j++) {
        if (!nn__rd_u64(r, &off[j]) || !nn__rd_u64(r, &size[j])) {
            rc = nn__fail(err, errlen, NN_EFORMAT, "truncated member table (entry %u of %u)", j,
                          n_members);
            goto fail;
        }
        uint64_t at = (end + NN_FILE_ALIGN - 1) / NN_FILE_ALIGN * NN_FILE_ALIGN;
        if (off[j] != at || at > data_size || size[j] < MEMBER_MIN_BYTES ||
            size[j] > data_size - at) {
            rc = nn__fail(err, errlen, NN_EFORMAT, "member %u: offset %llu, %llu bytes; expected "
                          "offset %llu and at least %d bytes inside the %llu bytes of data", j,
                          (unsigned long long)off[j], (unsigned long long)size[j],
                          (unsigned long long)at, MEMBER_MIN_BYTES, (unsigned long long)data_size);
            goto fail;
        }
        end = off[j] + size[j];
    }
    if (end != data_size) {
        rc = nn__fail(err, errlen, NN_EFORMAT, "%llu bytes of data after the last member",
                      (unsigned long long)(data_size - end));
        goto fail;
    }
    for (; n_loaded < n_members; n_loaded++) {
        uint32_t j = n_loaded;
        if ((rc = nn__load_member(data + off[j], (size_t)size[j], &mem[j], msg, sizeof msg)) != 0) {
            nn__fail(err, errlen, rc, "member %u: %s", j, msg);
            goto fail;
        }
        if (j && (rc = check_compatible(mem[0], mem[j], (int)j, err, errlen)) != 0) {
            n_loaded++;
            goto fail;
        }
    }
    /* The first member becomes the ensemble: its name, id and meta are the container's. */
    nn_model *m = mem[0];
    if (!(m->more = malloc(sizeof *m->more * (n_members - 1)))) {
        rc = nn__fail(err, errlen, NN_ENOMEM, "out of memory");
        goto fail;
    }
    for (uint32_t j = 1; j < n_members; j++)
        m->more[j - 1] = mem[j];
    m->n_more = (int)n_members - 1;
    snprintf(m->name, sizeof m->name, "%s", name);
    for (int i = 0; i < 32; i++)
        snprintf(m->sha256_hex + 2 * i, 3, "%02x", digest[i]);
    snprintf(m->id, sizeof m->id, "%s@sha256:%.16s", m->name, m->sha256_hex);
    free(m->meta_json);
    m->meta_json = meta ? meta : calloc(1, 1);
    if (!m->meta_json) {
        m->n_more = 0;   /* the members are freed below, once */
        rc = nn__fail(err, errlen, NN_ENOMEM, "out of memory");
        goto fail;
    }
    *out = m;
    return 0;
fail:
    for (uint32_t j = 0; j < n_loaded; j++)
        nn_model_free(mem[j]);
    free(meta);
    return rc;
}
