/* The one list of benchmarks, by module: B(name) rows; BX(name) rows run
 * only when named in full (too long or too large for a plain `make bench`). */
B(base_rng)
B(base_mp_decode)
#include "tests/crdt/bench_list.h"
#include "tests/gossip/bench_list.h"
#include "tests/node/bench_list.h"
#include "tests/sim/bench_list.h"
#include "tests/cli/bench_list.h"
