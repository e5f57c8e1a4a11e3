/*
 * node/rules.c: the GIVT lists, built once, shared read-only.
 *
 * SANS-IO. The host reads the data files and hands their bytes in.
 *
 * Two lists, the two kinds of General Invalid Traffic the MRC guidelines
 * name first (docs/detection.md):
 *
 * Crawler user agents. The crawler-user-agents project ships about 1,500
 * case-sensitive regular expressions, each searched anywhere in the user
 * agent. Running them one by one costs tens of microseconds per request
 * (the figure is in docs/benchmarks.md), so they are compiled into one
 * Hyperscan block-mode database that scans a user agent once for all of
 * them. Hyperscan supports a subset of PCRE (no back-references, no
 * look-around); any pattern it rejects runs through PCRE2 beside it, and
 * every pattern is first compiled by PCRE2 anyway, which is the judge of
 * whether a pattern is valid at all, so both engines agree on the list.
 * When several patterns match, the lowest index wins: the answer must not
 * depend on the engine or on the order Hyperscan reports matches in.
 * Departures from upstream: a pattern that matches the empty user agent is
 * refused (it would flag every request); matching is by bytes, not UTF-8
 * (the patterns are ASCII, user agents are whatever the client sent).
 *
 * Data-center ranges. About 14,000 IPv4 ranges of hosting and cloud
 * networks (DB-IP and Route Views data, CC BY 4.0), sorted, merged per
 * ASN and kept as three parallel arrays so the binary search walks only the
 * array of first addresses. Networks' names are stored once per ASN.
 *
 * The matchers need scratch memory per scan. It lives in the rules object
 * (mutable behind the const pointer the nodes hold), which is why lookups
 * on one object must not run concurrently (see rules.h).
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <hs.h>
#include <jansson.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "base/err.h"
#include "node/detect.h"
#include "node/rules.h"

enum {
    /* Upstream has 1,500; a list a hundred times longer is a mistake, and
     * would take minutes to compile. */
    RULES_MAX_PATTERNS = 150000,
    /* Upstream's longest pattern is 56 bytes. */
    RULES_MAX_PATTERN_LEN = 1024,
    /* The whole ip-location-db ASN table has 412,000 IPv4 ranges; ten
     * times that is not a hosting list. */
    RULES_MAX_RANGES = 4000000,
    /* Network names are shown in reasons (96 bytes); longer is garbage. */
    RULES_MAX_ORG = 255,
    /* PCRE2 backtracking budget per pattern and user agent: the shipped
     * patterns need a few hundred steps; this stops one bad pattern from
     * stalling the event loop on a crafted user agent. */
    RULES_PCRE2_MATCH_LIMIT = 100000,
};

#define CRAWLER_FILE "crawler-user-agents.json"
#define HOSTING_FILE "hosting-asn-ipv4.csv"

/*
 * PCRE2's JIT scans the subject in aligned 16-byte blocks (32 with AVX2),
 * reading past its end: harmless on the hardware, but memory the caller
 * never handed us, and valgrind says so. PCRE2 therefore matches a copy
 * placed in a zeroed, aligned buffer with SUBJECT_PAD bytes either side.
 */
enum { SUBJECT_PAD = 64 };

struct subject {
    char *buf;
    size_t cap; /* bytes of buf, pads included */
};

struct crawler {
    uint32_t n;
    char *pool;    /* every pattern, NUL-terminated, back to back */
    uint32_t *off; /* pattern i starts at pool + off[i] */

    hs_database_t *db; /* NULL when no pattern runs on Hyperscan */
    hs_scratch_t *scratch;

    uint32_t n_pcre;
    uint32_t *pcre_idx; /* ascending pattern indexes that run on PCRE2 */
    pcre2_code **pcre;  /* their compiled code, same order */
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    struct subject *subject; /* mutable behind the const rules */
};

struct hosting {
    uint32_t n;
    uint32_t *first, *last; /* inclusive, host order, sorted, disjoint */
    uint32_t *net;          /* index into asn[] */
    uint32_t n_asn;
    uint32_t *asn;     /* sorted */
    uint32_t *org_off; /* name of asn[i] at org_pool + org_off[i] */
    char *org_pool;
};

struct node_rules {
    enum node_rules_engine engine;
    struct crawler crawler;
    struct hosting hosting;
};

static void fail(char *err, size_t cap, const char *fmt, ...)
{
    if (!err || cap == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

/* ---- crawler patterns -------------------------------------------------- */

static void crawler_destroy(struct crawler *c)
{
    hs_free_scratch(c->scratch);
    hs_free_database(c->db);
    for (uint32_t i = 0; i < c->n_pcre; i++)
        pcre2_code_free(c->pcre[i]);
    free(c->pcre);
    free(c->pcre_idx);
    pcre2_match_data_free(c->md);
    if (c->subject)
        free(c->subject->buf);
    free(c->subject);
    pcre2_match_context_free(c->mctx);
    free(c->off);
    free(c->pool);
    memset(c, 0, sizeof(*c));
}

/* Copies the "pattern" of every element into one pool. */
static int crawler_parse(struct crawler *c, const uint8_t *json, size_t len, char *err,
                         size_t errcap)
{
    json_error_t je;
    json_t *root = json_loadb((const char *)json, len, 0, &je);
    if (!root) {
        fail(err, errcap, CRAWLER_FILE ":%d:%d: %s", je.line, je.column, je.text);
        return json_error_code(&je) == json_error_out_of_memory ? IVT_ENOMEM : IVT_EPROTO;
    }
    int rc = IVT_EPROTO;
    if (!json_is_array(root)) {
        fail(err, errcap, CRAWLER_FILE ": not an array of {\"pattern\": ...} objects");
        goto out;
    }
    size_t n = json_array_size(root), total = 0;
    if (n > RULES_MAX_PATTERNS) {
        fail(err, errcap, CRAWLER_FILE ": %zu patterns, more than %d", n, RULES_MAX_PATTERNS);
        rc = IVT_ETOOBIG;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *p = json_object_get(json_array_get(root, i), "pattern");
        if (!json_is_string(p)) {
            fail(err, errcap, CRAWLER_FILE ": pattern %zu: no \"pattern\" string", i);
            goto out;
        }
        size_t plen = json_string_length(p);
        if (plen > RULES_MAX_PATTERN_LEN) {
            fail(err, errcap, CRAWLER_FILE ": pattern %zu: %zu bytes, more than %d", i, plen,
                 RULES_MAX_PATTERN_LEN);
            rc = IVT_ETOOBIG;
            goto out;
        }
        /* Hyperscan takes NUL-terminated expressions: an embedded NUL would
         * silently cut the pattern short. */
        if (strlen(json_string_value(p)) != plen) {
            fail(err, errcap, CRAWLER_FILE ": pattern %zu: contains a NUL byte", i);
            goto out;
        }
        total += plen + 1;
    }
    rc = IVT_ENOMEM;
    c->pool = malloc(total ? total : 1);
    c->off = malloc((n ? n : 1) * sizeof(*c->off));
    if (!c->pool || !c->off)
        goto out;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *p = json_object_get(json_array_get(root, i), "pattern");
        size_t plen = json_string_length(p);
        memcpy(c->pool + at, json_string_value(p), plen + 1);
        c->off[i] = (uint32_t)at;
        at += plen + 1;
    }
    c->n = (uint32_t)n;
    rc = 0;
out:
    json_decref(root);
    return rc;
}

static const char *crawler_pattern(const struct crawler *c, uint32_t i)
{
    return c->pool + c->off[i];
}

/* Compiles every pattern with PCRE2 (the judge of validity), refuses those
 * that match the empty user agent, and keeps the code in codes[i]. */
static int crawler_pcre2_all(struct crawler *c, pcre2_code **codes, char *err, size_t errcap)
{
    for (uint32_t i = 0; i < c->n; i++) {
        int ecode;
        PCRE2_SIZE eoff;
        const char *p = crawler_pattern(c, i);
        codes[i] = pcre2_compile((PCRE2_SPTR)p, PCRE2_ZERO_TERMINATED, 0, &ecode, &eoff, NULL);
        if (!codes[i]) {
            PCRE2_UCHAR msg[120];
            pcre2_get_error_message(ecode, msg, sizeof(msg));
            fail(err, errcap, CRAWLER_FILE ": pattern %u ('%s'): %s at offset %zu", i, p,
                 (const char *)msg, (size_t)eoff);
            return ecode == PCRE2_ERROR_HEAPLIMIT ? IVT_ENOMEM : IVT_EPROTO;
        }
        int m = pcre2_match(codes[i], (PCRE2_SPTR) "", 0, 0, 0, c->md, c->mctx);
        if (m >= 0) {
            fail(err, errcap,
                 CRAWLER_FILE ": pattern %u ('%s'): matches the empty user agent, so every one", i,
                 p);
            return IVT_EPROTO;
        }
    }
    return 0;
}

/*
 * Puts every pattern Hyperscan accepts into one database; marks the rest in
 * on_pcre. hs_expression_info catches most unsupported constructs cheaply;
 * what only the full compile rejects is moved out one pattern at a time.
 * A failure not tied to one pattern (an unsupported CPU, memory) leaves
 * every pattern to PCRE2.
 */
static void crawler_hyperscan(struct crawler *c, bool *on_pcre)
{
    if (c->n == 0)
        return;
    if (hs_valid_platform() != HS_SUCCESS) {
        for (uint32_t i = 0; i < c->n; i++)
            on_pcre[i] = true;
        return;
    }
    const char **exprs = malloc(c->n * sizeof(*exprs));
    unsigned *flags = malloc(c->n * sizeof(*flags));
    unsigned *ids = malloc(c->n * sizeof(*ids));
    bool ok = exprs && flags && ids;
    for (uint32_t i = 0; ok && i < c->n; i++) {
        hs_expr_info_t *info = NULL;
        hs_compile_error_t *cerr = NULL;
        if (hs_expression_info(crawler_pattern(c, i), HS_FLAG_SINGLEMATCH, &info, &cerr) !=
            HS_SUCCESS)
            on_pcre[i] = true;
        free(info); /* allocated with hs's default allocator, which is malloc */
        hs_free_compile_error(cerr);
    }
    /* Each failed compile moves one pattern out, so this ends. */
    while (ok) {
        unsigned m = 0;
        for (uint32_t i = 0; i < c->n; i++) {
            if (on_pcre[i])
                continue;
            exprs[m] = crawler_pattern(c, i);
            flags[m] = HS_FLAG_SINGLEMATCH;
            ids[m] = i;
            m++;
        }
        if (m == 0)
            break;
        hs_compile_error_t *cerr = NULL;
        if (hs_compile_multi(exprs, flags, ids, m, HS_MODE_BLOCK, NULL, &c->db, &cerr) ==
            HS_SUCCESS) {
            if (hs_alloc_scratch(c->db, &c->scratch) != HS_SUCCESS) {
                hs_free_database(c->db);
                c->db = NULL;
                ok = false;
            }
            break;
        }
        int bad = cerr ? cerr->expression : -1;
        hs_free_compile_error(cerr);
        if (bad < 0 || (unsigned)bad >= m)
            ok = false;
        else
            on_pcre[ids[bad]] = true;
    }
    if (!ok)
        for (uint32_t i = 0; i < c->n; i++)
            on_pcre[i] = true;
    free(exprs);
    free(flags);
    free(ids);
}

static int crawler_build(struct crawler *c, enum node_rules_engine engine, const uint8_t *json,
                         size_t len, char *err, size_t errcap)
{
    int rc = crawler_parse(c, json, len, err, errcap);
    if (rc < 0)
        return rc;
    c->md = pcre2_match_data_create(1, NULL);
    c->mctx = pcre2_match_context_create(NULL);
    c->subject = calloc(1, sizeof(*c->subject));
    pcre2_code **codes = calloc(c->n ? c->n : 1, sizeof(*codes));
    bool *on_pcre = calloc(c->n ? c->n : 1, sizeof(*on_pcre));
    if (!c->md || !c->mctx || !c->subject || !codes || !on_pcre) {
        rc = IVT_ENOMEM;
        goto out;
    }
    pcre2_set_match_limit(c->mctx, RULES_PCRE2_MATCH_LIMIT);
    rc = crawler_pcre2_all(c, codes, err, errcap);
    if (rc < 0)
        goto out;
    if (engine == NODE_RULES_HYPERSCAN)
        crawler_hyperscan(c, on_pcre);
    else
        for (uint32_t i = 0; i < c->n; i++)
            on_pcre[i] = true;
    uint32_t k = 0;
    for (uint32_t i = 0; i < c->n; i++)
        k += on_pcre[i];
    rc = IVT_ENOMEM;
    c->pcre = malloc((k ? k : 1) * sizeof(*c->pcre));
    c->pcre_idx = malloc((k ? k : 1) * sizeof(*c->pcre_idx));
    if (!c->pcre || !c->pcre_idx)
        goto out;
    for (uint32_t i = 0; i < c->n; i++) {
        if (!on_pcre[i])
            continue;
        /* Without JIT (an unsupported CPU) the interpreter still answers. */
        pcre2_jit_compile(codes[i], PCRE2_JIT_COMPLETE);
        c->pcre[c->n_pcre] = codes[i];
        c->pcre_idx[c->n_pcre++] = i;
        codes[i] = NULL;
    }
    rc = 0;
out:
    for (uint32_t i = 0; codes && i < c->n; i++)
        pcre2_code_free(codes[i]);
    free(codes);
    free(on_pcre);
    return rc;
}

static int on_hs_match(unsigned id, unsigned long long from, unsigned long long to, unsigned flags,
                       void *ctx)
{
    (void)from;
    (void)to;
    (void)flags;
    unsigned *best = ctx;
    if (id < *best)
        *best = id;
    /* Lowest index 0 cannot be beaten: stop the scan. */
    return id == 0;
}

/* ua copied between zeroed pads; ua itself when the buffer cannot grow
 * (the match is the same, only the over-read is back). */
static const char *subject_copy(struct subject *sb, const char *ua, size_t len)
{
    if (len > SIZE_MAX / 2 - 2 * SUBJECT_PAD)
        return ua;
    size_t need = (len + 2 * SUBJECT_PAD + SUBJECT_PAD - 1) / SUBJECT_PAD * SUBJECT_PAD;
    if (need > sb->cap) {
        char *b = aligned_alloc(SUBJECT_PAD, need);
        if (!b)
            return ua;
        memset(b, 0, need);
        free(sb->buf);
        sb->buf = b;
        sb->cap = need;
    }
    memcpy(sb->buf + SUBJECT_PAD, ua, len);
    /* Zero what the last subject left after this one: the over-read must
     * not see stale bytes, for valgrind or anyone. */
    memset(sb->buf + SUBJECT_PAD + len, 0, sb->cap - SUBJECT_PAD - len);
    return sb->buf + SUBJECT_PAD;
}

bool node_rules_crawler(const struct node_rules *rules, const char *ua, size_t len,
                        const char **pattern)
{
    if (!rules || rules->crawler.n == 0)
        return false;
    const struct crawler *c = &rules->crawler;
    if (!ua)
        ua = "";
    unsigned best = UINT_MAX;
    if (c->db) {
        /* hs_scan takes an unsigned length; user agents are bounded far
         * below by the event decoders, so the cut never bites in practice. */
        unsigned n = len > UINT_MAX ? UINT_MAX : (unsigned)len;
        hs_scan(c->db, ua, n, 0, c->scratch, on_hs_match, &best);
    }
    const char *padded =
        c->n_pcre && c->pcre_idx[0] < best ? subject_copy(c->subject, ua, len) : ua;
    for (uint32_t k = 0; k < c->n_pcre && c->pcre_idx[k] < best; k++) {
        if (pcre2_match(c->pcre[k], (PCRE2_SPTR)padded, len, 0, 0, c->md, c->mctx) >= 0) {
            best = c->pcre_idx[k];
            break;
        }
    }
    if (best == UINT_MAX)
        return false;
    if (pattern)
        *pattern = crawler_pattern(c, best);
    return true;
}

/* ---- data-center ranges ------------------------------------------------ */

struct tmp_range {
    uint32_t first, last, asn, line;
    const uint8_t *org; /* raw field in the input, quotes included */
    uint32_t org_len;
};

static void hosting_destroy(struct hosting *h)
{
    free(h->first);
    free(h->last);
    free(h->net);
    free(h->asn);
    free(h->org_off);
    free(h->org_pool);
    memset(h, 0, sizeof(*h));
}

/* Strict dotted quad: four decimal octets of 1-3 digits. */
static int parse_ipv4(const uint8_t **pos, const uint8_t *end, uint32_t *out)
{
    const uint8_t *p = *pos;
    uint32_t v = 0;
    for (int part = 0; part < 4; part++) {
        if (part > 0) {
            if (p == end || *p != '.')
                return IVT_EPROTO;
            p++;
        }
        unsigned octet = 0, digits = 0;
        while (p < end && *p >= '0' && *p <= '9' && digits < 4) {
            octet = octet * 10 + (unsigned)(*p++ - '0');
            digits++;
        }
        if (digits == 0 || digits > 3 || octet > 255)
            return IVT_EPROTO;
        v = v << 8 | octet;
    }
    *pos = p;
    *out = v;
    return 0;
}

static int parse_u32(const uint8_t **pos, const uint8_t *end, uint32_t *out)
{
    const uint8_t *p = *pos;
    uint64_t v = 0;
    if (p == end || *p < '0' || *p > '9')
        return IVT_EPROTO;
    while (p < end && *p >= '0' && *p <= '9') {
        v = v * 10 + (uint64_t)(*p++ - '0');
        if (v > UINT32_MAX)
            return IVT_EPROTO;
    }
    *pos = p;
    *out = (uint32_t)v;
    return 0;
}

static bool expect_comma(const uint8_t **pos, const uint8_t *end)
{
    if (*pos == end || **pos != ',')
        return false;
    (*pos)++;
    return true;
}

/* The org field: the rest of the line, or one double-quoted string with ""
 * for a quote. Sets the raw view; *unescaped gets its length once unquoted. */
static const char *parse_org(const uint8_t *p, const uint8_t *end, struct tmp_range *r,
                             size_t *unescaped)
{
    r->org = p;
    r->org_len = (uint32_t)(end - p);
    if (p == end || *p != '"') {
        for (const uint8_t *q = p; q < end; q++)
            if (*q == '"')
                return "stray quote in the org field";
        *unescaped = (size_t)(end - p);
        return NULL;
    }
    size_t n = 0;
    for (const uint8_t *q = p + 1; q < end; q++) {
        if (*q != '"') {
            n++;
            continue;
        }
        if (q + 1 < end && q[1] == '"') {
            n++;
            q++;
            continue;
        }
        if (q + 1 != end)
            return "text after the closing quote";
        *unescaped = n;
        return NULL;
    }
    return "unterminated quote in the org field";
}

static size_t copy_org(char *dst, const struct tmp_range *r)
{
    const uint8_t *p = r->org, *end = r->org + r->org_len;
    size_t n = 0;
    if (p < end && *p == '"') {
        for (p++; p < end - 1; p++) {
            dst[n++] = (char)*p;
            if (*p == '"')
                p++; /* the second quote of a "" pair */
        }
    } else {
        memcpy(dst, p, (size_t)(end - p));
        n = (size_t)(end - p);
    }
    dst[n] = '\0';
    return n;
}

/* Parses every line into tmp (grown as needed). */
static int hosting_parse(struct tmp_range **out, size_t *count, const uint8_t *csv, size_t len,
                         char *err, size_t errcap)
{
    struct tmp_range *tmp = NULL;
    size_t n = 0, cap = 0;
    uint32_t line = 0;
    const uint8_t *p = csv, *end = csv + len;
    int rc = IVT_EPROTO;
    while (p < end) {
        line++;
        const uint8_t *eol = memchr(p, '\n', (size_t)(end - p));
        const uint8_t *next = eol ? eol + 1 : end;
        if (!eol)
            eol = end;
        if (eol > p && eol[-1] == '\r')
            eol--;
        if (eol == p || *p == '#') {
            p = next;
            continue;
        }
        if (n == RULES_MAX_RANGES) {
            fail(err, errcap, HOSTING_FILE ":%u: more than %d ranges", line, RULES_MAX_RANGES);
            rc = IVT_ETOOBIG;
            goto bad;
        }
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 1024;
            struct tmp_range *t = realloc(tmp, ncap * sizeof(*t));
            if (!t) {
                rc = IVT_ENOMEM;
                goto bad;
            }
            tmp = t;
            cap = ncap;
        }
        struct tmp_range *r = &tmp[n];
        r->line = line;
        const char *why = NULL;
        size_t org_len = 0;
        if (parse_ipv4(&p, eol, &r->first) < 0)
            why = "first address is not a dotted IPv4 address";
        else if (!expect_comma(&p, eol) || parse_ipv4(&p, eol, &r->last) < 0)
            why = "last address is not a dotted IPv4 address";
        else if (r->last < r->first)
            why = "last address below first address";
        else if (!expect_comma(&p, eol) || parse_u32(&p, eol, &r->asn) < 0)
            why = "AS number is not a decimal number below 2^32";
        else if (r->asn == 0)
            why = "AS number 0 is reserved";
        else if (!expect_comma(&p, eol))
            why = "no org field";
        else if ((why = parse_org(p, eol, r, &org_len)) == NULL && org_len > RULES_MAX_ORG) {
            fail(err, errcap, HOSTING_FILE ":%u: org longer than %d bytes", line, RULES_MAX_ORG);
            rc = IVT_ETOOBIG;
            goto bad;
        }
        if (why) {
            fail(err, errcap, HOSTING_FILE ":%u: %s", line, why);
            goto bad;
        }
        n++;
        p = next;
    }
    *out = tmp;
    *count = n;
    return 0;
bad:
    free(tmp);
    return rc;
}

static int cmp_asn_line(const void *a, const void *b)
{
    const struct tmp_range *x = a, *y = b;
    if (x->asn != y->asn)
        return x->asn < y->asn ? -1 : 1;
    return x->line < y->line ? -1 : x->line > y->line;
}

static int cmp_first(const void *a, const void *b)
{
    const struct tmp_range *x = a, *y = b;
    if (x->first != y->first)
        return x->first < y->first ? -1 : 1;
    if (x->last != y->last)
        return x->last < y->last ? -1 : 1;
    return x->line < y->line ? -1 : x->line > y->line;
}

static bool asn_find(const struct hosting *h, uint32_t asn, uint32_t *idx)
{
    uint32_t lo = 0, hi = h->n_asn;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (h->asn[mid] < asn)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < h->n_asn && h->asn[lo] == asn) {
        *idx = lo;
        return true;
    }
    return false;
}

/* One name per ASN, from its first line in the file. */
static int hosting_networks(struct hosting *h, struct tmp_range *tmp, size_t n)
{
    if (n > 1) /* qsort of an empty, NULL array is undefined */
        qsort(tmp, n, sizeof(*tmp), cmp_asn_line);
    size_t pool = 0, k = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && tmp[i].asn == tmp[i - 1].asn)
            continue;
        k++;
        pool += tmp[i].org_len + 1;
    }
    h->asn = malloc((k ? k : 1) * sizeof(*h->asn));
    h->org_off = malloc((k ? k : 1) * sizeof(*h->org_off));
    h->org_pool = malloc(pool ? pool : 1);
    if (!h->asn || !h->org_off || !h->org_pool)
        return IVT_ENOMEM;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && tmp[i].asn == tmp[i - 1].asn)
            continue;
        h->asn[h->n_asn] = tmp[i].asn;
        h->org_off[h->n_asn++] = (uint32_t)at;
        at += copy_org(h->org_pool + at, &tmp[i]) + 1;
    }
    return 0;
}

static int hosting_build(struct hosting *h, const uint8_t *csv, size_t len, char *err,
                         size_t errcap)
{
    struct tmp_range *tmp = NULL;
    size_t n = 0;
    int rc = hosting_parse(&tmp, &n, csv, len, err, errcap);
    if (rc < 0)
        return rc;
    rc = hosting_networks(h, tmp, n);
    if (rc < 0)
        goto out;
    rc = IVT_ENOMEM;
    h->first = malloc((n ? n : 1) * sizeof(*h->first));
    h->last = malloc((n ? n : 1) * sizeof(*h->last));
    h->net = malloc((n ? n : 1) * sizeof(*h->net));
    if (!h->first || !h->last || !h->net)
        goto out;
    if (n > 1)
        qsort(tmp, n, sizeof(*tmp), cmp_first);
    for (size_t i = 0; i < n; i++) {
        const struct tmp_range *r = &tmp[i];
        uint32_t net = 0;
        asn_find(h, r->asn, &net);
        if (h->n > 0) {
            uint32_t j = h->n - 1;
            bool overlaps = r->first <= h->last[j];
            bool touches = !overlaps && h->last[j] != UINT32_MAX && r->first == h->last[j] + 1;
            if ((overlaps || touches) && h->net[j] == net) {
                if (r->last > h->last[j])
                    h->last[j] = r->last;
                continue;
            }
            if (overlaps) {
                fail(err, errcap, HOSTING_FILE ":%u: range overlaps one of AS%u", r->line,
                     h->asn[h->net[j]]);
                rc = IVT_EPROTO;
                goto out;
            }
        }
        h->first[h->n] = r->first;
        h->last[h->n] = r->last;
        h->net[h->n++] = net;
    }
    rc = 0;
out:
    free(tmp);
    return rc;
}

bool node_rules_hosting(const struct node_rules *rules, const struct node_ip *ip, uint32_t *asn,
                        const char **org)
{
    static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (!rules || !ip || rules->hosting.n == 0)
        return false;
    const uint8_t *b;
    if (ip->family == 4)
        b = ip->bytes;
    else if (ip->family == 6 && memcmp(ip->bytes, v4mapped, sizeof(v4mapped)) == 0)
        b = ip->bytes + 12;
    else
        return false;
    uint32_t a = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
    const struct hosting *h = &rules->hosting;
    /* The last range whose first address is at or below a. Halving with a
     * conditional move instead of a branch: the branch on random addresses
     * is a coin toss the predictor loses half the time. */
    uint32_t lo = 0, len = h->n;
    while (len > 1) {
        uint32_t half = len / 2;
        lo = h->first[lo + half] <= a ? lo + half : lo;
        len -= half;
    }
    if (h->first[lo] > a || a > h->last[lo])
        return false;
    uint32_t net = h->net[lo];
    if (asn)
        *asn = h->asn[net];
    if (org)
        *org = h->org_pool + h->org_off[net];
    return true;
}

bool node_rules_hosting_asn(const struct node_rules *rules, uint32_t asn, const char **org)
{
    uint32_t idx;
    if (!rules || asn == 0 || !asn_find(&rules->hosting, asn, &idx))
        return false;
    if (org)
        *org = rules->hosting.org_pool + rules->hosting.org_off[idx];
    return true;
}

/* ---- the object -------------------------------------------------------- */

int node_rules_new_engine(struct node_rules **out, enum node_rules_engine engine,
                          const uint8_t *crawler_json, size_t crawler_len,
                          const uint8_t *hosting_csv, size_t hosting_len, char *err, size_t errcap)
{
    *out = NULL;
    if (err && errcap)
        err[0] = '\0';
    if (engine != NODE_RULES_HYPERSCAN && engine != NODE_RULES_PCRE2)
        return IVT_EINVAL;
    struct node_rules *r = calloc(1, sizeof(*r));
    if (!r)
        return IVT_ENOMEM;
    r->engine = engine;
    int rc = 0;
    if (crawler_json && crawler_len)
        rc = crawler_build(&r->crawler, engine, crawler_json, crawler_len, err, errcap);
    if (rc == 0 && hosting_csv && hosting_len)
        rc = hosting_build(&r->hosting, hosting_csv, hosting_len, err, errcap);
    if (rc < 0) {
        node_rules_delete(r);
        return rc;
    }
    if (r->crawler.n > 0 && !r->crawler.db)
        r->engine = NODE_RULES_PCRE2;
    *out = r;
    return 0;
}

int node_rules_new(struct node_rules **out, const uint8_t *crawler_json, size_t crawler_len,
                   const uint8_t *hosting_csv, size_t hosting_len, char *err, size_t errcap)
{
    return node_rules_new_engine(out, NODE_RULES_HYPERSCAN, crawler_json, crawler_len, hosting_csv,
                                 hosting_len, err, errcap);
}

void node_rules_delete(struct node_rules *rules)
{
    if (!rules)
        return;
    crawler_destroy(&rules->crawler);
    hosting_destroy(&rules->hosting);
    free(rules);
}

void node_rules_get_info(const struct node_rules *rules, struct node_rules_info *out)
{
    memset(out, 0, sizeof(*out));
    if (!rules)
        return;
    out->engine = rules->engine;
    out->patterns = rules->crawler.n;
    out->patterns_pcre2 = rules->crawler.n_pcre;
    out->ranges = rules->hosting.n;
    out->asns = rules->hosting.n_asn;
}

void node_rules_givt(struct node_signals *out, const struct node_rules *rules,
                     const struct node_event *ev)
{
    out->crawler = false;
    out->crawler_pattern = NULL;
    out->datacenter = false;
    out->datacenter_asn = 0;
    out->datacenter_org = NULL;
    if (!rules)
        return;
    out->crawler = node_rules_crawler(rules, ev->ua, ev->ua_len, &out->crawler_pattern);
    if (node_rules_hosting(rules, &ev->ip, &out->datacenter_asn, &out->datacenter_org)) {
        out->datacenter = true;
    } else if (node_rules_hosting_asn(rules, ev->asn, &out->datacenter_org)) {
        /* No range for this address (IPv6, or a range the data lacks), but
         * the ad server tagged the event with a hosting network's ASN. */
        out->datacenter = true;
        out->datacenter_asn = ev->asn;
    }
}
