/*
 * cli/event.c: events for `ivtctl observe` (JSON lines) and `ivtctl score`.
 *
 * A JSON line such as
 *   {"ts": 1700000000000, "ip": "192.0.2.7", "ua": "Mozilla/5.0 ...",
 *    "pub": "site-42", "kind": "request", "country": "FR", "asn": 64500}
 * is checked here, on the operator's side, so a bad line is reported with
 * its line number and the reason before anything is sent, and becomes the
 * msgpack map of PROTOCOL-SPEC.md:
 *
 *   +------+------+------+------+----------+------+------+---------+-----+
 *   | map  | ts?  | ip   | ua   | device?  | pub  | kind | country?| asn?|
 *   | 4..8 | uint | str  | str  | str      | str  | str  | str(2)  | uint|
 *   +------+------+------+------+----------+------+------+---------+-----+
 *
 * Keys are written in that order and absent optional keys are left out.
 * The daemon checks again; checking here is for the operator's sake.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "base/mp.h"
#include "cli/internal.h"

static const char *const event_kinds[] = {"request", "impression", "click", NULL};

bool ivtctl_is_ip(const char *s)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static bool is_country(const char *s)
{
    for (int i = 0; i < 2; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z')))
            return false;
    return s[2] == '\0';
}

int ivtctl_event_check(const struct ivtctl_event *ev, char *msg, size_t cap)
{
    static const char *const required[] = {"ip", "ua", "pub", "kind"};
    const char *const values[] = {ev->ip, ev->ua, ev->pub, ev->kind};
    for (int i = 0; i < 4; i++) {
        if (!values[i]) {
            snprintf(msg, cap, "missing '%s'", required[i]);
            return IVT_EINVAL;
        }
    }
    if (!ivtctl_is_ip(ev->ip)) {
        snprintf(msg, cap, "'ip' must be an IPv4 or IPv6 address, not '%.60s'", ev->ip);
        return IVT_EINVAL;
    }
    bool kind_ok = false;
    for (int i = 0; event_kinds[i]; i++)
        kind_ok |= strcmp(ev->kind, event_kinds[i]) == 0;
    if (!kind_ok) {
        snprintf(msg, cap, "'kind' must be one of request, impression, click");
        return IVT_EINVAL;
    }
    if (ev->country && !is_country(ev->country)) {
        snprintf(msg, cap, "'country' must be two letters (ISO 3166), not '%.20s'", ev->country);
        return IVT_EINVAL;
    }
    if (ev->asn > UINT32_MAX) {
        snprintf(msg, cap, "'asn' must be at most 4294967295");
        return IVT_EINVAL;
    }
    return 0;
}

void ivtctl_event_write(struct ivt_mpw *w, const struct ivtctl_event *ev)
{
    uint32_t n = 4 + ev->has_ts + !!ev->device + !!ev->country + !!ev->asn;
    ivt_mpw_map(w, n);
    if (ev->has_ts) {
        ivt_mpw_cstr(w, "ts");
        ivt_mpw_uint(w, ev->ts);
    }
    ivt_mpw_cstr(w, "ip");
    ivt_mpw_cstr(w, ev->ip);
    ivt_mpw_cstr(w, "ua");
    ivt_mpw_cstr(w, ev->ua);
    if (ev->device) {
        ivt_mpw_cstr(w, "device");
        ivt_mpw_cstr(w, ev->device);
    }
    ivt_mpw_cstr(w, "pub");
    ivt_mpw_cstr(w, ev->pub);
    ivt_mpw_cstr(w, "kind");
    ivt_mpw_cstr(w, ev->kind);
    if (ev->country) {
        ivt_mpw_cstr(w, "country");
        ivt_mpw_cstr(w, ev->country);
    }
    if (ev->asn) {
        ivt_mpw_cstr(w, "asn");
        ivt_mpw_uint(w, ev->asn);
    }
}

/* The keys of a JSON event, their JSON type, and where they go. */
enum field_type { F_STRING, F_UINT };

struct field {
    const char *name;
    enum field_type type;
};

static const struct field fields[] = {
    {"ts", F_UINT},    {"ip", F_STRING},   {"ua", F_STRING},      {"device", F_STRING},
    {"pub", F_STRING}, {"kind", F_STRING}, {"country", F_STRING}, {"asn", F_UINT},
};

enum { N_FIELDS = sizeof(fields) / sizeof(fields[0]) };

/* Stores a checked field into ev (strings stay owned by the JSON value). */
static void set_field(struct ivtctl_event *ev, const char *name, const json_t *v)
{
    if (strcmp(name, "ts") == 0) {
        ev->has_ts = true;
        ev->ts = (uint64_t)json_integer_value(v);
    } else if (strcmp(name, "asn") == 0) {
        ev->asn = (uint64_t)json_integer_value(v);
    } else {
        const char *s = json_string_value(v);
        const char **slot = strcmp(name, "ip") == 0       ? &ev->ip
                            : strcmp(name, "ua") == 0     ? &ev->ua
                            : strcmp(name, "device") == 0 ? &ev->device
                            : strcmp(name, "pub") == 0    ? &ev->pub
                            : strcmp(name, "kind") == 0   ? &ev->kind
                                                          : &ev->country;
        *slot = s;
    }
}

int ivtctl_event_parse_line(struct ivt_mpw *w, const char *line, size_t len, char *msg, size_t cap)
{
    json_error_t jerr;
    /* Duplicate keys are an error: which "ip" did the producer mean? */
    json_t *obj = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!obj) {
        snprintf(msg, cap, "not JSON: %s (column %d)", jerr.text, jerr.column);
        return IVT_EINVAL;
    }
    int rc = IVT_EINVAL;
    if (!json_is_object(obj)) {
        snprintf(msg, cap, "an event must be a JSON object");
        goto out;
    }
    struct ivtctl_event ev = {0};
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        const struct field *f = NULL;
        for (int i = 0; i < N_FIELDS && !f; i++)
            if (strcmp(key, fields[i].name) == 0)
                f = &fields[i];
        if (!f) {
            snprintf(msg, cap,
                     "unknown key '%.40s' (events have ts, ip, ua, device, pub, kind, country, "
                     "asn)",
                     key);
            goto out;
        }
        if (f->type == F_STRING && !json_is_string(v)) {
            snprintf(msg, cap, "'%s' must be a string", f->name);
            goto out;
        }
        if (f->type == F_UINT && (!json_is_integer(v) || json_integer_value(v) < 0)) {
            snprintf(msg, cap, "'%s' must be a whole number, 0 or more", f->name);
            goto out;
        }
        set_field(&ev, f->name, v);
    }
    if ((rc = ivtctl_event_check(&ev, msg, cap)))
        goto out;
    size_t before = w->len;
    ivtctl_event_write(w, &ev);
    if ((rc = ivt_mpw_error(w))) {
        snprintf(msg, cap, "%s", ivt_strerror(rc));
        w->len = before;
    }
out:
    json_decref(obj);
    return rc;
}
