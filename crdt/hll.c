/*
 * crdt/hll.c: HyperLogLog registers, Ertl's estimator, canonical codec.
 *
 * Parts: add (index = low p bits of the hash, value = 1 + trailing zeros of
 * the remaining 64 - p bits, capped at 65 - p, as Redis does), merge
 * (register max, the join), the estimator, and the codec.
 *
 * The estimator is Ertl's improved raw estimator (arXiv 1702.01284, the one
 * Redis uses): it reads only the register histogram, needs no empirical bias
 * tables and is accurate from 0 to beyond 2^(64-p) items. We do not use HIP
 * or martingale estimators: they depend on insertion order and so would
 * differ between replicas that hold equal registers.
 *
 * Registers are whole bytes, not Redis' 6 bits: an add is one load and one
 * store, and merging is a byte max the compiler vectorises. The codec's
 * sparse form keeps small sketches small on the wire.
 */
#include "crdt/hll.h"

#include <math.h>
#include <string.h>

#include "base/err.h"
#include "base/mp.h"
#include "base/rng.h"
#include "crdt/internal.h"

/* A sparse entry: 2-byte register index (p <= 16) and 1-byte value. */
enum { SPARSE_ENTRY = 3 };

static inline unsigned max_value(unsigned p)
{
    return 65 - p;
}

bool crdt_hll_add(uint8_t *reg, unsigned p, uint64_t hash)
{
    uint8_t v;
    size_t idx = crdt_hll_place(hash, p, &v);
    if (reg[idx] >= v)
        return false;
    reg[idx] = v;
    return true;
}

bool crdt_hll_add_hist_rise(uint8_t *reg, uint32_t hist[CRDT_HLL_HIST], unsigned p, uint64_t hash,
                            struct crdt_hll_rise *rise)
{
    uint8_t v;
    size_t idx = crdt_hll_place(hash, p, &v);
    uint8_t old = reg[idx];
    if (old >= v)
        return false;
    hist[old]--;
    hist[v]++;
    reg[idx] = v;
    *rise = (struct crdt_hll_rise){idx, old, v};
    return true;
}

bool crdt_hll_add_hist(uint8_t *reg, uint32_t hist[CRDT_HLL_HIST], unsigned p, uint64_t hash)
{
    struct crdt_hll_rise r;
    return crdt_hll_add_hist_rise(reg, hist, p, hash, &r);
}

/* Odd, so x -> x * GOLDEN is a bijection mod 2^64. */
#define GOLDEN 0x9e3779b97f4a7c15ULL

/* Runs shorter than this are added id by id: the descent's per-level
 * arithmetic costs more than it skips. */
enum { RUN_DIRECT = 64 };

static inline uint64_t run_base(uint64_t seed, unsigned p)
{
    return seed >> (p + 2);
}

/* Id x of a run: the register from the seeded mix, the value from x's
 * trailing zeros (x < 2^(63 - p), so they are never past the cap). */
static inline uint64_t run_place(uint64_t seed, uint64_t x, unsigned p)
{
    return x << p | (ivt_mix64(seed + x * GOLDEN) & (((uint64_t)1 << p) - 1));
}

uint64_t crdt_hll_run_hash(uint64_t seed, uint64_t i, unsigned p)
{
    return run_place(seed, run_base(seed, p) + i, p);
}

bool crdt_hll_add_run(uint8_t *reg, uint32_t hist[CRDT_HLL_HIST], unsigned p, uint64_t seed,
                      uint64_t from, uint64_t to, uint64_t *visited)
{
    if (to > CRDT_HLL_RUN_MAX)
        to = CRDT_HLL_RUN_MAX;
    if (from < 1 || from > to)
        return false;
    uint64_t base = run_base(seed, p), lo = base + from, hi = base + to, n = 0;
    bool rose = false;
    if (hi - lo < RUN_DIRECT) {
        for (uint64_t x = lo; x <= hi; x++)
            rose |= crdt_hll_add_hist(reg, hist, p, run_place(seed, x, p));
        n = hi - lo + 1;
    } else {
        /* Level L: the odd multiples of 2^L in [lo, hi], value L + 1. */
        unsigned low = 0; /* no register below this value (hist) */
        for (int L = 63 - __builtin_clzll(hi); L >= 0; L--) {
            uint64_t k = ((lo - 1) >> L) + 1; /* the first multiple at or past lo */
            for (uint64_t x = (k | 1) << L; x <= hi; x += (uint64_t)2 << L) {
                rose |= crdt_hll_add_hist(reg, hist, p, run_place(seed, x, p));
                n++;
            }
            /* What is left offers at most L: done when no register is
             * below it. */
            while (low < (unsigned)L && !hist[low])
                low++;
            if (low >= (unsigned)L)
                break;
        }
    }
    if (visited)
        *visited += n;
    return rose;
}

bool crdt_hll_merge(uint8_t *dst, const uint8_t *src, unsigned p)
{
    size_t m = crdt_hll_size(p);
    uint8_t rose = 0;
    for (size_t i = 0; i < m; i++) {
        uint8_t a = dst[i], b = src[i];
        rose |= (uint8_t)(b > a);
        dst[i] = b > a ? b : a;
    }
    return rose != 0;
}

bool crdt_hll_empty(const uint8_t *reg, unsigned p)
{
    size_t m = crdt_hll_size(p);
    uint8_t any = 0;
    for (size_t i = 0; i < m; i++)
        any |= reg[i];
    return any == 0;
}

double crdt_hll_rse(unsigned p)
{
    return 1.04 / sqrt((double)crdt_hll_size(p));
}

/* Ertl's sigma and tau series, summed until they stop changing. */
static double ertl_sigma(double x)
{
    if (x == 1.0)
        return INFINITY;
    double y = 1.0, z = x, zp;
    do {
        x *= x;
        zp = z;
        z += x * y;
        y += y;
    } while (zp != z);
    return z;
}

static double ertl_tau(double x)
{
    if (x == 0.0 || x == 1.0)
        return 0.0;
    double y = 1.0, z = 1.0 - x, zp;
    do {
        x = sqrt(x);
        zp = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
    } while (zp != z);
    return z / 3.0;
}

void crdt_hll_histogram(uint32_t hist[CRDT_HLL_HIST], const uint8_t *reg, unsigned p)
{
    size_t m = crdt_hll_size(p);
    memset(hist, 0, CRDT_HLL_HIST * sizeof(*hist));
    /* Whole zero words are counted at once (a set just promoted is nearly
     * all zeros), and four partial histograms keep successive increments
     * of one count from waiting on each other. */
    uint32_t part[4][CRDT_HLL_HIST];
    memset(part, 0, sizeof(part));
    for (size_t i = 0; i < m; i += 8) {
        uint64_t w;
        memcpy(&w, reg + i, 8);
        if (!w) {
            hist[0] += 8;
            continue;
        }
        for (int j = 0; j < 8; j++)
            part[j & 3][reg[i + j]]++;
    }
    for (unsigned k = 0; k < CRDT_HLL_HIST; k++)
        hist[k] += part[0][k] + part[1][k] + part[2][k] + part[3][k];
}

double crdt_hll_estimate_hist(const uint32_t hist[CRDT_HLL_HIST], unsigned p)
{
    size_t m = crdt_hll_size(p);
    unsigned q = 64 - p;
    double md = (double)m;
    if (hist[0] == m)
        return 0.0;
    double z = md * ertl_tau((md - hist[q + 1]) / md);
    for (unsigned k = q; k >= 1; k--)
        z = 0.5 * (z + hist[k]);
    z += md * ertl_sigma(hist[0] / md);
    /* alpha_inf = 1 / (2 ln 2) */
    return (0.5 / log(2.0)) * md * md / z;
}

double crdt_hll_estimate(const uint8_t *reg, unsigned p)
{
    uint32_t hist[CRDT_HLL_HIST];
    crdt_hll_histogram(hist, reg, p);
    return crdt_hll_estimate_hist(hist, p);
}

/* Registers are read a word (8 registers) at a time: the 2^p registers
 * (m >= 16, a multiple of 8) of a set just promoted are mostly zero, and
 * digests, repairs and snapshots encode every promoted set they hold. */
static inline uint64_t reg_word(const uint8_t *reg, size_t i)
{
    uint64_t x;
    memcpy(&x, reg + i, sizeof(x));
    return x;
}

/* The top bit of each non-zero byte of x: a byte's low seven bits plus
 * 0x7f carry into its top bit when any is set, and never past it. */
static inline uint64_t nonzero_mask(uint64_t x)
{
    const uint64_t low7 = 0x7f7f7f7f7f7f7f7fULL;
    return (((x & low7) + low7) | x) & ~low7;
}

/* Non-zero bytes of x. */
static inline unsigned nonzero_bytes(uint64_t x)
{
    /* one bit per byte: the multiply sums the bytes into the top one
     * (no popcount instruction in the baseline x86-64 target) */
    return (unsigned)(((nonzero_mask(x) >> 7) * 0x0101010101010101ULL) >> 56);
}

/* The sparse entries of the non-zero registers among the 8 at reg[i0],
 * in index order, at p; returns the end. */
static inline uint8_t *put_sparse_word(uint8_t *p, const uint8_t *reg, size_t i0, uint64_t x)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    /* register i0 + j is byte j of x, the lowest first: the set bits of
     * the mask, lowest first, are the non-zero registers in index order */
    for (uint64_t mask = nonzero_mask(x); mask; mask &= mask - 1) {
        size_t i = i0 + ((unsigned)__builtin_ctzll(mask) >> 3);
        p[0] = (uint8_t)(i >> 8);
        p[1] = (uint8_t)i;
        p[2] = reg[i];
        p += SPARSE_ENTRY;
    }
#else
    (void)x;
    for (size_t i = i0; i < i0 + 8; i++) {
        if (!reg[i])
            continue;
        p[0] = (uint8_t)(i >> 8);
        p[1] = (uint8_t)i;
        p[2] = reg[i];
        p += SPARSE_ENTRY;
    }
#endif
    return p;
}

/*
 * Sparse when the entries are smaller than the registers. A sketch here is
 * mostly a promoted epoch's counter or a set just past exact, a dozen
 * non-zero registers of 1,024 or 4,096, encoded for every digest of its
 * record: zero words are skipped in both passes, and the entries go
 * straight into the writer.
 */
void crdt_hll_encode(struct ivt_mpw *w, const uint8_t *reg, unsigned p)
{
    size_t m = crdt_hll_size(p), k = 0;
    for (size_t i = 0; i < m; i += 8) {
        uint64_t x = reg_word(reg, i);
        if (x)
            k += nonzero_bytes(x);
    }
    if (k * SPARSE_ENTRY >= m) {
        ivt_mpw_bin(w, reg, m);
        return;
    }
    /* exactly what is written: a fixed writer with room for the sketch
     * must not fail on a bound */
    size_t body = k * SPARSE_ENTRY, head = body < 0x100 ? 2 : body < 0x10000 ? 3 : 5;
    uint8_t *o = ivt_mpw_reserve(w, head + body);
    if (!o)
        return;
    o = ivt_mp_put_bin_head(o, (uint32_t)body);
    for (size_t i0 = 0; i0 < m; i0 += 8) {
        uint64_t x = reg_word(reg, i0);
        if (x)
            o = put_sparse_word(o, reg, i0, x);
    }
    ivt_mpw_commit(w, o);
}

/* crdt_hll_decode_merge, keeping hist (when not NULL) the histogram of reg. */
static int decode_merge(const uint8_t **pos, const uint8_t *end, uint8_t *reg,
                        uint32_t hist[CRDT_HLL_HIST], unsigned p)
{
    const uint8_t *q = *pos, *b;
    uint32_t len;
    if (crdt__rd_bin(&q, end, &b, &len))
        return IVT_EPROTO;
    size_t m = crdt_hll_size(p);
    unsigned vmax = max_value(p);
    bool rose = false;
    /* reg == NULL: check only (the store validates a record before it
     * applies any of it). */
    if (len == m) {
        /* Dense is canonical only when sparse would not be shorter. */
        size_t k = 0;
        for (size_t i = 0; i < m; i++) {
            if (b[i] > vmax)
                return IVT_EPROTO;
            k += b[i] != 0;
        }
        if (k * SPARSE_ENTRY < m)
            return IVT_EPROTO;
        for (size_t i = 0; reg && i < m; i++)
            if (b[i] > reg[i]) {
                if (hist) {
                    hist[reg[i]]--;
                    hist[b[i]]++;
                }
                reg[i] = b[i];
                rose = true;
            }
    } else {
        if (len % SPARSE_ENTRY || len >= m)
            return IVT_EPROTO;
        long prev = -1;
        for (uint32_t j = 0; j < len; j += SPARSE_ENTRY) {
            long idx = (long)b[j] << 8 | b[j + 1];
            uint8_t v = b[j + 2];
            if (idx <= prev || (size_t)idx >= m || v == 0 || v > vmax)
                return IVT_EPROTO;
            prev = idx;
        }
        for (uint32_t j = 0; reg && j < len; j += SPARSE_ENTRY) {
            size_t idx = (size_t)b[j] << 8 | b[j + 1];
            if (b[j + 2] > reg[idx]) {
                if (hist) {
                    hist[reg[idx]]--;
                    hist[b[j + 2]]++;
                }
                reg[idx] = b[j + 2];
                rose = true;
            }
        }
    }
    *pos = q;
    return rose ? 1 : 0;
}

int crdt_hll_decode_merge(const uint8_t **pos, const uint8_t *end, uint8_t *reg, unsigned p)
{
    return decode_merge(pos, end, reg, NULL, p);
}

int crdt_hll_decode_merge_hist(const uint8_t **pos, const uint8_t *end, uint8_t *reg,
                               uint32_t hist[CRDT_HLL_HIST], unsigned p)
{
    return decode_merge(pos, end, reg, hist, p);
}
