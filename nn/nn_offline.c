/* Offline runner: one lane over the whole frame matrix, fed in blocks so that the conv and LSTM
 * input GEMMs see many steps at once (the streaming runner feeds the same lane code one frame
 * at a time; both therefore agree to rounding). */
#include "nn_internal.h"

#include <math.h>

#define BLOCK_STEPS 64

int nn_offline_run(const nn_model *m, const float *frames, int n_frames, float *probs,
                   char *err, size_t errlen)
{
    nn__lane lane;
    if (!m || !frames || !probs)
        return nn__fail(err, errlen, NN_EINVAL, "nn_offline_run: NULL argument");
    if (n_frames < m->tpool)
        return nn__fail(err, errlen, NN_EINVAL, "%d frames: the model needs at least %d", n_frames,
                        m->tpool);
    const size_t D = (size_t)m->in_dim;
    for (size_t i = 0; i < (size_t)n_frames * D; i++)
        if (!isfinite(frames[i]))
            return nn__fail(err, errlen, NN_EINVAL, "frame %zu %s %zu is not finite", i / D,
                            i % D < (size_t)m->n_mels ? "band" : "pitch column",
                            i % D < (size_t)m->n_mels ? i % D : i % D - (size_t)m->n_mels);
    int steps = n_frames / 2 < BLOCK_STEPS ? n_frames / 2 : BLOCK_STEPS;
    const int nm = nn_model_members(m);
    for (int j = 0; j < nm; j++) {   /* an ensemble: the mean of its members, as nn_stream */
        if (nn__lane_init(&lane, j ? m->more[j - 1] : m, steps) != 0)
            return nn__fail(err, errlen, NN_ENOMEM, "out of memory for %d frames", n_frames);
        for (int t = 0; t < n_frames; t += 2 * steps) {
            int n = n_frames - t < 2 * steps ? n_frames - t : 2 * steps;
            nn__lane_push(&lane, frames + (size_t)t * D, n);
        }
        const float *p = nn__lane_probs(&lane);
        for (int k = 0; k < m->n_labels; k++)
            probs[k] = j ? probs[k] + p[k] : p[k];
        nn__lane_free(&lane);
    }
    for (int k = 0; nm > 1 && k < m->n_labels; k++)
        probs[k] /= (float)nm;
    return 0;
}
