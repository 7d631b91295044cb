/* Model file tensors: the table is checked entry by entry against the shapes the architecture
 * implies, then copied into one aligned weight block together with the re-laid copies the
 * per-hop kernels read (conv weights in im2col order, transposed dense and LSTM weights in
 * panels). After this, the runners never check a shape or an offset again. */
#include "nn_reader.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

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

int nn__load_tensors(nn__rd *r, uint32_t n_tensors, const unsigned char *data, uint64_t data_size,
                        nn_model *m, char *err, size_t errlen)
{
    tspec t[8 + 3 * NN_MAX_LSTM_LAYERS + 8];
    const float *conv_w[3] = {0};
    int n = 0, K = m->n_labels, H = m->hidden;
    add_spec(t, &n, "norm.mean", &m->norm_mean, 1, m->in_dim, 0, 0, 0);
    add_spec(t, &n, "norm.std", &m->norm_std, 1, m->in_dim, 0, 0, 0);
    if (NN_IS_SPEAKER(m)) {
        add_spec(t, &n, "spk.prior_mean", &m->spk_prior_mean, 1, m->in_dim, 0, 0, 0);
        add_spec(t, &n, "spk.prior_var", &m->spk_prior_var, 1, m->in_dim, 0, 0, 0);
    }
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
        if (!nn__rd_str(r, &nm, &nl) || !nn__rd_u32(r, &dtype) || !nn__rd_u32(r, &rank))
            return nn__fail(err, errlen, NN_EFORMAT, "truncated tensor entry %u of %u", e, n_tensors);
        char nbuf[64];
        snprintf(nbuf, sizeof nbuf, "%.*s", (int)(nl < 60 ? nl : 60), nm);
        nn__printable(nbuf);
        if (rank < 1 || rank > 4)
            return nn__fail(err, errlen, NN_EFORMAT, "tensor '%s' has rank %u, expected 1..4", nbuf, rank);
        for (uint32_t i = 0; i < rank; i++)
            if (!nn__rd_u32(r, &dims[i]))
                return nn__fail(err, errlen, NN_EFORMAT, "truncated tensor entry '%s'", nbuf);
        if (!nn__rd_u64(r, &off))
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
        if (off % NN_FILE_ALIGN || off > data_size || data_size - off < bytes)
            return nn__fail(err, errlen, NN_EFORMAT, "tensor '%s': offset %llu + %llu bytes outside "
                            "the %llu-byte data section or not %d-aligned", nbuf,
                            (unsigned long long)off, (unsigned long long)bytes,
                            (unsigned long long)data_size, NN_FILE_ALIGN);
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
    m->densep = (m->dense + NN_GBLK - 1) / NN_GBLK * NN_GBLK;
    relaid += (size_t)m->seq_dim * m->densep;
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
    for (int b = 0; b < m->in_dim; b++)
        if (!(m->norm_std[b] > 0))
            return nn__fail(err, errlen, NN_EFORMAT, "norm.std[%d] = %g, expected > 0", b,
                            (double)m->norm_std[b]);
    for (int b = 0; m->spk_prior_var && b < m->in_dim; b++)
        if (!(m->spk_prior_var[b] >= 0))
            return nn__fail(err, errlen, NN_EFORMAT, "spk.prior_var[%d] = %g, expected >= 0", b,
                            (double)m->spk_prior_var[b]);
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
    /* fc1 transposed in the LSTM's panel layout (below), so the head runs on its kernel */
    m->fc1_t = w;
    w += (size_t)m->seq_dim * m->densep;
    for (int i = 0; i < m->dense; i++)
        for (int j = 0; j < m->seq_dim; j++)
            m->fc1_t[((size_t)(i / NN_GBLK) * m->seq_dim + j) * NN_GBLK + i % NN_GBLK] =
                m->fc1_w[(size_t)i * m->seq_dim + j];
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
