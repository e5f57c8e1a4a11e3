/*
 * node/persist.c: atomic files in node.state_dir (see node/persist.h).
 *
 * Why fsync twice: the file's fsync makes its bytes durable; the rename
 * makes the new name point at them; the directory's fsync makes the rename
 * itself durable. Without the last one a power cut can bring back the old
 * file (ext4 data=ordered) or, on some file systems, an empty one.
 */
#include "node/persist.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "base/err.h"
#include "gossip/keyring.h"
#include "node/config.h"

static int sys_fail(char *err, size_t cap, const char *path, const char *what)
{
    snprintf(err, cap, "%s: %s: %s", path, what, strerror(errno));
    return IVT_EINVAL;
}

int ivtd_persist_mkdir(const char *dir, char *err, size_t cap)
{
    char tmp[IVTD_PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s", dir) >= (int)sizeof(tmp)) {
        snprintf(err, cap, "%s: path too long", dir);
        return IVT_EINVAL;
    }
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
            return sys_fail(err, cap, tmp, "cannot create directory");
        *p = '/';
    }
    if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
        return sys_fail(err, cap, tmp, "cannot create directory");
    struct stat st;
    if (stat(tmp, &st) != 0)
        return sys_fail(err, cap, tmp, "cannot stat");
    if (!S_ISDIR(st.st_mode)) {
        snprintf(err, cap, "%s: not a directory", tmp);
        return IVT_EINVAL;
    }
    return 0;
}

int ivtd_persist_lock(int *fd, const char *dir, char *err, size_t cap)
{
    char path[IVTD_PATH_MAX + 8];
    snprintf(path, sizeof(path), "%s/lock", dir);
    int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (f < 0)
        return sys_fail(err, cap, path, "cannot open");
    if (flock(f, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(f);
        if (e == EWOULDBLOCK) {
            snprintf(err, cap, "%s: another ivtd uses this state directory", path);
            return IVT_EEXIST;
        }
        errno = e;
        return sys_fail(err, cap, path, "cannot lock");
    }
    *fd = f;
    return 0;
}

int ivtd_persist_write(const char *path, const void *data, size_t len, unsigned mode, char *err,
                       size_t cap)
{
    char tmp[IVTD_PATH_MAX + 32];
    /* The pid keeps two writers (a crashed run's leftovers, a test) apart. */
    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp)) {
        snprintf(err, cap, "%s: path too long", path);
        return IVT_EINVAL;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, (mode_t)mode);
    if (fd < 0)
        return sys_fail(err, cap, tmp, "cannot create");
    /* open() honours the umask; the keyring must be exactly 0600. */
    if (fchmod(fd, (mode_t)mode) != 0)
        goto fail;
    const uint8_t *p = data;
    size_t left = len;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            goto fail;
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0)
        goto fail;
    if (close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) != 0)
        goto fail;
    char dir[IVTD_PATH_MAX + 32];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        dir[1] = 0;
    else if (slash)
        *slash = 0;
    else
        snprintf(dir, sizeof(dir), ".");
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return sys_fail(err, cap, dir, "cannot open directory to fsync");
    int rc = fsync(dfd);
    int e = errno;
    close(dfd);
    errno = e;
    return rc == 0 ? 0 : sys_fail(err, cap, dir, "cannot fsync directory");
fail:;
    int saved = errno;
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    errno = saved;
    return sys_fail(err, cap, tmp, "cannot write");
}

int ivtd_persist_read(uint8_t **data, size_t *len, const char *path, size_t max, char *err,
                      size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) {
            snprintf(err, cap, "%s: no such file", path);
            return IVT_ENOENT;
        }
        return sys_fail(err, cap, path, "cannot open");
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return sys_fail(err, cap, path, "cannot stat");
    }
    if ((uint64_t)st.st_size > max) {
        close(fd);
        snprintf(err, cap, "%s: %lld bytes, more than the %zu allowed", path, (long long)st.st_size,
                 max);
        return IVT_ETOOBIG;
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = malloc(n + 1);
    if (!buf) {
        close(fd);
        snprintf(err, cap, "%s: out of memory", path);
        return IVT_ENOMEM;
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            close(fd);
            errno = e;
            return sys_fail(err, cap, path, "cannot read");
        }
        if (r == 0)
            break; /* shrank under us: what we have is what there is */
        got += (size_t)r;
    }
    close(fd);
    buf[got] = 0;
    *data = buf;
    *len = got;
    return 0;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int ivtd_persist_node_id(uint8_t id[IVTD_NODE_ID_LEN], const char *dir, char *err, size_t cap)
{
    char path[IVTD_PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/node-id", dir);
    uint8_t *data;
    size_t len;
    int rc = ivtd_persist_read(&data, &len, path, 256, err, cap);
    if (rc == 0) {
        while (len && (data[len - 1] == '\n' || data[len - 1] == ' '))
            len--;
        bool ok = len == 2 * IVTD_NODE_ID_LEN;
        for (size_t i = 0; ok && i < IVTD_NODE_ID_LEN; i++) {
            int hi = hexval(data[2 * i]), lo = hexval(data[2 * i + 1]);
            ok = hi >= 0 && lo >= 0;
            id[i] = (uint8_t)(hi << 4 | lo);
        }
        free(data);
        if (!ok) {
            snprintf(err, cap, "%s: expected 32 hex digits", path);
            return IVT_EPROTO;
        }
        return 0;
    }
    if (rc != IVT_ENOENT)
        return rc;
    randombytes_buf(id, IVTD_NODE_ID_LEN);
    char text[2 * IVTD_NODE_ID_LEN + 2];
    for (size_t i = 0; i < IVTD_NODE_ID_LEN; i++)
        snprintf(text + 2 * i, 3, "%02x", id[i]);
    text[2 * IVTD_NODE_ID_LEN] = '\n';
    return ivtd_persist_write(path, text, 2 * IVTD_NODE_ID_LEN + 1, 0644, err, cap);
}

int ivtd_persist_next_generation(uint32_t *gen, const char *dir, char *err, size_t cap)
{
    char path[IVTD_PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/generation", dir);
    uint8_t *data;
    size_t len;
    uint64_t g = 0;
    int rc = ivtd_persist_read(&data, &len, path, 64, err, cap);
    if (rc == 0) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull((char *)data, &end, 10);
        bool ok = end != (char *)data && !errno && v < UINT32_MAX && (*end == 0 || *end == '\n');
        free(data);
        if (!ok) {
            snprintf(err, cap, "%s: expected a decimal number below 4294967295", path);
            return IVT_EPROTO;
        }
        g = v;
    } else if (rc != IVT_ENOENT) {
        return rc;
    }
    g++;
    char text[16];
    int n = snprintf(text, sizeof(text), "%" PRIu64 "\n", g);
    rc = ivtd_persist_write(path, text, (size_t)n, 0644, err, cap);
    if (rc == 0)
        *gen = (uint32_t)g;
    return rc;
}

/* ---- asynchronous saves ------------------------------------------------------ */

struct save_job {
    uv_work_t work;
    char path[IVTD_PATH_MAX + 32];
    uint8_t *data;
    size_t len;
    unsigned mode;
    int rc;
    char err[IVTD_PERSIST_ERR_MAX];
    ivtd_persist_done_fn done;
    void *ctx;
};

static void save_work(uv_work_t *w)
{
    struct save_job *j = w->data;
    j->rc = ivtd_persist_write(j->path, j->data, j->len, j->mode, j->err, sizeof(j->err));
}

static void save_after(uv_work_t *w, int status)
{
    struct save_job *j = w->data;
    if (status == UV_ECANCELED) {
        j->rc = IVT_EINVAL;
        snprintf(j->err, sizeof(j->err), "%s: save cancelled", j->path);
    }
    if (j->done)
        j->done(j->ctx, j->rc, j->err);
    free(j->data);
    free(j);
}

int ivtd_persist_save_async(uv_loop_t *loop, const char *path, uint8_t *data, size_t len,
                            unsigned mode, ivtd_persist_done_fn done, void *ctx)
{
    struct save_job *j = calloc(1, sizeof(*j));
    if (!j) {
        free(data);
        return IVT_ENOMEM;
    }
    snprintf(j->path, sizeof(j->path), "%s", path);
    j->data = data;
    j->len = len;
    j->mode = mode;
    j->done = done;
    j->ctx = ctx;
    j->work.data = j;
    if (uv_queue_work(loop, &j->work, save_work, save_after) != 0) {
        free(data);
        free(j);
        return IVT_ENOMEM;
    }
    return 0;
}

/* ---- the keyring file ----------------------------------------------------- */

int ivtd_keyring_parse(struct gossip_keyring *kr, const char *text, size_t len, const char *name,
                       char *msg, size_t cap)
{
    gossip_keyring_init(kr);
    int line = 0, rc = 0;
    const char *p = text, *end = text + len;
    while (p < end && rc == 0) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        line++;
        size_t n = (size_t)(e - p);
        while (n && (p[n - 1] == '\r' || p[n - 1] == ' '))
            n--;
        if (n && p[0] != '#') {
            uint8_t key[GOSSIP_KEY_LEN];
            if (gossip_key_decode_base64(key, p, n) != 0) {
                snprintf(msg, cap, "%s:%d: not a base64 key", name, line);
                rc = IVT_EPROTO;
            } else {
                int r = gossip_keyring_install(kr, key);
                if (r != 0 && r != IVT_EEXIST) {
                    snprintf(msg, cap, "%s:%d: %s", name, line, ivt_strerror(r));
                    rc = IVT_EPROTO;
                }
            }
            sodium_memzero(key, sizeof(key));
        }
        p = nl ? nl + 1 : end;
    }
    if (rc == 0 && gossip_keyring_count(kr) == 0) {
        snprintf(msg, cap, "%s: no keys in the file", name);
        rc = IVT_EPROTO;
    }
    return rc;
}
