/* libFuzzer target: the keyring file's reader (node/persist.h,
 * ivtd_keyring_parse) on arbitrary file contents. Every input must give a
 * keyring or one error message; never a crash, never a read past len. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "gossip/keyring.h"
#include "node/persist.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    if (!ready) {
        if (sodium_init() < 0)
            abort();
        ready = true;
    }
    /* An exact-size copy, so ASan sees any read past the text. */
    char *text = malloc(size ? size : 1);
    if (!text)
        return 0;
    if (size)
        memcpy(text, data, size);
    struct gossip_keyring kr;
    char msg[256] = "";
    int rc = ivtd_keyring_parse(&kr, text, size, "keyring", msg, sizeof(msg));
    if (rc != 0 && !msg[0])
        __builtin_trap(); /* every failure says why */
    if (rc == 0 && gossip_keyring_count(&kr) == 0)
        __builtin_trap(); /* success means at least one key */
    gossip_keyring_destroy(&kr);
    free(text);
    return 0;
}
