/*
 * tests/node/data.h: the shipped detector data, for the tests and the
 * benchmarks of node/ (two binaries, hence static inline).
 */
#ifndef IVT_TESTS_NODE_DATA_H
#define IVT_TESTS_NODE_DATA_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NODE_DATA_CRAWLERS "node/data/crawler-user-agents.json"
#define NODE_DATA_HOSTING  "node/data/hosting-asn-ipv4.csv"
/* Real browser user agents (weight TAB ua); test data only, not shipped. */
#define NODE_DATA_HUMANS "tests/node/data/human-user-agents.tsv"

/* The whole file root/rel, NUL-terminated (the NUL is not in *len); NULL
 * when it cannot be read. */
static inline uint8_t *node_data_read(const char *root, const char *rel, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", root, rel);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (cap - n < 65536) {
            cap = cap ? cap * 2 : 1 << 20;
            uint8_t *b = realloc(buf, cap + 1);
            if (!b) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = b;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Splits the human TSV in place into user agents (without weights);
 * returns how many, pointers in uas[0..max). */
static inline size_t node_data_humans(char *tsv, const char **uas, size_t max)
{
    size_t n = 0;
    for (char *line = strtok(tsv, "\n"); line && n < max; line = strtok(NULL, "\n")) {
        char *tab = strchr(line, '\t');
        if (line[0] == '#' || !tab)
            continue;
        uas[n++] = tab + 1;
    }
    return n;
}

#endif
