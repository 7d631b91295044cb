/* Small dense kernels for the per-hop path. OpenBLAS is not used there: its GEMM for sizes
 * like ours may take a lock and, with one thread, allocate a buffer per call (the no-allocation
 * test caught it), and it reads weights once per call where we want once for both lanes.
 * Conv block 1 (a 3x3 filter over one input channel, K = 9, too thin for a GEMM); the conv
 * blocks' [bins, 9 cin] x [9 cin, cout] products read from the lane's columns in place (no
 * im2col copy; at the FMA throughput here); the LSTM's matrix-vector products for both lanes at
 * once (0.8 MB of weights read once per hop, not once per lane), also the head's fc1; the
 * speaker normaliser's per-frame estimate; the gate nonlinearities (libm's expf/tanhf do not
 * vectorise). Plain loops with fixed-size blocks so that the compiler vectorises them; on x86-64
 * each is compiled for AVX-512, AVX2 and baseline and picked at load time (GCC target_clones),
 * so the library stays portable. Weights come pre-transposed and padded by the loader
 * (nn_internal.h). The offline runner keeps OpenBLAS for its tall GEMMs. */
#include "nn_layers.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(NN_NO_CLONES)
#define NN_HOT __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define NN_HOT
#endif

NN_HOT void nn__k_normalise(const float *restrict x, int M, int cumulative, double eps,
                            double *restrict s1, double *restrict s2, int64_t n,
                            const float *restrict mean, const float *restrict std,
                            float *restrict out)
{
    /* Float64 running sums, var = S2/n - mu^2 clamped at 0: the recipe of
     * model.cmvn_cumulative, so rounding differs from torch only in summation order. */
    const double dn = (double)n;
    if (cumulative) {
        for (int b = 0; b < M; b++) {
            double v = x[b];
            s1[b] += v;
            s2[b] += v * v;
            double mu = s1[b] / dn;
            double var = s2[b] / dn - mu * mu;
            var = var > 0 ? var : 0;
            float y = (float)((v - mu) / sqrt(var + eps));
            out[b] = (y - mean[b]) / std[b];
        }
    } else {
        for (int b = 0; b < M; b++)
            out[b] = (x[b] - mean[b]) / std[b];
    }
}

/* NN_C1BLK floats as one value: GCC maps it to one AVX-512 register, two AVX2 or four SSE ones,
 * which keeps conv 1's accumulators in registers where plain loops were vectorised across bins
 * with permutes */
typedef float nn__c1vec __attribute__((vector_size(NN_C1BLK * sizeof(float))));

NN_HOT void nn__k_conv1(const float *restrict z0, const float *restrict z1, const float *restrict z2,
                        const float *restrict w, const float *restrict b, int f1, int stride,
                        int c1, int c1p, float *restrict out)
{
    /* NN_C1F output bins at a time: one accumulator chain per bin, so the nine multiply-adds of
     * a bin overlap with the other bins' instead of waiting on each other (a single chain ran at
     * the FMA latency). A short last block recomputes its last bin. */
    const float *rows[3] = {z0, z1, z2};
    /* channel blocks outside: the input values are read per bin block and used at once (inside,
     * GCC hoisted all 36 of them out of the channel loop and spilled them) */
    for (int c0 = 0; c0 < c1p; c0 += NN_C1BLK) {
        const int n = c1 - c0 < NN_C1BLK ? c1 - c0 : NN_C1BLK;
        nn__c1vec bias;
        memcpy(&bias, b + c0, sizeof bias);
        for (int f0 = 0; f0 < f1; f0 += NN_C1F) {
            int s[NN_C1F];
            for (int i = 0; i < NN_C1F; i++)
                s[i] = stride * (f0 + i < f1 ? f0 + i : f1 - 1);
            nn__c1vec acc[NN_C1F];
            for (int i = 0; i < NN_C1F; i++)
                acc[i] = bias;
            for (int k = 0; k < 9; k++) {
                nn__c1vec wk;
                memcpy(&wk, w + k * c1p + c0, sizeof wk);
                const float *z = rows[k / 3] + k % 3;
                for (int i = 0; i < NN_C1F; i++)
                    acc[i] += wk * z[s[i]];
            }
            for (int i = 0; i < NN_C1F && f0 + i < f1; i++) {
                /* ReLU as a plain loop: a vector compare of this width is split into scalar
                 * compares on AVX2 */
                float r[NN_C1BLK];
                memcpy(r, &acc[i], sizeof r);
                float *o = out + (size_t)(f0 + i) * c1 + c0;
                if (n == NN_C1BLK) {   /* a fixed size: vector stores, not a call */
                    for (int j = 0; j < NN_C1BLK; j++)
                        o[j] = r[j] > 0 ? r[j] : 0;
                } else {
                    for (int j = 0; j < n; j++)
                        o[j] = r[j] > 0 ? r[j] : 0;
                }
            }
        }
    }
}

NN_HOT void nn__k_conv3x3(const float *restrict in, int bins, int cin, const float *restrict Wt,
                          int Np, float *restrict C)
{
    /* Patch row f is three runs of 3 * cin floats, one per input column (rows f .. f+2 of the
     * padded column are contiguous), so the rows are read where they lie. Blocks of 4 rows x
     * NN_CBLK columns: 8 AVX-512 accumulators, each weight row loaded once per 4 rows. */
    const size_t col = (size_t)(bins + 2) * cin;
    const int seg = 3 * cin;
    for (int r0 = 0; r0 < bins; r0 += 4) {
        const float *p[4];
        for (int i = 0; i < 4; i++)   /* a short last block recomputes its last row */
            p[i] = in + (size_t)(r0 + i < bins ? r0 + i : bins - 1) * cin;
        for (int n0 = 0; n0 < Np; n0 += NN_CBLK) {
            float acc[4][NN_CBLK];
            memset(acc, 0, sizeof acc);
            for (int kt = 0; kt < 3; kt++) {
                const float *wk = Wt + (size_t)kt * seg * Np + n0;
                const size_t off = (size_t)kt * col;
                for (int k = 0; k < seg; k++) {
                    const float *w = wk + (size_t)k * Np;
                    for (int i = 0; i < 4; i++) {
                        const float a = p[i][off + k];
                        for (int j = 0; j < NN_CBLK; j++)
                            acc[i][j] += a * w[j];
                    }
                }
            }
            for (int i = 0; i < 4 && r0 + i < bins; i++)
                memcpy(C + (size_t)(r0 + i) * Np + n0, acc[i], sizeof acc[i]);
        }
    }
}

NN_HOT void nn__k_gemv2(const float *restrict panels, int K, int Gp, int k0, int kn,
                        const float *restrict x0, const float *restrict x1, float *restrict y0,
                        float *restrict y1)
{
    /* y += W^T x over rows k0 .. k0+kn of W [K][Gp], stored as Gp/NN_GBLK contiguous panels
     * [K][NN_GBLK]: each panel is read front to back once, for one or two vectors. */
    for (int g0 = 0; g0 < Gp; g0 += NN_GBLK) {
        const float *pan = panels + (size_t)g0 * K + (size_t)k0 * NN_GBLK;
        float a0[NN_GBLK], a1[NN_GBLK];
        memcpy(a0, y0 + g0, sizeof a0);
        if (x1) {
            memcpy(a1, y1 + g0, sizeof a1);
            for (int k = 0; k < kn; k++) {
                const float *w = pan + (size_t)k * NN_GBLK;
                const float u = x0[k], v = x1[k];
                for (int j = 0; j < NN_GBLK; j++) {
                    a0[j] += u * w[j];
                    a1[j] += v * w[j];
                }
            }
            memcpy(y1 + g0, a1, sizeof a1);
        } else {
            /* one vector: even and odd rows into separate accumulators, so that two chains
             * of multiply-adds are in flight as in the two-vector case */
            float b0[NN_GBLK] = {0};
            int k = 0;
            for (; k + 1 < kn; k += 2) {
                const float *w = pan + (size_t)k * NN_GBLK;
                const float u = x0[k], v = x0[k + 1];
                for (int j = 0; j < NN_GBLK; j++) {
                    a0[j] += u * w[j];
                    b0[j] += v * w[NN_GBLK + j];
                }
            }
            if (k < kn)
                for (int j = 0; j < NN_GBLK; j++)
                    a0[j] += x0[k] * pan[(size_t)k * NN_GBLK + j];
            for (int j = 0; j < NN_GBLK; j++)
                a0[j] += b0[j];
        }
        memcpy(y0 + g0, a0, sizeof a0);
    }
}

NN_HOT void nn__k_speaker_estimate(int M, double w0, double wt, double shift, int use_sums,
                                   const float *restrict prior_mean,
                                   const float *restrict prior_var,
                                   const double *restrict s1, const double *restrict s2,
                                   double var_floor, double eps, double *restrict mean,
                                   double *restrict istd)
{
    for (int b = 0; b < M; b++) {
        const double pm = prior_mean[b] + shift, pv = prior_var[b];
        const double a1 = use_sums ? s1[b] : 0, a2 = use_sums ? s2[b] : 0;
        const double mu = (w0 * pm + a1) / wt, ex2 = (w0 * (pv + pm * pm) + a2) / wt;
        double var = ex2 - mu * mu, floor = var_floor * pv;
        var = var > floor ? var : floor;
        mean[b] = mu;
        istd[b] = eps < 0 ? 1.0 : 1.0 / sqrt(var + eps);
    }
}

/* exp for the gate nonlinearities: Cephes' expf polynomial with a 2^n scale built from the
 * exponent bits (relative error ~1e-7, well inside the 1e-4 parity bound), written branch-free
 * so that the gate loop vectorises (libm's expf/tanhf calls do not). */
static inline float fast_expf(float x)
{
    /* clamps as compares (fminf/fmaxf's NaN rules keep GCC from vectorising) */
    x = x > -87.0f ? x : -87.0f;
    x = x < 88.0f ? x : 88.0f;
    float n = rintf(x * 1.44269504088896341f);
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t e = ((int32_t)n + 127) << 23;
    float s;
    memcpy(&s, &e, sizeof s);
    return p * s;
}

NN_HOT void nn__k_lstm_cell(const float *restrict g, int H, float *restrict c, float *restrict h)
{
    for (int u = 0; u < H; u++) {
        float i = 1.0f / (1.0f + fast_expf(-g[u]));
        float f = 1.0f / (1.0f + fast_expf(-g[H + u]));
        float gg = 2.0f / (1.0f + fast_expf(-2.0f * g[2 * H + u])) - 1.0f;   /* tanh */
        float o = 1.0f / (1.0f + fast_expf(-g[3 * H + u]));
        float cn = f * c[u] + i * gg;
        c[u] = cn;
        h[u] = o * (2.0f / (1.0f + fast_expf(-2.0f * cn)) - 1.0f);
    }
}
