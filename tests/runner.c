/*
 * tests/runner.c: runs the unit tests of tests/list.h.
 *
 *   bin/ivt-test              every test
 *   bin/ivt-test NAME...      the named ones ("crdt_*" runs a prefix)
 *   bin/ivt-test --list       prints the names
 *
 * Ends with the line "N passed, N failed" and exits non-zero on any failure
 * or when a requested name matches no test (a typo must not pass silently).
 */
#define _XOPEN_SOURCE 700 /* nftw (ivt_test_rmdir) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/test.h"

#define T(name) TEST(name);
#include "tests/list.h"
#undef T

struct test_row {
    const char *name;
    CMUnitTestFunction fn;
};

static const struct test_row all_tests[] = {
#define T(name) {#name, test_##name},
#include "tests/list.h"
#undef T
};

enum { N_TESTS = sizeof(all_tests) / sizeof(all_tests[0]) };

uint64_t ivt_test_seed(void)
{
    const char *s = getenv("IVT_TEST_SEED");
    return s ? strtoull(s, 0, 0) : 0x1d7c0ffeeULL;
}

size_t ivt_test_resident_pages(void *p, size_t len)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE), n = (len + pg - 1) / pg, in = 0;
    unsigned char *v = malloc(n);
    assert_non_null(v);
    assert_int_equal(mincore(p, len, v), 0);
    for (size_t i = 0; i < n; i++)
        in += v[i] & 1;
    free(v);
    return in;
}

const char *ivt_test_root(void)
{
    const char *s = getenv("IVT_ROOT");
    return s ? s : ".";
}

void ivt_test_tmpdir(char *dir, size_t cap, const char *name)
{
    /* mkdtemp's template: the prefix, then six 'X' it replaces */
    int n = snprintf(dir, cap, "/tmp/ivt-test-%s-", name);
    assert_true(n > 0 && (size_t)n + 7 <= cap);
    memset(dir + n, 'X', 6);
    dir[n + 6] = '\0';
    assert_non_null(mkdtemp(dir));
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void ivt_test_rmdir(const char *dir)
{
    assert_int_equal(nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
}

int ivt_test_argv(char **argv, int cap, const char *prog, const char *const *args)
{
    int argc = 0;
    argv[argc++] = (char *)prog;
    for (; *args && argc < cap - 1; args++)
        argv[argc++] = (char *)*args;
    argv[argc] = NULL;
    return argc;
}

static int matches(const char *pattern, const char *name)
{
    size_t n = strlen(pattern);
    if (n && pattern[n - 1] == '*')
        return strncmp(pattern, name, n - 1) == 0;
    return strcmp(pattern, name) == 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        for (int i = 0; i < N_TESTS; i++)
            puts(all_tests[i].name);
        return 0;
    }
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: %s [--list] [NAME|PREFIX*]...\n"
               "Runs ivt's unit tests (all of them without arguments).\n"
               "IVT_TEST_SEED=N replays property tests with seed N.\n",
               argv[0]);
        return 0;
    }
    struct CMUnitTest *sel = calloc(N_TESTS, sizeof(*sel));
    if (!sel)
        return 2;
    size_t n = 0;
    for (int i = 0; i < N_TESTS; i++) {
        int want = argc < 2;
        for (int a = 1; a < argc && !want; a++)
            want = matches(argv[a], all_tests[i].name);
        if (want) {
            sel[n].name = all_tests[i].name;
            sel[n].test_func = all_tests[i].fn;
            n++;
        }
    }
    if (n == 0) {
        fprintf(stderr, "ivt-test: no test matches; try --list\n");
        free(sel);
        return 2;
    }
    fprintf(stderr, "ivt-test: seed 0x%llx (IVT_TEST_SEED to replay)\n",
            (unsigned long long)ivt_test_seed());
    int failed = _cmocka_run_group_tests("ivt", sel, n, 0, 0);
    printf("%zu passed, %d failed\n", n - (size_t)failed, failed);
    free(sel);
    return failed ? 1 : 0;
}
