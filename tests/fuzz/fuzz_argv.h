/* tests/fuzz/fuzz_argv.h: a fuzz input as a command line, for the targets
 * of the programs' argument parsers (header-only: each target is one
 * binary).
 *
 * The input is split on NUL bytes: "score\0001.2.3.4\000--asn\0007" is
 * `PROG score 1.2.3.4 --asn 7`. Each argument is its own exact-size heap
 * copy, so ASan sees a read past its end as a real argv would not. */
#ifndef IVT_TESTS_FUZZ_ARGV_H
#define IVT_TESTS_FUZZ_ARGV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Arguments after the program name: no parser here counts past a few
 * dozen, and a bound keeps every input quick. */
enum { FUZZ_ARGV_MAX = 64 };
/* Bytes per argument: longer ones are cut (real arguments run to 128 KiB,
 * but the parsers quote a bounded prefix and never copy more). */
enum { FUZZ_ARG_MAX = 1024 };

struct fuzz_argv {
    int argc;
    char *argv[FUZZ_ARGV_MAX + 2]; /* the program, the arguments, NULL */
    /* The same pointers, for freeing: parsers may reorder argv (ivtctl
     * moves positionals to the front, overwriting entries). */
    char *own[FUZZ_ARGV_MAX + 1];
};

static inline void fuzz_argv_free(struct fuzz_argv *a)
{
    for (int i = 0; i < a->argc; i++)
        free(a->own[i]);
    a->argc = 0;
}

static inline char *fuzz_argv_dup(const uint8_t *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* Splits data into prog and its arguments. Returns false when out of
 * memory (nothing to free then). */
static inline bool fuzz_argv_split(struct fuzz_argv *a, const char *prog, const uint8_t *data,
                                   size_t size)
{
    a->argc = 0;
    a->argv[0] = a->own[0] = fuzz_argv_dup((const uint8_t *)prog, strlen(prog));
    if (!a->own[0])
        return false;
    a->argc = 1;
    const uint8_t *p = data, *end = data + size;
    /* An empty input is the program alone; otherwise every NUL separates
     * two arguments, so "" can be one. */
    while (size && a->argc <= FUZZ_ARGV_MAX) {
        const uint8_t *nul = memchr(p, 0, (size_t)(end - p));
        const uint8_t *e = nul ? nul : end;
        size_t n = (size_t)(e - p);
        char *arg = fuzz_argv_dup(p, n < FUZZ_ARG_MAX ? n : FUZZ_ARG_MAX);
        if (!arg) {
            fuzz_argv_free(a);
            return false;
        }
        a->argv[a->argc] = a->own[a->argc] = arg;
        a->argc++;
        if (!nul)
            break;
        p = nul + 1;
    }
    a->argv[a->argc] = NULL;
    return true;
}

#endif
