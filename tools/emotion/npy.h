/* npy: NumPy .npy (format version 1.0) output of float32 matrices.
 *
 * Promises: the file numpy.load() reads back as dtype '<f4', C order, the given shape; written
 * atomically (atomic_file: the destination is either untouched or complete). The header is
 * padded so that the data starts on a 64-byte boundary, as numpy itself writes it.
 */
#ifndef EMOTION_NPY_H
#define EMOTION_NPY_H

#include <stddef.h>

/* Writes data[rows][cols] (row-major) to path. 0, or -errno with err naming the problem
 * (the caller prefixes the file name). rows may be 0. */
int npy_write_f32(const char *path, const float *data, size_t rows, size_t cols, char *err,
                  size_t errlen);

/* Builds the 1.0 header for a float32 C-order [rows, cols] array into buf (cap >= 128).
 * Returns its length (a multiple of 64) or 0 if it does not fit. Exposed for tests and for
 * writers that stream rows themselves. */
size_t npy_header_f32(char *buf, size_t cap, size_t rows, size_t cols);

#endif
