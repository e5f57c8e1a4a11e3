/*
 * cli/ivtctl.h: ivtctl, the operator's client of an ivtd control socket.
 *
 * The whole tool is one call, so tests can drive it with their own streams
 * and read its exit code; bin/ivtctl is main() around it.
 */
#ifndef IVT_CLI_IVTCTL_H
#define IVT_CLI_IVTCTL_H

#include <stdio.h>

/* The exit codes scripts rely on (design.md). */
enum ivtctl_exit {
    IVTCTL_EXIT_OK = 0,
    IVTCTL_EXIT_NODE = 1,       /* the node answered with an error */
    IVTCTL_EXIT_USAGE = 2,      /* bad command line */
    IVTCTL_EXIT_UNREACHABLE = 3 /* the node could not be reached */
};

/* Runs `ivtctl argv[1..]`, reading events from in and writing to out and
 * err. Reads IVT_SOCKET from the environment. Returns an ivtctl_exit. */
int ivtctl_main(int argc, char **argv, FILE *in, FILE *out, FILE *err);

#endif
