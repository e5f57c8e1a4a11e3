#include "base/err.h"

struct err_row {
    int code;
    const char *name;
    const char *text;
};

static const struct err_row err_table[] = {
    {IVT_OK, "OK", "success"},
    {IVT_ENOMEM, "ENOMEM", "out of memory"},
    {IVT_EPROTO, "EPROTO", "malformed input"},
    {IVT_ETOOBIG, "ETOOBIG", "input too large"},
    {IVT_EINVAL, "EINVAL", "invalid argument"},
    {IVT_ENOSPC, "ENOSPC", "output buffer full"},
    {IVT_ENOENT, "ENOENT", "no such entry"},
    {IVT_EAUTH, "EAUTH", "authentication failed"},
    {IVT_EREPLAY, "EREPLAY", "replayed or too old"},
    {IVT_ESTALE, "ESTALE", "stale or out of window"},
    {IVT_EEXIST, "EEXIST", "already exists"},
    {IVT_ELIMIT, "ELIMIT", "capacity limit reached"},
    {IVT_EAGAIN, "EAGAIN", "incomplete input"},
    {IVT_EVERSION, "EVERSION", "unsupported version"},
};

static const struct err_row *err_find(int err)
{
    for (unsigned i = 0; i < sizeof(err_table) / sizeof(err_table[0]); i++)
        if (err_table[i].code == err)
            return &err_table[i];
    return 0;
}

const char *ivt_strerror(int err)
{
    const struct err_row *r = err_find(err);
    return r ? r->text : "unknown error";
}

const char *ivt_errname(int err)
{
    const struct err_row *r = err_find(err);
    return r ? r->name : "EUNKNOWN";
}
