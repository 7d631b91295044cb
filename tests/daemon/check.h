/* Minimal assertions for the daemon's unit tests: failures print file:line and the condition
 * and make main() return 1. */
#ifndef EMOTIOND_TEST_CHECK_H
#define EMOTIOND_TEST_CHECK_H
#include <stdio.h>

static int check_failures;
#define CHECK(cond) do { if (!(cond)) { \
    fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
    check_failures++; } } while (0)
#define CHECKF(cond, ...) do { if (!(cond)) { \
    fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
    fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); check_failures++; } } while (0)
#define RUN(fn) do { int before_ = check_failures; fn(); \
    fprintf(stderr, "%s %s\n", check_failures == before_ ? "ok  " : "FAIL", #fn); } while (0)
#endif
