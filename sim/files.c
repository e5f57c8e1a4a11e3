/*
 * sim/files.c: reading the shipped reference data for the simulator.
 */
#include "sim/files.h"

#include <stdio.h>
#include <stdlib.h>

#include "base/err.h"

int sim_read_file(char **out, size_t *len, const char *path)
{
    *out = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return IVT_ENOENT;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    int rc = buf ? 0 : IVT_ENOMEM;
    while (!rc) {
        if (n + 1 >= cap) {
            char *p = realloc(buf, cap * 2);
            if (!p) {
                rc = IVT_ENOMEM;
                break;
            }
            buf = p;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) {
            if (ferror(f))
                rc = IVT_ENOENT;
            break;
        }
    }
    fclose(f);
    if (rc) {
        free(buf);
        return rc;
    }
    buf[n] = 0;
    *out = buf;
    *len = n;
    return 0;
}

int sim_data_load(struct sim_data **out, const char *root, char *err, size_t errcap)
{
    static const char *const names[4] = {
        "sim/data/human-user-agents.tsv",
        "node/data/crawler-user-agents.json",
        "sim/data/isp-asn-ipv4.csv",
        "node/data/hosting-asn-ipv4.csv",
    };
    char *buf[4] = {0};
    size_t len[4] = {0};
    int rc = 0;
    *out = NULL;
    for (int i = 0; i < 4 && !rc; i++) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", root, names[i]);
        rc = sim_read_file(&buf[i], &len[i], path);
        if (rc)
            snprintf(err, errcap, "%s: %s", path, ivt_strerror(rc));
    }
    if (!rc) {
        struct sim_data_files f = {buf[0], len[0], buf[1], len[1], buf[2], len[2], buf[3], len[3]};
        rc = sim_data_new(out, &f);
        if (rc)
            snprintf(err, errcap, "%s: the reference data does not parse (%s)", root,
                     ivt_strerror(rc));
    }
    for (int i = 0; i < 4; i++)
        free(buf[i]);
    return rc;
}
