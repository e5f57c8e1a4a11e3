/*
 * crdt/hll.h: HyperLogLog registers as a join-semilattice.
 *
 * A sketch is 2^p one-byte registers (4 <= p <= 16), owned by the caller.
 * Add and merge only raise registers (register-wise max is the join); the
 * estimate is Ertl's improved raw estimator, a pure function of the register
 * histogram, so replicas with equal registers report equal estimates
 * whatever order they saw the items in.
 *
 * Items are 64-bit hashes that must already be keyed (crdt_siphash): with a
 * public hash an attacker can aim items at registers and inflate or deflate
 * the estimate at will (Reviriego et al. 2020; Paterson & Raynal 2021).
 */
#ifndef IVT_CRDT_HLL_H
#define IVT_CRDT_HLL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ivt_mpw;

enum { CRDT_HLL_P_MIN = 4, CRDT_HLL_P_MAX = 16 };

static inline size_t crdt_hll_size(unsigned p)
{
    return (size_t)1 << p;
}

/* Where an item goes: its register index (the low p bits of the hash) and
 * the value it offers there (1 + trailing zeros of the other 64 - p bits,
 * capped at 65 - p). For sketches kept in another form than 2^p bytes. */
static inline size_t crdt_hll_place(uint64_t hash, unsigned p, uint8_t *v)
{
    /* The sentinel bit caps the run of zeros at 64 - p. */
    uint64_t rest = (hash >> p) | ((uint64_t)1 << (64 - p));
    *v = (uint8_t)(__builtin_ctzll(rest) + 1);
    return hash & (((uint64_t)1 << p) - 1);
}

/* Adds one hashed item. Returns true when a register rose. */
bool crdt_hll_add(uint8_t *reg, unsigned p, uint64_t hash);

/* dst = dst join src. Returns true when any register of dst rose. */
bool crdt_hll_merge(uint8_t *dst, const uint8_t *src, unsigned p);

/* The cardinality estimate (relative standard error 1.04 / sqrt(2^p)). */
double crdt_hll_estimate(const uint8_t *reg, unsigned p);

/*
 * The register histogram: hist[v] counts the registers equal to v (values
 * run 0 .. 65 - p). The estimate is a function of it alone, so a sketch
 * that keeps its histogram beside its registers (updating it as they rise)
 * is estimated without a pass over the registers.
 */
enum { CRDT_HLL_HIST = 66 };
void crdt_hll_histogram(uint32_t hist[CRDT_HLL_HIST], const uint8_t *reg, unsigned p);
double crdt_hll_estimate_hist(const uint32_t hist[CRDT_HLL_HIST], unsigned p);
/* crdt_hll_add that keeps hist (the histogram of reg) up to date. */
bool crdt_hll_add_hist(uint8_t *reg, uint32_t hist[CRDT_HLL_HIST], unsigned p, uint64_t hash);
/* A register that crdt_hll_add_hist raised: its index, and its value
 * before (0: it was empty) and after. */
struct crdt_hll_rise {
    size_t idx;
    uint8_t old, v;
};
/* crdt_hll_add_hist that also says which register rose (into *rise, when
 * it returns true), for a holder that keeps a sum over the registers. */
bool crdt_hll_add_hist_rise(uint8_t *reg, uint32_t hist[CRDT_HLL_HIST], unsigned p, uint64_t hash,
                            struct crdt_hll_rise *rise);

/*
 * Runs of event ids (a promoted counter, crdt/store.c): the ids from..to
 * (1 <= from) of the run named by seed are the integers x = base + i,
 * base = seed >> (p + 2) (below 2^(62 - p)). Id x goes to register
 * mix64(seed + x * GOLDEN) mod 2^p with the value ctz(x) + 1, the value
 * distribution of a hashed item (P(v = k) = 2^-k) taken from x's own
 * trailing zeros rather than from a hash. That is what bounds a join: the
 * ids whose value is at least L + 1 are the multiples of 2^L, so the run is
 * added from its highest values down and stops once every register holds
 * at least the largest value the ids not yet added could offer. A run of
 * c ids costs at most c adds, and a long one about 10 x 2^p (the coupon
 * collector's 2^p ln 2^p, rounded up to a level: at p = 10, 32,768 at most
 * in 5,000 runs of 2^32 ids, docs/evidence.md); one id at a time, 2^32
 * ids cost 2^32. Ids beyond CRDT_HLL_RUN_MAX are not added (no honest
 * count comes near it).
 *
 * crdt_hll_run_hash is the hash of id i of a run, for adding one id with
 * crdt_hll_add_hist. crdt_hll_add_run adds from..to and returns whether a
 * register rose; *visited (may be NULL) grows by the ids it hashed.
 */
#define CRDT_HLL_RUN_MAX ((uint64_t)1 << 40)
uint64_t crdt_hll_run_hash(uint64_t seed, uint64_t i, unsigned p);
bool crdt_hll_add_run(uint8_t *reg, uint32_t hist[CRDT_HLL_HIST], unsigned p, uint64_t seed,
                      uint64_t from, uint64_t to, uint64_t *visited);

/* The relative standard error for precision p. */
double crdt_hll_rse(unsigned p);

/* True when every register is zero. */
bool crdt_hll_empty(const uint8_t *reg, unsigned p);

/*
 * Canonical encoding, one msgpack bin:
 *
 *   empty:   bin of 0 bytes                      (no register set)
 *   sparse:  bin of 3k bytes, 3k < 2^p           k (index, value) pairs
 *            +--------+--------+-------+
 *            | idx hi | idx lo | value |  x k, idx strictly increasing,
 *            +--------+--------+-------+         1 <= value <= 65 - p
 *   dense:   bin of exactly 2^p bytes            register i is byte i
 *
 * The form is a function of the registers (sparse iff it is shorter), so
 * equal sketches encode to equal bytes.
 */
void crdt_hll_encode(struct ivt_mpw *w, const uint8_t *reg, unsigned p);

/*
 * Decodes one encoded sketch and joins it into reg (so decoding into zeroed
 * registers yields the sketch). Strict: a sparse form that is not strictly
 * increasing, a zero or out-of-range value, a dense form that sparse would
 * encode shorter, or a length that is neither 0, 2^p nor a multiple of 3
 * below 2^p is rejected. reg == NULL only checks. Returns 1 when a register
 * of reg rose, 0 when none did, or IVT_EPROTO.
 */
int crdt_hll_decode_merge(const uint8_t **pos, const uint8_t *end, uint8_t *reg, unsigned p);
/* crdt_hll_decode_merge that keeps hist (the histogram of reg) up to date,
 * so a merged sketch is estimated without a pass over its registers. */
int crdt_hll_decode_merge_hist(const uint8_t **pos, const uint8_t *end, uint8_t *reg,
                               uint32_t hist[CRDT_HLL_HIST], unsigned p);

#endif
