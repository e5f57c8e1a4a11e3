/*
 * cli/cmd_cluster.c: keys, join, leave: membership and the gossip keyring.
 *
 * Keys travel as standard base64 (with padding) of 32 bytes, the form
 * `keys generate` prints and cluster.encrypt takes, as Consul's
 * `consul keygen` does. Their ids, never the keys, come back from list.
 */
#include <string.h>

#include <sodium.h>

#include "base/mp.h"
#include "cli/internal.h"

/* XChaCha20-Poly1305 keys (design.md: the AEAD envelope). */
enum { KEY_BYTES = 32 };
/* Base64 of 32 bytes with padding is 44 characters. */
enum { KEY_B64_LEN = 44 };

int ivtctl_cmd_keys_generate(struct ivtctl *c, int argc, char **argv)
{
    int rc = ivtctl_args_parse(c, NULL, argc, argv, 0, 0);
    if (rc < 0)
        return -rc;
    if (c->check_only)
        return IVTCTL_CHECKED;
    if (sodium_init() < 0)
        return ivtctl_fail(c, IVTCTL_EXIT_NODE, "ENOMEM", "libsodium failed to initialise");
    unsigned char key[KEY_BYTES];
    char b64[KEY_B64_LEN + 1];
    randombytes_buf(key, sizeof(key));
    sodium_bin2base64(b64, sizeof(b64), key, sizeof(key), sodium_base64_VARIANT_ORIGINAL);
    sodium_memzero(key, sizeof(key));
    if (c->output == IVTCTL_OUT_JSON) {
        json_t *doc = json_pack("{s:s}", "key", b64);
        if (!doc)
            return ivtctl_fail(c, IVTCTL_EXIT_NODE, "ENOMEM", "out of memory");
        ivtctl_print_json(c, doc);
        json_decref(doc);
    } else {
        fprintf(c->out, "%s\n", b64);
    }
    sodium_memzero(b64, sizeof(b64));
    return IVTCTL_EXIT_OK;
}

static int keys_list_text(struct ivtctl *c, const json_t *res)
{
    static const struct ivtctl_column cols[] = {{"ID", IVTCTL_LEFT}, {"PRIMARY", IVTCTL_LEFT}};
    if (!json_is_array(res))
        return ivtctl_bad_reply(c, "an array");
    struct ivtctl_table t;
    ivtctl_table_init(&t, cols, 2, true);
    size_t i;
    const json_t *k;
    json_array_foreach(res, i, k)
    {
        ivtctl_table_json(&t, json_object_get(k, "id"));
        ivtctl_table_cell(&t, "%s", json_is_true(json_object_get(k, "primary")) ? "*" : "");
    }
    return ivtctl_table_done(c, &t);
}

int ivtctl_cmd_keys_list(struct ivtctl *c, int argc, char **argv)
{
    return ivtctl_simple(c, argc, argv, "keys.list", keys_list_text);
}

/* keys install / use / remove KEY: the same shape, three methods. */
static int key_op(struct ivtctl *c, const char *method, const char *done, int argc, char **argv)
{
    int rc = ivtctl_args_parse(c, NULL, argc, argv, 1, 1);
    if (rc < 0)
        return -rc;
    unsigned char key[KEY_BYTES];
    size_t n = 0;
    const char *b64_end;
    /* Check here so a truncated paste is a usage error naming the form,
     * not a round trip and a terse EINVAL. */
    if (sodium_init() < 0 ||
        sodium_base642bin(key, sizeof(key), argv[0], strlen(argv[0]), NULL, &n, &b64_end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        *b64_end || n != KEY_BYTES) {
        sodium_memzero(key, sizeof(key));
        return ivtctl_usage(c, "KEY must be standard base64 of 32 bytes (44 characters, as "
                               "`ivtctl keys generate` prints)");
    }
    sodium_memzero(key, sizeof(key));
    uint8_t buf[128];
    struct ivt_mpw w;
    ivt_mpw_init_fixed(&w, buf, sizeof(buf));
    ivt_mpw_array(&w, 1);
    ivt_mpw_cstr(&w, argv[0]);
    json_t *res;
    rc = ivtctl_call(c, method, &w, &res);
    sodium_memzero(buf, sizeof(buf));
    if (rc)
        return rc;
    if (c->output == IVTCTL_OUT_JSON)
        return ivtctl_finish(c, res, NULL);
    json_decref(res);
    fprintf(c->out, "%s\n", done);
    return IVTCTL_EXIT_OK;
}

int ivtctl_cmd_keys_install(struct ivtctl *c, int argc, char **argv)
{
    return key_op(c, "keys.install", "key installed; the cluster is told", argc, argv);
}

int ivtctl_cmd_keys_use(struct ivtctl *c, int argc, char **argv)
{
    return key_op(c, "keys.use", "key is now the primary; the cluster is told", argc, argv);
}

int ivtctl_cmd_keys_remove(struct ivtctl *c, int argc, char **argv)
{
    return key_op(c, "keys.remove", "key removed; the cluster is told", argc, argv);
}

/* ip:port with a port from 1 to 65535, IPv6 in brackets: the literal
 * addresses ivtd's join takes (it resolves no names). */
static bool addr_ok(const char *a)
{
    const char *colon = strrchr(a, ':');
    if (!colon || colon == a)
        return false;
    char host[64];
    bool v6 = a[0] == '[';
    if (v6 && (colon - a < 2 || colon[-1] != ']'))
        return false;
    size_t hl = (size_t)(colon - a) - (v6 ? 2 : 0);
    if (hl == 0 || hl >= sizeof(host))
        return false;
    memcpy(host, a + (v6 ? 1 : 0), hl);
    host[hl] = '\0';
    /* Brackets hold IPv6 and only IPv6; a bare IPv6 address would leave
     * the port's colon ambiguous. */
    if (!ivtctl_is_ip(host) || v6 != (strchr(host, ':') != NULL))
        return false;
    const char *p = colon + 1;
    unsigned long port = 0;
    if (!*p || strlen(p) > 5)
        return false;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        port = port * 10 + (unsigned long)(*p - '0');
    }
    return port >= 1 && port <= 65535;
}

/* join params: addresses are short, and the count is bounded by argv. */
enum { JOIN_PARAMS_MAX = 64 << 10 };

static int join_text(struct ivtctl *c, const json_t *res)
{
    char n[32];
    /* ivtd only starts the join (a push-pull with each address) and does
     * not wait for answers: say what was done, and where to see the rest. */
    fprintf(c->out, "join: asked %s node(s); `ivtctl members` shows the cluster as they answer\n",
            ivtctl_json_text(n, sizeof(n), json_object_get(res, "joined")));
    return IVTCTL_EXIT_OK;
}

int ivtctl_cmd_join(struct ivtctl *c, int argc, char **argv)
{
    int n = ivtctl_args_parse(c, NULL, argc, argv, 1, -1);
    if (n < 0)
        return -n;
    for (int i = 0; i < n; i++)
        if (!addr_ok(argv[i]))
            return ivtctl_usage(c,
                                "'%.80s' is not ip:port (a literal address, e.g. "
                                "10.0.0.7:7946 or [2001:db8::7]:7946)",
                                argv[i]);
    struct ivt_mpw w;
    ivt_mpw_init_dyn(&w, JOIN_PARAMS_MAX);
    ivt_mpw_array(&w, (uint32_t)n);
    for (int i = 0; i < n; i++)
        ivt_mpw_cstr(&w, argv[i]);
    json_t *res = NULL;
    int rc = ivt_mpw_error(&w) ? ivtctl_usage(c, "too many addresses")
                               : ivtctl_call(c, "join", &w, &res);
    ivt_mpw_destroy(&w);
    if (rc)
        return rc;
    return ivtctl_finish(c, res, join_text);
}

static int leave_text(struct ivtctl *c, const json_t *res)
{
    (void)res;
    fprintf(c->out, "left the cluster\n");
    return IVTCTL_EXIT_OK;
}

int ivtctl_cmd_leave(struct ivtctl *c, int argc, char **argv)
{
    return ivtctl_simple(c, argc, argv, "leave", leave_text);
}
