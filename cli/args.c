/*
 * cli/args.c: the option parser every ivtctl command uses.
 *
 * Why not getopt_long: its state is global (optind), it permutes argv in
 * ways that differ between libcs, and each command would repeat the same
 * loop. Here a command declares its options as data, and global options
 * (-s, -o, --timeout, --progress) are accepted anywhere, so both
 * `ivtctl -o json members` and `ivtctl members -o json` work.
 */
#include <stdlib.h>
#include <string.h>

#include "base/duration.h"
#include "base/err.h"
#include "base/num.h"
#include "cli/internal.h"

const char *const ivtctl_entity_kinds[] = {"ip", "prefix", "device", "ua", "pub", NULL};

static const char *const output_words[] = {"text", "json", NULL};

/* The global options, as the parser knows them. */
static const struct ivtctl_opt global_opts[] = {
    {"socket", 's', "SOCKET", NULL},
    {"output", 'o', "FORMAT", NULL},
    {"timeout", 0, "DURATION", NULL},
    {"progress", 0, NULL, NULL},
    {NULL, 0, NULL, NULL},
};

int ivtctl_global_opt(struct ivtctl *c, const char *name, const char *value)
{
    if (strcmp(name, "socket") == 0) {
        if (!*value)
            return ivtctl_usage(c, "-s needs a socket path");
        c->socket = value;
    } else if (strcmp(name, "output") == 0) {
        int rc = ivtctl_opt_word(c, "-o", value, output_words);
        if (rc < 0)
            return IVTCTL_EXIT_USAGE;
        c->output = rc == 1 ? IVTCTL_OUT_JSON : IVTCTL_OUT_TEXT;
    } else if (strcmp(name, "timeout") == 0) {
        ivt_ms t;
        if (ivtctl_opt_duration(c, "--timeout", value, &t))
            return IVTCTL_EXIT_USAGE;
        if (t <= 0)
            return ivtctl_usage(c, "--timeout must be more than 0");
        if (t > IVTCTL_MAX_TIMEOUT_MS)
            return ivtctl_usage(c, "--timeout must be at most 1d");
        c->timeout = t;
    } else if (strcmp(name, "progress") == 0) {
        c->progress = true;
    }
    return 0;
}

/* Finds an option by long name (len bytes of name) or by short letter. */
static const struct ivtctl_opt *find_opt(const struct ivtctl_opt *opts, const char *name,
                                         size_t len, char letter)
{
    for (const struct ivtctl_opt *o = opts; o && o->name; o++) {
        if (letter ? o->short_name == letter
                   : strlen(o->name) == len && strncmp(o->name, name, len) == 0)
            return o;
    }
    return NULL;
}

/*
 * The loop under both entry points. Scans argv[first..argc); with
 * stop_at_positional, returns at the first positional (the command word)
 * and sets *next to its index; otherwise compacts positionals to the front
 * of argv and returns how many there were. Negative: -IVTCTL_EXIT_USAGE.
 */
static int parse(struct ivtctl *c, struct ivtctl_opt *opts, int argc, char **argv, int first,
                 bool stop_at_positional, int *next)
{
    int npos = 0;
    bool options_done = false;
    *next = argc;
    for (int i = first; i < argc; i++) {
        char *a = argv[i];
        if (options_done || a[0] != '-' || a[1] == '\0') {
            if (stop_at_positional) {
                *next = i;
                return 0;
            }
            /* "-" alone is a positional (stdin, by convention). In-place
             * compaction is safe: npos <= i, so we overwrite only
             * arguments already consumed. */
            argv[npos++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            if (stop_at_positional) {
                *next = i + 1;
                return 0;
            }
            options_done = true;
            continue;
        }
        const struct ivtctl_opt *o;
        bool global = false;
        const char *value = NULL;
        char shown[64];
        if (a[1] == '-') {
            const char *name = a + 2, *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            o = find_opt(opts, name, len, 0);
            if (!o && (o = find_opt(global_opts, name, len, 0)))
                global = true;
            snprintf(shown, sizeof(shown), "--%.*s", (int)(len < 40 ? len : 40), name);
            if (!o)
                return -ivtctl_usage(c, "unknown option %s", shown);
            if (eq) {
                if (!o->arg)
                    return -ivtctl_usage(c, "%s takes no value", shown);
                value = eq + 1;
            }
        } else {
            o = find_opt(opts, NULL, 0, a[1]);
            if (!o && (o = find_opt(global_opts, NULL, 0, a[1])))
                global = true;
            snprintf(shown, sizeof(shown), "-%c", a[1]);
            if (!o)
                return -ivtctl_usage(c, "unknown option %s", shown);
            if (a[2]) {
                if (!o->arg)
                    return -ivtctl_usage(c, "%s takes no value", shown);
                value = a + 2;
            }
        }
        if (o->arg && !value) {
            if (i + 1 >= argc)
                return -ivtctl_usage(c, "%s needs a value (%s)", shown, o->arg);
            value = argv[++i];
        }
        if (!o->arg)
            value = "";
        if (global) {
            int rc = ivtctl_global_opt(c, o->name, value);
            if (rc)
                return -rc;
        } else {
            /* opts is the caller's mutable array: o points into it. */
            ((struct ivtctl_opt *)o)->value = value;
        }
    }
    return npos;
}

int ivtctl_args_globals(struct ivtctl *c, struct ivtctl_opt *opts, int argc, char **argv)
{
    int next;
    int rc = parse(c, opts, argc, argv, 1, true, &next);
    return rc < 0 ? rc : next;
}

int ivtctl_args_parse(struct ivtctl *c, struct ivtctl_opt *opts, int argc, char **argv, int min,
                      int max)
{
    int next;
    int npos = parse(c, opts, argc, argv, 1, false, &next);
    if (npos < 0)
        return npos;
    if (npos < min)
        return -ivtctl_usage(c, "missing argument%s", min - npos > 1 ? "s" : "");
    if (max >= 0 && npos > max)
        return -ivtctl_usage(c, "unexpected argument '%.60s'", argv[max]);
    return npos;
}

int ivtctl_opt_duration(struct ivtctl *c, const char *opt, const char *s, ivt_ms *out)
{
    int rc = ivt_duration_parse(out, s);
    if (rc == IVT_ETOOBIG)
        return ivtctl_usage(c, "%s '%.40s' is too long a duration", opt, s);
    if (rc)
        return ivtctl_usage(c, "%s '%.40s' is not a duration (use %s)", opt, s, IVT_DURATION_FORMS);
    return 0;
}

int ivtctl_opt_uint(struct ivtctl *c, const char *opt, const char *s, uint64_t min, uint64_t max,
                    uint64_t *out)
{
    uint64_t v;
    if (!ivt_parse_uint(s, 10, min, max, &v))
        return ivtctl_usage(c, "%s '%.40s' must be a whole number from %llu to %llu", opt, s,
                            (unsigned long long)min, (unsigned long long)max);
    *out = v;
    return 0;
}

int ivtctl_opt_word(struct ivtctl *c, const char *opt, const char *s, const char *const *words)
{
    for (int i = 0; words[i]; i++)
        if (strcmp(s, words[i]) == 0)
            return i;
    char list[128] = "";
    size_t len = 0;
    for (int i = 0; words[i] && len < sizeof(list); i++)
        len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s", i ? ", " : "", words[i]);
    ivtctl_usage(c, "%s '%.40s' must be one of %s", opt, s, list);
    return -IVTCTL_EXIT_USAGE;
}
