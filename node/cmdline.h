/*
 * node/cmdline.h: the ivtd command line, parsed apart from running it so
 * tests and a fuzz target can drive it (node/main.c is the only caller in
 * the daemon).
 */
#ifndef IVT_NODE_CMDLINE_H
#define IVT_NODE_CMDLINE_H

#include <stddef.h>
#include <stdio.h>

/* What the command line asks for. */
enum ivtd_action {
    IVTD_ACT_RUN = 0, /* ivtd -c FILE */
    IVTD_ACT_CHECK,   /* ivtd --check -c FILE */
    IVTD_ACT_HELP,    /* --help or -h: the usage text on stdout, exit 0 */
    IVTD_ACT_VERSION  /* --version */
};

struct ivtd_cmdline {
    enum ivtd_action action;
    const char *config; /* -c FILE, --config FILE: an argv entry; set for RUN and CHECK */
};

/* Room for any message of ivtd_cmdline_parse. */
enum { IVTD_CMDLINE_MSG_MAX = 256 };

/*
 * Parses argv[1..argc) left to right: the first --help, --version or
 * mistake decides. Touches no file. Returns 0, or one of these negative
 * codes with msg set (without the "ivtd: " prefix): IVT_EINVAL (an
 * argument ivtd does not know: main prints the usage after msg),
 * IVT_ENOENT (no -c FILE, or -c without its FILE).
 */
int ivtd_cmdline_parse(struct ivtd_cmdline *out, int argc, char *const *argv, char *msg,
                       size_t cap);

/* The --help text. */
void ivtd_usage(FILE *f);

#endif
