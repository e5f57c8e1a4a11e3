/*
 * sim/files.c: reading the shipped reference data for the simulator.
 *
 * An operator may point --root or IVT_ROOT anywhere and edit the files, so
 * a file is read up to SIM_FILE_MAX (a device or a runaway file is refused,
 * not slurped), and a parse error names the full path and the line.
 */
#include "sim/files.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "node/rules.h"

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
            /* Room for one byte past the bound, which tells a file at the
             * bound from a longer one. */
            size_t c = cap * 2 < (size_t)SIM_FILE_MAX + 2 ? cap * 2 : (size_t)SIM_FILE_MAX + 2;
            char *p = realloc(buf, c);
            if (!p) {
                rc = IVT_ENOMEM;
                break;
            }
            buf = p;
            cap = c;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) {
            if (ferror(f))
                rc = IVT_ENOENT;
            break;
        }
        if (n > SIM_FILE_MAX)
            rc = IVT_ETOOBIG;
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
    static const char *const names[4] = {SIM_DATA_HUMAN_UA, SIM_DATA_CRAWLER, SIM_DATA_ISP,
                                         SIM_DATA_HOSTING};
    char *buf[4] = {0};
    size_t len[4] = {0};
    int rc = 0;
    *out = NULL;
    for (int i = 0; i < 4 && !rc; i++) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", root, names[i]);
        rc = sim_read_file(&buf[i], &len[i], path);
        if (rc == IVT_ETOOBIG)
            snprintf(err, errcap, "%s: larger than %d MiB: not a data file", path,
                     SIM_FILE_MAX >> 20);
        else if (rc)
            snprintf(err, errcap, "%s: %s", path, ivt_strerror(rc));
    }
    if (!rc) {
        struct sim_data_files f = {buf[0], len[0], buf[1], len[1], buf[2], len[2], buf[3], len[3]};
        char why[512] = "";
        rc = sim_data_new(out, &f, why, sizeof(why));
        /* why names the file under the root: "sim/data/x.tsv:12: ..." */
        if (rc)
            snprintf(err, errcap, "%s/%s", root, why);
    }
    for (int i = 0; i < 4; i++)
        free(buf[i]);
    return rc;
}

int sim_rules_load(struct node_rules **out, const char *root, char *err, size_t errcap)
{
    char *buf[2] = {0};
    size_t len[2] = {0};
    static const char *const names[2] = {SIM_DATA_CRAWLER, SIM_DATA_HOSTING};
    int rc = 0;
    *out = NULL;
    err[0] = '\0';
    for (int i = 0; i < 2 && !rc; i++) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", root, names[i]);
        rc = sim_read_file(&buf[i], &len[i], path);
        if (rc)
            snprintf(err, errcap, "%s: %s", path, ivt_strerror(rc));
    }
    if (!rc)
        rc = node_rules_new(out, (const uint8_t *)buf[0], len[0], (const uint8_t *)buf[1], len[1],
                            err, errcap);
    free(buf[0]);
    free(buf[1]);
    return rc;
}
