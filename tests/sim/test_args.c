/* Unit tests of sim/args.c: what an operator relies on in ivtsim's command
 * line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "gossip/envelope.h"
#include "sim/args.h"
#include "tests/test.h"

static int parse(struct sim_args *o, char *msg, const char *const *args)
{
    char *argv[24];
    int argc = ivt_test_argv(argv, 24, "ivtsim", args);
    msg[0] = '\0';
    return sim_args_parse(o, argc, argv, msg, SIM_ARGS_MSG_MAX);
}

#define PARSE(o, msg, ...) parse(o, msg, (const char *const[]){__VA_ARGS__, NULL})

TEST(sim_args_every_option)
{
    (void)state;
    struct sim_args o;
    char msg[SIM_ARGS_MSG_MAX];
    assert_int_equal(PARSE(&o, msg, "s.cfg"), 0);
    assert_string_equal(o.scenario, "s.cfg");
    assert_false(o.has_seed);
    assert_int_equal(o.nodes, 0);
    assert_true(o.duration_s == 0);
    assert_true(o.emit == -1);
    assert_null(o.out);
    assert_int_equal(o.aead, 0); /* the scenario's cipher */
    assert_int_equal(PARSE(&o, msg, "--seed", "0x10", "s.cfg", "--nodes", "100000", "--duration",
                           "2.5", "--out", "d", "--root", "r", "--check-determinism",
                           "--membership-only", "--quiet", "--emit-events", "0", "--cipher",
                           "aes-256-gcm"),
                     0);
    assert_int_equal(o.aead, GOSSIP_AEAD_AES256GCM);
    assert_true(o.has_seed && o.seed == 16);
    assert_int_equal(o.nodes, 100000);
    assert_true(o.duration_s == 2.5);
    assert_string_equal(o.out, "d");
    assert_string_equal(o.root, "r");
    assert_true(o.determinism && o.membership_only && o.quiet);
    assert_true(o.emit == 0);
    /* the replay command prints the seed in decimal: every 64-bit one */
    assert_int_equal(PARSE(&o, msg, "s.cfg", "--seed", "18446744073709551615"), 0);
    assert_true(o.seed == UINT64_MAX);
    /* --help works wherever it is, unless a mistake came first */
    assert_int_equal(PARSE(&o, msg, "--quiet", "-h"), 0);
    assert_true(o.help);
    assert_int_equal(PARSE(&o, msg, "--help"), 0);
    assert_true(o.help);
}

/* Each mistake: IVT_EINVAL and a message naming the option and the value. */
TEST(sim_args_mistakes_name_option_and_value)
{
    (void)state;
    static const struct {
        const char *args[6];
        const char *says;
    } rows[] = {
        {{NULL}, "no SCENARIO.cfg given"},
        {{"--quiet", NULL}, "no SCENARIO.cfg given"},
        {{"s.cfg", "t.cfg", NULL}, "one SCENARIO.cfg at a time: 't.cfg' is a second"},
        {{"s.cfg", "--sed", "1", NULL}, "unknown option '--sed'"},
        {{"s.cfg", "-", NULL}, "unknown option '-'"},
        {{"--bogus", "--help", NULL}, "unknown option '--bogus'"},
        {{"s.cfg", "--seed", NULL}, "--seed needs a value"},
        {{"s.cfg", "--seed", "", NULL}, "--seed '' must be a whole number"},
        {{"s.cfg", "--seed", "-1", NULL}, "--seed '-1' must be a whole number"},
        {{"s.cfg", "--seed", " 7", NULL}, "--seed ' 7' must be a whole number"},
        {{"s.cfg", "--seed", "18446744073709551616", NULL}, "--seed '18446744073709551616'"},
        {{"s.cfg", "--seed", "12abc", NULL}, "--seed '12abc' must be a whole number"},
        {{"s.cfg", "--nodes", "0", NULL}, "--nodes '0' must be a whole number from 1 to 100000"},
        {{"s.cfg", "--nodes", "100001", NULL}, "--nodes '100001' must be"},
        {{"s.cfg", "--nodes", "+5", NULL}, "--nodes '+5' must be"},
        {{"s.cfg", "--duration", "0", NULL}, "--duration '0' must be simulated seconds"},
        {{"s.cfg", "--duration", "nan", NULL}, "--duration 'nan' must be"},
        {{"s.cfg", "--duration", "inf", NULL}, "--duration 'inf' must be"},
        {{"s.cfg", "--duration", "1e300", NULL}, "--duration '1e300' must be"},
        {{"s.cfg", "--duration", "", NULL}, "--duration '' must be"},
        {{"s.cfg", "--duration", "5s", NULL}, "--duration '5s' must be"},
        {{"s.cfg", "--emit-events", "", NULL}, "--emit-events '' must be a whole number"},
        {{"s.cfg", "--emit-events", "-3", NULL}, "--emit-events '-3' must be"},
        {{"s.cfg", "--out", NULL}, "--out needs a value"},
        {{"s.cfg", "--cipher", "aes", NULL},
         "--cipher 'aes' must be xchacha20-poly1305 or aes-256-gcm"},
        {{"s.cfg", "--cipher", NULL}, "--cipher needs a value"},
    };
    for (unsigned i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct sim_args o;
        char msg[SIM_ARGS_MSG_MAX];
        int rc = parse(&o, msg, rows[i].args);
        if (rc != IVT_EINVAL || !strstr(msg, rows[i].says))
            fail_msg("row %u: rc %d, message '%s'", i, rc, msg);
    }
}

TEST(sim_args_usage_names_every_option)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    sim_usage(f);
    fclose(f);
    static const char *const opts[] = {"--seed",        "--nodes", "--out",
                                       "--duration",    "--root",  "--check-determinism",
                                       "--emit-events", "--quiet", "--membership-only",
                                       "--cipher"};
    for (unsigned i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
        if (!strstr(text, opts[i]))
            fail_msg("the usage does not mention %s", opts[i]);
    free(text);
}

/* Splits a command into words as a POSIX shell does for what
 * sim_replay_command writes: plain words, single-quoted ones, and a
 * backslash-escaped character between them. In place; returns the count. */
static int shell_split(char *cmd, char **words, int max)
{
    int n = 0;
    char *r = cmd, *w = cmd;
    while (*r) {
        if (*r == ' ') {
            r++;
            continue;
        }
        assert_true(n < max);
        words[n++] = w;
        while (*r && *r != ' ') {
            if (*r == '\'') {
                for (r++; *r && *r != '\'';)
                    *w++ = *r++;
                assert_true(*r == '\''); /* a quote left open is a broken command */
                r++;
            } else if (*r == '\\' && r[1]) {
                *w++ = r[1];
                r += 2;
            } else {
                *w++ = *r++;
            }
        }
        bool more = *r != '\0';
        *w++ = '\0';
        if (more)
            r++;
    }
    return n;
}

/* The replay line of a failed check is a command a person pastes: it names
 * the program as invoked and every option that changes the run, with the
 * scenario's seed and size resolved, quoted for the shell, and it parses
 * back to the same run. */
TEST(sim_args_replay_command_replays_the_run)
{
    (void)state;
    struct sim_args o, back;
    char msg[SIM_ARGS_MSG_MAX], cmd[512];
    /* Only the scenario given: seed and size come from it, resolved. */
    assert_int_equal(PARSE(&o, msg, "sim/scenarios/smoke.cfg", "--quiet", "--out", "d"), 0);
    int len = sim_replay_command(cmd, sizeof(cmd), &o, 1, 20);
    assert_string_equal(cmd, "ivtsim sim/scenarios/smoke.cfg --seed 1 --nodes 20");
    assert_int_equal(len, (int)strlen(cmd));
    /* Everything that changes the run, a root a shell would split. */
    assert_int_equal(PARSE(&o, msg, "s.cfg", "--seed", "0x10", "--nodes", "10000", "--duration",
                           "600", "--membership-only", "--cipher", "aes-256-gcm", "--root",
                           "/tmp/a dir/it's", "--check-determinism", "--out", "o", "--quiet"),
                     0);
    assert_true(sim_replay_command(cmd, sizeof(cmd), &o, o.seed, o.nodes) > 0);
    assert_string_equal(cmd, "ivtsim s.cfg --seed 16 --nodes 10000 --duration 600 "
                             "--membership-only --cipher aes-256-gcm --root '/tmp/a dir/it'\\''s' "
                             "--check-determinism");
    char *words[24];
    int n = shell_split(cmd, words, 24);
    assert_string_equal(words[0], "ivtsim");
    assert_int_equal(sim_args_parse(&back, n, words, msg, sizeof(msg)), 0);
    assert_string_equal(back.scenario, "s.cfg");
    assert_true(back.has_seed && back.seed == 16);
    assert_int_equal(back.nodes, 10000);
    assert_true(back.duration_s == 600);
    assert_true(back.membership_only && back.determinism);
    assert_int_equal(back.aead, GOSSIP_AEAD_AES256GCM);
    assert_string_equal(back.root, "/tmp/a dir/it's");
    assert_null(back.out);
    assert_false(back.quiet);
    /* A duration reads back as the same number; a program path with a space. */
    static const char *const durations[] = {"0.1", "2.5", "0.3333333333333333", "604800"};
    for (unsigned i = 0; i < sizeof(durations) / sizeof(durations[0]); i++) {
        assert_int_equal(PARSE(&o, msg, "s.cfg", "--duration", durations[i]), 0);
        o.prog = i % 2 ? "/opt/my build/ivtsim" : "/opt/a=b/ivtsim";
        assert_true(sim_replay_command(cmd, sizeof(cmd), &o, UINT64_MAX, 1) > 0);
        assert_true(cmd[0] == '\''); /* quoted, or a shell would read an assignment */
        n = shell_split(cmd, words, 24);
        assert_string_equal(words[0], o.prog);
        assert_int_equal(sim_args_parse(&back, n, words, msg, sizeof(msg)), 0);
        assert_true(back.duration_s == o.duration_s);
        assert_true(back.seed == UINT64_MAX);
    }
    /* Too small a buffer: said so, and what it holds is a terminated string. */
    assert_int_equal(PARSE(&o, msg, "s.cfg"), 0);
    assert_int_equal(sim_replay_command(cmd, 12, &o, 1, 20), IVT_ENOSPC);
    assert_string_equal(cmd, "ivtsim s.cf");
    assert_int_equal(sim_replay_command(cmd, 0, &o, 1, 20), IVT_ENOSPC);
}
