/*
 * node/main.c: the ivtd command line.
 *
 *   ivtd -c FILE            run a node
 *   ivtd --check -c FILE    check the file and exit (0 ok, 2 not)
 *   ivtd --help | --version
 *
 * Exit codes: 0 after a graceful stop (SIGTERM, SIGINT) or a good check;
 * 1 when the node cannot start (a port in use, an unreadable state dir);
 * 2 for usage and configuration errors.
 */
#include <stdio.h>
#include <string.h>

#include "node/config.h"
#include "node/ivtd.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: ivtd -c FILE           run an ivt node\n"
               "       ivtd --check -c FILE   check a configuration file and exit\n"
               "       ivtd --help | --version\n"
               "\n"
               "ivtd scores ad requests for invalid traffic and shares evidence with the other\n"
               "nodes of its cluster over encrypted gossip. A node needs at least:\n"
               "\n"
               "  cluster = {\n"
               "    bind = \"10.0.0.5:7946\";\n"
               "    seeds = [\"10.0.0.6:7946\"];\n"
               "    encrypt = \"<the output of: ivtctl keys generate>\";\n"
               "  };\n"
               "\n"
               "Signals: SIGTERM/SIGINT leave the cluster, save and exit 0; SIGHUP reloads\n"
               "log.level, api limits, detect.* thresholds and rules, and keys added to the\n"
               "keyring file. Every key: docs/configuration.md. Operations: docs/operations.md.\n");
}

int main(int argc, char **argv)
{
    const char *file = NULL;
    bool check = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) {
            if (++i == argc) {
                fprintf(stderr, "ivtd: %s needs a file\n", argv[i - 1]);
                return 2;
            }
            file = argv[i];
        } else if (strcmp(argv[i], "--check") == 0) {
            check = true;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("ivtd %s\n", IVTD_VERSION);
            return 0;
        } else {
            fprintf(stderr, "ivtd: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!file) {
        fprintf(stderr, "ivtd: no configuration file: use -c FILE (see ivtd --help)\n");
        return 2;
    }
    struct ivtd_config cfg;
    char err[IVTD_ERR_MAX];
    ivtd_config_defaults(&cfg);
    if (ivtd_config_load(&cfg, file, err, sizeof(err)) != 0) {
        fprintf(stderr, "ivtd: %s\n", err);
        return 2;
    }
    if (!ivtd_has_key(&cfg, err, sizeof(err))) {
        fprintf(stderr, "ivtd: %s\n", err);
        return 2;
    }
    if (check) {
        printf("%s: ok\n", file);
        return 0;
    }
    return ivtd_run(&cfg, file);
}
