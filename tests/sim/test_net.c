/* Unit tests of sim/net.c's link matrix: each ordered pair of zones has its
 * own delay, jitter, loss and reordering, and a host takes its zone's row. */
#include <sodium.h>
#include <string.h>

#include "sim/cluster.h"
#include "sim/net.h"
#include "tests/test.h"

enum { PROBE_MAX = 64 };

/* A host that records when datagrams arrive and sends what it is given. */
struct probe {
    struct gossip *g; /* an idle instance: sim/net asks it for streams */
    ivt_ms got_at[PROBE_MAX];
    uint32_t got;
    struct gossip_packet out[PROBE_MAX];
    uint32_t n_out;
};

static int p_receive(void *h, const struct gossip_addr *from, const uint8_t *p, size_t n,
                     ivt_ms now)
{
    struct probe *x = h;
    (void)from, (void)p, (void)n;
    if (x->got < PROBE_MAX)
        x->got_at[x->got] = now;
    x->got++;
    return 0;
}
static int p_tick(void *h, ivt_ms now)
{
    (void)h, (void)now;
    return 0;
}
static ivt_ms p_deadline(void *h)
{
    (void)h;
    return IVT_MS_NEVER;
}
static size_t p_outbox(void *h, struct gossip_packet *out, size_t max)
{
    struct probe *x = h;
    size_t k = x->n_out < max ? x->n_out : max;
    memcpy(out, x->out, k * sizeof(*out));
    memmove(x->out, x->out + k, (x->n_out - k) * sizeof(*out));
    x->n_out -= (uint32_t)k;
    return k;
}
static struct gossip *p_gossip(void *h)
{
    return ((struct probe *)h)->g;
}
static const struct sim_net_ops probe_ops = {p_receive, p_tick,   p_deadline,
                                             p_outbox,  p_gossip, NULL};

static void send_n(struct sim_net *n, struct probe *from, uint32_t from_i, uint32_t to, int k)
{
    for (int i = 0; i < k; i++) {
        struct gossip_packet *p = &from->out[from->n_out++];
        memset(p, 0, sizeof(*p));
        p->to = sim_net_addr(to);
        p->len = 8;
    }
    sim_net_poke(n, from_i);
}

TEST(sim_net_links_per_zone_pair)
{
    (void)state;
    assert_true(sodium_init() >= 0);
    struct sim_cluster *c;
    assert_int_equal(sim_cluster_new(&c, 1, GOSSIP_PROFILE_LAN, 1, NULL, NULL, NULL), 0);
    struct sim_net *n;
    assert_int_equal(sim_net_new(&n, 42, 0), 0);
    static struct probe h[3]; /* a, b in zone 0 ("eu"); z in zone 1 ("us") */
    memset(h, 0, sizeof(h));
    for (int i = 0; i < 3; i++) {
        h[i].g = c->g[0];
        assert_int_equal(sim_net_add(n, &probe_ops, &h[i]), i);
    }
    sim_net_set_zone(n, 2, 1);
    sim_net_set_link(n, &(struct sim_net_link){.delay = 1});
    sim_net_set_pair(n, 0, 1, &(struct sim_net_link){.delay = 40});
    sim_net_set_pair(n, 1, 0, &(struct sim_net_link){.delay = 7, .loss = 1.0});
    assert_true(sim_net_pair(n, 0, 1)->delay == 40 && sim_net_pair(n, 1, 1)->delay == 1);

    /* eu -> us takes the eu->us delay, eu -> eu its own */
    send_n(n, &h[0], 0, 2, 1);
    send_n(n, &h[0], 0, 1, 1);
    sim_net_run_until(n, 100);
    assert_int_equal(h[2].got, 1);
    assert_int_equal(h[2].got_at[0], 40);
    assert_int_equal(h[1].got, 1);
    assert_int_equal(h[1].got_at[0], 1);
    /* us -> eu loses everything: the matrix is directed */
    send_n(n, &h[2], 2, 0, 5);
    sim_net_run_until(n, 200);
    assert_int_equal(h[0].got, 0);
    struct sim_net_stats st;
    sim_net_get_stats(n, &st);
    assert_int_equal(st.lost, 5);

    /* jitter within [delay, delay + jitter] on that pair only */
    sim_net_set_pair(n, 0, 1, &(struct sim_net_link){.delay = 40, .jitter = 10});
    h[2].got = 0;
    send_n(n, &h[0], 0, 2, 40);
    sim_net_run_until(n, 300);
    assert_int_equal(h[2].got, 40);
    bool varied = false;
    for (int i = 0; i < 40; i++) {
        assert_true(h[2].got_at[i] >= 240 && h[2].got_at[i] <= 250);
        varied |= h[2].got_at[i] != h[2].got_at[0];
    }
    assert_true(varied);

    /* reordering holds a datagram back [reorder_delay, 2 reorder_delay] */
    sim_net_set_pair(n, 0, 0,
                     &(struct sim_net_link){.delay = 1, .reorder = 1, .reorder_delay = 30});
    h[1].got = 0;
    send_n(n, &h[0], 0, 1, 10);
    sim_net_run_until(n, 400);
    assert_int_equal(h[1].got, 10);
    for (int i = 0; i < 10; i++)
        assert_true(h[1].got_at[i] >= 331 && h[1].got_at[i] <= 361);
    sim_net_delete(n);
    sim_cluster_delete(c);
}
