/* Unit tests of crdt/: T(name) rows, one per test (see tests/list.h). */
T(crdt_hll_merge_laws)
T(crdt_hll_union_equals_single_stream)
T(crdt_hll_codec_roundtrip_canonical)
T(crdt_hll_decode_rejects)
T(crdt_hll_accuracy_3_sigma)
T(crdt_hll_small_counts_near_exact)
