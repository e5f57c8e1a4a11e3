/*
 * sim/files.h: what the simulator host reads from disk.
 *
 * The workload and scenario code take bytes; this is the one place that
 * opens the shipped data files (sim/data/ and node/data/ under a root).
 */
#ifndef IVT_SIM_FILES_H
#define IVT_SIM_FILES_H

#include <stddef.h>

#include "sim/workload.h"

/* The largest file read: the shipped data files are under 1 MiB each. */
enum { SIM_FILE_MAX = 64 << 20 };

/* Reads a whole file into a NUL-terminated heap buffer. Returns 0, or
 * IVT_ENOENT (cannot open or read), IVT_ETOOBIG (more than SIM_FILE_MAX
 * bytes), IVT_ENOMEM. */
int sim_read_file(char **out, size_t *len, const char *path);

/*
 * Loads the reference data from root: sim/data/human-user-agents.tsv,
 * sim/data/isp-asn-ipv4.csv, node/data/crawler-user-agents.json and
 * node/data/hosting-asn-ipv4.csv. On failure err names the file (and the
 * line, for a parse error). Returns 0, or IVT_ENOENT, IVT_ETOOBIG,
 * IVT_ENOMEM, IVT_EPROTO.
 */
int sim_data_load(struct sim_data **out, const char *root, char *err, size_t errcap);

struct node_rules;

/*
 * Builds the node core's GIVT rules from root's node/data/crawler-user-agents.json
 * and node/data/hosting-asn-ipv4.csv, as ivtd does from its installed copies.
 * On failure err names the file (and the pattern or line). Returns 0, or
 * the codes of sim_read_file and node_rules_new.
 */
int sim_rules_load(struct node_rules **out, const char *root, char *err, size_t errcap);

#endif
