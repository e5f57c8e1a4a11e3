/*
 * cli/reply.c: msgpack-RPC replies from the control socket, as JSON values.
 *
 * A response frame (PROTOCOL-SPEC.md):
 *
 *   +------+-------+--------------------------------+--------+
 *   | 0x94 | 1     | msgid (uint32)  | error        | result |
 *   | arr4 | type  |                 | nil or map   | any    |
 *   +------+-------+-----------------+--------------+--------+
 *   error map: {"code": str ("EINVAL", "ENOMETHOD"...), "message": str}
 *
 * The result becomes a jansson value so that -o json prints it and text
 * mode renders it from one decode. The reader is the bounded cursor of
 * base/mp.h; on top of it this file bounds nesting (recursion depth) and
 * the number of values (memory), because a reply of 16 MiB of empty arrays
 * would otherwise become a few hundred MiB of json_t.
 */
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "base/mp.h"
#include "cli/internal.h"

static int to_json(const uint8_t **pos, const uint8_t *end, size_t *budget, int depth,
                   json_t **out);

static int take_budget(size_t *budget, size_t n)
{
    if (n > *budget)
        return IVT_ETOOBIG;
    *budget -= n;
    return 0;
}

/* bin has no JSON form; ids travel as bin in some replies: show them hex. */
static json_t *bin_to_hex(const uint8_t *b, uint32_t n)
{
    static const char digits[] = "0123456789abcdef";
    char *s = malloc((size_t)n * 2 + 1);
    if (!s)
        return NULL;
    for (uint32_t i = 0; i < n; i++) {
        s[2 * i] = digits[b[i] >> 4];
        s[2 * i + 1] = digits[b[i] & 15];
    }
    json_t *v = json_stringn_nocheck(s, (size_t)n * 2);
    free(s);
    return v;
}

static int array_to_json(const uint8_t **pos, const uint8_t *end, size_t *budget, int depth,
                         json_t **out)
{
    uint32_t n;
    int rc = ivt_mp_read_array(pos, end, &n);
    if (rc)
        return rc;
    json_t *a = json_array();
    if (!a)
        return IVT_ENOMEM;
    for (uint32_t i = 0; i < n; i++) {
        json_t *v;
        if ((rc = to_json(pos, end, budget, depth + 1, &v)))
            break;
        if (json_array_append_new(a, v)) {
            rc = IVT_ENOMEM;
            break;
        }
    }
    if (rc) {
        json_decref(a);
        return rc;
    }
    *out = a;
    return 0;
}

static int map_to_json(const uint8_t **pos, const uint8_t *end, size_t *budget, int depth,
                       json_t **out)
{
    uint32_t n;
    int rc = ivt_mp_read_map(pos, end, &n);
    if (rc)
        return rc;
    json_t *o = json_object();
    if (!o)
        return IVT_ENOMEM;
    for (uint32_t i = 0; i < n && !rc; i++) {
        const char *k;
        uint32_t klen;
        json_t *v;
        /* JSON has only string keys; ivtd sends no others. */
        if ((rc = ivt_mp_read_str(pos, end, &k, &klen)))
            break;
        if (json_object_getn(o, k, klen)) {
            rc = IVT_EPROTO; /* a duplicate key: which one would we show? */
            break;
        }
        if ((rc = to_json(pos, end, budget, depth + 1, &v)))
            break;
        /* Fails on a key that is not UTF-8 (and on no memory, rarer). */
        if (json_object_setn_new(o, k, klen, v))
            rc = IVT_EPROTO;
    }
    if (rc) {
        json_decref(o);
        return rc;
    }
    *out = o;
    return 0;
}

static int to_json(const uint8_t **pos, const uint8_t *end, size_t *budget, int depth, json_t **out)
{
    if (depth > IVTCTL_MAX_DEPTH)
        return IVT_EPROTO;
    if (take_budget(budget, 1))
        return IVT_ETOOBIG;
    const uint8_t *p = *pos;
    json_t *v = NULL;
    int rc = 0;
    switch (ivt_mp_peek(p, end)) {
    case IVT_MP_NIL:
        rc = ivt_mp_read_nil(&p, end);
        v = json_null();
        break;
    case IVT_MP_BOOL: {
        bool b = false;
        rc = ivt_mp_read_bool(&p, end, &b);
        v = json_boolean(b);
        break;
    }
    case IVT_MP_UINT: {
        uint64_t u = 0;
        rc = ivt_mp_read_uint(&p, end, &u);
        if (!rc && u > (uint64_t)INT64_MAX)
            return IVT_EPROTO; /* no JSON integer holds it exactly */
        v = json_integer((json_int_t)u);
        break;
    }
    case IVT_MP_INT: {
        int64_t i = 0;
        rc = ivt_mp_read_int(&p, end, &i);
        v = json_integer((json_int_t)i);
        break;
    }
    case IVT_MP_FLOAT: {
        double d = 0;
        rc = ivt_mp_read_double(&p, end, &d);
        if (rc)
            return rc;
        v = json_real(d);
        if (!v)
            return IVT_EPROTO; /* NaN or infinite: JSON cannot say it */
        break;
    }
    case IVT_MP_STR: {
        const char *s;
        uint32_t n;
        if ((rc = ivt_mp_read_str(&p, end, &s, &n)))
            return rc;
        v = json_stringn(s, n);
        if (!v)
            return IVT_EPROTO; /* not UTF-8 */
        break;
    }
    case IVT_MP_BIN: {
        const uint8_t *b;
        uint32_t n;
        if ((rc = ivt_mp_read_bin(&p, end, &b, &n)))
            return rc;
        v = bin_to_hex(b, n);
        break;
    }
    case IVT_MP_ARRAY: rc = array_to_json(&p, end, budget, depth, &v); break;
    case IVT_MP_MAP: rc = map_to_json(&p, end, budget, depth, &v); break;
    default: return IVT_EPROTO; /* ext, or not msgpack */
    }
    if (rc) {
        json_decref(v);
        return rc;
    }
    if (!v)
        return IVT_ENOMEM;
    *pos = p;
    *out = v;
    return 0;
}

int ivtctl_mp_to_json(const uint8_t **pos, const uint8_t *end, size_t *budget, json_t **out)
{
    return to_json(pos, end, budget, 0, out);
}

/* An error map must carry a string code and message and nothing else we
 * would drop silently; extra keys are kept (a later ivtd may add some). */
static int check_error(const json_t *e)
{
    if (!json_is_object(e) || !json_is_string(json_object_get(e, "code")) ||
        !json_is_string(json_object_get(e, "message")))
        return IVT_EPROTO;
    return 0;
}

int ivtctl_reply_decode(const uint8_t **pos, const uint8_t *end, uint32_t *msgid, json_t **error,
                        json_t **result)
{
    const uint8_t *p = *pos;
    uint32_t n;
    uint64_t type, id;
    int rc;
    *error = *result = NULL;
    if ((rc = ivt_mp_read_array(&p, end, &n)))
        return rc;
    if (n != 4)
        return IVT_EPROTO;
    if ((rc = ivt_mp_read_uint(&p, end, &type)))
        return rc;
    if (type != 1)
        return IVT_EPROTO; /* a request or notification: the server sends neither */
    if ((rc = ivt_mp_read_uint_max(&p, end, UINT32_MAX, &id)))
        return rc;
    size_t budget = IVTCTL_MAX_VALUES;
    json_t *err = NULL, *res = NULL;
    if (ivt_mp_peek(p, end) == IVT_MP_NIL) {
        ivt_mp_read_nil(&p, end);
        if ((rc = ivtctl_mp_to_json(&p, end, &budget, &res)))
            return rc;
    } else {
        if ((rc = ivtctl_mp_to_json(&p, end, &budget, &err)))
            return rc;
        if ((rc = check_error(err)) || (rc = ivt_mp_skip(&p, end))) {
            json_decref(err);
            return rc;
        }
    }
    if (p != end) {
        json_decref(err);
        json_decref(res);
        return IVT_EPROTO; /* a frame is exactly one value */
    }
    *pos = p;
    *msgid = (uint32_t)id;
    *error = err;
    *result = res;
    return 0;
}
