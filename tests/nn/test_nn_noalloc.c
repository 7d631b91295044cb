/* No allocation after nn_stream_new: this executable interposes malloc/calloc/realloc/free and
 * the aligned allocators (every library in the process, OpenBLAS included, resolves them here),
 * then pushes frames through nn_speaker and nn_stream across several lane resets and resets with
 * the counter armed, for each model given (the fixtures: a cumulative-CMVN and a speaker model).
 * Skipped under AddressSanitizer, which owns the allocator itself. */
#include "nn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define NN_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NN_ASAN 1
#endif
#endif

#ifndef NN_ASAN
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static volatile int armed;
static volatile long allocs;

void *malloc(size_t n) { if (armed) allocs++; return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { if (armed) allocs++; return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { if (armed) allocs++; return __libc_realloc(p, n); }
void free(void *p) { if (armed && p) allocs++; __libc_free(p); }
void *aligned_alloc(size_t al, size_t n) { if (armed) allocs++; return __libc_memalign(al, n); }
void *memalign(size_t al, size_t n) { if (armed) allocs++; return __libc_memalign(al, n); }
int posix_memalign(void **p, size_t al, size_t n)
{
    if (armed)
        allocs++;
    *p = __libc_memalign(al, n);
    return *p ? 0 : 12;
}
/* Pushes frames through a speaker normaliser and a stream with the counter armed; 0 or 1. */
static int run_model(const char *path)
{
    char err[256];
    nn_model *m = NULL;
    nn_stream *s = NULL;
    nn_speaker *sp = NULL;
    if (nn_model_load_file(path, &m, err, sizeof err) != 0 || nn_stream_new(m, &s, err, sizeof err) != 0 ||
        nn_speaker_new(m, NULL, &sp, err, sizeof err) != 0) {
        fprintf(stderr, "setup failed: %s\n", err);
        return 1;
    }
    const int M = nn_model_input_dim(m), W = nn_model_window_frames(m);
    const int n = 3 * W + 11;
    float *frames = __libc_malloc(sizeof(float) * (size_t)n * M);
    float *norm = __libc_malloc(sizeof(float) * (size_t)M);
    float probs[256];
    for (int i = 0; i < n * M; i++)
        frames[i] = -6.0f + (float)((i * 7919) % 1000) / 250.0f;
    int ready = 0;
    armed = 1;
    for (int t = 0; t < n; t++) {
        if (t % 3)   /* as the daemon: only the gate's speech frames update the estimate */
            nn_speaker_add(sp, frames + (size_t)t * M);
        nn_speaker_apply(sp, frames + (size_t)t * M, norm);
        ready += nn_stream_push(s, norm, probs);
    }
    nn_stream_reset(s);
    nn_speaker_reset(sp);
    for (int t = 0; t < W; t++) {
        nn_speaker_add(sp, frames + (size_t)t * M);
        nn_speaker_apply(sp, frames + (size_t)t * M, norm);
        ready += nn_stream_push(s, norm, probs);
    }
    armed = 0;
    long count = allocs;
    /* The counter must see library allocations at all: nn_offline_run allocates its scratch. */
    allocs = 0;
    armed = 1;
    nn_offline_run(m, frames, W, probs, err, sizeof err);
    armed = 0;
    long offline_allocs = allocs;
    allocs = 0;
    int speaker = nn_model_speaker_norm(m);
    __libc_free(frames);
    __libc_free(norm);
    nn_speaker_free(sp);
    nn_stream_free(s);
    nn_model_free(m);
    if (offline_allocs == 0) {
        fprintf(stderr, "FAIL: the allocator interposition saw nothing (offline run made no call)\n");
        return 1;
    }
    if (count != 0 || ready == 0) {
        fprintf(stderr, "FAIL: %s: %ld allocator calls during %d pushes (%d with posteriors)\n", path,
                count, n + W, ready);
        return 1;
    }
    printf("%s%s: no allocator calls in %d pushes (lane resets and a stream reset included)\n", path,
           speaker ? " (speaker normaliser)" : "", n + W);
    return 0;
}
#endif

int main(int argc, char **argv)
{
#ifdef NN_ASAN
    (void)argc;
    (void)argv;
    printf("skipped: built with AddressSanitizer, which replaces the allocator\n");
    return 77;
#else
    if (argc < 2) {
        fprintf(stderr, "usage: test_nn_noalloc MODEL...\n");
        return 1;
    }
    int rc = 0;
    for (int i = 1; i < argc; i++)
        rc |= run_model(argv[i]);
    return rc;
#endif
}
