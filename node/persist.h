/*
 * node/persist.h: the files of node.state_dir, written atomically.
 *
 *   node-id     32 hex digits: the stable 16-byte node id, made once
 *   generation  a decimal number, raised and saved on every start, before
 *               the node joins (so no two runs ever share an origin)
 *   keyring     base64 keys one per line, the primary first (mode 0600)
 *   evidence    the node core's snapshot (node_snapshot), msgpack
 *   lock        held with flock(2) while a daemon uses the directory
 *
 * Every write is: a temporary file in the same directory, write, fsync,
 * rename over the old name, fsync of the directory. A crash at any point
 * leaves either the old file or the new one, never a torn one.
 *
 * The evidence snapshot is encoded on the loop (the core is single-threaded)
 * and its bytes handed to ivtd_persist_save_async, which writes them on
 * libuv's thread pool: disk latency never stalls the event loop.
 *
 * Shell code. On failure err holds "PATH: what: strerror".
 */
#ifndef IVT_NODE_PERSIST_H
#define IVT_NODE_PERSIST_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

enum { IVTD_NODE_ID_LEN = 16, IVTD_PERSIST_ERR_MAX = 512 };

struct gossip_keyring;

/* Parses a keyring file's text (len bytes, not necessarily NUL-terminated):
 * base64 keys one per line, the first the primary; blank lines and lines
 * starting with '#' are skipped, trailing spaces and CRs ignored. name is the
 * file's path for messages. kr is initialised here. Returns 0 on success, or
 * IVT_EPROTO (a line that is not a key, or no key at all: msg says which
 * line of name). */
int ivtd_keyring_parse(struct gossip_keyring *kr, const char *text, size_t len, const char *name,
                       char *msg, size_t cap);

/* Creates dir (and parents) with mode 0700 if missing. Returns 0 on success,
 * or IVT_EINVAL (it cannot be created or is not a directory). */
int ivtd_persist_mkdir(const char *dir, char *err, size_t cap);

/* Takes dir/lock. *fd keeps the lock until closed. Returns 0 on success, or
 * IVT_EEXIST (another process holds it), IVT_EINVAL (cannot open it). */
int ivtd_persist_lock(int *fd, const char *dir, char *err, size_t cap);

/* Writes len bytes to path atomically, with mode. Returns 0 on success, or
 * IVT_EINVAL (any system call failed; err says which and why). */
int ivtd_persist_write(const char *path, const void *data, size_t len, unsigned mode, char *err,
                       size_t cap);

/*
 * Reads a whole file of at most max bytes into a new buffer (*data, free()
 * it; NUL-terminated after len for text). Returns 0 on success, or
 * IVT_ENOENT (no such file), IVT_ETOOBIG (longer than max), IVT_ENOMEM,
 * IVT_EINVAL (cannot read it).
 */
int ivtd_persist_read(uint8_t **data, size_t *len, const char *path, size_t max, char *err,
                      size_t cap);

/* Reads dir/node-id, or creates it with fresh random bytes. Returns 0 on
 * success, or IVT_EPROTO (the file is not 32 hex digits), IVT_EINVAL. */
int ivtd_persist_node_id(uint8_t id[IVTD_NODE_ID_LEN], const char *dir, char *err, size_t cap);

/* Reads dir/generation (0 when absent), adds one, saves it, returns it in
 * *gen. Returns 0 on success, or IVT_EPROTO (not a number), IVT_EINVAL. */
int ivtd_persist_next_generation(uint32_t *gen, const char *dir, char *err, size_t cap);

/* Called on the loop when an asynchronous save ends: rc 0 or IVT_EINVAL,
 * err the message (empty on success). */
typedef void (*ivtd_persist_done_fn)(void *ctx, int rc, const char *err);

/*
 * Writes data to path atomically on the thread pool. Takes ownership of
 * data (a malloc'd buffer; freed when done). done runs on the loop.
 * Returns 0 when queued, or IVT_ENOMEM (data is freed).
 */
int ivtd_persist_save_async(uv_loop_t *loop, const char *path, uint8_t *data, size_t len,
                            unsigned mode, ivtd_persist_done_fn done, void *ctx);

#endif
