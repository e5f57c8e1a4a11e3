/*
 * base/checkout.h: the repository a binary runs from.
 *
 * The binaries find their shipped data (sim/data, node/data) in the
 * checkout they were built in when nothing says otherwise: `make` puts them
 * in bin/, one level below it, and `make release` in build/release/bin/,
 * three levels below. One place knows both, for ivtsim's --root default and
 * ivtd's data files. Shell code (it reads the file system); the sans-IO
 * core never calls it.
 */
#ifndef IVT_BASE_CHECKOUT_H
#define IVT_BASE_CHECKOUT_H

#include <stdbool.h>
#include <stddef.h>

/* The checkout above the binary directory bindir (its first bindir_len
 * bytes) that holds rel, a file or directory readable there: written to
 * out as "BINDIR/.." or "BINDIR/../../..". false when neither holds it or
 * the path does not fit cap; out is then unspecified. */
bool ivt_checkout_root(char *out, size_t cap, const char *bindir, size_t bindir_len,
                       const char *rel);

#endif
