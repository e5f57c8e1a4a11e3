/* Unit tests of node/cmdline.c: what an operator relies on in ivtd's
 * command line (the exit codes and messages of bin/ivtd are in
 * tests/cluster/test_config_errors.sh). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "node/cmdline.h"
#include "tests/test.h"

static int parse(struct ivtd_cmdline *cl, char *msg, const char *const *args)
{
    char *argv[16] = {"ivtd"};
    int argc = 1;
    for (; *args && argc < 15; args++)
        argv[argc++] = (char *)*args;
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
