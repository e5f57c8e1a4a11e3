/* Unit tests of gossip/: T(name) rows, one per test (see tests/list.h). */
