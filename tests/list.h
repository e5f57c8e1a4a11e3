/*
 * tests/list.h: the one list of every unit test, by module.
 * Each module's list is an X-macro file of T(name) rows.
 */
#include "tests/base/list.h"
#include "tests/crdt/list.h"
#include "tests/gossip/list.h"
#include "tests/node/list.h"
#include "tests/sim/list.h"
#include "tests/cli/list.h"
