/* libFuzzer target: the simulator's reference-data readers (sim/workload.h,
 * sim_data_new): human user agents (TSV), crawler user agents (JSON), ISP
 * and hosting ranges (CSV), as an operator may edit them under --root.
 *
 * The first byte picks the file the rest of the input replaces; the other
 * three are small good files, so every reader is reached. Every input must
 * load or give one message naming the file; what loads must drive a
 * workload whose events all format (sim_event_json into
 * SIM_EVENT_JSON_MAX). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sim/workload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Events drawn from a loaded set: enough to reach every actor's picks. */
enum { EVENTS = 32 };

static void draw_events(const struct sim_data *d)
{
    struct sim_workload_config cfg;
    sim_workload_config_defaults(&cfg);
    static const enum sim_actor_kind kinds[] = {SIM_ACT_HUMAN, SIM_ACT_CRAWLER, SIM_ACT_BOTNET,
                                                SIM_ACT_SCRAPER, SIM_ACT_DEVICE_FARM};
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        sim_actor_defaults(&cfg.actors[i], kinds[i]);
        cfg.actors[i].count = 50;
        cfg.actors[i].rate_per_min = 10;
        cfg.n_actors++;
    }
    struct sim_workload *wl;
    if (sim_workload_new(&wl, &cfg, d))
        return; /* out of memory: the only failure with these actors */
    static char line[SIM_EVENT_JSON_MAX];
    for (int i = 0; i < EVENTS && sim_workload_peek(wl) != IVT_MS_NEVER; i++) {
        struct sim_event ev;
        sim_workload_next(wl, &ev);
        if (sim_event_json(line, sizeof(line), &ev) <= 0)
            __builtin_trap(); /* every event fits */
    }
    sim_workload_delete(wl);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char human[] = "10\tMozilla/5.0 (X11; Linux x86_64)\n",
                      crawler[] = "[{\"instances\": [\"Googlebot/2.1\"]}]",
                      isp[] = "24.0.0.0,24.0.255.255,7922,\"Comcast\"\n",
                      hosting[] = "3.0.0.0,3.0.0.255,16509,\"Amazon\"\n";
    if (size < 1)
        return 0;
    /* An exact-size copy, so ASan sees any read past the text. */
    size_t n = size - 1;
    char *text = malloc(n ? n : 1);
    if (!text)
        return 0;
    if (n)
        memcpy(text, data + 1, n);
    struct sim_data_files f = {human, strlen(human), crawler, strlen(crawler),
                               isp,   strlen(isp),   hosting, strlen(hosting)};
    switch (data[0] % 4) {
    case 0: f.human_ua_tsv = text, f.human_ua_tsv_len = n; break;
    case 1: f.crawler_json = text, f.crawler_json_len = n; break;
    case 2: f.isp_csv = text, f.isp_csv_len = n; break;
    default: f.hosting_csv = text, f.hosting_csv_len = n; break;
    }
    struct sim_data *d = NULL;
    char err[256] = "";
    int rc = sim_data_new(&d, &f, err, sizeof(err));
    if (rc != 0 && (!err[0] || d))
        __builtin_trap(); /* every failure says why, and leaves nothing */
    if (rc == 0) {
        if (!sim_data_human_uas(d) || !sim_data_crawler_uas(d) || !sim_data_ranges(d, false) ||
            !sim_data_ranges(d, true))
            __builtin_trap(); /* success means a row in each */
        draw_events(d);
        sim_data_delete(d);
    }
    free(text);
    return 0;
}
