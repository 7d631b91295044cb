/* Layer kernels shared by the streaming and offline runners (nn/ internal). Shapes follow the
 * column layout described in nn_internal.h. None of these allocates. */
#ifndef EMOTIOND_NN_LAYERS_H
#define EMOTIOND_NN_LAYERS_H

#include "nn_internal.h"

/* 2x2 max pool of two conv1 frames into one padded block-2 input column [(p1 + 2)][c1]. */
void nn__pool1(const nn_model *m, const float *ya, const float *yb, float *col);
/* Conv block (3x3, folded BN, ReLU, freq max-pool 2), split so the streaming runner can stack
 * both lanes' rows into one product. in: steps + 2 padded columns [(bins + 2)][cin] (the first
 * two are the causal context); im2col writes [steps * bins][9 * cin] patch rows. The product
 * (patch x W, W [9 * cin][coutp]) has row stride coutp. pool_out adds the bias, applies ReLU and
 * the frequency pool, and writes padded columns [(bins/2 + 2)][cout] per step, or, with
 * torch_stride > 0, [cout][bins/2] per step (the LSTM's flattened feature order) in rows of
 * torch_stride floats (the prosody means follow them). */
void nn__im2col(const float *in, int bins, int cin, int steps, float *patch);
void nn__pool_out(const float *gemm, int bins, int cout, int coutp, const float *bias, int steps,
                  float *out, int torch_stride);
/* One LSTM layer over `steps` inputs x [steps][in] (a GEMM for the input part); h, c [H]
 * carried; outputs y [steps][H] (y may be x's storage). */
void nn__lstm_run(const nn__lstm_layer *L, int hidden, int gp, const float *x, int steps,
                  float *gates, float *h, float *c, float *y);
/* Adds one step v [seq_dim] to the readout (online softmax or running sum). */
void nn__readout_step(const nn_model *m, const float *v, int first, double *mx, double *den,
                      float *num);
/* Dense + ReLU + dense + softmax of the pooled readout (num / den) into probs [K]. */
void nn__head(const nn_model *m, const float *num, double den, float *pooled, float *hid, float *probs);

/* ---- kernels (nn_kernels.c) ---- */
/* Input normalisation of one frame x[M], the n-th since reset (n >= 1): cumulative CMVN when
 * `cumulative` (s1, s2 updated), then the global z-score; into out[M]. */
void nn__k_normalise(const float *x, int M, int cumulative, double eps, double *s1, double *s2,
                     int64_t n, const float *mean, const float *std, float *out);
/* Conv block 1 for one frame from the padded normalised rows of frames t-2, t-1, t (folded BN,
 * ReLU), stride 1 or 2 in frequency; w [9][c1p], b [c1p]; out [f1][c1]; c1p a multiple of
 * NN_C1BLK. */
void nn__k_conv1(const float *z0, const float *z1, const float *z2, const float *w, const float *b,
                 int f1, int stride, int c1, int c1p, float *out);
/* One step of a 3x3 conv block straight from its three input columns at `in` (the padded
 * [(bins + 2)][cin] layout above, oldest first): C [bins][Np] = patch x Wt with Wt [9 * cin][Np]
 * in the im2col patch order, without building the patch. Np a multiple of NN_CBLK. */
void nn__k_conv3x3(const float *in, int bins, int cin, const float *Wt, int Np, float *C);
/* y0 += W^T x0 and, when x1 is not NULL, y1 += W^T x1, over rows k0 .. k0+kn of W [K][Gp] stored
 * as panels (nn__lstm_layer.wt); Gp a multiple of NN_GBLK. */
void nn__k_gemv2(const float *panels, int K, int Gp, int k0, int kn, const float *x0,
                 const float *x1, float *y0, float *y1);
/* The speaker normaliser's estimate per band (nn_speaker.c): mean = (w0 prior + sums) / wt,
 * istd = 1 / sqrt(max(var, var_floor prior var) + eps), or 1 when eps < 0 (mean-only models);
 * use_sums 0 = the prior alone. Recomputed on every speech frame, hence a kernel. */
void nn__k_speaker_estimate(int M, double w0, double wt, double shift, int use_sums,
                            const float *prior_mean, const float *prior_var, const double *s1,
                            const double *s2, double var_floor, double eps, double *mean,
                            double *istd);
/* LSTM cell from the pre-activations g [4H] (gates i, f, g, o): updates c and h [H]. */
void nn__k_lstm_cell(const float *g, int H, float *c, float *h);

#endif
