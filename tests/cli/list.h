/* Unit tests of cli/: T(name) rows, one per test (see tests/list.h). */
