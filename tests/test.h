/*
 * tests/test.h: what every test file includes.
 *
 * Tests are cmocka tests, listed once in tests/list.h (which pulls in one
 * list per module). A test is `void test_NAME(void **state)`, and
 * `bin/ivt-test NAME...` runs some by name (a trailing '*' matches a prefix).
 */
#ifndef IVT_TESTS_TEST_H
#define IVT_TESTS_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define TEST(name)                                                                                 \
    void test_##name(void **state);                                                                \
    void test_##name(void **state)

/* The seed for property tests: IVT_TEST_SEED in the environment, or fixed.
 * A failing property test prints the seed so the run can be replayed. */
uint64_t ivt_test_seed(void);

/* Where the test binary finds repository files (the repo root). */
const char *ivt_test_root(void);

/* Fills argv for a program's command-line parser: prog, then the
 * NULL-terminated args (at most cap - 2 of them), then NULL. Returns argc.
 * The strings are not copied (parsers take char *const * or reorder only
 * the pointers). */
int ivt_test_argv(char **argv, int cap, const char *prog, const char *const *args);

/* A fresh, empty directory /tmp/ivt-test-NAME-<6 random characters>
 * (mkdtemp), its path written to dir (cap bytes); fails the test when it
 * cannot be made. Short on purpose: a unix socket path inside it must fit
 * sun_path's 108 bytes. */
void ivt_test_tmpdir(char *dir, size_t cap, const char *name);

/* Removes dir and everything under it (no symlink is followed); fails the
 * test on an error. */
void ivt_test_rmdir(const char *dir);

/* Pages of [p, p + len) resident now (mincore): what tests of memory
 * faulted in ahead (node/hugemem.c, a full-size store table) check. */
size_t ivt_test_resident_pages(void *p, size_t len);

#endif
