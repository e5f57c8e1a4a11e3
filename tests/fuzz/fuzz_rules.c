/* libFuzzer target: the rules' two file parsers. The first byte picks the
 * file (even: hosting CSV, odd: crawler JSON), the rest is its content. Any
 * bytes must build or be refused with a message; what builds must answer
 * lookups consistently, and the Hyperscan and PCRE2 engines must name the
 * same pattern for the same user agent. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "node/rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void hosting(const uint8_t *csv, size_t len)
{
    struct node_rules *r = NULL;
    char err[128];
    if (node_rules_new(&r, NULL, 0, csv, len, err, sizeof(err)) != 0) {
        if (err[0] == '\0')
            __builtin_trap(); /* a refusal always says why */
        return;
    }
    /* Probe addresses made of the input's own bytes, and the ends. */
    for (size_t i = 0; i + 4 <= len + 4; i += 4) {
        struct node_ip ip = {.family = 4};
        if (i + 4 <= len)
            memcpy(ip.bytes, csv + i, 4);
        else
            memset(ip.bytes, 0xff, 4);
        uint32_t asn = 0;
        const char *org = NULL, *org2 = NULL;
        if (node_rules_hosting(r, &ip, &asn, &org) &&
            (!org || !node_rules_hosting_asn(r, asn, &org2) || strcmp(org, org2) != 0))
            __builtin_trap();
    }
    node_rules_delete(r);
}

static void crawler(const uint8_t *json, size_t len)
{
    struct node_rules *hs = NULL, *pc = NULL;
    int a = node_rules_new_engine(&hs, NODE_RULES_HYPERSCAN, json, len, NULL, 0, NULL, 0);
    int b = node_rules_new_engine(&pc, NODE_RULES_PCRE2, json, len, NULL, 0, NULL, 0);
    if (a != b)
        __builtin_trap();
    if (a == 0) {
        /* The input itself, and every suffix of it, as user agents. */
        for (size_t k = 0; k < len; k += 1 + k / 8) {
            const char *pa = NULL, *pb = NULL;
            bool ma = node_rules_crawler(hs, (const char *)json + k, len - k, &pa);
            bool mb = node_rules_crawler(pc, (const char *)json + k, len - k, &pb);
            if (ma != mb || (ma && strcmp(pa, pb) != 0))
                __builtin_trap();
        }
    }
    node_rules_delete(hs);
    node_rules_delete(pc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (data[0] & 1)
        crawler(data + 1, size - 1);
    else
        hosting(data + 1, size - 1);
    return 0;
}
