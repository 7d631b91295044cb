#include "npy.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"

size_t npy_header_f32(char *buf, size_t cap, size_t rows, size_t cols)
{
    char dict[256];
    int n = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu, %zu), }",
                     rows, cols);
    if (n < 0 || (size_t)n >= sizeof dict)
        return 0;
    /* magic(6) + version(2) + header length(2) + dict + padding + '\n' == multiple of 64 */
    size_t total = 10 + (size_t)n + 1;
    total = (total + 63) / 64 * 64;
    if (total > cap || total - 10 > 65535)
        return 0;
    size_t hlen = total - 10;
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (char)(hlen & 0xff);
    buf[9] = (char)(hlen >> 8);
    memcpy(buf + 10, dict, (size_t)n);
    memset(buf + 10 + n, ' ', total - 10 - (size_t)n - 1);
    buf[total - 1] = '\n';
    return total;
}

int npy_write_f32(const char *path, const float *data, size_t rows, size_t cols, char *err,
                  size_t errlen)
{
    char hdr[256];
    size_t hl = npy_header_f32(hdr, sizeof hdr, rows, cols);
    if (hl == 0) {
        snprintf(err, errlen, "array shape (%zu, %zu) does not fit a .npy header", rows, cols);
        return -22;
    }
    atomic_file f;
    int rc = atomic_file_open(&f, path, err, errlen);
    if (rc < 0)
        return rc;
    rc = atomic_file_write(&f, hdr, hl, err, errlen);
    if (rc < 0)
        goto fail;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    /* '<f4' is little-endian: swap row by row on big-endian hosts. */
    for (size_t r = 0; r < rows && rc == 0; r++) {
        uint32_t tmp[1024];
        for (size_t c0 = 0; c0 < cols && rc == 0; c0 += 1024) {
            size_t m = cols - c0 < 1024 ? cols - c0 : 1024;
            memcpy(tmp, data + r * cols + c0, m * 4);
            for (size_t i = 0; i < m; i++)
                tmp[i] = __builtin_bswap32(tmp[i]);
            rc = atomic_file_write(&f, tmp, m * 4, err, errlen);
        }
    }
    if (rc < 0)
        goto fail;
#else
    if (rows * cols > 0) {
        rc = atomic_file_write(&f, data, rows * cols * sizeof(float), err, errlen);
        if (rc < 0)
            goto fail;
    }
#endif
    return atomic_file_commit(&f, err, errlen);
fail:
    atomic_file_abort(&f);
    return rc;
}
