/*
 * tests/list.h: the one list of every unit test, by module.
 * Each module's list is an X-macro file of T(name) rows.
 */
#include "tests/base/list.h"
