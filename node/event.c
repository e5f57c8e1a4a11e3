/*
 * node/event.c: parsing and naming of the node core's vocabulary: IP
 * addresses, event kinds, entity kinds, verdicts, classes, actions.
 *
 * Pure functions with no I/O; it is the one core file that includes
 * <arpa/inet.h>, for libc's inet_pton/inet_ntop, which are string
 * conversions, not network calls.
 */
#include "node/node.h"

#include <arpa/inet.h>
#include <string.h>

#include "base/err.h"

/* Longest textual IPv6 address with an embedded IPv4 part, plus NUL. */
enum { IP_TEXT_MAX = 46 };

/* A dotted quad exactly as inet_pton reads it (four decimal parts of at
 * most 255, no leading zeros, nothing else): every event's address passes
 * here, and inet_pton wants a NUL-terminated copy first. Returns false for
 * anything else, which then goes to inet_pton and gets its verdict. */
static bool parse_v4(uint8_t out[4], const char *s, size_t len)
{
    const char *e = s + len;
    for (int i = 0; i < 4; i++) {
        if (s == e || *s < '0' || *s > '9')
            return false;
        unsigned v = (unsigned)(*s++ - '0');
        if (v == 0 && s < e && *s >= '0' && *s <= '9')
            return false;
        while (s < e && *s >= '0' && *s <= '9') {
            v = v * 10 + (unsigned)(*s++ - '0');
            if (v > 255)
                return false;
        }
        out[i] = (uint8_t)v;
        if (i < 3 && (s == e || *s++ != '.'))
            return false;
    }
    return s == e;
}

int node_ip_parse(struct node_ip *out, const char *s, size_t len)
{
    char buf[IP_TEXT_MAX];
    if (len == 0 || len >= sizeof(buf))
        return IVT_EINVAL;
    memset(out, 0, sizeof(*out));
    if (parse_v4(out->bytes, s, len)) {
        out->family = 4;
        return 0;
    }
    memset(out->bytes, 0, sizeof(out->bytes));
    memcpy(buf, s, len);
    buf[len] = 0;
    if (inet_pton(AF_INET, buf, out->bytes) == 1) {
        out->family = 4;
        return 0;
    }
    if (inet_pton(AF_INET6, buf, out->bytes) == 1) {
        /* An IPv4-mapped IPv6 address is the IPv4 host: one entity, not two. */
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(out->bytes, mapped, sizeof(mapped)) == 0) {
            memmove(out->bytes, out->bytes + 12, 4);
            memset(out->bytes + 4, 0, 12);
            out->family = 4;
        } else {
            out->family = 6;
        }
        return 0;
    }
    return IVT_EINVAL;
}

/* Dotted quad, as inet_ntop writes it: every event's key is formatted on
 * the request path, and glibc's inet_ntop goes through sprintf. */
static void format_v4(char *out, const uint8_t *b)
{
    for (int i = 0; i < 4; i++) {
        unsigned v = b[i];
        if (v >= 100)
            *out++ = (char)('0' + v / 100);
        if (v >= 10)
            *out++ = (char)('0' + v / 10 % 10);
        *out++ = (char)('0' + v % 10);
        *out++ = i < 3 ? '.' : 0;
    }
}

const char *node_ip_format(const struct node_ip *ip, char *buf, size_t cap)
{
    if (cap == 0)
        return buf;
    buf[0] = 0;
    if (ip->family == 4 && cap >= INET_ADDRSTRLEN)
        format_v4(buf, ip->bytes);
    else if (ip->family == 4)
        inet_ntop(AF_INET, ip->bytes, buf, (socklen_t)cap);
    else if (ip->family == 6)
        inet_ntop(AF_INET6, ip->bytes, buf, (socklen_t)cap);
    return buf;
}

static int name_lookup(const char *const *names, int n, const char *s, size_t len)
{
    for (int i = 0; i < n; i++)
        if (strlen(names[i]) == len && memcmp(names[i], s, len) == 0)
            return i;
    return IVT_EINVAL;
}

static const char *const event_kind_names[] = {"request", "impression", "click"};
static const char *const entity_kind_names[] = {"ip", "prefix", "device", "ua", "pub"};
static const char *const verdict_names[] = {"ok", "suspect", "bot"};
static const char *const class_names[] = {"none", "givt", "sivt"};
static const char *const action_names[] = {"none", "ban", "allow", "clear"};

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

int node_event_kind_parse(enum node_event_kind *out, const char *s, size_t len)
{
    int i = name_lookup(event_kind_names, N_OF(event_kind_names), s, len);
    if (i < 0)
        return i;
    *out = (enum node_event_kind)i;
    return 0;
}

const char *node_event_kind_name(enum node_event_kind kind)
{
    return (unsigned)kind < (unsigned)N_OF(event_kind_names) ? event_kind_names[kind] : "?";
}

int node_entity_kind_parse(enum node_entity_kind *out, const char *s, size_t len)
{
    int i = name_lookup(entity_kind_names, N_OF(entity_kind_names), s, len);
    if (i < 0)
        return i;
    *out = (enum node_entity_kind)i;
    return 0;
}

const char *node_entity_kind_name(enum node_entity_kind kind)
{
    return (unsigned)kind < (unsigned)N_OF(entity_kind_names) ? entity_kind_names[kind] : "?";
}

const char *node_verdict_name(enum node_verdict v)
{
    return (unsigned)v < (unsigned)N_OF(verdict_names) ? verdict_names[v] : "?";
}

const char *node_class_name(enum node_ivt_class c)
{
    return (unsigned)c < (unsigned)N_OF(class_names) ? class_names[c] : "?";
}

const char *node_action_name(enum node_action a)
{
    return (unsigned)a < (unsigned)N_OF(action_names) ? action_names[a] : "?";
}

static const char *const admit_reason_names[] = {"rule", "decision", "events", "distinct", "heavy"};

const char *node_admit_reason_name(enum node_admit_reason r)
{
    return (unsigned)r < (unsigned)N_OF(admit_reason_names) ? admit_reason_names[r] : "?";
}
