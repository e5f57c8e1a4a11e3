#include "base/rng.h"

#include <string.h>

void ivt_rng_seed(struct ivt_rng *rng, uint64_t seed)
{
    /* xoshiro must not start from the all-zero state; splitmix64 of any
     * seed gives four words that are never all zero in practice, and we
     * make sure of it. */
    for (int i = 0; i < 4; i++) {
        seed = ivt_mix64(seed);
        rng->s[i] = seed;
    }
    if (!(rng->s[0] | rng->s[1] | rng->s[2] | rng->s[3]))
        rng->s[0] = 1;
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t ivt_rng_next(struct ivt_rng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t ivt_rng_below(struct ivt_rng *rng, uint64_t n)
{
    if (n == 0)
        return 0;
    /* Lemire's multiply-shift with rejection: unbiased, one multiply in the
     * common case. */
    unsigned __int128 m = (unsigned __int128)ivt_rng_next(rng) * n;
    uint64_t lo = (uint64_t)m;
    if (lo < n) {
        uint64_t threshold = -n % n;
        while (lo < threshold) {
            m = (unsigned __int128)ivt_rng_next(rng) * n;
            lo = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

double ivt_rng_double(struct ivt_rng *rng)
{
    return (double)(ivt_rng_next(rng) >> 11) * 0x1.0p-53;
}

void ivt_rng_bytes(struct ivt_rng *rng, void *out, size_t len)
{
    uint8_t *p = out;
    while (len >= 8) {
        uint64_t v = ivt_rng_next(rng);
        memcpy(p, &v, 8);
        p += 8;
        len -= 8;
    }
    if (len) {
        uint64_t v = ivt_rng_next(rng);
        memcpy(p, &v, len);
    }
}
