/*
 * cli/cmd_observe.c: `ivtctl observe`: events as JSON lines, sent as
 * evidence in batches.
 *
 * Lines are read into a fixed buffer (a line longer than IVTCTL_MAX_LINE
 * is reported and skipped, never allocated), checked and encoded one by
 * one (event.c), and appended to a batch. A batch goes out as one
 * `observe` request when it holds --batch events or BATCH_BYTES, whichever
 * comes first; the node's per-event errors come back by index and are
 * reported by line number. The request waits for its reply before the next
 * one is sent: the node's answer paces the sender.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "base/mp.h"
#include "cli/internal.h"

/* A quarter of the daemon's 1 MiB frame limit: room for the request
 * header, and a batch the node handles in a few milliseconds. */
enum { BATCH_BYTES = 256 << 10 };
/* Events per request unless --batch says otherwise. */
enum { BATCH_EVENTS = 1000, BATCH_EVENTS_MAX = 100000 };
/* Bad lines reported one by one; after that only counted, so a file of
 * the wrong format does not bury the summary under a million lines. */
enum { BAD_LINES_SHOWN = 100 };
/* One event's msgpack: the line's strings plus a few bytes of keys. */
enum { EVENT_MAX = IVTCTL_MAX_LINE + 256 };

struct observe {
    struct ivtctl *c;
    struct ivt_mpw batch; /* encoded events, no array header */
    uint64_t *lines;      /* line number of each event in the batch */
    uint32_t n, max;
    uint64_t events, accepted, rejected, bad, batches;
    ivt_ms start, last_progress;
    bool progress, tty;
};

static void report_line(struct observe *o, uint64_t line, const char *prefix, const char *msg)
{
    uint64_t shown = o->bad + o->rejected;
    if (shown < BAD_LINES_SHOWN)
        fprintf(o->c->err, "ivtctl observe: line %llu: %s%s\n", (unsigned long long)line, prefix,
                msg);
    else if (shown == BAD_LINES_SHOWN)
        fprintf(o->c->err, "ivtctl observe: more bad lines: counted, not shown\n");
}

static double rate(const struct observe *o)
{
    ivt_ms dt = ivtctl_now_ms() - o->start;
    return dt > 0 ? (double)o->events * 1000.0 / (double)dt : 0.0;
}

static void progress(struct observe *o, bool final)
{
    if (!o->progress)
        return;
    ivt_ms now = ivtctl_now_ms();
    /* Once a second: more is noise, and stderr may be a slow terminal. */
    if (!final && now - o->last_progress < IVT_MS_PER_S)
        return;
    o->last_progress = now;
    if (o->tty)
        fprintf(o->c->err, "\r\033[K");
    if (!final || !o->tty)
        fprintf(o->c->err, "observe: %llu events sent, %.0f/s, %llu bad lines%s",
                (unsigned long long)o->events, rate(o), (unsigned long long)o->bad,
                o->tty ? "" : "\n");
    fflush(o->c->err);
}

/* Sends the batch; returns an exit code (0: carry on). */
static int flush(struct observe *o)
{
    if (!o->n)
        return 0;
    struct ivt_mpw w;
    ivt_mpw_init_dyn(&w, IVTCTL_MAX_REQUEST);
    ivt_mpw_array(&w, 1);
    ivt_mpw_array(&w, o->n);
    ivt_mpw_raw(&w, o->batch.data, o->batch.len);
    json_t *res = NULL;
    int rc = ivt_mpw_error(&w)
                 ? ivtctl_fail(o->c, IVTCTL_EXIT_NODE, "ENOMEM", "batch does not fit in memory")
                 : ivtctl_call(o->c, "observe", &w, &res);
    ivt_mpw_destroy(&w);
    if (rc)
        return rc;
    const json_t *acc = json_object_get(res, "accepted"), *rej = json_object_get(res, "rejected");
    if (!json_is_integer(acc) || !json_is_integer(rej)) {
        json_decref(res);
        return ivtctl_bad_reply(o->c, "an object with accepted and rejected counts");
    }
    size_t i;
    const json_t *e;
    json_array_foreach(json_object_get(res, "errors"), i, e)
    {
        json_int_t idx = json_integer_value(json_object_get(e, "index"));
        const char *msg = json_string_value(json_object_get(e, "message"));
        uint64_t line = idx >= 0 && idx < (json_int_t)o->n ? o->lines[idx] : 0;
        report_line(o, line, "rejected by the node: ", msg ? msg : "?");
    }
    o->accepted += (uint64_t)json_integer_value(acc);
    o->rejected += (uint64_t)json_integer_value(rej);
    o->events += o->n;
    o->batches++;
    o->n = 0;
    ivt_mpw_reset(&o->batch);
    json_decref(res);
    progress(o, false);
    return 0;
}

/* Handles one line (without its newline); returns an exit code. */
static int one_line(struct observe *o, struct ivt_mpw *ev, const char *line, size_t len,
                    uint64_t lineno)
{
    size_t k = 0;
    while (k < len && (line[k] == ' ' || line[k] == '\t' || line[k] == '\r'))
        k++;
    if (k == len)
        return 0; /* blank lines separate nothing and mean nothing */
    char msg[256];
    ivt_mpw_reset(ev);
    if (ivtctl_event_parse_line(ev, line, len, msg, sizeof(msg))) {
        report_line(o, lineno, "", msg);
        o->bad++;
        return 0;
    }
    if (o->batch.len + ev->len > BATCH_BYTES) {
        int rc = flush(o);
        if (rc)
            return rc;
    }
    ivt_mpw_raw(&o->batch, ev->data, ev->len);
    o->lines[o->n++] = lineno;
    if (o->n == o->max)
        return flush(o);
    return 0;
}

/*
 * Reads one line into buf (without its newline), at most cap bytes; the
 * rest of a longer line is read and dropped, and *too_long set. Byte by
 * byte, not fgets: a NUL inside a line must not cut it short. Returns false
 * at the end of input.
 */
static bool read_line(FILE *in, char *buf, size_t cap, size_t *len, bool *too_long)
{
    int ch;
    *len = 0;
    *too_long = false;
    while ((ch = getc(in)) != EOF && ch != '\n') {
        if (*len < cap)
            buf[(*len)++] = (char)ch;
        else
            *too_long = true;
    }
    return ch != EOF || *len || *too_long;
}

static int summary(struct observe *o)
{
    double secs = (double)(ivtctl_now_ms() - o->start) / 1000.0;
    if (o->c->output == IVTCTL_OUT_JSON) {
        json_t *doc =
            json_pack("{s:I,s:I,s:I,s:I,s:I,s:f}", "events", (json_int_t)o->events, "accepted",
                      (json_int_t)o->accepted, "rejected", (json_int_t)o->rejected, "bad_lines",
                      (json_int_t)o->bad, "batches", (json_int_t)o->batches, "seconds", secs);
        if (doc)
            ivtctl_print_json(o->c, doc);
        json_decref(doc);
    } else {
        fprintf(o->c->out,
                "%llu events sent in %llu batches (%.0f/s): %llu accepted, %llu rejected; %llu "
                "bad lines skipped\n",
                (unsigned long long)o->events, (unsigned long long)o->batches, rate(o),
                (unsigned long long)o->accepted, (unsigned long long)o->rejected,
                (unsigned long long)o->bad);
    }
    return o->bad || o->rejected ? IVTCTL_EXIT_NODE : IVTCTL_EXIT_OK;
}

int ivtctl_cmd_observe(struct ivtctl *c, int argc, char **argv)
{
    struct ivtctl_opt opts[] = {
        {"file", 'f', "FILE", NULL},
        {"batch", 0, "N", NULL},
        {NULL, 0, NULL, NULL},
    };
    int rc = ivtctl_args_parse(c, opts, argc, argv, 0, 0);
    if (rc < 0)
        return -rc;
    uint64_t max = BATCH_EVENTS;
    if (opts[1].value && ivtctl_opt_uint(c, "--batch", opts[1].value, 1, BATCH_EVENTS_MAX, &max))
        return IVTCTL_EXIT_USAGE;
    if (c->check_only)
        return IVTCTL_CHECKED;
    FILE *in = c->in;
    const char *path = opts[0].value;
    if (path && strcmp(path, "-") != 0) {
        in = fopen(path, "r");
        if (!in)
            return ivtctl_usage(c, "cannot open '%.200s': %s", path, strerror(errno));
    }
    struct observe o = {.c = c, .max = (uint32_t)max};
    o.tty = isatty(fileno(c->err));
    o.progress = c->progress || o.tty;
    o.start = o.last_progress = ivtctl_now_ms();
    ivt_mpw_init_dyn(&o.batch, BATCH_BYTES + EVENT_MAX);
    struct ivt_mpw ev;
    ivt_mpw_init_dyn(&ev, EVENT_MAX);
    o.lines = malloc(max * sizeof(*o.lines));
    char *buf = malloc(IVTCTL_MAX_LINE);
    rc = 0;
    if (!o.lines || !buf)
        rc = ivtctl_fail(c, IVTCTL_EXIT_NODE, "ENOMEM", "out of memory");
    uint64_t lineno = 0;
    size_t len;
    bool too_long;
    while (!rc && read_line(in, buf, IVTCTL_MAX_LINE, &len, &too_long)) {
        lineno++;
        if (too_long) {
            char msg[64];
            snprintf(msg, sizeof(msg), "longer than %d bytes", IVTCTL_MAX_LINE);
            report_line(&o, lineno, "", msg);
            o.bad++;
            continue;
        }
        rc = one_line(&o, &ev, buf, len, lineno);
        progress(&o, false);
    }
    if (!rc && ferror(in))
        rc = ivtctl_fail(c, IVTCTL_EXIT_USAGE, "EIO", "reading %s: %s", path ? path : "stdin",
                         strerror(errno));
    if (!rc)
        rc = flush(&o);
    progress(&o, true);
    if (!rc)
        rc = summary(&o);
    if (in != c->in)
        fclose(in);
    free(buf);
    free(o.lines);
    ivt_mpw_destroy(&ev);
    ivt_mpw_destroy(&o.batch);
    return rc;
}
