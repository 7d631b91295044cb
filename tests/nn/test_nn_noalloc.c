/* No allocation after nn_stream_new: this executable interposes malloc/calloc/realloc/free and
 * the aligned allocators (every library in the process, OpenBLAS included, resolves them here),
 * then pushes frames across several lane resets and nn_stream_reset with the counter armed.
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
#endif

int main(int argc, char **argv)
{
#ifdef NN_ASAN
    (void)argc;
    (void)argv;
    printf("skipped: built with AddressSanitizer, which replaces the allocator\n");
    return 77;
#else
    char err[256];
    nn_model *m = NULL;
    nn_stream *s = NULL;
    if (argc < 2 || nn_model_load_file(argv[1], &m, err, sizeof err) != 0 ||
        nn_stream_new(m, &s, err, sizeof err) != 0) {
        fprintf(stderr, "setup failed: %s\n", argc < 2 ? "usage: test_nn_noalloc MODEL" : err);
        return 1;
    }
    const int M = nn_model_features(m)->n_mels, W = nn_model_window_frames(m);
    const int n = 3 * W + 11;
    float *frames = __libc_malloc(sizeof(float) * (size_t)n * M);
    float probs[256];
    for (int i = 0; i < n * M; i++)
        frames[i] = -6.0f + (float)((i * 7919) % 1000) / 250.0f;
    int ready = 0;
    armed = 1;
    for (int t = 0; t < n; t++)
        ready += nn_stream_push(s, frames + (size_t)t * M, probs);
    nn_stream_reset(s);
    for (int t = 0; t < W; t++)
        ready += nn_stream_push(s, frames + (size_t)t * M, probs);
    armed = 0;
    long count = allocs;
    /* The counter must see library allocations at all: nn_offline_run allocates its scratch. */
    allocs = 0;
    armed = 1;
    nn_offline_run(m, frames, W, probs, err, sizeof err);
    armed = 0;
    long offline_allocs = allocs;
    __libc_free(frames);
    nn_stream_free(s);
    nn_model_free(m);
    if (offline_allocs == 0) {
        fprintf(stderr, "FAIL: the allocator interposition saw nothing (offline run made no call)\n");
        return 1;
    }
    if (count != 0 || ready == 0) {
        fprintf(stderr, "FAIL: %ld allocator calls during %d pushes (%d with posteriors)\n", count,
                n + W, ready);
        return 1;
    }
    printf("no allocator calls in %d pushes (lane resets and a stream reset included)\n", n + W);
    return 0;
#endif
}
