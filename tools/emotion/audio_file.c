#include "audio_file.h"

#include <errno.h>
#include <math.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "dsp.h"

struct audio_file {
    SNDFILE *sf;
    audio_info info;
    int64_t read;      /* frames handed out so far */
    int ended;         /* end-of-file checks done */
};

/* ---- format names ---- */

typedef struct {
    int code;
    const char *name;
} fmt_name;

static const fmt_name g_major[] = {
    {SF_FORMAT_WAV, "WAV"},     {SF_FORMAT_AIFF, "AIFF"},   {SF_FORMAT_AU, "AU"},
    {SF_FORMAT_RAW, "RAW"},     {SF_FORMAT_PAF, "PAF"},     {SF_FORMAT_SVX, "SVX"},
    {SF_FORMAT_NIST, "NIST"},   {SF_FORMAT_VOC, "VOC"},     {SF_FORMAT_IRCAM, "IRCAM"},
    {SF_FORMAT_W64, "W64"},     {SF_FORMAT_MAT4, "MAT4"},   {SF_FORMAT_MAT5, "MAT5"},
    {SF_FORMAT_PVF, "PVF"},     {SF_FORMAT_XI, "XI"},       {SF_FORMAT_HTK, "HTK"},
    {SF_FORMAT_SDS, "SDS"},     {SF_FORMAT_AVR, "AVR"},     {SF_FORMAT_WAVEX, "WAVEX"},
    {SF_FORMAT_SD2, "SD2"},     {SF_FORMAT_FLAC, "FLAC"},   {SF_FORMAT_CAF, "CAF"},
    {SF_FORMAT_WVE, "WVE"},     {SF_FORMAT_OGG, "OGG"},     {SF_FORMAT_MPC2K, "MPC2K"},
    {SF_FORMAT_RF64, "RF64"},   {SF_FORMAT_MPEG, "MPEG"},
};

static const fmt_name g_sub[] = {
    {SF_FORMAT_PCM_S8, "PCM_S8"},       {SF_FORMAT_PCM_16, "PCM_16"},
    {SF_FORMAT_PCM_24, "PCM_24"},       {SF_FORMAT_PCM_32, "PCM_32"},
    {SF_FORMAT_PCM_U8, "PCM_U8"},       {SF_FORMAT_FLOAT, "FLOAT"},
    {SF_FORMAT_DOUBLE, "DOUBLE"},       {SF_FORMAT_ULAW, "ULAW"},
    {SF_FORMAT_ALAW, "ALAW"},           {SF_FORMAT_IMA_ADPCM, "IMA_ADPCM"},
    {SF_FORMAT_MS_ADPCM, "MS_ADPCM"},   {SF_FORMAT_GSM610, "GSM610"},
    {SF_FORMAT_VOX_ADPCM, "VOX_ADPCM"}, {SF_FORMAT_NMS_ADPCM_16, "NMS_ADPCM_16"},
    {SF_FORMAT_NMS_ADPCM_24, "NMS_ADPCM_24"}, {SF_FORMAT_NMS_ADPCM_32, "NMS_ADPCM_32"},
    {SF_FORMAT_G721_32, "G721_32"},     {SF_FORMAT_G723_24, "G723_24"},
    {SF_FORMAT_G723_40, "G723_40"},     {SF_FORMAT_DWVW_12, "DWVW_12"},
    {SF_FORMAT_DWVW_16, "DWVW_16"},     {SF_FORMAT_DWVW_24, "DWVW_24"},
    {SF_FORMAT_DWVW_N, "DWVW_N"},       {SF_FORMAT_DPCM_8, "DPCM_8"},
    {SF_FORMAT_DPCM_16, "DPCM_16"},     {SF_FORMAT_VORBIS, "VORBIS"},
    {SF_FORMAT_OPUS, "OPUS"},           {SF_FORMAT_ALAC_16, "ALAC_16"},
    {SF_FORMAT_ALAC_20, "ALAC_20"},     {SF_FORMAT_ALAC_24, "ALAC_24"},
    {SF_FORMAT_ALAC_32, "ALAC_32"},     {SF_FORMAT_MPEG_LAYER_I, "MPEG_LAYER_I"},
    {SF_FORMAT_MPEG_LAYER_II, "MPEG_LAYER_II"}, {SF_FORMAT_MPEG_LAYER_III, "MPEG_LAYER_III"},
};

static const char *lookup(const fmt_name *t, size_t n, int code)
{
    for (size_t i = 0; i < n; i++)
        if (t[i].code == code)
            return t[i].name;
    return NULL;
}

static void format_name(int fmt, char *out, size_t cap)
{
    const char *maj = lookup(g_major, sizeof g_major / sizeof g_major[0], fmt & SF_FORMAT_TYPEMASK);
    const char *sub = lookup(g_sub, sizeof g_sub / sizeof g_sub[0], fmt & SF_FORMAT_SUBMASK);
    char mb[16], sb[16];
    if (!maj) {
        snprintf(mb, sizeof mb, "0x%06x", fmt & SF_FORMAT_TYPEMASK);
        maj = mb;
    }
    if (!sub) {
        snprintf(sb, sizeof sb, "0x%04x", fmt & SF_FORMAT_SUBMASK);
        sub = sb;
    }
    snprintf(out, cap, "%s %s", maj, sub);
}

int audio_file_known_extension(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot || dot == name || strchr(dot, '/'))
        return 0;
    dot++;
    /* libsndfile's own list names each major format once; add the common aliases it reads
     * through those readers. */
    static const char *const extra[] = {"wav", "wave", "flac", "ogg", "oga", "opus", "aif",
                                        "aiff", "aifc", "mp3", "au", "snd", "caf", "w64", "rf64"};
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++)
        if (strcasecmp(dot, extra[i]) == 0)
            return 1;
    int count = 0;
    sf_command(NULL, SFC_GET_FORMAT_MAJOR_COUNT, &count, sizeof count);
    for (int i = 0; i < count; i++) {
        SF_FORMAT_INFO fi = {.format = i};
        if (sf_command(NULL, SFC_GET_FORMAT_MAJOR, &fi, sizeof fi) == 0 && fi.extension &&
            strcasecmp(dot, fi.extension) == 0)
            return 1;
    }
    return 0;
}

/* libsndfile opens a WAV/AIFF/W64/CAF whose data chunk is longer than the file by trimming the
 * frame count to what is there, and only notes it in its log as "data : 32000 (should be
 * 19956)". Announced > present is a truncated file (a copy or recording cut short). Announced
 * sizes of 0 or 0xFFFFFFFF are the "length unknown" markers of streamed WAVs and are accepted. */
static int log_says_truncated(SNDFILE *sf, char *err, size_t errlen)
{
    char log[8192];
    log[0] = '\0';
    sf_command(sf, SFC_GET_LOG_INFO, log, sizeof log);
    log[sizeof log - 1] = '\0';
    for (char *line = log; line && *line;) {
        char *next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        while (*line == ' ')
            line++;
        static const char *const tags[] = {"data", "SSND", "data chunk size"};
        for (size_t t = 0; t < sizeof tags / sizeof tags[0]; t++) {
            size_t tl = strlen(tags[t]);
            long long announced, present;
            if (strncmp(line, tags[t], tl) == 0 &&
                sscanf(line + tl, " : %lld (should be %lld)", &announced, &present) == 2 &&
                announced > present && announced != 0xFFFFFFFFLL && announced != -1 &&
                announced != 0x7FFFFFFFLL) {
                snprintf(err, errlen,
                         "truncated file: the header announces %lld bytes of audio, the file "
                         "holds %lld",
                         announced, present);
                return 1;
            }
        }
        line = next;
    }
    return 0;
}

int audio_file_open(const char *path, audio_file **out, char *err, size_t errlen)
{
    *out = NULL;
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(err, errlen, "cannot open: %s", errno == ENOENT ? "no such file" : strerror(errno));
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "is a directory, not an audio file");
        return -1;
    }
    if (S_ISREG(st.st_mode) && st.st_size == 0) {
        snprintf(err, errlen, "empty file (0 bytes)");
        return -1;
    }
    audio_file *f = calloc(1, sizeof *f);
    if (!f) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    SF_INFO si;
    memset(&si, 0, sizeof si);
    f->sf = sf_open(path, SFM_READ, &si);
    if (!f->sf) {
        const char *why = sf_strerror(NULL);
        const char *sys = strstr(why, "System error : ");
        if (sys)
            snprintf(err, errlen, "cannot open: %s", sys + strlen("System error : "));
        else
            snprintf(err, errlen, "not a readable audio file (libsndfile: %s)", why);
        goto fail;
    }
    f->info.rate = si.samplerate;
    f->info.channels = si.channels;
    f->info.sf_format = si.format;
    f->info.frames = si.frames >= 0 && si.frames < SF_COUNT_MAX ? (int64_t)si.frames : -1;
    format_name(si.format, f->info.format, sizeof f->info.format);

    if (si.samplerate < AUDIO_FILE_MIN_RATE || si.samplerate > AUDIO_FILE_MAX_RATE) {
        snprintf(err, errlen, "unsupported sample rate %d Hz (allowed %d..%d Hz)", si.samplerate,
                 AUDIO_FILE_MIN_RATE, AUDIO_FILE_MAX_RATE);
        goto fail;
    }
    if (si.channels < 1 || si.channels > AUDIO_FILE_MAX_CHANNELS) {
        snprintf(err, errlen, "unsupported channel count %d (allowed 1..%d)", si.channels,
                 AUDIO_FILE_MAX_CHANNELS);
        goto fail;
    }
    if (log_says_truncated(f->sf, err, errlen))
        goto fail;
    /* libsndfile takes an Ogg stream's length from the granule position of its last page; a
     * stream cut short has no final page and comes back with an unknown length. (Its log line
     * "File ended unexpectedly" is no evidence: complete files print it too.) */
    if ((si.format & SF_FORMAT_TYPEMASK) == SF_FORMAT_OGG && f->info.frames < 0) {
        snprintf(err, errlen, "truncated file: the Ogg stream has no final page (length unknown)");
        goto fail;
    }
    if (f->info.frames == 0) {
        snprintf(err, errlen, "no audio: the file holds 0 frames");
        goto fail;
    }
    *out = f;
    return 0;
fail:
    audio_file_close(f);
    return -1;
}

void audio_file_close(audio_file *f)
{
    if (!f)
        return;
    if (f->sf)
        sf_close(f->sf);
    free(f);
}

const audio_info *audio_file_info(const audio_file *f) { return &f->info; }
int64_t audio_file_frames_read(const audio_file *f) { return f->read; }

/* Checks done once the decoder reports the end: did we get everything the header promised? */
static int check_end(audio_file *f, char *err, size_t errlen)
{
    f->ended = 1;
    if (sf_error(f->sf) != SF_ERR_NO_ERROR) {
        const char *why = sf_strerror(f->sf);
        if (strncmp(why, "Error : ", 8) == 0)
            why += 8;
        snprintf(err, errlen, "decoding failed after %lld frames (%.3f s): %s (corrupt or truncated)",
                 (long long)f->read, (double)f->read / f->info.rate, why);
        return -1;
    }
    if (f->info.frames > 0 && f->read < f->info.frames) {
        snprintf(err, errlen, "truncated file: the header announces %lld frames (%.3f s), only %lld "
                 "(%.3f s) could be read",
                 (long long)f->info.frames, (double)f->info.frames / f->info.rate,
                 (long long)f->read, (double)f->read / f->info.rate);
        return -1;
    }
    if (log_says_truncated(f->sf, err, errlen))
        return -1;
    if (f->read == 0) {
        snprintf(err, errlen, "no audio: the file holds 0 frames");
        return -1;
    }
    return 0;
}

int64_t audio_file_read(audio_file *f, float *buf, size_t max_frames, char *err, size_t errlen)
{
    if (f->ended)
        return 0;
    sf_count_t n = sf_readf_float(f->sf, buf, (sf_count_t)max_frames);
    if (n <= 0)
        return check_end(f, err, errlen) < 0 ? -1 : 0;
    size_t ch = (size_t)f->info.channels;
    for (size_t i = 0; i < (size_t)n * ch; i++) {
        if (!isfinite(buf[i])) {
            int64_t frame = f->read + (int64_t)(i / ch);
            snprintf(err, errlen, "%s sample at %.3f s (frame %lld, channel %zu)",
                     isnan(buf[i]) ? "NaN" : "infinite", (double)frame / f->info.rate,
                     (long long)frame, i % ch);
            return -1;
        }
    }
    f->read += n;
    return n;
}

/* The resampler wants room for everything it may release, which includes what it held back
 * earlier (its latency): grow the output buffer when it asks for more. Rare: only while the
 * filter fills up. */
static int ensure_cap(float **buf, size_t *cap, size_t need, char *err, size_t errlen)
{
    if (need < 4096)
        need = 4096;
    if (need <= *cap)
        return 0;
    float *nb = realloc(*buf, need * sizeof(float));
    if (!nb) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    *buf = nb;
    *cap = need;
    return 0;
}

int audio_file_decode_mono(audio_file *f, double out_rate, audio_chunk_cb cb,
                           audio_progress_cb progress, void *user, size_t *n_out, char *err,
                           size_t errlen)
{
    enum { BLOCK = 4096 };
    int rc = -1;
    float *in = NULL, *mono = NULL;
    dsp_resampler *rs = NULL;
    size_t delivered = 0;
    const audio_info *ai = &f->info;
    char derr[256];

    if (dsp_resampler_new(ai->rate, ai->channels, out_rate, &rs, derr, sizeof derr) != 0) {
        snprintf(err, errlen, "cannot resample %d Hz to %.0f Hz: %s", ai->rate, out_rate, derr);
        goto out;
    }
    size_t cap = 0;
    in = malloc(sizeof(float) * BLOCK * (size_t)ai->channels);
    if (!in) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (;;) {
        int64_t n = audio_file_read(f, in, BLOCK, err, errlen);
        if (n < 0)
            goto out;
        if (n == 0)
            break;
        if (ensure_cap(&mono, &cap, dsp_resampler_max_out(rs, (size_t)n), err, errlen) != 0)
            goto out;
        size_t got = 0;
        int drc = dsp_resampler_process(rs, in, (size_t)n, mono, cap, &got);
        if (drc != 0) {
            snprintf(err, errlen, "resampling failed: %s", dsp_strerror(drc));
            goto out;
        }
        if (got > 0) {
            int crc = cb(user, mono, got, err, errlen);
            if (crc < 0) {
                rc = crc;
                goto out;
            }
            delivered += got;
        }
        if (progress && ai->frames > 0)
            progress(user, (double)f->read / (double)ai->frames);
    }
    /* The filter holds the last few milliseconds; drain it until it has nothing left. */
    for (int guard = 0; guard < 1024; guard++) {
        size_t got = 0;
        if (ensure_cap(&mono, &cap, dsp_resampler_max_out(rs, 0), err, errlen) != 0)
            goto out;
        int drc = dsp_resampler_flush(rs, mono, cap, &got);
        if (drc != 0) {
            snprintf(err, errlen, "resampling failed at the end: %s", dsp_strerror(drc));
            goto out;
        }
        if (got == 0)
            break;
        int crc = cb(user, mono, got, err, errlen);
        if (crc < 0) {
            rc = crc;
            goto out;
        }
        delivered += got;
    }
    if (progress)
        progress(user, 1.0);
    rc = 0;
out:
    if (n_out)
        *n_out = delivered;
    dsp_resampler_free(rs);
    free(in);
    free(mono);
    return rc;
}

typedef struct {
    float *buf;
    size_t n, cap;
} grow_buf;

static int append_cb(void *user, const float *x, size_t n, char *err, size_t errlen)
{
    grow_buf *g = user;
    if (g->n + n > g->cap) {
        size_t cap = g->cap ? g->cap : 65536;
        while (cap < g->n + n)
            cap *= 2;
        float *nb = realloc(g->buf, cap * sizeof(float));
        if (!nb) {
            snprintf(err, errlen, "out of memory (%zu samples)", cap);
            return -1;
        }
        g->buf = nb;
        g->cap = cap;
    }
    memcpy(g->buf + g->n, x, n * sizeof(float));
    g->n += n;
    return 0;
}

int audio_file_load_mono(const char *path, double out_rate, float **out, size_t *n, char *err,
                         size_t errlen)
{
    *out = NULL;
    *n = 0;
    audio_file *f = NULL;
    grow_buf g = {0};
    if (audio_file_open(path, &f, err, errlen) != 0)
        return -1;
    /* Size the buffer once when the length is known: no doubling for the common case. */
    if (f->info.frames > 0) {
        g.cap = audio_file_resampled_length(f->info.frames, f->info.rate, out_rate) + 1024;
        g.buf = malloc(g.cap * sizeof(float));
        if (!g.buf) {
            snprintf(err, errlen, "out of memory");
            audio_file_close(f);
            return -1;
        }
    }
    int rc = audio_file_decode_mono(f, out_rate, append_cb, NULL, &g, NULL, err, errlen);
    audio_file_close(f);
    if (rc != 0) {
        free(g.buf);
        return -1;
    }
    *out = g.buf;
    *n = g.n;
    return 0;
}

size_t audio_file_resampled_length(int64_t in_frames, double in_rate, double out_rate)
{
    if (in_frames <= 0)
        return 0;
    if (in_rate == out_rate)
        return (size_t)in_frames;
    return (size_t)llround((double)in_frames * out_rate / in_rate);
}

int audio_frames(const float *x, size_t n, const dsp_params *p, int pitch_flags, float **feat,
                 int64_t *n_frames, char *err, size_t errlen)
{
    const size_t M = (size_t)p->n_mels, D = M + (pitch_flags >= 0 ? DSP_PITCH_DIM : 0);
    float *bands = NULL, *pitch = NULL;
    int rc = -1;
    *feat = NULL;
    int64_t T = dsp_logmel_frame_count(p, n);
    if (T < 2) {
        snprintf(err, errlen, "too short: %lld feature frames (%.3f s), the model needs at least 2",
                 (long long)T, (double)n / p->sample_rate);
        return -1;
    }
    if (!(*feat = malloc(sizeof(float) * (size_t)T * D)) ||
        (D > M && (!(bands = malloc(sizeof(float) * (size_t)T * M)) ||
                   !(pitch = malloc(sizeof(float) * (size_t)T * DSP_PITCH_DIM))))) {
        snprintf(err, errlen, "out of memory for %lld frames", (long long)T);
        goto done;
    }
    int64_t got = dsp_logmel_batch(p, x, n, D > M ? bands : *feat, (size_t)T);
    if (got == T && D > M)
        got = dsp_pitch_batch(p, (unsigned)pitch_flags, x, n, pitch, (size_t)T);
    if (got != T) {
        snprintf(err, errlen, "front end: %s", got < 0 ? dsp_strerror((int)got) : "frame count mismatch");
        goto done;
    }
    for (int64_t t = 0; D > M && t < T; t++) {   /* interleave: bands, then pitch, per frame */
        memcpy(*feat + (size_t)t * D, bands + (size_t)t * M, sizeof(float) * M);
        memcpy(*feat + (size_t)t * D + M, pitch + (size_t)t * DSP_PITCH_DIM, sizeof(float) * DSP_PITCH_DIM);
    }
    *n_frames = T;
    rc = 0;
done:
    if (rc) {
        free(*feat);
        *feat = NULL;
    }
    free(bands);
    free(pitch);
    return rc;
}

int audio_file_load_frames(const char *path, const dsp_params *p, int pitch_flags, float **feat,
                           int64_t *n_frames, char *err, size_t errlen)
{
    float *x = NULL;
    size_t n = 0;
    *feat = NULL;
    if (audio_file_load_mono(path, p->sample_rate, &x, &n, err, errlen) != 0)
        return -1;
    int rc = audio_frames(x, n, p, pitch_flags, feat, n_frames, err, errlen);
    free(x);
    return rc;
}
