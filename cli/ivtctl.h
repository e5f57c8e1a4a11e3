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

/*
 * Checks `ivtctl argv[1..]` as ivtctl_main would run it, and stops before
 * anything leaves the process: the first request to the node, observe's
 * opening of -f FILE, keys generate's key. Help and usage errors are
 * printed as ivtctl_main prints them. argv's entries may be reordered (as
 * ivtctl_main does). For tests and the fuzz target of the command line.
 * Returns IVTCTL_EXIT_OK (help, or a command line ivtctl_main would send)
 * or IVTCTL_EXIT_USAGE (after the message on err).
 */
int ivtctl_check(int argc, char **argv, FILE *out, FILE *err);

#endif
