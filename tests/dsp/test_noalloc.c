/* The per-hop path (dsp_resampler_process + dsp_logmel_push) makes no allocation and no system
 * call after start-up.
 *
 * Allocations: this executable defines malloc/calloc/realloc/free/posix_memalign/... itself, so
 * the dynamic linker binds every caller to them, including libfftw3f and libsoxr (shared
 * libraries); they count while `counting` is set and forward to glibc's __libc_* functions.
 * System calls: a seccomp filter turns every system call except write(2, ...) and the ones needed
 * to return from a signal or exit into SIGSYS, whose handler counts them. Locks need no separate
 * check: the code takes none, and a contended lock would show up as a futex call.
 *
 * ASan/UBSan builds replace the allocator themselves, so there the test skips (exit 77). */
#include "dsp.h"
#include "dsp_test.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_UNDEFINED__)
#define UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_SANITIZER 1
#endif
#endif

#ifdef UNDER_SANITIZER
int main(void)
{
    fprintf(stderr, "skip: the sanitizer runtime owns malloc, allocation counting is only "
                    "meaningful in a normal build\n");
    return 77;
}
#else

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <ucontext.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
extern void *__libc_memalign(size_t, size_t);

static volatile int counting;
static volatile long n_alloc, n_free;

void *malloc(size_t n)
{
    if (counting)
        n_alloc++;
    return __libc_malloc(n);
}
void *calloc(size_t a, size_t b)
{
    if (counting)
        n_alloc++;
    return __libc_calloc(a, b);
}
void *realloc(void *p, size_t n)
{
    if (counting)
        n_alloc++;
    return __libc_realloc(p, n);
}
void free(void *p)
{
    if (counting && p)
        n_free++;
    __libc_free(p);
}
void *memalign(size_t al, size_t n)
{
    if (counting)
        n_alloc++;
    return __libc_memalign(al, n);
}
void *aligned_alloc(size_t al, size_t n)
{
    return memalign(al, n);
}
int posix_memalign(void **out, size_t al, size_t n)
{
    void *p = memalign(al, n);
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}
void *valloc(size_t n)
{
    return memalign((size_t)sysconf(_SC_PAGESIZE), n);
}

/* ---- the per-hop work: 10 ms of 48 kHz stereo -> 16 kHz -> log-mel ---- */
#define IN_RATE 48000
#define HOP_IN 480
static float g_sum;
static long g_frames;
static void on_frame(void *user, const float *frame, int64_t index)
{
    (void)user, (void)index;
    g_sum += frame[0];
    g_frames++;
}

static int run_hops(dsp_resampler *r, dsp_logmel *s, const float *x, int hops, float *mono,
                    size_t cap)
{
    int errors = 0;
    for (int h = 0; h < hops; h++) {
        size_t n = 0;
        errors += dsp_resampler_process(r, x + (size_t)h * HOP_IN * 2, HOP_IN, mono, cap, &n) != 0;
        errors += dsp_logmel_push(s, mono, n, on_frame, NULL) != 0;
    }
    return errors;
}

/* ---- seccomp ---- */
static volatile long n_syscalls, last_syscall = -1;
static void on_sigsys(int sig, siginfo_t *si, void *ctx)
{
    (void)sig, (void)ctx;
    n_syscalls++;
    last_syscall = si->si_syscall;
}

static int install_seccomp(void)
{
#if defined(__x86_64__)
    const unsigned arch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
    const unsigned arch = AUDIT_ARCH_AARCH64;
#else
    return -1;
#endif
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, arch, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_rt_sigreturn, 5, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_exit_group, 4, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_exit, 3, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_write, 0, 3),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 2, 0, 1), /* stderr only */
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
    };
    struct sock_fprog prog = {.len = sizeof f / sizeof *f, .filter = f};
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO;
    if (sigaction(SIGSYS, &sa, NULL))
        return -1;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
        return -1;
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

int main(void)
{
    const int seconds = 3, hops = seconds * 100;
    size_t nx = (size_t)IN_RATE * seconds * 2;
    float *x = __libc_malloc(sizeof(float) * nx);
    float mono[4096];
    t_signal(2, x, nx, IN_RATE * 2.0, 5); /* interleaved as if 96 kHz mono: fine as test audio */

    dsp_params p, pd;
    dsp_params_default(&p);
    pd = p;
    pd.denoise_db = -15; /* the front end with speexdsp's noise suppressor first */
    dsp_logmel *s, *sd;
    dsp_resampler *r;
    char err[200];
    if (dsp_logmel_new(&p, &s, err, sizeof err) || dsp_logmel_new(&pd, &sd, err, sizeof err) ||
        dsp_resampler_new(IN_RATE, 2, 16000, &r, err, sizeof err)) {
        fprintf(stderr, "setup: %s\n", err);
        return 1;
    }

    /* 1. log-mel alone, from the first push after creation */
    counting = 1;
    for (int h = 0; h < hops; h++)
        CHECK(dsp_logmel_push(s, x + (size_t)h * 160, 160, on_frame, NULL) == 0, "push");
    counting = 0;
    CHECK(n_alloc == 0 && n_free == 0, "dsp_logmel_push: %ld allocations, %ld frees over %d "
          "hops from creation", n_alloc, n_free, hops);
    fprintf(stderr, "logmel push, %d hops from creation: %ld allocs, %ld frees\n", hops, n_alloc,
            n_free);
    counting = 1;
    for (int h = 0; h < hops; h++) /* odd chunks: the denoiser's blocks straddle pushes */
        CHECK(dsp_logmel_push(sd, x + (size_t)h * 97, 97, on_frame, NULL) == 0, "push denoised");
    counting = 0;
    CHECK(n_alloc == 0 && n_free == 0, "dsp_logmel_push with denoise_db: %ld allocations, %ld "
          "frees over %d pushes from creation", n_alloc, n_free, hops);
    fprintf(stderr, "logmel push with denoiser, %d pushes from creation: %ld allocs, %ld frees\n",
            hops, n_alloc, n_free);

    /* 1b. the pitch tracker, from creation, in odd chunks, and after a reset */
    dsp_pitch *pt;
    if (dsp_pitch_new(&pd, 0, &pt, err, sizeof err)) {
        fprintf(stderr, "setup: %s\n", err);
        return 1;
    }
    n_alloc = n_free = 0;
    counting = 1;
    for (int round = 0; round < 2; round++) {
        for (int h = 0; h < hops; h++)
            CHECK(dsp_pitch_push(pt, x + (size_t)h * 97, 97, on_frame, NULL) == 0, "push pitch");
        dsp_pitch_reset(pt);
    }
    counting = 0;
    CHECK(n_alloc == 0 && n_free == 0, "dsp_pitch_push / reset: %ld allocations, %ld frees",
          n_alloc, n_free);
    fprintf(stderr, "pitch push, 2 x %d pushes from creation with a reset: %ld allocs, %ld frees\n",
            hops, n_alloc, n_free);
    dsp_pitch_free(pt);
    /* ... and reading its own suppressor (whose reset makes a new speexdsp state, so no reset) */
    if (dsp_pitch_new(&pd, DSP_PITCH_SUPPRESSED, &pt, err, sizeof err)) {
        fprintf(stderr, "setup: %s\n", err);
        return 1;
    }
    n_alloc = n_free = 0;
    counting = 1;
    for (int h = 0; h < hops; h++)
        CHECK(dsp_pitch_push(pt, x + (size_t)h * 97, 97, on_frame, NULL) == 0, "push pitch");
    counting = 0;
    CHECK(n_alloc == 0 && n_free == 0, "dsp_pitch_push on the suppressor's output: %ld "
          "allocations, %ld frees", n_alloc, n_free);
    fprintf(stderr, "pitch push on the suppressor's output, %d pushes from creation: %ld allocs, "
            "%ld frees\n", hops, n_alloc, n_free);
    dsp_pitch_free(pt);

    /* 2. resampler + log-mel, from the first hop after creation (soxr's FIFOs are sized by
     * the priming in dsp_resampler_new), for several input rates */
    const double rates[] = {44100, 8000, 22050, 96000, 192000};
    for (size_t k = 0; k < sizeof rates / sizeof *rates; k++) {
        dsp_resampler *q;
        if (dsp_resampler_new(rates[k], 1, 16000, &q, err, sizeof err)) {
            fprintf(stderr, "setup: %s\n", err);
            return 1;
        }
        /* slices of 10 ms, and the 256/1024-frame buffers audio APIs like to deliver */
        size_t slices[] = {(size_t)(rates[k] / 100), 256, 1024};
        for (int si = 0; si < 3; si++) {
            size_t hop_in = slices[si], pos = 0;
            n_alloc = n_free = 0;
            counting = 1;
            for (int h = 0; h < 300; h++, pos += hop_in) {
                size_t n = 0;
                if (pos + hop_in > nx)
                    pos = 0;
                CHECK(dsp_resampler_process(q, x + pos, hop_in, mono,
                                            sizeof mono / sizeof *mono, &n) == 0, "process");
                CHECK(dsp_logmel_push(s, mono, n, on_frame, NULL) == 0, "push");
            }
            counting = 0;
            CHECK(n_alloc == 0 && n_free == 0, "%g Hz, %zu-frame slices: resample+push: %ld "
                  "allocations, %ld frees", rates[k], hop_in, n_alloc, n_free);
            fprintf(stderr, "resample %g Hz (%zu-frame slices) + logmel, 300 calls from "
                    "creation: %ld allocs, %ld frees\n", rates[k], hop_in, n_alloc, n_free);
        }
        dsp_resampler_free(q);
    }
    dsp_logmel_reset(s);
    n_alloc = n_free = 0;
    counting = 1;
    CHECK(run_hops(r, s, x, hops, mono, sizeof mono / sizeof *mono) == 0, "hops");
    counting = 0;
    CHECK(n_alloc == 0 && n_free == 0, "48 kHz stereo resample+push: %ld allocations, %ld frees",
          n_alloc, n_free);
    fprintf(stderr, "resample 48 kHz stereo + logmel, %d hops from creation: %ld allocs, %ld "
            "frees\n", hops, n_alloc, n_free);

    /* the counter does see allocations (so a zero above means something) */
    counting = 1;
    free(malloc(16));
    counting = 0;
    CHECK(n_alloc == 1 && n_free == 1, "interposed malloc not counting");

    /* 3. system calls: the whole per-hop path under a seccomp trap (last: irreversible) */
    dsp_logmel_reset(s);
    if (install_seccomp() != 0) {
        fprintf(stderr, "seccomp unavailable here: system-call check not run\n");
    } else {
        run_hops(r, s, x, hops, mono, sizeof mono / sizeof *mono);
        run_hops(r, sd, x, hops, mono, sizeof mono / sizeof *mono);
        CHECK(n_syscalls == 0, "%ld system calls on the per-hop path (last: %ld)", n_syscalls,
              last_syscall);
        fprintf(stderr, "resample+logmel under seccomp, %d hops: %ld system calls\n", hops,
                n_syscalls);
        /* the trap does see system calls */
        syscall(SYS_getppid);
        CHECK(n_syscalls == 1 && last_syscall == SYS_getppid, "seccomp trap not counting");
    }
    fprintf(stderr, "%ld frames (checksum %g)\n", g_frames, (double)g_sum);
    /* no cleanup: free() and exit paths are not the subject, and seccomp now forbids munmap */
    _exit(t_summary());
}
#endif
