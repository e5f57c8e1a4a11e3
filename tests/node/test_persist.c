/* Unit tests of node/persist.c: files the daemon relies on after a crash. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <uv.h>

#include "base/err.h"
#include "node/persist.h"
#include "tests/test.h"

static void make_dir(char *dir, size_t cap)
{
    snprintf(dir, cap, "/tmp/ivt-test-persist-XXXXXX");
    assert_non_null(mkdtemp(dir));
}

static void remove_dir(const char *dir)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

TEST(node_persist_atomic_write_and_read)
{
    (void)state;
    char dir[64], path[128], err[512];
    make_dir(dir, sizeof(dir));
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
    remove_dir(dir);
}

TEST(node_persist_node_id_is_stable_and_generation_grows)
{
    (void)state;
    assert_true(sodium_init() >= 0);
    char dir[64], sub[128], err[512];
    make_dir(dir, sizeof(dir));
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
    remove_dir(dir);
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
    make_dir(dir, sizeof(dir));
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
    remove_dir(dir);
}
