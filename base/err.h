/*
 * base/err.h: the one error vocabulary of ivt.
 *
 * Every function in base/, crdt/, gossip/ and the node core that can fail
 * returns 0 on success, or one of these negative codes. errno never leaves
 * node/ (the daemon shell translates it at the boundary).
 */
#ifndef IVT_BASE_ERR_H
#define IVT_BASE_ERR_H

enum ivt_err {
    IVT_OK = 0,
    IVT_ENOMEM = -1,   /* an allocation failed */
    IVT_EPROTO = -2,   /* malformed input: bad type, bad length, trailing bytes */
    IVT_ETOOBIG = -3,  /* input larger than the configured bound */
    IVT_EINVAL = -4,   /* an argument out of its documented range */
    IVT_ENOSPC = -5,   /* an output buffer is full */
    IVT_ENOENT = -6,   /* no such entry */
    IVT_EAUTH = -7,    /* authentication failed (bad tag, unknown key, wrong label) */
    IVT_EREPLAY = -8,  /* a message already seen, or too old for the replay window */
    IVT_ESTALE = -9,   /* older than what we hold, or outside the time window */
    IVT_EEXIST = -10,  /* already present */
    IVT_ELIMIT = -11,  /* a configured capacity is reached */
    IVT_EAGAIN = -12,  /* incomplete input: more bytes are needed */
    IVT_EVERSION = -13 /* a wire or file format version we do not speak */
};

/* A short, static, human-readable name for an ivt_err ("malformed input"). */
const char *ivt_strerror(int err);

/* The symbolic name of an ivt_err ("EPROTO"), for logs and metrics labels. */
const char *ivt_errname(int err);

#endif
