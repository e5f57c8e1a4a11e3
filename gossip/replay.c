/*
 * gossip/replay.c: the per-sender sliding replay window of gossip/replay.h.
 *
 * The window is IPsec's anti-replay bitmap (RFC 4303, section 3.4.3) with a
 * generation in front: (gen, counter) compares lexicographically, a newer
 * generation starts an empty window at its first counter, and nothing of an
 * older generation is ever accepted again. memberlist and Serf have no
 * replay protection; an attacker on the path could resend a captured
 * "suspect" or "dead" message for as long as the key lived.
 *
 * check() and commit() share one classification so they cannot disagree
 * about which pairs are new.
 */
#include "gossip/replay.h"

#include "base/err.h"

enum verdict {
    V_OLD,     /* older generation, below the window, or already seen */
    V_NEW_GEN, /* a newer generation, or the first pair of this one */
    V_AHEAD,   /* above top: the window slides */
    V_INSIDE   /* inside the window and not yet seen */
};

static enum verdict classify(const struct gossip_replay *w, uint32_t gen, uint64_t counter)
{
    if (gen != w->gen)
        return gen > w->gen ? V_NEW_GEN : V_OLD;
    /* mask has bit 0 set once anything was accepted (top itself), so 0
     * means this generation has seen nothing yet. */
    if (w->mask == 0)
        return V_NEW_GEN;
    if (counter > w->top)
        return V_AHEAD;
    uint64_t back = w->top - counter;
    if (back >= GOSSIP_REPLAY_WINDOW)
        return V_OLD;
    return (w->mask >> back) & 1 ? V_OLD : V_INSIDE;
}

void gossip_replay_init(struct gossip_replay *w)
{
    w->gen = 0;
    w->top = 0;
    w->mask = 0;
}

int gossip_replay_check(const struct gossip_replay *w, uint32_t gen, uint64_t counter)
{
    return classify(w, gen, counter) == V_OLD ? IVT_EREPLAY : 0;
}

void gossip_replay_commit(struct gossip_replay *w, uint32_t gen, uint64_t counter)
{
    switch (classify(w, gen, counter)) {
    case V_OLD: break;
    case V_NEW_GEN:
        w->gen = gen;
        w->top = counter;
        w->mask = 1;
        break;
    case V_AHEAD: {
        uint64_t shift = counter - w->top;
        /* A shift of 64 or more would be undefined in C; everything old
         * falls out of the window then anyway. */
        w->mask = shift >= GOSSIP_REPLAY_WINDOW ? 1 : w->mask << shift | 1;
        w->top = counter;
        break;
    }
    case V_INSIDE: w->mask |= (uint64_t)1 << (w->top - counter); break;
    }
}
