/* Unit tests of sim/: T(name) rows, one per test (see tests/list.h). */
