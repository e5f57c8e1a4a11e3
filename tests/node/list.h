/* Unit tests of node/: T(name) rows, one per test (see tests/list.h). */
