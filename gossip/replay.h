/*
 * gossip/replay.h: per-sender replay window over (generation, counter).
 *
 * Every sender stamps its packets with its generation (persisted, raised on
 * every start) and a 64-bit send counter (from 0 at every start). A receiver
 * keeps one window per sender:
 *
 *   - a newer generation resets the window (the sender restarted);
 *   - an older generation is a replay (a packet from before the restart);
 *   - within the generation, `top` is the highest counter accepted and bit i
 *     of `mask` says whether top - i was accepted. Counters above top are
 *     new; counters in [top - 63, top] are new unless their bit is set;
 *     counters below top - 63 are rejected as too old.
 *
 *        top-63                      top-1   top
 *          |  ...  mask bit 63 .. bit 1  |  bit 0 |   > top: new
 *   <------+------------------------------+--------+---------------->
 *   too old: IVT_EREPLAY    seen: IVT_EREPLAY, unseen: accepted
 *
 * A 64-wide window absorbs the reordering a datagram network produces in
 * practice; a packet delayed past 64 newer ones from the same sender is lost,
 * which SWIM tolerates like any loss.
 *
 * The order the caller must follow, because only authenticated packets may
 * move the window (else a forger could push `top` ahead and silence a sender):
 *
 *   1. gossip_replay_check() on the claimed (gen, counter): optional before
 *      the open, to drop obvious replays before paying for the AEAD. It is
 *      pure, so checking a forged claim costs nothing;
 *   2. gossip_open() the envelope; drop on any error;
 *   3. gossip_replay_check() again on the authenticated (gen, counter) (the
 *      values inside the plaintext are the only ones to trust), drop on
 *      IVT_EREPLAY;
 *   4. gossip_replay_commit() with the same values, then process the packet.
 *
 * The structure is the whole state: zero it, copy it, persist it as it is.
 * A zeroed window (gossip_replay_init) accepts anything from generation 0 up.
 */
#ifndef IVT_GOSSIP_REPLAY_H
#define IVT_GOSSIP_REPLAY_H

#include <stdint.h>

enum { GOSSIP_REPLAY_WINDOW = 64 /* bits in mask: the reordering tolerated */ };

struct gossip_replay {
    uint32_t gen;  /* generation the window is for */
    uint64_t top;  /* highest counter accepted in gen (when mask != 0) */
    uint64_t mask; /* bit i: counter top - i accepted; 0 = nothing accepted in gen */
};

void gossip_replay_init(struct gossip_replay *w);

/* Whether (gen, counter) is new. Pure. Returns 0 on success, or one of these
 * negative codes: IVT_EREPLAY (seen, too old, or from an older generation). */
int gossip_replay_check(const struct gossip_replay *w, uint32_t gen, uint64_t counter);

/* Records (gen, counter) as seen. Call only after gossip_replay_check()
 * returned 0 for it and the packet authenticated; a pair that check would
 * reject leaves the window unchanged. */
void gossip_replay_commit(struct gossip_replay *w, uint32_t gen, uint64_t counter);

#endif
