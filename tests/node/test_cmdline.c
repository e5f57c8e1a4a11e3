/* Unit tests of the daemon side's command lines: node/cmdline.c (ivtd;
 * the exit codes and messages of bin/ivtd are in
 * tests/cluster/test_config_errors.sh) and tests/loadgen.h (ivt-loadgen). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "node/cmdline.h"
#include "tests/loadgen.h"
#include "tests/test.h"

static int parse(struct ivtd_cmdline *cl, char *msg, const char *const *args)
{
    char *argv[16];
    int argc = ivt_test_argv(argv, 16, "ivtd", args);
    msg[0] = '\0';
    return ivtd_cmdline_parse(cl, argc, argv, msg, IVTD_CMDLINE_MSG_MAX);
}

#define PARSE(cl, msg, ...) parse(cl, msg, (const char *const[]){__VA_ARGS__, NULL})

TEST(node_cmdline_actions_and_mistakes)
{
    (void)state;
    struct ivtd_cmdline cl;
    char msg[IVTD_CMDLINE_MSG_MAX];
    assert_int_equal(PARSE(&cl, msg, "-c", "a.cfg"), 0);
    assert_int_equal(cl.action, IVTD_ACT_RUN);
    assert_string_equal(cl.config, "a.cfg");
    assert_int_equal(PARSE(&cl, msg, "--config", "a.cfg", "--check"), 0);
    assert_int_equal(cl.action, IVTD_ACT_CHECK);
    /* a later -c wins, as a later option does everywhere */
    assert_int_equal(PARSE(&cl, msg, "-c", "a.cfg", "-c", "b.cfg"), 0);
    assert_string_equal(cl.config, "b.cfg");
    /* --help works whatever else is there, unless a mistake came first */
    assert_int_equal(PARSE(&cl, msg, "--check", "-h"), 0);
    assert_int_equal(cl.action, IVTD_ACT_HELP);
    assert_int_equal(PARSE(&cl, msg, "--version", "--bogus"), 0);
    assert_int_equal(cl.action, IVTD_ACT_VERSION);

    assert_int_equal(PARSE(&cl, msg, "--bogus", "--help"), IVT_EINVAL);
    assert_string_equal(msg, "unknown argument '--bogus'");
    assert_int_equal(PARSE(&cl, msg, "--check", "-c"), IVT_ENOENT);
    assert_string_equal(msg, "-c needs a file");
    assert_int_equal(PARSE(&cl, msg, "--config"), IVT_ENOENT);
    assert_string_equal(msg, "--config needs a file");
    assert_int_equal(PARSE(&cl, msg, "--check"), IVT_ENOENT);
    assert_non_null(strstr(msg, "no configuration file: use -c FILE"));
    char *empty[] = {"ivtd", NULL};
    assert_int_equal(ivtd_cmdline_parse(&cl, 1, empty, msg, sizeof(msg)), IVT_ENOENT);

    /* a pasted screenful is quoted short, and the message still fits */
    char big[4096];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(PARSE(&cl, msg, big), IVT_EINVAL);
    assert_true(strlen(msg) < 120);
}

TEST(node_cmdline_usage_names_the_essentials)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    ivtd_usage(f);
    fclose(f);
    assert_non_null(strstr(text, "usage: ivtd -c FILE"));
    assert_non_null(strstr(text, "--check -c FILE"));
    assert_non_null(strstr(text, "ivtctl keys generate"));
    free(text);
}

/* ivt-loadgen (tests/loadgen.h): the forms docs/benchmarks.md and
 * tests/bench_daemon.sh use parse as before; a bad number names itself. */
static int loadgen(struct loadgen_args *o, char *msg, const char *const *args)
{
    char *argv[16];
    int argc = ivt_test_argv(argv, 16, "ivt-loadgen", args);
    msg[0] = '\0';
    return loadgen_args_parse(o, argc, argv, msg, LOADGEN_MSG_MAX);
}

#define LOADGEN(o, msg, ...) loadgen(o, msg, (const char *const[]){__VA_ARGS__, NULL})

TEST(node_loadgen_args_forms_and_mistakes)
{
    (void)state;
    struct loadgen_args o;
    char msg[LOADGEN_MSG_MAX];
    assert_int_equal(LOADGEN(&o, msg, "score", "127.0.0.1:7947", "20000", "10", "2", "unix"), 0);
    assert_int_equal(o.mode, LOADGEN_SCORE);
    assert_true(o.rate == 20000 && o.secs == 10 && o.conns == 2);
    assert_string_equal(o.tag, "unix");
    assert_int_equal(LOADGEN(&o, msg, "score", "unix:/tmp/a.sock", "1000", "40"), 0);
    assert_int_equal(o.conns, LOADGEN_DEFAULT_CONNS);
    assert_string_equal(o.tag, "");
    assert_int_equal(LOADGEN(&o, msg, "observe", "[::1]:7947", "100", "5", "3"), 0);
    assert_true(o.mode == LOADGEN_OBSERVE && o.batch == 100 && o.conns == 3 && !o.distinct);
    assert_int_equal(LOADGEN(&o, msg, "fill", "127.0.0.1:7947", "pool"), 0);
    assert_true(o.mode == LOADGEN_FILL && o.distinct == LOADGEN_IP_POOL && o.batch == 1000);
    assert_int_equal(LOADGEN(&o, msg, "fill", "127.0.0.1:7947", "1000000"), 0);
    assert_true(o.distinct == 1000000);
    assert_int_equal(LOADGEN(&o, msg, "sync", "unix:/tmp/f.sock", "3", "floor_unix"), 0);
    assert_string_equal(o.tag, "floor_unix");
    assert_int_equal(LOADGEN(&o, msg, "wake", "0.5"), 0);
    assert_true(o.mode == LOADGEN_WAKE && o.secs == 0.5 && !o.addr);

    static const struct {
        const char *args[8];
        const char *says;
    } rows[] = {
        {{NULL}, "no mode"},
        {{"blast", NULL}, "unknown mode 'blast'"},
        {{"wake", NULL}, "wake takes 1 to 1 arguments, not 0"},
        {{"fill", "127.0.0.1:1", "pool", "x", NULL}, "fill takes 2 to 2 arguments, not 3"},
        {{"score", "localhost:80", "10", "1", NULL}, "ADDR 'localhost:80' is not ip:port"},
        {{"sync", "unix:", "1", NULL}, "ADDR 'unix:' is not"},
        {{"score", "127.0.0.1:1", "nan", "1", NULL}, "'nan': RATE must be requests/s above 0"},
        {{"score", "127.0.0.1:1", "10", "inf", NULL}, "'inf': SECONDS must be above 0"},
        {{"score", "127.0.0.1:1", "1000000", "1000", NULL}, "RATE x SECONDS must be at most"},
        {{"score", "127.0.0.1:1", "10", "1", "0", NULL}, "'0': CONNS must be a whole number"},
        {{"score", "127.0.0.1:1", "10", "1", "65", NULL}, "'65': CONNS must be"},
        {{"observe", "127.0.0.1:1", "2x", "5", NULL}, "'2x': BATCH must be a whole number"},
        {{"observe", "127.0.0.1:1", "100", "-5", NULL}, "'-5': SECONDS must be above 0"},
        {{"fill", "127.0.0.1:1", "", NULL}, "'': ENTITIES must be 'pool' or a whole number"},
        {{"wake", "0", NULL}, "'0': SECONDS must be above 0"},
    };
    for (unsigned i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        if (loadgen(&o, msg, rows[i].args) != IVT_EINVAL || !strstr(msg, rows[i].says))
            fail_msg("row %u: '%s'", i, msg);
}
