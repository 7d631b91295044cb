/* Test driver for nn/ used by the Python parity and loader tests:
 *   nn-tool check MODEL             load; print id, window, labels, features and members (exit 1
 *                                   + one line on error)
 *   nn-tool offline MODEL F.f32     nn_offline_run over all frames of F (raw float32 [T][input_dim])
 *   nn-tool stream MODEL F.f32      nn_stream_push per frame; one line per frame: ret probs...
 *   nn-tool speaker MODEL F.f32 N1,N2,..  F cut into utterances of N1, N2, ... frames, all
 *                                   added with one nn_speaker_add_utterances (no prior, no
 *                                   forgetting; optional 5th argument: var_floor, 6th:
 *                                   prior_frames); prints
 *                                   "added K" then every frame normalised
 *   nn-tool speaker-each ...        the same, one nn_speaker_add_utterance per utterance
 *   nn-tool prior MODEL F.f32       every frame normalised by a fresh default nn_speaker
 */
#include <limits.h>
#include "nn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static float *read_frames(const char *path, int cols, int *n_frames)
{
    FILE *f = fopen(path, "rb");
    float *buf = NULL;
    long size;
    if (!f) {
        fprintf(stderr, "nn-tool: cannot open %s\n", path);
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 &&
        size % (long)(sizeof(float) * (size_t)cols) == 0 && (buf = malloc((size_t)size)) &&
        fread(buf, 1, (size_t)size, f) == (size_t)size) {
        *n_frames = (int)(size / (long)(sizeof(float) * (size_t)cols));
    } else {
        fprintf(stderr, "nn-tool: %s is not a whole number of %d-column float32 frames\n", path, cols);
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

int main(int argc, char **argv)
{
    char err[512];
    nn_model *m = NULL;
    int rc;
    if (argc < 3) {
        fprintf(stderr, "usage: nn-tool check|offline|stream MODEL [FRAMES.f32]\n");
        return 2;
    }
    if ((rc = nn_model_load_file(argv[2], &m, err, sizeof err)) != 0) {
        printf("error %d: %s\n", rc, err);
        fprintf(stderr, "nn-tool: %s\n", err);
        return 1;
    }
    const int K = nn_model_n_labels(m), M = nn_model_input_dim(m);   /* bands (+ pitch) */
    if (strcmp(argv[1], "check") == 0) {
        printf("%s\nwindow %d\n", nn_model_id(m), nn_model_window_frames(m));
        for (int k = 0; k < K; k++)
            printf("%s%s", k ? " " : "", nn_model_label(m, k));
        const dsp_params *fp = nn_model_features(m);
        unsigned pf;
        int pitch = nn_model_pitch(m, &pf);
        printf("\nfeatures %d Hz, %d mels, denoise_db %d\nmembers %d\npitch %s\n",
               (int)fp->sample_rate, (int)fp->n_mels, (int)fp->denoise_db, nn_model_members(m),
               !pitch ? "none" : pf & DSP_PITCH_SUPPRESSED ? "suppressed" : "raw");
        nn_model_free(m);
        return 0;
    }
    int n = 0;
    float *frames = argc > 3 ? read_frames(argv[3], M, &n) : NULL;
    float probs[256];
    if (!frames) {
        nn_model_free(m);
        return 2;
    }
    rc = 0;
    if (strcmp(argv[1], "offline") == 0) {
        if ((rc = nn_offline_run(m, frames, n, probs, err, sizeof err)) != 0) {
            fprintf(stderr, "nn-tool: %s\n", err);
        } else {
            for (int k = 0; k < K; k++)
                printf("%s%.9g", k ? " " : "", probs[k]);
            printf("\n");
        }
    } else if (strcmp(argv[1], "stream") == 0) {
        nn_stream *s = NULL;
        if ((rc = nn_stream_new(m, &s, err, sizeof err)) != 0) {
            fprintf(stderr, "nn-tool: %s\n", err);
        } else {
            for (int t = 0; t < n; t++) {
                int r = nn_stream_push(s, frames + (size_t)t * M, probs);
                printf("%d", r);
                for (int k = 0; r && k < K; k++)
                    printf(" %.9g", probs[k]);
                printf("\n");
            }
            nn_stream_free(s);
        }
    } else if (strcmp(argv[1], "speaker") == 0 || strcmp(argv[1], "speaker-each") == 0 ||
               strcmp(argv[1], "prior") == 0) {
        nn_speaker *sp = NULL;
        nn_speaker_params plain = {argc > 6 ? atoi(argv[6]) : 0, INT_MAX,
                                   argc > 5 ? atof(argv[5]) : 0.0};
        int prior = strcmp(argv[1], "prior") == 0;
        if ((rc = nn_speaker_new(m, prior ? NULL : &plain, &sp, err, sizeof err)) != 0) {
            fprintf(stderr, "nn-tool: %s\n", err);
        } else {
            if (!prior) {
                enum { MAX_UTTS = 64 };
                const float *utt[MAX_UTTS];
                int len[MAX_UTTS], count = 0, at = 0, added = 0;
                for (char *p = argc > 4 ? argv[4] : ""; *p && at < n && count < MAX_UTTS;) {
                    int l = (int)strtol(p, &p, 10);
                    len[count] = l < n - at ? l : n - at;
                    utt[count++] = frames + (size_t)at * M;
                    at += len[count - 1];
                    p += *p == ',';
                }
                if (strcmp(argv[1], "speaker-each") == 0)
                    for (int u = 0; u < count; u++)
                        added += nn_speaker_add_utterance(sp, utt[u], len[u]);
                else
                    added = nn_speaker_add_utterances(sp, utt, len, count);
                printf("added %d %.1f\n", added, nn_speaker_frames(sp));
            }
            for (int t = 0; t < n; t++) {
                nn_speaker_apply(sp, frames + (size_t)t * M, frames + (size_t)t * M);
                for (int b = 0; b < M; b++)
                    printf("%s%.9g", b ? " " : "", frames[(size_t)t * M + b]);
                printf("\n");
            }
            nn_speaker_free(sp);
        }
    } else {
        fprintf(stderr, "nn-tool: unknown command %s\n", argv[1]);
        rc = 2;
    }
    free(frames);
    nn_model_free(m);
    return rc ? 1 : 0;
}
