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

#include "base/err.h"
#include "node/cmdline.h"
#include "node/config.h"
#include "node/ivtd.h"

int main(int argc, char **argv)
{
    struct ivtd_cmdline cl;
    char msg[IVTD_CMDLINE_MSG_MAX];
    int rc = ivtd_cmdline_parse(&cl, argc, argv, msg, sizeof(msg));
    if (rc) {
        fprintf(stderr, "ivtd: %s\n", msg);
        if (rc == IVT_EINVAL)
            ivtd_usage(stderr);
        return 2;
    }
    if (cl.action == IVTD_ACT_HELP) {
        ivtd_usage(stdout);
        return 0;
    }
    if (cl.action == IVTD_ACT_VERSION) {
        printf("ivtd %s\n", IVTD_VERSION);
        return 0;
    }
    const char *file = cl.config;
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
    if (cl.action == IVTD_ACT_CHECK) {
        printf("%s: ok\n", file);
        return 0;
    }
    return ivtd_run(&cfg, file);
}
