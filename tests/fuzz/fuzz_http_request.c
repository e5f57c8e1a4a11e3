/* libFuzzer target: the metrics server's request parser
 * (node/metrics.h, ivtd_http_classify) on arbitrary bytes, as a client on
 * metrics.listen may send them. Every input gets one of the outcomes; never
 * a crash, never a read past len. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "node/metrics.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The server never holds more than IVTD_HTTP_REQ_MAX bytes of a request. */
    if (size > IVTD_HTTP_REQ_MAX)
        size = IVTD_HTTP_REQ_MAX;
    char *req = malloc(size ? size : 1); /* exact size: ASan sees a read past it */
    if (!req)
        return 0;
    if (size)
        memcpy(req, data, size);
    enum ivtd_http_req r = ivtd_http_classify(req, size);
    if (r < IVTD_HTTP_INCOMPLETE || r > IVTD_HTTP_METRICS)
        __builtin_trap();
    if (size < IVTD_HTTP_REQ_MAX && r == IVTD_HTTP_TOO_LARGE)
        __builtin_trap(); /* only a full buffer is too large */
    free(req);
    return 0;
}
