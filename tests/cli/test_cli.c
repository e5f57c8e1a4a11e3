/* Unit tests of cli/ (ivtctl): argument parsing and usage exit codes, the
 * table renderer, event lines good and bad, the reply decoder, and the
 * client against a scripted server (errors, garbage, hang-ups, timeouts).
 * The end-to-end tests against real ivtd processes are in tests/cluster/. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/err.h"
#include "base/mp.h"
#include "cli/internal.h"
#include "tests/test.h"

/* ---- running ivtctl in-process ---------------------------------------- */

struct run {
    int rc;
    char *out, *err;
    size_t out_len, err_len;
};

/* Runs ivtctl with a NULL-terminated argument list (after "ivtctl"),
 * stdin from `input` (may be NULL); with check, ivtctl_check instead. */
static struct run run_mode(const char *input, const char *const *args, bool check)
{
    char *argv[64];
    int argc = ivt_test_argv(argv, 64, "ivtctl", args);
    struct run r = {0};
    FILE *out = open_memstream(&r.out, &r.out_len);
    FILE *err = open_memstream(&r.err, &r.err_len);
    FILE *in = input ? fmemopen((void *)input, strlen(input), "r") : fopen("/dev/null", "r");
    assert_non_null(out);
    assert_non_null(err);
    assert_non_null(in);
    r.rc = check ? ivtctl_check(argc, argv, out, err) : ivtctl_main(argc, argv, in, out, err);
    fclose(out);
    fclose(err);
    fclose(in);
    return r;
}

static struct run run_v(const char *input, const char *const *args)
{
    return run_mode(input, args, false);
}

#define RUN(input, ...) run_v(input, (const char *const[]){__VA_ARGS__, NULL})

static void run_free(struct run *r)
{
    free(r->out);
    free(r->err);
}

/* ---- arguments and usage ------------------------------------------------ */

TEST(cli_args_spellings_and_globals_anywhere)
{
    (void)state;
    struct ivtctl c = {.socket = "x", .timeout = 1000, .fd = -1, .err = stderr, .out = stdout};
    struct ivtctl_opt opts[] = {
        {"ttl", 't', "DURATION", NULL}, {"watch", 'w', NULL, NULL}, {NULL, 0, NULL, NULL}};
    char *argv[] = {"ban",      "ip",        "--ttl=1h", "-o", "json", "1.2.3.4", "-w",
                    "-s/tmp/s", "--timeout", "3s",       "--", "-x",   NULL};
    int n = ivtctl_args_parse(&c, opts, 12, argv, 2, 3);
    assert_int_equal(n, 3);
    assert_string_equal(argv[0], "ip");
    assert_string_equal(argv[1], "1.2.3.4");
    assert_string_equal(argv[2], "-x"); /* after "--", a positional */
    assert_string_equal(opts[0].value, "1h");
    assert_string_equal(opts[1].value, "");
    assert_int_equal(c.output, IVTCTL_OUT_JSON);
    assert_string_equal(c.socket, "/tmp/s");
    assert_true(c.timeout == 3000);

    struct ivtctl_opt o2[] = {{"ttl", 't', "DURATION", NULL}, {NULL, 0, NULL, NULL}};
    char *argv2[] = {"ban", "-t15m", "a", "b", NULL};
    assert_int_equal(ivtctl_args_parse(&c, o2, 4, argv2, 2, 2), 2);
    assert_string_equal(o2[0].value, "15m");
}

/* Each bad command line: exit 2, nothing on stdout, a message on stderr
 * naming the problem, and the usage line. */
static const struct {
    const char *args[8];
    const char *says;
} usage_rows[] = {
    {{NULL}, "missing command"},
    {{"frobnicate", NULL}, "unknown command 'frobnicate'"},
    {{"status", "extra", NULL}, "unexpected argument 'extra'"},
    {{"status", "--bogus", NULL}, "unknown option --bogus"},
    {{"-o", "yaml", "status", NULL}, "-o 'yaml' must be one of text, json"},
    {{"--timeout", "10", "status", NULL}, "is not a duration (use 500ms, 90s, 15m, 4h, 7d"},
    {{"--timeout", "0", "status", NULL}, "--timeout must be more than 0"},
    /* now + timeout must not overflow: 106751991166d is just under 2^63 ms */
    {{"--timeout", "106751991166d", "status", NULL}, "--timeout must be at most 1d"},
    {{"status", "--timeout=24h1ms", NULL}, "--timeout must be at most 1d"},
    {{"members", "--status", "zombie", NULL}, "must be one of alive, suspect, dead, left"},
    {{"ban", "ip", NULL}, "missing argument"},
    {{"ban", "host", "x", NULL}, "KIND 'host' must be one of ip, prefix, device, ua, pub"},
    {{"ban", "ip", "1.2.3.4", "--ttl", "90", NULL}, "--ttl '90' is not a duration"},
    {{"ban", "ip", "1.2.3.4", "--ttl", "1.5h", NULL}, "use 500ms, 90s, 15m, 4h, 7d"},
    {{"ban", "ip", "1.2.3.4", "--ttl", NULL}, "--ttl needs a value (DURATION)"},
    {{"ban", "ip", "", NULL}, "KEY must not be empty"},
    {{"ban", "ip", "not-an-ip", NULL}, "KEY 'not-an-ip' is not an IPv4 or IPv6 address"},
    {{"allow", "ip", "1.2.3.4/24", NULL}, "is not an IPv4 or IPv6 address"},
    {{"explain", "ip", "300.1.1.1", NULL}, "is not an IPv4 or IPv6 address"},
    {{"unban", "ip", "[::1]", NULL}, "is not an IPv4 or IPv6 address"},
    {{"ban", "prefix", "198.51.100.0/16", NULL}, "is not a prefix: an address, ADDR/24"},
    {{"explain", "prefix", "2001:db8::/24", NULL}, "is not a prefix"},
    {{"allow", "prefix", "/24", NULL}, "is not a prefix"},
    {{"ban", "prefix", "example.com", NULL}, "is not a prefix"},
    {{"ban", "ua", "curl", "--ttl", "31d", NULL}, "--ttl must be at most 30d"},
    {{"allow", "pub", "p", "--ttl", "720h1ms", NULL}, "--ttl must be at most 30d"},
    {{"unban", "ip", "1.2.3.4", "--ttl", "1h", NULL}, "unknown option --ttl"},
    {{"explain", "ip", NULL}, "missing argument"},
    {{"score", NULL}, "missing argument"},
    {{"score", "not-an-ip", NULL}, "'ip' must be an IPv4 or IPv6 address"},
    {{"score", "1.2.3.4", "--kind", "view", NULL}, "'kind' must be one of request"},
    {{"score", "1.2.3.4", "--asn", "-1", NULL}, "--asn '-1' must be a whole number"},
    {{"top", "-n", "0", NULL}, "-n '0' must be a whole number from 1 to 1000"},
    {{"top", "--kind", "asn", NULL}, "--kind 'asn' must be one of"},
    {{"top", "--count", "3", NULL}, "go with --watch"},
    {{"keys", NULL}, "missing subcommand"},
    {{"keys", "rotate", NULL}, "unknown subcommand 'rotate'"},
    {{"keys", "install", "c2hvcnQ=", NULL}, "base64 of 32 bytes"},
    {{"keys", "use", NULL}, "missing argument"},
    {{"join", NULL}, "missing argument"},
    {{"join", "10.0.0.1", NULL}, "is not ip:port"},
    {{"join", "10.0.0.1:99999", NULL}, "is not ip:port"},
    {{"join", "2001:db8::1:7946", NULL}, "is not ip:port"},
    {{"join", "localhost:7946", NULL}, "is not ip:port (a literal address"},
    {{"join", "[10.0.0.1]:7946", NULL}, "is not ip:port"},
    {{"join", "[]:7946", NULL}, "is not ip:port"},
    {{"join", "10.0.0.1:7946", "[2001:db8::1:7946", NULL}, "is not ip:port"},
    {{"observe", "-f", "/nonexistent/ev.jsonl", NULL}, "cannot open"},
    {{"observe", "--batch", "0", NULL}, "--batch '0' must be a whole number"},
    {{"-s", "", "status", NULL}, "-s needs a socket path"},
};

TEST(cli_usage_errors_exit_2)
{
    (void)state;
    for (unsigned i = 0; i < sizeof(usage_rows) / sizeof(usage_rows[0]); i++) {
        struct run r = run_v(NULL, usage_rows[i].args);
        if (r.rc != IVTCTL_EXIT_USAGE || r.out_len != 0 || !strstr(r.err, usage_rows[i].says) ||
            !strstr(r.err, "usage"))
            fail_msg("row %u: rc %d, stdout '%s', stderr '%s'", i, r.rc, r.out, r.err);
        run_free(&r);
    }
}

/* ivtctl_check (the fuzz target's entry) refuses what ivtctl refuses, with
 * the same words, and accepts what ivtctl would send, reaching nothing. */
TEST(cli_check_stops_before_the_node)
{
    (void)state;
    for (unsigned i = 0; i < sizeof(usage_rows) / sizeof(usage_rows[0]); i++) {
        /* observe's -f is opened after the check stops */
        if (strcmp(usage_rows[i].says, "cannot open") == 0)
            continue;
        struct run r = run_mode(NULL, usage_rows[i].args, true);
        if (r.rc != IVTCTL_EXIT_USAGE || r.out_len != 0 || !strstr(r.err, usage_rows[i].says))
            fail_msg("row %u: rc %d, stdout '%s', stderr '%s'", i, r.rc, r.out, r.err);
        run_free(&r);
    }
    /* Each of these reaches for the node, the file or a key: ivtctl fails
     * to reach /nonexistent (exit 3, or 2 for the file), the check stops
     * first and says nothing. */
    static const struct {
        const char *args[12];
        int main_rc;
    } good[] = {
        {{"-s", "/nonexistent/s", "status", NULL}, IVTCTL_EXIT_UNREACHABLE},
        {{"-s", "/nonexistent/s", "ban", "ip", "1.2.3.4", "--ttl=1h", "-r", "x", NULL},
         IVTCTL_EXIT_UNREACHABLE},
        {{"-s", "/nonexistent/s", "score", "2001:db8::1", "--asn", "15169", "--kind", "click",
          NULL},
         IVTCTL_EXIT_UNREACHABLE},
        {{"-s", "/nonexistent/s", "top", "--watch", "--interval", "100ms", NULL},
         IVTCTL_EXIT_UNREACHABLE},
        {{"-s", "/nonexistent/s", "join", "10.0.0.7:7946", "[2001:db8::7]:7946", NULL},
         IVTCTL_EXIT_UNREACHABLE},
        {{"-s", "/nonexistent/s", "observe", "-f", "/nonexistent/ev.jsonl", NULL},
         IVTCTL_EXIT_USAGE},
        {{"keys", "generate", NULL}, IVTCTL_EXIT_OK},
    };
    for (unsigned i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct run m = run_mode(NULL, good[i].args, false);
        struct run r = run_mode(NULL, good[i].args, true);
        if (m.rc != good[i].main_rc || r.rc != IVTCTL_EXIT_OK || r.out_len || r.err_len)
            fail_msg("row %u: main %d, check %d, stdout '%s', stderr '%s'", i, m.rc, r.rc, r.out,
                     r.err);
        run_free(&m);
        run_free(&r);
    }
    struct run r = run_mode(NULL, (const char *const[]){"ban", "--help", NULL}, true);
    assert_int_equal(r.rc, IVTCTL_EXIT_OK);
    assert_non_null(strstr(r.out, "usage: ivtctl ban KIND KEY"));
    run_free(&r);
}

TEST(cli_help_for_tool_and_every_command)
{
    (void)state;
    struct run r = RUN(NULL, "--help");
    assert_int_equal(r.rc, 0);
    for (size_t i = 0; i < ivtctl_n_commands; i++)
        assert_non_null(strstr(r.out, ivtctl_commands[i].name));
    assert_non_null(strstr(r.out, "Exit codes"));
    run_free(&r);
    for (size_t i = 0; i < ivtctl_n_commands; i++) {
        char name[64], *sp;
        snprintf(name, sizeof(name), "%s", ivtctl_commands[i].name);
        const char *args[4] = {name, "--help", NULL, NULL};
        if ((sp = strchr(name, ' '))) {
            *sp = '\0';
            args[1] = sp + 1;
            args[2] = "-h";
        }
        r = run_v(NULL, args);
        assert_int_equal(r.rc, 0);
        assert_non_null(strstr(r.out, "usage: ivtctl "));
        assert_non_null(strstr(r.out, ivtctl_commands[i].summary));
        assert_int_equal(r.err_len, 0);
        run_free(&r);
    }
    r = RUN(NULL, "keys", "--help");
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "keys install KEY"));
    run_free(&r);
}

/* The man page and the bash completion name every command of the table. */
TEST(cli_docs_and_completion_list_every_command)
{
    (void)state;
    const char *files[] = {"docs/ivtctl.1", "cli/ivtctl.bash-completion", "docs/cli.md"};
    for (unsigned f = 0; f < 3; f++) {
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", ivt_test_root(), files[f]);
        FILE *fp = fopen(path, "r");
        if (!fp)
            fail_msg("cannot open %s", path);
        static char text[1 << 17];
        size_t n = fread(text, 1, sizeof(text) - 1, fp);
        text[n] = '\0';
        fclose(fp);
        for (size_t i = 0; i < ivtctl_n_commands; i++) {
            const char *name = ivtctl_commands[i].name, *sp = strchr(name, ' ');
            if (!strstr(text, sp ? sp + 1 : name))
                fail_msg("%s does not mention '%s'", files[f], name);
        }
    }
}

TEST(cli_keys_generate_without_a_node)
{
    (void)state;
    struct run a = RUN(NULL, "-s", "/nonexistent/sock", "keys", "generate");
    struct run b = RUN(NULL, "keys", "generate", "-o", "json");
    assert_int_equal(a.rc, 0);
    assert_int_equal(b.rc, 0);
    assert_int_equal(a.out_len, 45); /* 44 characters of base64 and a newline */
    assert_true(a.out[43] == '=');
    json_t *doc = json_loads(b.out, 0, NULL);
    assert_non_null(doc);
    const char *key = json_string_value(json_object_get(doc, "key"));
    assert_non_null(key);
    assert_int_equal(strlen(key), 44);
    assert_true(strncmp(key, a.out, 44) != 0); /* random, not fixed */
    /* What generate prints, install accepts (it then fails to reach the node). */
    char k[45];
    memcpy(k, a.out, 44);
    k[44] = '\0';
    struct run c = RUN(NULL, "-s", "/nonexistent/sock", "keys", "install", k);
    assert_int_equal(c.rc, IVTCTL_EXIT_UNREACHABLE);
    json_decref(doc);
    run_free(&a);
    run_free(&b);
    run_free(&c);
}

/* ---- unreachable nodes -------------------------------------------------- */

TEST(cli_unreachable_names_socket_and_cause)
{
    (void)state;
    struct run r = RUN(NULL, "-s", "/nonexistent/ivtd.sock", "status");
    assert_int_equal(r.rc, IVTCTL_EXIT_UNREACHABLE);
    assert_non_null(strstr(r.err, "/nonexistent/ivtd.sock"));
    assert_non_null(strstr(r.err, "no such socket"));
    assert_int_equal(r.out_len, 0);
    run_free(&r);

    /* JSON mode: the same, plus one error document on stdout. */
    r = RUN(NULL, "-o", "json", "-s", "/nonexistent/ivtd.sock", "members");
    assert_int_equal(r.rc, IVTCTL_EXIT_UNREACHABLE);
    json_t *doc = json_loads(r.out, 0, NULL);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "error"), "code")),
                        "EUNREACHABLE");
    json_decref(doc);
    run_free(&r);

    /* A socket file nobody listens on: refused, said so. */
    char dir[40];
    ivt_test_tmpdir(dir, sizeof(dir), "ivtctl");
    char path[64];
    snprintf(path, sizeof(path), "%s/dead.sock", dir);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(fd);
    setenv("IVT_SOCKET", path, 1);
    r = RUN(NULL, "decisions");
    unsetenv("IVT_SOCKET");
    assert_int_equal(r.rc, IVTCTL_EXIT_UNREACHABLE);
    assert_non_null(strstr(r.err, path));
    assert_non_null(strstr(r.err, "refused"));
    run_free(&r);
    unlink(path);
    rmdir(dir);
}

/* ---- a scripted server -------------------------------------------------- */

enum script_kind { S_RESULT, S_ERROR, S_GARBAGE, S_HANGUP, S_SILENT, S_WRONG_ID };

struct script {
    enum script_kind kind;
    const char *method; /* the method the request must name */
    const char *json;   /* S_RESULT: the result, as JSON text */
};

/* Encodes a JSON value as msgpack (the shapes ivtd sends). */
static void json_to_mp(struct ivt_mpw *w, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *k;
        json_t *x;
        ivt_mpw_map(w, (uint32_t)json_object_size(v));
        json_object_foreach((json_t *)v, k, x)
        {
            ivt_mpw_cstr(w, k);
            json_to_mp(w, x);
        }
        break;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *x;
        ivt_mpw_array(w, (uint32_t)json_array_size(v));
        json_array_foreach(v, i, x) json_to_mp(w, x);
        break;
    }
    case JSON_STRING: ivt_mpw_str(w, json_string_value(v), json_string_length(v)); break;
    case JSON_INTEGER: ivt_mpw_int(w, json_integer_value(v)); break;
    case JSON_REAL: ivt_mpw_double(w, json_real_value(v)); break;
    case JSON_TRUE: ivt_mpw_bool(w, true); break;
    case JSON_FALSE: ivt_mpw_bool(w, false); break;
    case JSON_NULL: ivt_mpw_nil(w); break;
    }
}

/* The child: accepts one connection and answers requests per the script,
 * then exits 0, or 1 when a request was not what the script expected. */
static void serve(int lfd, const struct script *steps, int n)
{
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0)
        _exit(1);
    static uint8_t buf[1 << 20];
    size_t len = 0;
    for (int s = 0; s < n; s++) {
        long flen;
        while ((flen = ivt_mp_value_len(buf, len)) == IVT_EAGAIN || len == 0) {
            ssize_t k = read(fd, buf + len, sizeof(buf) - len);
            if (k <= 0)
                _exit(1);
            len += (size_t)k;
        }
        if (flen < 0)
            _exit(1);
        const uint8_t *p = buf, *end = buf + flen;
        uint32_t an;
        uint64_t type, id;
        const char *m;
        uint32_t mlen;
        if (ivt_mp_read_array(&p, end, &an) || an != 4 || ivt_mp_read_uint(&p, end, &type) ||
            type != 0 || ivt_mp_read_uint(&p, end, &id) || ivt_mp_read_str(&p, end, &m, &mlen) ||
            !ivt_mp_str_eq(m, mlen, steps[s].method))
            _exit(1);
        memmove(buf, buf + flen, len - (size_t)flen);
        len -= (size_t)flen;
        struct ivt_mpw w;
        ivt_mpw_init_dyn(&w, 1 << 20);
        ivt_mpw_array(&w, 4);
        ivt_mpw_uint(&w, 1);
        ivt_mpw_uint(&w, steps[s].kind == S_WRONG_ID ? id + 7 : id);
        switch (steps[s].kind) {
        case S_RESULT:
        case S_WRONG_ID: {
            json_t *v = json_loads(steps[s].json, JSON_DECODE_ANY, NULL);
            if (!v)
                _exit(1);
            ivt_mpw_nil(&w);
            json_to_mp(&w, v);
            json_decref(v);
            break;
        }
        case S_ERROR:
            ivt_mpw_map(&w, 2);
            ivt_mpw_cstr(&w, "code");
            ivt_mpw_cstr(&w, "ENOENT");
            ivt_mpw_cstr(&w, "message");
            ivt_mpw_cstr(&w, "keys.use: no such key");
            ivt_mpw_nil(&w);
            break;
        case S_GARBAGE:
            ivt_mpw_reset(&w);
            ivt_mpw_raw(&w, "\xc1\xc1\xc1", 3); /* 0xc1: never used in msgpack */
            break;
        case S_HANGUP: _exit(0);
        case S_SILENT:
            while (read(fd, buf, sizeof(buf)) > 0)
                ; /* never answer; leave when the client gives up */
            _exit(0);
        }
        if (write(fd, w.data, w.len) != (ssize_t)w.len)
            _exit(1);
        ivt_mpw_destroy(&w);
    }
    /* Wait for the client to hang up, so a test sees a clean exit. */
    while (read(fd, buf, sizeof(buf)) > 0)
        ;
    _exit(0);
}

struct server {
    pid_t pid;
    char dir[40], path[64]; /* short: sun_path holds 108 bytes */
};

static void server_start(struct server *sv, const struct script *steps, int n)
{
    ivt_test_tmpdir(sv->dir, sizeof(sv->dir), "ivtctl");
    snprintf(sv->path, sizeof(sv->path), "%s/ctl.sock", sv->dir);
    int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sv->path);
    assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(lfd, 4), 0);
    fflush(NULL);
    sv->pid = fork();
    assert_true(sv->pid >= 0);
    if (sv->pid == 0)
        serve(lfd, steps, n);
    close(lfd);
}

/* Returns the child's exit status (0: every request was as scripted). */
static int server_stop(struct server *sv)
{
    int st = 0;
    /* Give the child up to 5 s to finish on its own (it exits when the
     * client hangs up); only a child scripted to stay silent is killed. */
    pid_t got = 0;
    for (int i = 0; i < 500 && (got = waitpid(sv->pid, &st, WNOHANG)) == 0; i++)
        usleep(10000);
    if (got == 0) {
        kill(sv->pid, SIGKILL);
        waitpid(sv->pid, &st, 0);
        st = 0x100; /* report "exit 1": it did not finish by itself */
    }
    unlink(sv->path);
    rmdir(sv->dir);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Runs ivtctl (the arguments after "-s SOCKET", NULL-terminated) against
 * a server scripted with n steps, stdin from input; fails the test unless
 * the server saw exactly the scripted requests. */
static struct run run_scripted(const struct script *steps, int n, const char *input,
                               const char *const *args)
{
    struct server sv;
    server_start(&sv, steps, n);
    const char *argv[64] = {"-s", sv.path};
    int k = 2;
    for (; *args && k < 63; args++)
        argv[k++] = *args;
    argv[k] = NULL;
    struct run r = run_v(input, argv);
    assert_int_equal(server_stop(&sv), 0);
    return r;
}

#define RUN_SCRIPTED(steps, n, input, ...)                                                         \
    run_scripted(steps, n, input, (const char *const[]){__VA_ARGS__, NULL})

TEST(cli_client_renders_results_in_both_modes)
{
    (void)state;
    static const char members[] =
        "[{\"name\":\"node-a\",\"id\":\"00ff\",\"addr\":\"127.0.0.1:7946\",\"status\":\"alive\","
        "\"incarnation\":3,\"generation\":2,\"tags\":{\"dc\":\"eu1\",\"role\":\"ads\"},"
        "\"last_change_s\":192},"
        "{\"name\":\"node-b\\u001b[2J\",\"id\":\"01ff\",\"addr\":\"127.0.0.1:7947\","
        "\"status\":\"suspect\",\"incarnation\":12,\"generation\":1,\"tags\":{},"
        "\"last_change_s\":5}]";
    const struct script steps[] = {{S_RESULT, "members", members}};
    struct run r = RUN_SCRIPTED(steps, 1, NULL, "members");
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.out, "NAME        ADDRESS         STATUS   INCARNATION  GEN  LAST "
                               "CHANGE  TAGS\n"
                               "node-a      127.0.0.1:7946  alive              3    2    "
                               "3m12s ago  dc=eu1,role=ads\n"
                               "node-b?[2J  127.0.0.1:7947  suspect           12    1       "
                               "5s ago  -\n");
    run_free(&r);

    r = RUN_SCRIPTED(steps, 1, NULL, "-o", "json", "members", "--status", "alive");
    assert_int_equal(r.rc, 0);
    json_t *doc = json_loads(r.out, 0, NULL);
    assert_non_null(doc);
    assert_int_equal(json_array_size(doc), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(doc, 0), "addr")),
                        "127.0.0.1:7946");
    json_decref(doc);
    run_free(&r);
}

/* status text: members and keyring agreement as counts; an older ivtd that
 * sends no keyring shows "-". */
TEST(cli_client_status_shows_keyring_agreement)
{
    (void)state;
    static const char status[] =
        "{\"name\":\"ads-1\",\"id\":\"00ff\",\"generation\":3,\"label\":\"prod\","
        "\"profile\":\"lan\",\"members\":{\"alive\":11,\"suspect\":1,\"dead\":0,\"left\":2},"
        "\"epoch\":7,\"keys\":2,\"primary_key\":\"9c41d2e0\",\"keyring\":{\"same\":10,"
        "\"different\":1,\"unknown\":0},\"uptime_s\":60,\"version\":\"0.1.0\"}";
    static const char older[] = "{\"name\":\"ads-1\",\"members\":{\"alive\":1}}";
    const struct script steps[] = {{S_RESULT, "status", status}};
    const struct script steps_older[] = {{S_RESULT, "status", older}};
    struct run r = RUN_SCRIPTED(steps, 1, NULL, "status");
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "\nMembers:     11 alive, 1 suspect, 0 dead, 2 left\n"));
    assert_non_null(strstr(r.out, "\nKeys:        2 (primary 9c41d2e0)\n"));
    assert_non_null(
        strstr(r.out, "\nKeyring:     10 same, 1 different, 0 unknown (alive members)\n"));
    run_free(&r);

    r = RUN_SCRIPTED(steps_older, 1, NULL, "status");
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "\nMembers:     1 alive, - suspect, - dead, - left\n"));
    assert_non_null(strstr(r.out, "\nKeyring:     -\n"));
    run_free(&r);
}

TEST(cli_client_node_error_is_exit_1)
{
    (void)state;
    const struct script steps[] = {{S_ERROR, "keys.use", NULL}};
    struct run r = RUN_SCRIPTED(steps, 1, NULL, "-o", "json", "keys", "use",
                                "t8A+qMsP3cJiU5fMHIeHlDw+1EQi2Nw0d+aW3hUF/hI=");
    assert_int_equal(r.rc, IVTCTL_EXIT_NODE);
    assert_non_null(strstr(r.err, "ENOENT"));
    assert_non_null(strstr(r.err, "no such key"));
    json_t *doc = json_loads(r.out, 0, NULL);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "error"), "code")),
                        "ENOENT");
    json_decref(doc);
    run_free(&r);
}

/* ivtd starts a join and answers at once: the text must not claim that
 * anyone answered, only what was asked, and where to watch. */
TEST(cli_client_join_says_what_it_asked)
{
    (void)state;
    const struct script steps[] = {{S_RESULT, "join", "{\"joined\":2}"}};
    struct run r = RUN_SCRIPTED(steps, 1, NULL, "join", "10.0.0.7:7946", "[2001:db8::7]:7946");
    assert_int_equal(r.rc, 0);
    assert_string_equal(
        r.out, "join: asked 2 node(s); `ivtctl members` shows the cluster as they answer\n");
    run_free(&r);
}

/* ivtd sends -1 for a local value it does not keep: text shows "-", JSON
 * passes the -1 on. */
TEST(cli_client_explain_shows_unkept_local_as_dash)
{
    (void)state;
    static const char report[] =
        "{\"kind\":\"ip\",\"key\":\"192.0.2.7\",\"known\":true,\"score\":{\"score\":87,"
        "\"verdict\":\"bot\",\"class\":\"sivt\",\"decided\":false,\"reasons\":[{\"signal\":"
        "\"ip_distinct_ua\",\"local\":-1,\"fleet\":41,\"threshold\":20,\"points\":30,"
        "\"detail\":\"user agents per IP\"}]},\"metrics\":[{\"name\":\"requests\",\"local\":212,"
        "\"fleet\":3400},{\"name\":\"distinct_ua\",\"local\":-1,\"fleet\":41}],"
        "\"first_epoch\":1,\"last_epoch\":2,\"decision\":null}";
    const struct script steps[] = {{S_RESULT, "explain", report}};
    struct run r = RUN_SCRIPTED(steps, 1, NULL, "explain", "ip", "192.0.2.7");
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "\nrequests       212   3400\n"));
    assert_non_null(strstr(r.out, "\ndistinct_ua      -     41\n"));
    assert_non_null(
        strstr(r.out, "\nip_distinct_ua      -     41         20      30  user agents"));
    assert_null(strstr(r.out, "-1"));
    run_free(&r);

    r = RUN_SCRIPTED(steps, 1, NULL, "-o", "json", "explain", "ip", "192.0.2.7");
    assert_int_equal(r.rc, 0);
    json_t *doc = json_loads(r.out, 0, NULL);
    assert_non_null(doc);
    assert_int_equal(json_integer_value(json_object_get(
                         json_array_get(json_object_get(doc, "metrics"), 1), "local")),
                     -1);
    json_decref(doc);
    run_free(&r);
}

TEST(cli_client_garbage_hangup_timeout_wrong_id)
{
    (void)state;
    static const struct {
        struct script step;
        const char *args[6];
        int rc;
        const char *says;
    } rows[] = {
        {{S_GARBAGE, "status", NULL}, {"status"}, IVTCTL_EXIT_NODE, "not msgpack-RPC"},
        {{S_HANGUP, "status", NULL}, {"status"}, IVTCTL_EXIT_UNREACHABLE, "closed the connection"},
        {{S_SILENT, "decisions", NULL},
         {"--timeout", "300ms", "decisions"},
         IVTCTL_EXIT_UNREACHABLE,
         "no answer within 300ms"},
        {{S_WRONG_ID, "leave", "{\"ok\":true}"}, {"leave"}, IVTCTL_EXIT_NODE, "carries msgid"},
        {{S_RESULT, "metrics", "{\"not\":\"text\"}"}, {"metrics"}, IVTCTL_EXIT_NODE, "is not"},
    };
    for (unsigned i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct server sv;
        server_start(&sv, &rows[i].step, 1);
        const char *args[10] = {"-s", sv.path};
        for (int a = 0; rows[i].args[a]; a++)
            args[2 + a] = rows[i].args[a];
        struct run r = run_v(NULL, args);
        server_stop(&sv);
        if (r.rc != rows[i].rc || !strstr(r.err, rows[i].says))
            fail_msg("row %u: rc %d, stderr '%s'", i, r.rc, r.err);
        run_free(&r);
    }
}

TEST(cli_observe_batches_and_reports_bad_lines)
{
    (void)state;
    const char *input = "{\"ip\":\"192.0.2.1\",\"ua\":\"Mozilla/5.0\",\"pub\":\"p1\",\"kind\":"
                        "\"request\",\"ts\":1700000000000}\n"
                        "\n"
                        "{\"ip\":\"192.0.2.1\",\"ua\":\"x\",\"pub\":\"p1\",\"kind\":\"view\"}\n"
                        "not json\n"
                        "{\"ip\":\"2001:db8::1\",\"ua\":\"x\",\"pub\":\"p\",\"kind\":\"click\","
                        "\"device\":\"d1\",\"country\":\"FR\",\"asn\":64500}\n"
                        "{\"ip\":\"192.0.2.9\",\"ua\":\"x\",\"pub\":\"p\",\"kind\":\"impression\"}";
    /* --batch 1: three requests; the second answers one rejection. */
    const struct script steps[] = {
        {S_RESULT, "observe", "{\"accepted\":1,\"rejected\":0,\"errors\":[]}"},
        {S_RESULT, "observe",
         "{\"accepted\":0,\"rejected\":1,\"errors\":[{\"index\":0,\"message\":\"ts outside the "
         "window\"}]}"},
        {S_RESULT, "observe", "{\"accepted\":1,\"rejected\":0,\"errors\":[]}"},
    };
    struct run r = RUN_SCRIPTED(steps, 3, input, "-o", "json", "observe", "--batch", "1");
    assert_int_equal(r.rc, IVTCTL_EXIT_NODE); /* bad lines and a rejection */
    assert_non_null(strstr(r.err, "line 3: 'kind' must be one of request, impression, click"));
    assert_non_null(strstr(r.err, "line 4: not JSON"));
    assert_non_null(strstr(r.err, "line 5: rejected by the node: ts outside the window"));
    json_t *doc = json_loads(r.out, 0, NULL);
    assert_non_null(doc);
    assert_int_equal(json_integer_value(json_object_get(doc, "events")), 3);
    assert_int_equal(json_integer_value(json_object_get(doc, "accepted")), 2);
    assert_int_equal(json_integer_value(json_object_get(doc, "rejected")), 1);
    assert_int_equal(json_integer_value(json_object_get(doc, "bad_lines")), 2);
    assert_int_equal(json_integer_value(json_object_get(doc, "batches")), 3);
    json_decref(doc);
    run_free(&r);
}

/* ---- event lines -------------------------------------------------------- */

TEST(cli_event_lines_good_and_bad)
{
    (void)state;
    static const struct {
        const char *line;
        const char *says; /* NULL: good */
    } rows[] = {
        {"{\"ip\":\"192.0.2.1\",\"ua\":\"u\",\"pub\":\"p\",\"kind\":\"request\"}", NULL},
        {"{\"ts\":0,\"ip\":\"::1\",\"ua\":\"\",\"pub\":\"p\",\"kind\":\"click\",\"device\":\"d\","
         "\"country\":\"de\",\"asn\":4294967295}",
         NULL},
        {"[1,2]", "an event must be a JSON object"},
        {"{\"ip\":\"192.0.2.1\"", "not JSON"},
        {"{\"ip\":\"192.0.2.1\",\"ua\":\"u\",\"pub\":\"p\"}", "missing 'kind'"},
        {"{\"ua\":\"u\",\"pub\":\"p\",\"kind\":\"click\"}", "missing 'ip'"},
        {"{\"ip\":\"999.0.2.1\",\"ua\":\"u\",\"pub\":\"p\",\"kind\":\"click\"}",
         "'ip' must be an IPv4 or IPv6 address"},
        {"{\"ip\":\"192.0.2.1\",\"ua\":7,\"pub\":\"p\",\"kind\":\"click\"}",
         "'ua' must be a string"},
        {"{\"ip\":\"192.0.2.1\",\"ua\":\"u\",\"pub\":\"p\",\"kind\":\"Click\"}",
         "'kind' must be one of request, impression, click"},
        {"{\"ip\":\"192.0.2.1\",\"ua\":\"u\",\"pub\":\"p\",\"kind\":\"click\",\"ts\":-5}",
         "'ts' must be a whole number"},
        {"{\"ip\":\"192.0.2.1\",\"ua\":\"u\",\"pub\":\"p\",\"kind\":\"click\",\"ts\":1.5}",
         "'ts' must be a whole number"},
        {"{\"ip\":\"192.0.2.1\",\"ua\":\"u\",\"pub\":\"p\",\"kind\":\"click\",\"asn\":4294967296}",
         "'asn' must be at most"},
        {"{\"ip\":\"192.0.2.1\",\"ua\":\"u\",\"pub\":\"p\",\"kind\":\"click\",\"country\":\"FRA\"}",
         "'country' must be two letters"},
        {"{\"ip\":\"192.0.2.1\",\"ua\":\"u\",\"pub\":\"p\",\"kind\":\"click\",\"referrer\":\"x\"}",
         "unknown key 'referrer'"},
        {"{\"ip\":\"192.0.2.1\",\"ip\":\"192.0.2.2\",\"ua\":\"u\",\"pub\":\"p\",\"kind\":"
         "\"click\"}",
         "not JSON"},
        {"{\"ip\":\"192.0.2.1\",\"ua\":\"a\\u0000b\",\"pub\":\"p\",\"kind\":\"click\"}",
         "not JSON"},
    };
    for (unsigned i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct ivt_mpw w;
        ivt_mpw_init_dyn(&w, 1 << 16);
        char msg[256] = "";
        int rc = ivtctl_event_parse_line(&w, rows[i].line, strlen(rows[i].line), msg, sizeof(msg));
        if (rows[i].says) {
            if (rc != IVT_EINVAL || !strstr(msg, rows[i].says) || w.len != 0)
                fail_msg("row %u: rc %d, msg '%s'", i, rc, msg);
        } else {
            if (rc != 0)
                fail_msg("row %u: rc %d, msg '%s'", i, rc, msg);
            /* The map decodes back to the same keys. */
            const uint8_t *p = w.data, *end = w.data + w.len;
            json_t *back;
            size_t budget = 100;
            assert_int_equal(ivtctl_mp_to_json(&p, end, &budget, &back), 0);
            assert_true(p == end);
            json_t *orig = json_loads(rows[i].line, 0, NULL);
            assert_true(json_equal(orig, back));
            json_decref(orig);
            json_decref(back);
        }
        ivt_mpw_destroy(&w);
    }
}

/* ---- the reply decoder ---------------------------------------------------- */

static int decode_hex(const char *bytes, size_t n, json_t **err, json_t **res, uint32_t *id)
{
    const uint8_t *p = (const uint8_t *)bytes;
    return ivtctl_reply_decode(&p, p + n, id, err, res);
}

TEST(cli_reply_decoder_accepts_and_rejects)
{
    (void)state;
    json_t *err, *res;
    uint32_t id;
    /* [1, 7, nil, {"ok": true}] */
    assert_int_equal(decode_hex("\x94\x01\x07\xc0\x81\xa2ok\xc3", 9, &err, &res, &id), 0);
    assert_int_equal(id, 7);
    assert_null(err);
    assert_true(json_is_true(json_object_get(res, "ok")));
    json_decref(res);
    /* [1, 8, {"code": "EINVAL", "message": "m"}, nil] */
    assert_int_equal(decode_hex("\x94\x01\x08\x82\xa4"
                                "code\xa6"
                                "EINVAL\xa7message\xa1m\xc0",
                                27, &err, &res, &id),
                     0);
    assert_null(res);
    assert_string_equal(json_string_value(json_object_get(err, "code")), "EINVAL");
    json_decref(err);
    /* bin ids come out hex */
    assert_int_equal(decode_hex("\x94\x01\x01\xc0\xc4\x02\x0a\xff", 8, &err, &res, &id), 0);
    assert_string_equal(json_string_value(res), "0aff");
    json_decref(res);

    static const struct {
        const char *b;
        size_t n;
    } bad[] = {
        {"\x94\x00\x07\xc0\xc0", 5},                    /* a request, not a response */
        {"\x93\x01\x07\xc0", 4},                        /* three elements */
        {"\x94\x01\x07\xc0\xc3\xc3", 6},                /* trailing bytes */
        {"\x94\x01\x07\xc0\x81\x01\xc3", 7},            /* integer map key */
        {"\x94\x01\x07\xc0\x82\xa1k\x01\xa1k\x02", 11}, /* duplicate key */
        {"\x94\x01\x07\xc0\xa2\xff\xfe", 7},            /* not UTF-8 */
        {"\x94\x01\x07\xc0\xcf\xff\xff\xff\xff\xff\xff\xff\xff", 13}, /* uint past INT64_MAX */
        {"\x94\x01\x07\xc0\xcb\x7f\xf8\x00\x00\x00\x00\x00\x00", 13}, /* NaN */
        {"\x94\x01\x07\xc0\xd4\x01\x00", 7},                          /* ext */
        {"\x94\x01\x07\x81\xa4"
         "code\x01\xc0",
         11},                                                         /* error code not a string */
        {"\x94\x01\xce\x00\x00\x00\x01", 7},                          /* truncated */
        {"\x94\x01\xcf\x00\x00\x00\x01\x00\x00\x00\x00\xc0\xc0", 13}, /* msgid past uint32 */
    };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = decode_hex(bad[i].b, bad[i].n, &err, &res, &id);
        if (rc != IVT_EPROTO)
            fail_msg("bad[%u]: rc %d", i, rc);
    }
    /* Nesting past the bound, and more values than the budget. */
    uint8_t deep[IVTCTL_MAX_DEPTH + 8];
    memset(deep, 0x91, sizeof(deep));
    deep[sizeof(deep) - 1] = 0xc0;
    const uint8_t *p = deep;
    json_t *v;
    size_t budget = 1000;
    assert_int_equal(ivtctl_mp_to_json(&p, deep + sizeof(deep), &budget, &v), IVT_EPROTO);
    uint8_t many[] = {0x95, 0xc0, 0xc0, 0xc0, 0xc0, 0xc0};
    p = many;
    budget = 5;
    assert_int_equal(ivtctl_mp_to_json(&p, many + sizeof(many), &budget, &v), IVT_ETOOBIG);
    p = many;
    budget = 6;
    assert_int_equal(ivtctl_mp_to_json(&p, many + sizeof(many), &budget, &v), 0);
    json_decref(v);
}

/* ---- tables ---------------------------------------------------------------- */

TEST(cli_table_aligns_and_sanitizes)
{
    (void)state;
    static const struct ivtctl_column cols[] = {
        {"KEY", IVTCTL_LEFT}, {"SCORE", IVTCTL_RIGHT}, {"NOTE", IVTCTL_LEFT}};
    struct ivtctl_table t;
    ivtctl_table_init(&t, cols, 3, true);
    ivtctl_table_cell(&t, "192.0.2.1");
    ivtctl_table_cell(&t, "%d", 100);
    ivtctl_table_cell(&t, "bell\a and esc\033[31m");
    ivtctl_table_cell(&t, "café");
    ivtctl_table_cell(&t, "7");
    ivtctl_table_cell(&t, "%s", "");
    ivtctl_table_cell(&t, "日本語"); /* three wide glyphs: six columns */
    ivtctl_table_cell(&t, "8");
    ivtctl_table_cell(&t, "%s", "");
    json_t *tags = json_pack("{s:s,s:i}", "z", "last", "a", 1);
    json_t *real = json_real(0.1 + 0.2);
    ivtctl_table_json(&t, tags);
    ivtctl_table_json(&t, real);
    ivtctl_table_json(&t, json_null());
    json_decref(tags);
    json_decref(real);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_int_equal(ivtctl_table_print(&t, f), 0);
    fclose(f);
    ivtctl_table_destroy(&t);
    assert_string_equal(text, "KEY         SCORE  NOTE\n"
                              "192.0.2.1     100  bell? and esc?[31m\n"
                              "café            7\n"
                              "日本語          8\n"
                              "a=1,z=last    0.3  -\n");
    free(text);
}
