/*
 * node/rules.h: the GIVT lists. Known crawler user agents and data-center
 * address ranges, built once from the shipped data files and shared
 * read-only by every node of a process.
 *
 * SANS-IO. The host reads the files (node/data/crawler-user-agents.json and
 * node/data/hosting-asn-ipv4.csv) and hands their bytes in; nothing here
 * opens a file or reads a clock.
 *
 * Threads: a rules object keeps one scratch area for the matchers (a
 * Hyperscan scratch and a PCRE2 match block), so lookups on one object must
 * not run concurrently. The daemon scores on its single event loop and the
 * simulator is single-threaded, so ten thousand nodes share one object; a
 * host that scores from several threads builds one object per thread.
 */
#ifndef IVT_NODE_RULES_H
#define IVT_NODE_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "node/node.h"

struct node_signals;

/* Which matcher runs the crawler patterns. */
enum node_rules_engine {
    /* All patterns in one Hyperscan block-mode database; any pattern that
     * Hyperscan rejects runs through PCRE2 instead. When the CPU lacks what
     * Hyperscan needs (SSSE3), everything runs through PCRE2. */
    NODE_RULES_HYPERSCAN = 0,
    /* Every pattern through PCRE2 (JIT), one after the other: the reference
     * the tests hold Hyperscan against, and the benchmark's comparison. */
    NODE_RULES_PCRE2 = 1,
};

/*
 * Builds the rules from the two files' bytes. Either input may be NULL (or
 * of length 0): that rule is then off and its lookups answer false.
 *
 * crawler_json: the crawler-user-agents.json array; each element's
 * "pattern" is a case-sensitive PCRE-style regular expression searched
 * anywhere in the user agent (the upstream project's semantics). A pattern
 * that does not compile, or that matches the empty user agent (it would
 * then match every user agent), is an error.
 *
 * hosting_csv: lines "first_ip,last_ip,asn,org" of IPv4 ranges (first and
 * last inclusive, org optionally double-quoted with "" for a quote); blank
 * lines and lines starting with '#' are skipped. Ranges may come in any
 * order; ranges of one ASN that touch or overlap are merged, and ranges of
 * two different ASNs that overlap are an error.
 *
 * On error, err (when errcap > 0) gets one line naming the place, as
 * "crawler-user-agents.json: pattern 17 ('Foo['): missing terminating ]"
 * (17 is the index in the JSON array, as jq '.[17]' counts) or
 * "hosting-asn-ipv4.csv:123: last address below first address".
 *
 * Returns 0 on success, or one of these negative codes: IVT_EPROTO (a file
 * that does not parse, or a pattern that does not compile), IVT_ETOOBIG
 * (more patterns, ranges or longer fields than the bounds in rules.c),
 * IVT_ENOMEM.
 */
int node_rules_new(struct node_rules **out, const uint8_t *crawler_json, size_t crawler_len,
                   const uint8_t *hosting_csv, size_t hosting_len, char *err, size_t errcap);
/* The same with a chosen matcher (node_rules_new uses NODE_RULES_HYPERSCAN).
 * Returns what node_rules_new returns, or IVT_EINVAL for an unknown engine. */
int node_rules_new_engine(struct node_rules **out, enum node_rules_engine engine,
                          const uint8_t *crawler_json, size_t crawler_len,
                          const uint8_t *hosting_csv, size_t hosting_len, char *err, size_t errcap);
void node_rules_delete(struct node_rules *rules);

/*
 * Is this user agent a known crawler? The UA is ua[0..len) (not
 * NUL-terminated; any bytes). On a match, *pattern (when pattern is not
 * NULL) points at the matched pattern, NUL-terminated and owned by the rules:
 * the one with the lowest index in the JSON array when several match, so
 * the answer does not depend on the engine.
 */
bool node_rules_crawler(const struct node_rules *rules, const char *ua, size_t len,
                        const char **pattern);

/*
 * Is this address in a data-center range? On a match, *asn and *org (each
 * when not NULL) get the network's AS number and name (NUL-terminated,
 * owned by the rules). IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are
 * looked up as IPv4. Other IPv6 addresses answer false: the shipped data has
 * IPv4 ranges only (node_rules_hosting_asn still catches them when the ad
 * server tags the event with its ASN).
 */
bool node_rules_hosting(const struct node_rules *rules, const struct node_ip *ip, uint32_t *asn,
                        const char **org);

/* Is this AS number one of the hosting networks of the data? *org as above. */
bool node_rules_hosting_asn(const struct node_rules *rules, uint32_t asn, const char **org);

/*
 * Fills the GIVT part of a detector's input (crawler, crawler_pattern,
 * datacenter, datacenter_asn, datacenter_org of node/detect.h) for one
 * event: the user agent against the crawler patterns, the address against
 * the ranges, and, when the address is in none of them, the event's own
 * asn tag against the hosting networks. Leaves every other field alone.
 * rules may be NULL (no GIVT rules: both flags false).
 */
void node_rules_givt(struct node_signals *out, const struct node_rules *rules,
                     const struct node_event *ev);

/* What a rules object holds, for logs and `ivtctl status`. */
struct node_rules_info {
    enum node_rules_engine engine; /* the engine actually in use */
    uint32_t patterns;             /* crawler patterns */
    uint32_t patterns_pcre2;       /* of which run through PCRE2 */
    uint32_t ranges;               /* IPv4 ranges after merging */
    uint32_t asns;                 /* distinct hosting networks */
};

void node_rules_get_info(const struct node_rules *rules, struct node_rules_info *out);

#endif
