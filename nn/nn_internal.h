/* nn internals shared by the nn/ sources; not installed, not for other modules.
 *
 * Activation layout: a conv "column" is one time step of a layer, stored [freq][channel]
 * (channels contiguous) with one zero row above and below in frequency (the conv's frequency
 * padding), so a 3x3 patch is three contiguous runs of 3*channels floats. The flattened
 * feature given to the LSTM is put back in torch's order (channel * F3 + freq).
 */
#ifndef EMOTIOND_NN_INTERNAL_H
#define EMOTIOND_NN_INTERNAL_H

#include "nn.h"

#include <stdarg.h>

#define NN_MAX_LSTM_LAYERS 4
#define NN_MAX_MEMBERS 16    /* networks in an ensemble file */
#define NN_SPEECH_RANGE 5.0  /* nats; features.SPEECH_RANGE: speech frames of an utterance */
#define NN_C1BLK 16  /* channel block of the conv-1 kernel: c1 is padded to it */
#define NN_DOTW 16   /* partial sums of the head's dot products */
#define NN_C1F 4     /* output bins per block of the conv-1 kernel (independent accumulators) */
#define NN_CBLK 32   /* output-channel block of the conv 3x3 kernel: c2, c3 are padded to it */
#define NN_GBLK 64   /* gate panel width of the LSTM kernel: 4H is padded to it */

/* NN_CMVN_SPEAKER(_MEAN): the frames come already normalised by an nn_speaker (outside the lanes);
 * _MEAN: mean only, no variance scaling. */
enum { NN_CMVN_NONE = 0, NN_CMVN_CUMULATIVE = 1, NN_CMVN_SPEAKER = 2, NN_CMVN_SPEAKER_MEAN = 3 };
#define NN_IS_SPEAKER(m) ((m)->cmvn == NN_CMVN_SPEAKER || (m)->cmvn == NN_CMVN_SPEAKER_MEAN)
enum { NN_READOUT_ATTENTION = 0, NN_READOUT_MEAN = 1 };

typedef struct nn__lstm_layer {
    int in;              /* input size */
    const float *w_ih;   /* [4H][in] as in the file, into nn_model.weights */
    const float *w_hh;   /* [4H][H] */
    const float *bias;   /* [4H] = b_ih + b_hh */
    float *wt;           /* (W_ih | W_hh) transposed, [in + H][gp], gate columns zero-padded, stored
                          * as gp / NN_GBLK panels [in + H][NN_GBLK] (nn__k_gemv2) */
    float *bias_p;       /* [gp] */
} nn__lstm_layer;

/* Immutable after load; shared read-only by every stream. */
struct nn_model {
    char name[128];
    char id[160];
    char sha256_hex[65];
    int n_labels;
    char **labels;        /* n_labels strings, is malloc'd (each too) */
    char *meta_json;      /* is malloc'd; may be "" */
    dsp_params dsp;

    /* architecture */
    int n_mels;           /* M */
    int prosody;          /* 0, or DSP_PITCH_DIM: each frame has the pitch tracker's columns after
                           * the bands (arch.prosody); they skip the convolutions, and their
                           * per-step mean joins the LSTM's input after the conv features */
    unsigned pitch_flags; /* the dsp_pitch flags of the tracker they come from (arch.pitch_input) */
    int in_dim;           /* floats per input frame: n_mels + prosody */
    int window, min_frames;
    int tpool;            /* frames per LSTM step: 2 (50 Hz, default) or 4 (block 2 also pools
                           * step pairs in time, 25 Hz) */
    int cmvn;             /* NN_CMVN_* */
    double cmvn_eps;
    double level_floor;   /* speaker models: c of the level floor (nn_speaker), 0 = none */
    double spk_prior_level; /* the training speakers' mean speech level (nats), level floor only */
    int c1, c2, c3;
    int fstride;          /* conv1 stride in frequency: 2 (default) or 1 */
    int f1;               /* conv1 output bins: (M + 2 - 3) / fstride + 1 */
    int p1, p2, p3;       /* bins after the pools of blocks 1, 2, 3 */
    int hidden;           /* LSTM units, 0 = CNN-only */
    int layers;
    int readout;          /* NN_READOUT_* */
    int dense;
    int feat_dim;         /* c3 * p3 + prosody: the LSTM's input per step */
    int seq_dim;          /* hidden, or feat_dim when CNN-only */

    /* weights; all point into `weights` */
    float *weights;       /* one aligned block, is malloc'd */
    const float *norm_mean, *norm_std;    /* [in_dim] */
    const float *spk_prior_mean, *spk_prior_var;  /* [in_dim], speaker modes only, else NULL */
    int c1p;              /* c1 padded to NN_C1BLK */
    int c2p, c3p;         /* c2, c3 padded to NN_CBLK (row strides of the weights and products) */
    int gp;               /* 4 * hidden padded to NN_GBLK */
    float *conv1_w;       /* re-laid [kt][kf][c1p] */
    float *conv1_bp;      /* [c1p] */
    const float *conv1_b; /* [c1] */
    float *conv2_w;       /* re-laid [kt][kf][c1][c2p]: the im2col patch order, transposed */
    const float *conv2_b;
    float *conv3_w;       /* re-laid [kt][kf][c2][c3p] */
    const float *conv3_b;
    nn__lstm_layer lstm[NN_MAX_LSTM_LAYERS];
    const float *att_w;   /* [seq_dim] or NULL */
    const float *fc1_w, *fc1_b;   /* [dense][seq_dim], [dense] */
    float *fc1_t;                 /* fc1_w transposed into gemv panels [seq_dim][NN_GBLK] */
    int densep;                   /* dense padded to NN_GBLK */
    const float *fc2_w, *fc2_b;   /* [K][dense], [K] */

    /* An ensemble (format version 2, nn_ensemble.c) is its first member plus n_more others that
     * share its labels, features, window, time pool and speaker normaliser; every member runs
     * its own lanes over the same frames and the posteriors are their mean. name, id and
     * meta_json are then the ensemble file's. 0 and NULL for a single network. */
    int n_more;
    struct nn_model **more;       /* is malloc'd, each member too */
};

/* One lane: the complete state of the network run from a reset, plus scratch sized for up to
 * max_steps pooled steps (2*max_steps frames) per nn__lane_push call. The streaming runner uses
 * max_steps = 1; the offline runner feeds blocks so that its GEMMs are larger. */
typedef struct nn__lane {
    const nn_model *m;
    int max_steps;
    int64_t n;            /* frames since reset */
    int64_t steps;        /* LSTM steps since reset (every tpool frames) */
    double *s1, *s2;      /* cmvn running sums [M] */
    float *z;             /* normalised input rows, (2 + 2*max_steps) x (M + 2 + prosody), 2 context
                           * rows: a zero, the M bands, a zero (conv 1's frequency padding), then
                           * the prosody columns */
    float *pitch_sum;     /* [prosody]: normalised prosody columns summed over the current LSTM
                           * step's frames so far */
    float *y1;            /* conv1 outputs (1 + 2*max_steps) x [f1][c1]; row 0 = pending odd frame */
    float *a1;            /* block-2 input columns (2 + max_steps) x [(p1 + 2)][c1] */
    float *a2;            /* block-3 input columns (2 + max_steps) x [(p2 + 2)][c2] */
    float *b2;            /* time pool 4: block-2 outputs (1 + max_steps) x [(p2 + 2)][c2] before
                           * their pairs are pooled into a2; column 0 = pending first of a pair */
    int b2_pending;
    float *feat;          /* per-step features [max_steps][feat_dim]: the conv features in torch
                           * order, then the step's prosody means */
    float *patch;         /* im2col scratch of the block path [max_steps * p1][9 * max(c1, c2)] */
    float *gemm;          /* conv GEMM output [max_steps * p1][max(c2p, c3p)] */
    float *gates;         /* [max_steps][gp] */
    float *seq;           /* LSTM layer outputs [max_steps][max(H, feat_dim)] */
    float *h, *c;         /* [layers][H] */
    /* readout: online softmax (or running sum for mean) */
    double att_max, att_den;
    float *pool_num;      /* [seq_dim] */
    float *pooled;        /* [seq_dim] */
    float *dense_tmp;     /* [dense] */
    float *probs;         /* [K], valid when steps > 0 and !probs_stale (nn__lane_probs) */
    int probs_stale;      /* the head runs only for the lane whose posteriors are read */
    void *block;          /* the single allocation everything above lives in */
} nn__lane;

int nn__lane_init(nn__lane *l, const nn_model *m, int max_steps);
void nn__lane_free(nn__lane *l);
void nn__lane_reset(nn__lane *l);
/* Pushes n frames (n <= 2 * max_steps), [n][M], through the whole network, the GEMMs over all
 * completed steps at once (the offline runner). max_steps counts 50 Hz steps (block 2); with
 * time pool 4 block 3 and the LSTM run on half as many. */
void nn__lane_push(nn__lane *l, const float *frames, int n);
/* The streaming runner's split of the same: nn__lane_front takes one frame through the input
 * normalisation, conv block 1 and the time pool, and returns 1 when that completed a 50 Hz step;
 * nn__lanes_step then runs the rest of the network for that step on L <= 2 lanes at once, the
 * weights read once for both (scratch from lanes[0], which needs max_steps >= L); with time
 * pool 4, block 3 and the LSTM only for the lanes whose step completed a pair. borrower (NULL,
 * or with L == 1 a lane whose conv trunk would equal lanes[0]'s, see nn_stream.c) skips its own
 * front and conv blocks: it gets lanes[0]'s conv features whenever lanes[0] completes a block-3
 * step and runs only its LSTM and readout on them. Allocation-free. */
int nn__lane_front(nn__lane *l, const float *frame);
/* The lane's posteriors (steps > 0), running the dense head if a step came since last time. */
const float *nn__lane_probs(nn__lane *l);
void nn__lanes_step(nn__lane *const *lanes, int L, nn__lane *borrower);
/* dst's conv trunk state (causal context of the conv blocks, pending time-pool inputs) becomes
 * src's: a lane that borrowed src's features takes over its own trunk (src is about to reset). */
void nn__lane_take_trunk(nn__lane *dst, const nn__lane *src);

/* snprintf into err when non-NULL; returns code. */
int nn__fail(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* SHA-256 (FIPS 180-4) of len bytes. */
void nn__sha256(const void *data, size_t len, unsigned char out[32]);

#endif
