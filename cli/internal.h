/*
 * cli/internal.h: what the files of ivtctl share.
 *
 *   main.c       argv -> ivtctl_main
 *   commands.c   the command table, global options, dispatch, help
 *   cmd_*.c      the handlers, one signature: int (struct ivtctl *, argc, argv)
 *   args.c       the option parser every handler uses
 *   rpc.c        the blocking msgpack-RPC client over the control socket
 *   reply.c      msgpack reply -> jansson value (bounded; a fuzz target)
 *   event.c      JSON line -> validated event -> msgpack map (a fuzz target)
 *   table.c      aligned text tables rendered from the decoded JSON values
 *
 * Both output modes share one decode path: every reply becomes a json_t;
 * -o json prints it, text mode renders it as tables.
 */
#ifndef IVT_CLI_INTERNAL_H
#define IVT_CLI_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "base/clock.h"
#include "cli/ivtctl.h"

struct ivt_mpw;

/* ---- the invocation ---------------------------------------------------- */

enum ivtctl_output { IVTCTL_OUT_TEXT = 0, IVTCTL_OUT_JSON = 1 };

/* The default control socket; the daemon's control.socket default. */
#define IVTCTL_DEFAULT_SOCKET "/run/ivtd/control.sock"
/* How long to wait for the node: a healthy node answers in milliseconds. */
#define IVTCTL_DEFAULT_TIMEOUT_MS (10 * IVT_MS_PER_S)
/* The longest --timeout: nobody waits a day for an answer, and the bound
 * keeps now + timeout (the deadline) far from overflowing an ivt_ms. */
#define IVTCTL_MAX_TIMEOUT_MS IVT_MS_PER_DAY

struct ivtctl_command;

/* What a handler returns under ivtctl_check once its arguments passed and
 * it would have reached out: a value no exit code takes. */
enum { IVTCTL_CHECKED = 100 };

struct ivtctl {
    const char *socket;
    enum ivtctl_output output;
    ivt_ms timeout;
    bool progress;   /* observe: progress lines even when stderr is not a tty */
    bool check_only; /* ivtctl_check: stop where the command would reach out */
    FILE *in, *out, *err;
    const struct ivtctl_command *cmd; /* the running command, for usage lines */
    /* the connection, opened by the first call */
    int fd;
    uint32_t msgid;
    uint8_t *rbuf;
    size_t rlen, rcap;
};

/* Prints "ivtctl CMD: message", the command's usage line and a pointer to
 * --help on err. Returns IVTCTL_EXIT_USAGE, for `return ivtctl_usage(...)`. */
int ivtctl_usage(struct ivtctl *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Reports a failure: "ivtctl: message" on err, and in JSON mode also the
 * document {"error": {"code": code, "message": message}} on out, so a script
 * reading stdout always gets one document. Returns exit. */
int ivtctl_fail(struct ivtctl *c, int exit, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Prints v as one JSON document (indented) on out. */
void ivtctl_print_json(struct ivtctl *c, const json_t *v);

/* ---- commands ----------------------------------------------------------- */

typedef int ivtctl_handler(struct ivtctl *c, int argc, char **argv);

/* One row per command (Redis commands.def). A name with a space is a
 * subcommand ("keys list"); argv[0] of the handler is its last word. */
struct ivtctl_command {
    const char *name;
    const char *args;    /* usage after the name: "KIND KEY [--ttl DURATION]" */
    const char *summary; /* one line for the command list */
    const char *help;    /* the rest of --help: what it does, its options */
    ivtctl_handler *run;
};

extern const struct ivtctl_command ivtctl_commands[];
extern const size_t ivtctl_n_commands;

ivtctl_handler ivtctl_cmd_status, ivtctl_cmd_members, ivtctl_cmd_metrics;
ivtctl_handler ivtctl_cmd_score, ivtctl_cmd_explain, ivtctl_cmd_top;
ivtctl_handler ivtctl_cmd_ban, ivtctl_cmd_allow, ivtctl_cmd_unban, ivtctl_cmd_decisions;
ivtctl_handler ivtctl_cmd_keys_list, ivtctl_cmd_keys_generate, ivtctl_cmd_keys_install,
    ivtctl_cmd_keys_use, ivtctl_cmd_keys_remove;
ivtctl_handler ivtctl_cmd_join, ivtctl_cmd_leave;
ivtctl_handler ivtctl_cmd_observe;

/* ---- options ------------------------------------------------------------ */

/*
 * A command's options, declared as a local array ending in {0}. The parser
 * fills value: the argument, or "" for a flag that was given; NULL when
 * absent. A later occurrence wins. Accepted spellings: --name VALUE,
 * --name=VALUE, -x VALUE, -xVALUE; "--" ends the options.
 */
struct ivtctl_opt {
    const char *name; /* long name, without "--" */
    char short_name;  /* 0 for none */
    const char *arg;  /* the argument's name in usage ("DURATION"); NULL: a flag */
    const char *value;
};

/*
 * Parses argv[1..argc) (argv[0] is the command word): options into opts
 * (global options -s, -o, --timeout, --progress into c as well, wherever
 * they appear), positionals moved to argv[0..n) in order. Checks that
 * between min and max positionals were given (max < 0: no limit). Returns
 * the number of positionals, or -IVTCTL_EXIT_USAGE after printing why.
 */
int ivtctl_args_parse(struct ivtctl *c, struct ivtctl_opt *opts, int argc, char **argv, int min,
                      int max);

/* Parses the options before the command word (opts: main's own, such as
 * --help). Returns the index of the command word (argc when none), or
 * -IVTCTL_EXIT_USAGE after printing why. */
int ivtctl_args_globals(struct ivtctl *c, struct ivtctl_opt *opts, int argc, char **argv);

/* Applies one global option by long name; for main's own loop and the
 * parser. Returns 0, or IVTCTL_EXIT_USAGE after printing why. */
int ivtctl_global_opt(struct ivtctl *c, const char *name, const char *value);

/* Typed option values. Each returns 0, or IVTCTL_EXIT_USAGE after printing
 * a message that names the option and the accepted forms. */
int ivtctl_opt_duration(struct ivtctl *c, const char *opt, const char *s, ivt_ms *out);
int ivtctl_opt_uint(struct ivtctl *c, const char *opt, const char *s, uint64_t min, uint64_t max,
                    uint64_t *out);
/* One of a NULL-terminated list of words: returns its index, or
 * -IVTCTL_EXIT_USAGE after printing the list. */
int ivtctl_opt_word(struct ivtctl *c, const char *opt, const char *s, const char *const *words);

extern const char *const ivtctl_entity_kinds[]; /* ip prefix device ua pub, NULL */

/* Checks the KIND KEY of explain, ban, allow, unban (argv[0], argv[1]):
 * a known kind, a key that is not empty, an address for KIND ip, and an
 * address or ADDR/24 (IPv4), ADDR/48 (IPv6) for KIND prefix.
 * Returns 0, or IVTCTL_EXIT_USAGE after printing why. */
int ivtctl_entity_args(struct ivtctl *c, char **argv);

/* ---- the control connection ------------------------------------------- */

/* Largest reply accepted: metrics text of a big node fits many times. */
enum { IVTCTL_MAX_REPLY = 16 << 20 };
/* Largest request sent: an observe batch is cut well below the daemon's
 * 1 MiB frame limit (see cmd_observe.c). */
enum { IVTCTL_MAX_REQUEST = 1 << 20 };

/*
 * Calls method with params (a writer holding one msgpack array) and waits
 * for its reply, connecting first if needed. Under check_only returns
 * IVTCTL_CHECKED at once, touching nothing. Returns IVTCTL_EXIT_OK with
 * *result set (the caller json_decref's it), or, after reporting with
 * ivtctl_fail: IVTCTL_EXIT_NODE (the node answered with an error, or with
 * bytes that are not a reply), IVTCTL_EXIT_UNREACHABLE (no socket, refused,
 * permission, timeout, connection closed).
 */
int ivtctl_call(struct ivtctl *c, const char *method, const struct ivt_mpw *params,
                json_t **result);
/* The same with no parameters. */
int ivtctl_call0(struct ivtctl *c, const char *method, json_t **result);
void ivtctl_disconnect(struct ivtctl *c);

/* ---- reply decoding (reply.c) ------------------------------------------ */

/* Nesting deeper than this is not a reply any ivtd sends. */
enum { IVTCTL_MAX_DEPTH = 32 };
/* Values per reply: bounds the memory a reply can ask for, whatever its size. */
enum { IVTCTL_MAX_VALUES = 1 << 21 };

/*
 * Decodes one msgpack value into a new JSON value: maps (string keys only,
 * no duplicates) to objects, arrays to arrays, str to strings (valid UTF-8),
 * bin to lowercase hex strings, integers to integers (uint above INT64_MAX
 * is rejected), floats to reals (not NaN or infinite), nil, bool. Returns 0,
 * or IVT_EPROTO (anything else, or nesting past IVTCTL_MAX_DEPTH),
 * IVT_ETOOBIG (more than *budget values), IVT_ENOMEM. *budget counts down.
 */
int ivtctl_mp_to_json(const uint8_t **pos, const uint8_t *end, size_t *budget, json_t **out);

/*
 * Decodes a response frame [1, msgid, error, result] that fills [*pos, end)
 * exactly. On 0: *msgid set, and either *error (an object with string
 * "code" and "message") or *result (any value) set, the other NULL.
 * Returns 0, or IVT_EPROTO (not a response, bad error map, trailing bytes),
 * IVT_ETOOBIG, IVT_ENOMEM.
 */
int ivtctl_reply_decode(const uint8_t **pos, const uint8_t *end, uint32_t *msgid, json_t **error,
                        json_t **result);

/* ---- events (event.c) -------------------------------------------------- */

/* Longest JSON line observe reads: events are a few hundred bytes. */
enum { IVTCTL_MAX_LINE = 64 << 10 };

/* An event as the protocol carries it. Strings are NUL-terminated views
 * owned by whoever built the struct; NULL means absent; asn 0 = unknown. */
struct ivtctl_event {
    bool has_ts;
    uint64_t ts;
    const char *ip, *ua, *device, *pub, *kind, *country;
    uint64_t asn;
};

/* Checks an event (the rules of PROTOCOL-SPEC.md). Returns 0, or IVT_EINVAL
 * with the reason in msg ("'kind' must be one of request, impression, click"). */
int ivtctl_event_check(const struct ivtctl_event *ev, char *msg, size_t cap);

/* True when s is an IPv4 or IPv6 address in text form (no port, no
 * brackets): what ivtd accepts as an IP key and in ip:port. */
bool ivtctl_is_ip(const char *s);

/* Appends the event as a msgpack map (absent keys left out). */
void ivtctl_event_write(struct ivt_mpw *w, const struct ivtctl_event *ev);

/*
 * Parses one JSON line (len bytes, need not be NUL-terminated) as an event
 * and appends it to w as a msgpack map. Returns 0, or IVT_EINVAL with the
 * reason in msg (not JSON, not an object, unknown key, missing key, wrong
 * type, bad value), or w's error. Nothing is appended on failure.
 */
int ivtctl_event_parse_line(struct ivt_mpw *w, const char *line, size_t len, char *msg, size_t cap);

/* ---- text rendering (table.c) ----------------------------------------- */

enum ivtctl_align { IVTCTL_LEFT = 0, IVTCTL_RIGHT = 1 };

struct ivtctl_column {
    const char *title;
    enum ivtctl_align align;
};

/* A table of text cells, printed with columns padded to their widest cell
 * (two spaces apart; the last column is not padded). Cells are sanitized:
 * control bytes become '?', so a hostile user agent cannot drive the
 * operator's terminal. Width counts UTF-8 code points. */
struct ivtctl_table {
    const struct ivtctl_column *cols;
    size_t ncols;
    bool header;
    char **cells; /* row-major */
    size_t ncells, cap;
    int err; /* IVT_ENOMEM once a cell could not be stored */
};

void ivtctl_table_init(struct ivtctl_table *t, const struct ivtctl_column *cols, size_t ncols,
                       bool header);
void ivtctl_table_destroy(struct ivtctl_table *t);
/* Adds the next cell (rows fill left to right, top to bottom). */
void ivtctl_table_cell(struct ivtctl_table *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Adds a cell showing a JSON value: strings bare, numbers as numbers
 * (reals with up to 3 decimals), bool yes/no, null "-", objects k=v,k=v. */
void ivtctl_table_json(struct ivtctl_table *t, const json_t *v);
/* Adds one row per element of rows (objects): the value of each key, in
 * order (NULL-terminated keys), as ivtctl_table_json shows it; a "local"
 * below 0 (ivtd's "not kept on this node") shows "-". */
void ivtctl_table_rows(struct ivtctl_table *t, const json_t *rows, const char *const *keys);
/* Prints the table; returns 0 or IVT_ENOMEM. */
int ivtctl_table_print(const struct ivtctl_table *t, FILE *out);

/* Writes a JSON value as ivtctl_table_json shows it. Returns buf. */
const char *ivtctl_json_text(char *buf, size_t cap, const json_t *v);

/* ---- rendering helpers (render.c) ------------------------------------- */

/* Renders a reply in text mode; returns an exit code. */
typedef int ivtctl_render(struct ivtctl *c, const json_t *res);

/* Ends a command: prints res as JSON (JSON mode) or through text, then
 * releases it. Returns the exit code. */
int ivtctl_finish(struct ivtctl *c, json_t *res, ivtctl_render *text);

/* A command with no arguments: parses argv (global options only), calls
 * method with no params and finishes with text. Returns the exit code. */
int ivtctl_simple(struct ivtctl *c, int argc, char **argv, const char *method, ivtctl_render *text);

/* A reply of the wrong shape (expected: "an array", "an object"...). */
int ivtctl_bad_reply(struct ivtctl *c, const char *what);

/* Adds a "Label:" and value row to a two-column table without header;
 * value NULL or absent shows "-". */
void ivtctl_kv(struct ivtctl_table *t, const char *label, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void ivtctl_kv_json(struct ivtctl_table *t, const char *label, const json_t *v);

/* Prints a table and releases it; returns an exit code. */
int ivtctl_table_done(struct ivtctl *c, struct ivtctl_table *t);

/* Shows a score map: "87 (bot, sivt)", then the reasons table. */
void ivtctl_score_line(char *buf, size_t cap, const json_t *score);
int ivtctl_print_reasons(struct ivtctl *c, const json_t *score);

/* An age or time left from seconds (integer or real), the two largest
 * units rounded down: "3m12s", "6d22h", "1h"; "-" when absent. */
const char *ivtctl_secs_text(char *buf, size_t cap, const json_t *secs);
/* "12.4 MiB" from a byte count; "-" when absent. */
const char *ivtctl_bytes_text(char *buf, size_t cap, const json_t *bytes);

/* Wall-clock unix milliseconds, for "expires in" and "ago" columns. */
ivt_ms ivtctl_wall_ms(void);
/* Monotonic milliseconds, for deadlines and rates. */
ivt_ms ivtctl_now_ms(void);

#endif
