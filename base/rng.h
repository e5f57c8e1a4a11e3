/*
 * base/rng.h: a seeded, explicit-state random generator (xoshiro256**).
 *
 * The core never calls rand() or getrandom(): each node owns one of these,
 * seeded by its host (the daemon from libsodium, the simulator from the
 * scenario seed), so a simulated run replays to the byte.
 */
#ifndef IVT_BASE_RNG_H
#define IVT_BASE_RNG_H

#include <stddef.h>
#include <stdint.h>

struct ivt_rng {
    uint64_t s[4];
};

/* Seeds the generator from one 64-bit value (expanded with splitmix64). */
void ivt_rng_seed(struct ivt_rng *rng, uint64_t seed);

uint64_t ivt_rng_next(struct ivt_rng *rng);

/* A uniform integer in [0, n); n == 0 returns 0. Unbiased (Lemire). */
uint64_t ivt_rng_below(struct ivt_rng *rng, uint64_t n);

/* A uniform double in [0, 1). */
double ivt_rng_double(struct ivt_rng *rng);

/* Fills out with len pseudo-random bytes. */
void ivt_rng_bytes(struct ivt_rng *rng, void *out, size_t len);

/* splitmix64 step: a good 64-bit mixer for deriving seeds from seeds.
 * Inline: hash tables hash ids with it on every packet and payload, and the
 * call cost as much as the mixing. */
static inline uint64_t ivt_mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

#endif
