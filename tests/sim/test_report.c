/* Unit tests of sim/report.c: trace hash, timeline outputs, summary.json. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "sim/report.h"
#include "tests/test.h"

TEST(sim_trace_hash_is_order_sensitive)
{
    (void)state;
    struct sim_trace a, b, c;
    sim_trace_init(&a);
    sim_trace_init(&b);
    sim_trace_init(&c);
    struct sim_trace_rec r1 = {10, 1, 2, 3, 4, 5}, r2 = {10, 2, 2, 4, 4, 5};
    sim_trace_add(&a, &r1);
    sim_trace_add(&a, &r2);
    sim_trace_add(&b, &r1);
    sim_trace_add(&b, &r2);
    sim_trace_add(&c, &r2);
    sim_trace_add(&c, &r1);
    char ha[SIM_TRACE_HEX], hb[SIM_TRACE_HEX], hc[SIM_TRACE_HEX];
    sim_trace_hex(&a, ha);
    sim_trace_hex(&b, hb);
    sim_trace_hex(&c, hc);
    assert_string_equal(ha, hb);
    assert_string_not_equal(ha, hc);
    assert_int_equal(strlen(ha), 32);
    /* reading the hash does not disturb the running state */
    sim_trace_hex(&a, hc);
    assert_string_equal(ha, hc);
    assert_int_equal(sim_digest64("abc", 3), sim_digest64("abc", 3));
    assert_true(sim_digest64("abc", 3) != sim_digest64("abd", 3));
}

TEST(sim_models_match_the_papers)
{
    (void)state;
    /* SWIM: e/(e-1) = 1.582 probe periods */
    assert_true(fabs(sim_model_first_detect_s(1.0) - 1.582) < 0.001);
    assert_true(fabs(sim_model_first_detect_s(2.0) - 3.164) < 0.002);
    /* logistic epidemic: grows with log n, shrinks with fanout */
    double t100 = sim_model_dissemination_s(100, 3, 0.2, 0.99);
    double t10k = sim_model_dissemination_s(10000, 3, 0.2, 0.99);
    assert_true(t100 > 0.5 && t100 < 0.7); /* 0.2/3 * ln(99 * 99) = 0.613 */
    assert_true(t10k > t100 && t10k < 2 * t100);
    assert_true(sim_model_dissemination_s(100, 6, 0.2, 0.99) < t100);
    double v[] = {5, 1, 4, 2, 3};
    assert_true(sim_percentile(v, 5, 50) == 3);
    assert_true(sim_percentile(v, 5, 99) == 5);
    assert_true(isnan(sim_percentile(v, 0, 50)));
}

static char *slurp(FILE *f)
{
    fflush(f);
    long n = ftell(f);
    rewind(f);
    char *s = calloc(1, (size_t)n + 1);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    return s;
}

TEST(sim_timeline_csv_and_svg)
{
    (void)state;
    struct sim_timeline tl = {0};
    for (int i = 0; i < 30; i++) {
        struct sim_timeline_row r = {.t_s = i,
                                     .live = 10,
                                     .alive = i < 10 ? 10 : 9,
                                     .suspect = i == 10,
                                     .dead = i > 10,
                                     .views_agree = 1,
                                     .bytes = 12000,
                                     .bytes_per_node = 1200,
                                     .divergence = 0.5 / (i + 1),
                                     .events = 100,
                                     .bot_events = 20,
                                     .flagged = 18,
                                     .flagged_bots = 17};
        assert_int_equal(sim_timeline_add(&tl, &r), 0);
    }
    FILE *f = tmpfile();
    assert_int_equal(sim_timeline_write_csv(&tl, f), 0);
    char *csv = slurp(f);
    fclose(f);
    assert_true(strncmp(csv, "t_s,live,alive,suspect,dead,", 28) == 0);
    int lines = 0;
    for (char *p = csv; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 31);
    assert_non_null(strstr(csv, "\n10,10,9.000,1.000,0.000,"));
    free(csv);

    f = tmpfile();
    assert_int_equal(sim_timeline_write_svg(&tl, f, "smoke <seed 1> & co"), 0);
    char *svg = slurp(f);
    fclose(f);
    assert_true(strncmp(svg, "<svg ", 5) == 0);
    assert_non_null(strstr(svg, "</svg>\n"));
    assert_non_null(strstr(svg, "smoke &lt;seed 1> &amp; co"));
    int polylines = 0;
    for (char *p = svg; (p = strstr(p, "<polyline")); p++)
        polylines++;
    assert_int_equal(polylines, 11); /* every series drawn */
    assert_non_null(strstr(svg, "dead (mean view)"));
    free(svg);
    sim_timeline_destroy(&tl);
}

TEST(sim_summary_json_has_contract_keys)
{
    (void)state;
    struct sim_summary s;
    memset(&s, 0, sizeof(s));
    snprintf(s.scenario, sizeof(s.scenario), "smoke");
    s.nodes = 10;
    s.seed = 42;
    s.first_detect_s = NAN;
    s.recall = 0.9;
    s.n_checks = 1;
    snprintf(s.checks[0].name, sizeof(s.checks[0].name), "recall");
    s.checks[0].ok = true;
    s.checks[0].measured = 0.9;
    s.checks[0].limit = 0.8;
    char path[] = "/tmp/ivt-sim-summary-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(sim_summary_write_json(&s, path), 0);
    json_error_t err;
    json_t *j = json_load_file(path, 0, &err);
    remove(path);
    assert_non_null(j);
    static const char *const keys[] = {"nodes",
                                       "sim_seconds",
                                       "wall_seconds",
                                       "seed",
                                       "trace_hash",
                                       "first_detect_s",
                                       "dead_everywhere_p50_s",
                                       "dead_everywhere_p99_s",
                                       "false_dead",
                                       "dissemination_p99_s",
                                       "bytes_per_node_per_s",
                                       "converged",
                                       "recall",
                                       "precision",
                                       "recall_isolated",
                                       "recall_oracle",
                                       "model",
                                       "checks"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (!json_object_get(j, keys[i]))
            fail_msg("summary.json lacks %s", keys[i]);
    assert_true(json_is_null(json_object_get(j, "first_detect_s")));
    assert_int_equal(json_integer_value(json_object_get(j, "seed")), 42);
    json_t *c = json_array_get(json_object_get(j, "checks"), 0);
    assert_true(json_is_true(json_object_get(c, "ok")));
    json_decref(j);
}
