/* Unit tests of node/persist.c: files the daemon relies on after a crash. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <uv.h>

#include "base/err.h"
#include "gossip/keyring.h"
#include "node/persist.h"
#include "tests/test.h"

TEST(node_persist_atomic_write_and_read)
{
    (void)state;
    char dir[64], path[128], err[512];
    ivt_test_tmpdir(dir, sizeof(dir), "persist");
    snprintf(path, sizeof(path), "%s/keyring", dir);
    assert_int_equal(ivtd_persist_write(path, "one\n", 4, 0600, err, sizeof(err)), 0);
    assert_int_equal(ivtd_persist_write(path, "two two\n", 8, 0600, err, sizeof(err)), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    uint8_t *data;
    size_t len;
    assert_int_equal(ivtd_persist_read(&data, &len, path, 100, err, sizeof(err)), 0);
    assert_int_equal(len, 8);
    assert_string_equal((char *)data, "two two\n");
    free(data);
    assert_int_equal(ivtd_persist_read(&data, &len, path, 7, err, sizeof(err)), IVT_ETOOBIG);
    char missing[128];
    snprintf(missing, sizeof(missing), "%s/nothing", dir);
    assert_int_equal(ivtd_persist_read(&data, &len, missing, 7, err, sizeof(err)), IVT_ENOENT);
    /* No temporary file is left behind. */
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "test $(ls -A '%s' | wc -l) -eq 1", dir);
    assert_int_equal(system(cmd), 0);
    /* A write into a directory that does not exist fails with a message. */
    assert_int_equal(ivtd_persist_write("/nonexistent/x", "a", 1, 0600, err, sizeof(err)),
                     IVT_EINVAL);
    assert_non_null(strstr(err, "/nonexistent/x.tmp."));
    ivt_test_rmdir(dir);
}

TEST(node_persist_node_id_is_stable_and_generation_grows)
{
    (void)state;
    assert_true(sodium_init() >= 0);
    char dir[64], sub[128], err[512];
    ivt_test_tmpdir(dir, sizeof(dir), "persist");
    snprintf(sub, sizeof(sub), "%s/a/b", dir);
    assert_int_equal(ivtd_persist_mkdir(sub, err, sizeof(err)), 0);
    uint8_t id1[16], id2[16];
    assert_int_equal(ivtd_persist_node_id(id1, sub, err, sizeof(err)), 0);
    assert_int_equal(ivtd_persist_node_id(id2, sub, err, sizeof(err)), 0);
    assert_memory_equal(id1, id2, 16);
    uint32_t g;
    assert_int_equal(ivtd_persist_next_generation(&g, sub, err, sizeof(err)), 0);
    assert_int_equal(g, 1);
    assert_int_equal(ivtd_persist_next_generation(&g, sub, err, sizeof(err)), 0);
    assert_int_equal(g, 2);
    /* A corrupt file is an error, not a silent reset to generation 1. */
    char path[160];
    snprintf(path, sizeof(path), "%s/generation", sub);
    assert_int_equal(ivtd_persist_write(path, "x7\n", 3, 0644, err, sizeof(err)), 0);
    assert_int_equal(ivtd_persist_next_generation(&g, sub, err, sizeof(err)), IVT_EPROTO);
    snprintf(path, sizeof(path), "%s/node-id", sub);
    assert_int_equal(ivtd_persist_write(path, "abc\n", 4, 0644, err, sizeof(err)), 0);
    assert_int_equal(ivtd_persist_node_id(id1, sub, err, sizeof(err)), IVT_EPROTO);
    /* The lock admits one holder. */
    int fd1, fd2;
    assert_int_equal(ivtd_persist_lock(&fd1, sub, err, sizeof(err)), 0);
    assert_int_equal(ivtd_persist_lock(&fd2, sub, err, sizeof(err)), IVT_EEXIST);
    assert_non_null(strstr(err, "another ivtd"));
    close(fd1);
    assert_int_equal(ivtd_persist_lock(&fd2, sub, err, sizeof(err)), 0);
    close(fd2);
    ivt_test_rmdir(dir);
}

struct done {
    int calls, rc;
};

static void on_done(void *ctx, int rc, const char *err)
{
    (void)err;
    struct done *d = ctx;
    d->calls++;
    d->rc = rc;
}

TEST(node_persist_async_save)
{
    (void)state;
    char dir[64], path[128], err[512];
    ivt_test_tmpdir(dir, sizeof(dir), "persist");
    snprintf(path, sizeof(path), "%s/evidence", dir);
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct done d = {0, 99};
    uint8_t *buf = malloc(100000);
    memset(buf, 0x5a, 100000);
    assert_int_equal(ivtd_persist_save_async(&loop, path, buf, 100000, 0600, on_done, &d), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.rc, 0);
    uint8_t *data;
    size_t len;
    assert_int_equal(ivtd_persist_read(&data, &len, path, 1 << 20, err, sizeof(err)), 0);
    assert_int_equal(len, 100000);
    assert_int_equal(data[99999], 0x5a);
    free(data);
    buf = malloc(1);
    assert_int_equal(
        ivtd_persist_save_async(&loop, "/nonexistent/evidence", buf, 1, 0600, on_done, &d), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(d.calls, 2);
    assert_int_equal(d.rc, IVT_EINVAL);
    assert_int_equal(uv_loop_close(&loop), 0);
    ivt_test_rmdir(dir);
}

/* The keyring file an operator edits (docs/operations.md, "Keys"): keys one
 * per line, the first the primary; comments, blank lines, CRLF and a key
 * written twice are fine; a bad line is named by its line number. */
TEST(node_persist_keyring_file_parse)
{
    (void)state;
    assert_true(sodium_init() >= 0);
    uint8_t k1[GOSSIP_KEY_LEN], k2[GOSSIP_KEY_LEN];
    memset(k1, 0x11, sizeof(k1));
    memset(k2, 0x22, sizeof(k2));
    char b1[GOSSIP_KEY_BASE64_LEN], b2[GOSSIP_KEY_BASE64_LEN];
    assert_int_equal(gossip_key_encode_base64(b1, sizeof(b1), k1), 0);
    assert_int_equal(gossip_key_encode_base64(b2, sizeof(b2), k2), 0);
    struct gossip_keyring kr;
    char text[512], msg[256];
    snprintf(text, sizeof(text), "# rotated 2026-11\n\n%s\r\n%s  \n%s\n", b2, b1, b2);
    assert_int_equal(ivtd_keyring_parse(&kr, text, strlen(text), "kf", msg, sizeof(msg)), 0);
    assert_int_equal(gossip_keyring_count(&kr), 2);
    assert_memory_equal(gossip_keyring_primary(&kr)->key, k2, GOSSIP_KEY_LEN);
    gossip_keyring_destroy(&kr);

    /* Line 4 counts the blank lines before it. */
    snprintf(text, sizeof(text), "%s\n\n# next\nnot-a-key\n%s\n", b1, b2);
    assert_int_equal(ivtd_keyring_parse(&kr, text, strlen(text), "kf", msg, sizeof(msg)),
                     IVT_EPROTO);
    assert_string_equal(msg, "kf:4: not a base64 key");

    snprintf(text, sizeof(text), "# only a comment\n\n");
    assert_int_equal(ivtd_keyring_parse(&kr, text, strlen(text), "kf", msg, sizeof(msg)),
                     IVT_EPROTO);
    assert_string_equal(msg, "kf: no keys in the file");

    /* A NUL inside a key's line: that line is not a key (the text is read
     * by length, not up to the NUL). */
    size_t n = (size_t)snprintf(text, sizeof(text), "%s\n", b1);
    text[10] = '\0';
    assert_int_equal(ivtd_keyring_parse(&kr, text, n, "kf", msg, sizeof(msg)), IVT_EPROTO);
    assert_string_equal(msg, "kf:1: not a base64 key");
}
