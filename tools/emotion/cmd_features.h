/* Internal to `emotion features`: the options it parsed, shared by the single-file path
 * (cmd_features.c) and batch mode (features_batch.c). */
#ifndef EMOTION_CMD_FEATURES_H
#define EMOTION_CMD_FEATURES_H

#include "cli_util.h"
#include "dsp.h"

typedef struct features_opts {
    dsp_params params;
    const char *out;        /* -o: output file, or output directory in batch mode */
    const char *batch;      /* --batch: list file or directory; NULL for one input */
    const char *root;       /* --root: base of relative paths in a list */
    const char *input;      /* the positional input (single mode) */
    int skip_existing;
    int columns;            /* FEATURES_MEL and/or FEATURES_PITCH (feature_file.h) */
    cli_progress progress;
} features_opts;

/* Runs batch mode; returns the exit code. */
int features_batch_run(features_opts *o);

/* Computes and writes one output (atomically); prints nothing. 0 or -1 with err set and *err_is_out
 * telling whether the message concerns the output path rather than the input. */
int features_one(const features_opts *o, const char *in, const char *out, const char *label,
                 char *err, size_t errlen, int *err_is_out);

#endif
