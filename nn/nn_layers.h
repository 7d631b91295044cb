/* Layer kernels shared by the streaming and offline runners (nn/ internal). Shapes follow the
 * column layout described in nn_internal.h. None of these allocates. */
#ifndef EMOTIOND_NN_LAYERS_H
#define EMOTIOND_NN_LAYERS_H

#include "nn_internal.h"

/* Input normalisation of one frame x[M] (the n-th since reset, n >= 1; s1/s2 are updated) into
 * out[M] (the caller passes the interior of a padded row). */
void nn__normalise_frame(const nn_model *m, double *s1, double *s2, int64_t n, const float *x,
                         float *out);
/* Conv block 1 (conv + folded BN + ReLU) for one frame from the padded normalised rows of
 * frames t-2, t-1, t; out [f1][c1]. */
void nn__conv1_frame(const nn_model *m, const float *z0, const float *z1, const float *z2, float *out);
/* 2x2 max pool of two conv1 frames into one padded block-2 input column [(p1 + 2)][c1]. */
void nn__pool1(const nn_model *m, const float *ya, const float *yb, float *col);
/* Conv block (3x3, folded BN, ReLU, freq max-pool 2) for `steps` consecutive output steps.
 * in: steps + 2 padded columns [(bins + 2)][cin] (the first two are the causal context);
 * w: [cout][9 * cin]. Output: padded columns [(bins/2 + 2)][cout] per step, or, when
 * out_torch_order, [cout][bins/2] per step (the LSTM's flattened feature order). */
void nn__conv_block(const float *in, int bins, int cin, int cout, const float *w, const float *bias,
                    int steps, float *patch, float *gemm, float *out, int out_torch_order);
/* One LSTM layer over `steps` inputs x [steps][in]; h, c [H] carried; outputs y [steps][H]. */
void nn__lstm_run(const nn__lstm_layer *L, int hidden, const float *x, int steps, float *gates,
                    float *h, float *c, float *y);
/* Adds one step v [seq_dim] to the readout (online softmax or running sum). */
void nn__readout_step(const nn_model *m, const float *v, int first, double *mx, double *den,
                      float *num);
/* Dense + ReLU + dense + softmax of the pooled readout (num / den) into probs [K]. */
void nn__head(const nn_model *m, const float *num, double den, float *pooled, float *hid, float *probs);

#endif
