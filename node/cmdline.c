/*
 * node/cmdline.c: the ivtd command line.
 *
 *   ivtd -c FILE            run a node
 *   ivtd --check -c FILE    check the file and exit (0 ok, 2 not)
 *   ivtd --help | --version
 *
 * A handful of flags, so a loop over argv rather than getopt (whose state
 * is global). Parsing only: main.c loads the file and runs the node, so the
 * parser is a function of argv alone, which tests and fuzz_ivtd_args call.
 */
#include "node/cmdline.h"

#include <stdbool.h>
#include <string.h>

#include "base/err.h"

/* How much of an unknown argument a message quotes: enough to recognise
 * it, not an echo of whatever was pasted. */
enum { QUOTE_MAX = 80 };

void ivtd_usage(FILE *f)
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

int ivtd_cmdline_parse(struct ivtd_cmdline *out, int argc, char *const *argv, char *msg, size_t cap)
{
    bool check = false;
    out->action = IVTD_ACT_RUN;
    out->config = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
            if (++i == argc) {
                snprintf(msg, cap, "%s needs a file", a);
                return IVT_ENOENT;
            }
            out->config = argv[i];
        } else if (strcmp(a, "--check") == 0) {
            check = true;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            out->action = IVTD_ACT_HELP;
            return 0;
        } else if (strcmp(a, "--version") == 0) {
            out->action = IVTD_ACT_VERSION;
            return 0;
        } else {
            snprintf(msg, cap, "unknown argument '%.*s'", QUOTE_MAX, a);
            return IVT_EINVAL;
        }
    }
    if (!out->config) {
        snprintf(msg, cap, "no configuration file: use -c FILE (see ivtd --help)");
        return IVT_ENOENT;
    }
    out->action = check ? IVTD_ACT_CHECK : IVTD_ACT_RUN;
    return 0;
}
