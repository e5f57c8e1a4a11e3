/*
 * cli/commands.c: the command table, global options, dispatch and help.
 *
 * Every command is one row {name, args, summary, help, handler}, as Redis
 * keeps its commands in commands.def: the dispatcher, `ivtctl --help`,
 * `ivtctl COMMAND --help` and the usage line of an error all read the same
 * row, so they cannot drift apart. The man page (docs/ivtctl.1) and the
 * bash completion (cli/ivtctl.bash-completion) list the same names; a unit
 * test checks that they do.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/duration.h"
#include "cli/internal.h"

const struct ivtctl_command ivtctl_commands[] = {
    {"status", "", "the node: name, id, generation, members by state, epoch, rates",
     "Shows what the node knows about itself and the cluster: its name, id and generation,\n"
     "the cluster label, members by state, the evidence epoch, keys in use, how many alive\n"
     "members hold the same keyring (wait for all of them between the steps of a key\n"
     "rotation), uptime, events observed per second, evidence entries and gossip bytes per\n"
     "second.\n",
     ivtctl_cmd_status},
    {"members", "[--status alive|suspect|dead|left]",
     "the cluster's members as this node sees them",
     "Lists the members: name, address, status, incarnation, generation, tags and how long\n"
     "ago the status last changed.\n"
     "\n"
     "  --status S   only members in state S (alive, suspect, dead or left)\n",
     ivtctl_cmd_members},
    {"score", "IP [--ua UA] [--device ID] [--pub P] [--kind K] [--country CC] [--asn N]",
     "what the ad server would get for a request, without observing it",
     "Scores a request as the ad server would, from the fleet's evidence, without recording\n"
     "it as evidence. Prints the score (0 human .. 100 automated), the verdict, the IVT class\n"
     "and the reasons: each signal with its local and fleet-wide value and threshold.\n"
     "\n"
     "  --ua UA        the user agent (default: empty)\n"
     "  --device ID    the device id (default: none)\n"
     "  --pub P        the publisher (default: empty)\n"
     "  --kind K       request (default), impression or click\n"
     "  --country CC   two-letter country code\n"
     "  --asn N        autonomous system number\n",
     ivtctl_cmd_score},
    {"explain", "KIND KEY", "an entity's evidence, score and decision",
     "Explains an entity: its score and the reasons, the evidence behind it (each metric\n"
     "seen locally and fleet-wide), the epochs it spans and any manual decision.\n"
     "KIND is one of ip, prefix, device, ua, pub.\n",
     ivtctl_cmd_explain},
    {"top", "[--kind KIND] [-n N] [--watch] [--interval DURATION] [--count N]",
     "the worst entities fleet-wide",
     "Lists the entities with the highest scores fleet-wide, highest first.\n"
     "\n"
     "  --kind KIND          only this kind (ip, prefix, device, ua, pub)\n"
     "  -n N                 how many rows (default 20, at most 1000)\n"
     "  --watch              refresh until interrupted (JSON mode: one document a line)\n"
     "  --interval DURATION  time between refreshes (default 2s)\n"
     "  --count N            with --watch, stop after N refreshes\n",
     ivtctl_cmd_top},
    {"ban", "KIND KEY [--ttl DURATION] [--reason TEXT]", "ban an entity fleet-wide",
     "Bans an entity on every node for DURATION: its requests score 100, verdict bot.\n"
     "\n"
     "  --ttl DURATION   how long (default 4h, at most 30d; e.g. 90s, 15m, 4h, 7d)\n"
     "  --reason TEXT    why, shown by `decisions` and `explain` (default \"manual\")\n",
     ivtctl_cmd_ban},
    {"allow", "KIND KEY [--ttl DURATION] [--reason TEXT]", "allow an entity fleet-wide",
     "Allows an entity on every node for DURATION: its requests score 0, verdict ok,\n"
     "whatever the evidence says (a partner's crawler, a known proxy).\n"
     "\n"
     "  --ttl DURATION   how long (default 4h, at most 30d; e.g. 90s, 15m, 4h, 7d)\n"
     "  --reason TEXT    why (default \"manual\")\n",
     ivtctl_cmd_allow},
    {"unban", "KIND KEY", "clear a ban or allow fleet-wide",
     "Clears the manual decision on an entity, on every node; the evidence decides again.\n",
     ivtctl_cmd_unban},
    {"decisions", "", "live bans and allows",
     "Lists the live manual decisions: entity, action, time left, reason, the node that\n"
     "decided, and when.\n",
     ivtctl_cmd_decisions},
    {"keys list", "", "the gossip keys installed (ids), and the primary",
     "Lists the installed gossip keys by id; the primary one encrypts what this node sends.\n",
     ivtctl_cmd_keys_list},
    {"keys generate", "", "print a new random key (needs no node)",
     "Prints 32 random bytes as base64, a key for cluster.encrypt or `keys install`.\n"
     "Works without a running node.\n",
     ivtctl_cmd_keys_generate},
    {"keys install", "KEY", "install a key on every node",
     "Installs KEY (base64 of 32 bytes) on every node. Rotation: install the new key, then\n"
     "`keys use` it once every node has it, then `keys remove` the old one.\n",
     ivtctl_cmd_keys_install},
    {"keys use", "KEY", "make an installed key the primary on every node",
     "Makes KEY, already installed, the key every node encrypts with.\n", ivtctl_cmd_keys_use},
    {"keys remove", "KEY", "remove a key from every node",
     "Removes KEY from every node. The primary key cannot be removed.\n", ivtctl_cmd_keys_remove},
    {"join", "ADDR...", "join the cluster through one or more members (ip:port)",
     "Asks the node to join the cluster through the members at ADDR (ip:port, a literal\n"
     "address: 10.0.0.7:7946 or [2001:db8::7]:7946). The node contacts them and returns at\n"
     "once; `ivtctl members` shows the cluster as they answer. A node that has run `leave`\n"
     "refuses: restart ivtd to bring it back.\n",
     ivtctl_cmd_join},
    {"leave", "", "leave the cluster gracefully",
     "Tells the cluster this node leaves (status left, not dead) and stops gossiping.\n"
     "ivtd keeps running, out of the cluster, until it is restarted.\n",
     ivtctl_cmd_leave},
    {"metrics", "", "the node's Prometheus metrics",
     "Prints the node's metrics in the Prometheus text format (JSON mode: {\"metrics\": text}).\n",
     ivtctl_cmd_metrics},
    {"observe", "[-f FILE] [--batch N]", "send events (JSON lines) as evidence",
     "Reads events, one JSON object a line, from FILE or stdin, and sends them to the node in\n"
     "batches. Keys: ts (unix ms, optional), ip, ua, pub, kind (request, impression, click),\n"
     "device, country (two letters), asn (all three optional). A bad line is reported with\n"
     "its number and skipped; the totals are printed at the end. Exits 1 if any line was bad\n"
     "or rejected by the node.\n"
     "\n"
     "  -f FILE      read FILE instead of stdin (\"-\" is stdin)\n"
     "  --batch N    events per request (default 1000; a batch is also cut at 256 KiB)\n"
     "  --progress   a progress line every second even when stderr is not a terminal\n",
     ivtctl_cmd_observe},
};

const size_t ivtctl_n_commands = sizeof(ivtctl_commands) / sizeof(ivtctl_commands[0]);

static void print_usage_line(struct ivtctl *c, FILE *f)
{
    if (c->cmd)
        fprintf(f, "usage: ivtctl %s%s%s\n", c->cmd->name, *c->cmd->args ? " " : "", c->cmd->args);
    else
        fprintf(f, "usage: ivtctl [-s SOCKET] [-o text|json] [--timeout DURATION] COMMAND "
                   "[ARGS]\n");
}

int ivtctl_usage(struct ivtctl *c, const char *fmt, ...)
{
    va_list ap;
    fprintf(c->err, "ivtctl%s%s: ", c->cmd ? " " : "", c->cmd ? c->cmd->name : "");
    va_start(ap, fmt);
    vfprintf(c->err, fmt, ap);
    va_end(ap);
    fputc('\n', c->err);
    print_usage_line(c, c->err);
    fprintf(c->err, "Try 'ivtctl %s%s--help'.\n", c->cmd ? c->cmd->name : "", c->cmd ? " " : "");
    return IVTCTL_EXIT_USAGE;
}

int ivtctl_fail(struct ivtctl *c, int exit, const char *code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (exit == IVTCTL_EXIT_NODE)
        fprintf(c->err, "ivtctl: ivtd says %s: %s\n", code, msg);
    else
        fprintf(c->err, "ivtctl: %s\n", msg);
    if (c->output == IVTCTL_OUT_JSON) {
        json_t *doc = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg);
        if (doc)
            ivtctl_print_json(c, doc);
        json_decref(doc);
    }
    return exit;
}

void ivtctl_print_json(struct ivtctl *c, const json_t *v)
{
    /* JSON_ENCODE_ANY: `metrics` and scalars are documents too. */
    json_dumpf(v, c->out, JSON_INDENT(2) | JSON_ENCODE_ANY);
    fputc('\n', c->out);
    fflush(c->out);
}

static void print_tool_help(FILE *f)
{
    fprintf(f, "usage: ivtctl [-s SOCKET] [-o text|json] [--timeout DURATION] COMMAND [ARGS]\n"
               "\n"
               "Inspects and steers an ivtd node through its control socket.\n"
               "\n"
               "Commands:\n");
    for (size_t i = 0; i < ivtctl_n_commands; i++)
        fprintf(f, "  %-14s %s\n", ivtctl_commands[i].name, ivtctl_commands[i].summary);
    fprintf(f,
            "\n"
            "Global options (before or after the command):\n"
            "  -s, --socket SOCKET   the control socket (default: $IVT_SOCKET, else %s)\n"
            "  -o, --output FORMAT   text (default), or json: one JSON document per command\n"
            "  --timeout DURATION    how long to wait for the node (default 10s)\n"
            "  -h, --help            this help; `ivtctl COMMAND --help` for one command\n"
            "\n"
            "Durations: %s.\n"
            "Exit codes: 0 ok, 1 the node answered with an error, 2 usage error,\n"
            "3 the node could not be reached.\n",
            IVTCTL_DEFAULT_SOCKET, IVT_DURATION_FORMS);
}

static void print_command_help(const struct ivtctl_command *cmd, FILE *f)
{
    fprintf(f, "usage: ivtctl %s%s%s\n\n%s\n%s", cmd->name, *cmd->args ? " " : "", cmd->args,
            cmd->summary, cmd->help);
}

/* The row for argv[0] (and argv[1] when argv[0] names a group). Sets
 * *words to how many argv entries the name took. */
static const struct ivtctl_command *find_command(int argc, char **argv, int *words)
{
    for (size_t i = 0; i < ivtctl_n_commands; i++) {
        const char *name = ivtctl_commands[i].name, *sp = strchr(name, ' ');
        if (!sp && strcmp(name, argv[0]) == 0) {
            *words = 1;
            return &ivtctl_commands[i];
        }
        if (sp && argc > 1 && strncmp(name, argv[0], (size_t)(sp - name)) == 0 &&
            argv[0][sp - name] == '\0' && strcmp(sp + 1, argv[1]) == 0) {
            *words = 2;
            return &ivtctl_commands[i];
        }
    }
    return NULL;
}

/* True when argv[0] is the first word of subcommands ("keys"). */
static bool is_group(const char *word)
{
    size_t n = strlen(word);
    for (size_t i = 0; i < ivtctl_n_commands; i++)
        if (strncmp(ivtctl_commands[i].name, word, n) == 0 && ivtctl_commands[i].name[n] == ' ')
            return true;
    return false;
}

/* `ivtctl keys` alone, with --help, or with an unknown subcommand: the
 * group's usage lines (on out with exit 0 when help was asked for). */
static int group_usage(struct ivtctl *c, const char *group, const char *sub, bool help)
{
    FILE *f = help ? c->out : c->err;
    if (!help && sub)
        fprintf(f, "ivtctl %s: unknown subcommand '%.40s'\n", group, sub);
    else if (!help)
        fprintf(f, "ivtctl %s: missing subcommand\n", group);
    fprintf(f, "usage:\n");
    size_t n = strlen(group);
    for (size_t i = 0; i < ivtctl_n_commands; i++)
        if (strncmp(ivtctl_commands[i].name, group, n) == 0 && ivtctl_commands[i].name[n] == ' ') {
            char line[128];
            snprintf(line, sizeof(line), "%s %s", ivtctl_commands[i].name, ivtctl_commands[i].args);
            fprintf(f, "  ivtctl %-18s %s\n", line, ivtctl_commands[i].summary);
        }
    if (!help)
        fprintf(f, "Try 'ivtctl %s --help'.\n", group);
    return help ? IVTCTL_EXIT_OK : IVTCTL_EXIT_USAGE;
}

/* --help or -h anywhere before "--" asks for help, whatever else is there. */
static bool wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return true;
    return false;
}

/* ivtctl_main and ivtctl_check: everything but how far a command goes. */
static int run(int argc, char **argv, FILE *in, FILE *out, FILE *err, bool check_only)
{
    struct ivtctl c = {
        .socket = IVTCTL_DEFAULT_SOCKET,
        .output = IVTCTL_OUT_TEXT,
        .timeout = IVTCTL_DEFAULT_TIMEOUT_MS,
        .check_only = check_only,
        .in = in,
        .out = out,
        .err = err,
        .fd = -1,
    };
    const char *env = getenv("IVT_SOCKET");
    if (env && *env)
        c.socket = env;
    struct ivtctl_opt opts[] = {{"help", 'h', NULL, NULL}, {NULL, 0, NULL, NULL}};
    int first = ivtctl_args_globals(&c, opts, argc, argv);
    if (first < 0)
        return -first;
    if (opts[0].value) {
        print_tool_help(out);
        return IVTCTL_EXIT_OK;
    }
    if (first >= argc) {
        ivtctl_usage(&c, "missing command");
        return IVTCTL_EXIT_USAGE;
    }
    int words = 0;
    const struct ivtctl_command *cmd = find_command(argc - first, argv + first, &words);
    if (!cmd) {
        if (strcmp(argv[first], "help") == 0) {
            print_tool_help(out);
            return IVTCTL_EXIT_OK;
        }
        if (is_group(argv[first])) {
            if (wants_help(argc - first - 1, argv + first + 1))
                return group_usage(&c, argv[first], NULL, true);
            return group_usage(&c, argv[first], first + 1 < argc ? argv[first + 1] : NULL, false);
        }
        return ivtctl_usage(&c, "unknown command '%.40s'", argv[first]);
    }
    c.cmd = cmd;
    int cargc = argc - first - (words - 1);
    char **cargv = argv + first + (words - 1);
    if (wants_help(cargc - 1, cargv + 1)) {
        print_command_help(cmd, out);
        return IVTCTL_EXIT_OK;
    }
    int rc = cmd->run(&c, cargc, cargv);
    ivtctl_disconnect(&c);
    fflush(out);
    return rc;
}

int ivtctl_main(int argc, char **argv, FILE *in, FILE *out, FILE *err)
{
    return run(argc, argv, in, out, err, false);
}

int ivtctl_check(int argc, char **argv, FILE *out, FILE *err)
{
    /* No command reads its input before it would reach out (observe stops
     * before its first line), so there is none to give. */
    int rc = run(argc, argv, NULL, out, err, true);
    return rc == IVTCTL_CHECKED ? IVTCTL_EXIT_OK : rc;
}
