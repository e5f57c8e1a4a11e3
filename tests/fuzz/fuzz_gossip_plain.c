/* libFuzzer target: the gossip plaintext decoders (what gossip_open hands
 * over after decryption) must accept or reject any bytes without reading
 * past the end, and agree with each other: packet_check counts exactly the
 * messages a decode loop walks. Push-pull entry decoders get the same bytes. */
#include <stddef.h>
#include <stdint.h>

#include "gossip/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int n = gossip_wire_packet_check(data, size);
    const uint8_t *pos = data, *end = data + size;
    struct gossip_hdr h;
    struct gossip_msg m;
    int count = 0;
    if (gossip_wire_hdr_decode(&pos, end, &h) == 0) {
        while (pos < end && gossip_wire_msg_decode(&pos, end, &m) == 0)
            count++;
        if (n >= 0 && (count != n || pos != end))
            __builtin_trap();
    } else if (n >= 0) {
        __builtin_trap();
    }
    struct gossip_wire_member w;
    pos = data;
    while (pos < end && gossip_wire_full_entry_decode(&pos, end, &w) == 0)
        if (w.name_len >= GOSSIP_NAME_MAX || w.meta_len > GOSSIP_META_MAX)
            __builtin_trap();
    pos = data;
    while (pos < end && gossip_wire_digest_entry_decode(&pos, end, &w) == 0)
        if ((unsigned)w.state >= GOSSIP_STATES)
            __builtin_trap();
    return 0;
}
