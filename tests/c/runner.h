/* A tiny test runner: TEST(name) defines a test, RUN(name) runs it, and
 * the last line printed is "N passed, N failed". */
#ifndef ROOMCAST_TEST_RUNNER_H
#define ROOMCAST_TEST_RUNNER_H
#include <stdio.h>
#include <string.h>
#include "roomcast.h"

static int t_passed, t_failed, t_current_failed;

#define EXPECT(cond) do { if (!(cond)) { \
    fprintf(stderr, "  %s:%d: expected %s\n", __FILE__, __LINE__, #cond); \
    t_current_failed = 1; } } while (0)
#define ASSERT(cond) do { if (!(cond)) { \
    fprintf(stderr, "  %s:%d: assertion failed: %s\n", __FILE__, __LINE__, #cond); \
    t_current_failed = 1; return; } } while (0)
#define EXPECT_RC(expected, call) do { roomcast_result r_ = (call); if (r_ != (expected)) { \
    fprintf(stderr, "  %s:%d: %s gave %u (%s), expected %s\n", __FILE__, __LINE__, #call, \
            (unsigned)r_, roomcast_result_message(r_), #expected); t_current_failed = 1; } } while (0)
#define ASSERT_OK(call) do { roomcast_result r_ = (call); if (r_ != ROOMCAST_RESULT_OK) { \
    fprintf(stderr, "  %s:%d: %s gave %u (%s)\n", __FILE__, __LINE__, #call, \
            (unsigned)r_, roomcast_result_message(r_)); t_current_failed = 1; return; } } while (0)

#define TEST(name) static void name(void)
#define RUN(name) do { t_current_failed = 0; name(); \
    if (t_current_failed) { t_failed++; printf("FAIL %s\n", #name); } \
    else { t_passed++; printf("ok   %s\n", #name); } } while (0)
#define REPORT() (printf("%d passed, %d failed\n", t_passed, t_failed), t_failed ? 1 : 0)

#endif
