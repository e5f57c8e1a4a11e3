/* Unit tests of crdt/: T(name) rows, one per test (see tests/list.h). */
