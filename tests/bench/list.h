/* The one list of benchmarks, by module: B(name) rows. */
B(base_rng)
B(base_mp_decode)
