/*
 * sim/workload.h: ad traffic with ground truth, for the simulator.
 *
 * A deterministic, seeded generator of ad events: humans, GIVT crawlers,
 * hosting-network scrapers, a low-and-slow botnet spread over every region,
 * a device farm rotating device ids over many IPs, residential-proxy bots, a
 * fraudulent publisher buying bot traffic, and the false-positive traps
 * (mobile-carrier CGNAT addresses shared by thousands of humans, a
 * corporate proxy). Every event carries its truth: human or bot, which
 * actor, which member, and the region the load balancer sends it to.
 *
 * The reference data (user agents, ISP and hosting ranges, crawler user
 * agents) is read by the host and handed in as bytes: nothing here opens a
 * file. Same data + same configuration + same seed = the same events.
 */
#ifndef IVT_SIM_WORKLOAD_H
#define IVT_SIM_WORKLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/clock.h"

enum {
    SIM_MAX_REGIONS = 16, /* a latency matrix row per region; 16 covers a world map */
    SIM_MAX_ACTORS = 32,  /* actor groups per scenario */
    SIM_MAX_ASNS = 8,     /* ASN filter of one actor */
    SIM_NAME_MAX = 32,
};

/* ---- reference data ---------------------------------------------------- */

/* The shipped data files, as paths under the repository root; messages
 * name them so. */
#define SIM_DATA_HUMAN_UA "sim/data/human-user-agents.tsv"
#define SIM_DATA_CRAWLER  "node/data/crawler-user-agents.json"
#define SIM_DATA_ISP      "sim/data/isp-asn-ipv4.csv"
#define SIM_DATA_HOSTING  "node/data/hosting-asn-ipv4.csv"

/* Longest user agent kept: real ones are under 512 bytes; longer rows are
 * junk in the data and are skipped rather than truncated. */
enum { SIM_UA_MAX = 1024 };
/* Room for any event as sim_event_json writes it: a user agent of control
 * bytes escapes to 6 bytes each (\u00XX), and the other keys are short. */
enum { SIM_EVENT_JSON_MAX = 6 * SIM_UA_MAX + 256 };

/* The raw bytes of the shipped data files (see sim/data/ and node/data/). */
struct sim_data_files {
    const char *human_ua_tsv; /* weight<TAB>user agent, '#' comments */
    size_t human_ua_tsv_len;
    const char *crawler_json; /* crawler-user-agents.json: [{"instances": [...]}, ...] */
    size_t crawler_json_len;
    const char *isp_csv; /* first_ip,last_ip,asn,"org": consumer ISPs and carriers */
    size_t isp_csv_len;
    const char *hosting_csv; /* the same columns: hosting and cloud networks */
    size_t hosting_csv_len;
};

struct sim_data;

/* Parses the files. Returns 0, or one of these negative codes with err
 * naming the file (SIM_DATA_*), the line and what was expected: IVT_EPROTO
 * (a row that does not parse, or a file with no usable row), IVT_ETOOBIG
 * (more user-agent text than 4 GiB), IVT_ENOMEM. */
int sim_data_new(struct sim_data **out, const struct sim_data_files *files, char *err,
                 size_t errcap);
void sim_data_delete(struct sim_data *data);

/* Row counts, for tests and the run header. */
size_t sim_data_human_uas(const struct sim_data *data);
size_t sim_data_crawler_uas(const struct sim_data *data);
size_t sim_data_ranges(const struct sim_data *data, bool hosting);

/* ---- actors ------------------------------------------------------------ */

enum sim_actor_kind {
    SIM_ACT_HUMAN = 0,         /* consumer ISP address, browser UA, own device */
    SIM_ACT_CRAWLER,           /* GIVT: crawler UA from a hosting network */
    SIM_ACT_SCRAPER,           /* hosting network, browser UA (masquerading) */
    SIM_ACT_BOTNET,            /* infected home PCs: ISP addresses, rotating UAs, spread thin */
    SIM_ACT_DEVICE_FARM,       /* phones resetting device ids, behind a pool of ISP IPs */
    SIM_ACT_RESIDENTIAL_PROXY, /* one device id each, a new residential IP per request */
    SIM_ACT_FRAUD_PUBLISHER,   /* bought hosting traffic on one publisher, many clicks */
    SIM_ACT_CGNAT,             /* trap: humans sharing a few mobile-carrier addresses */
    SIM_ACT_CORPORATE_PROXY,   /* trap: humans behind one business address */
    SIM_ACT_KINDS
};

enum sim_label { SIM_HUMAN = 0, SIM_BOT = 1 };

const char *sim_actor_kind_name(enum sim_actor_kind kind);
/* Returns 0 or IVT_EINVAL. */
int sim_actor_kind_parse(enum sim_actor_kind *out, const char *s);
/* The ground truth of a kind: CGNAT and corporate users are humans. */
enum sim_label sim_actor_kind_label(enum sim_actor_kind kind);

struct sim_actor_config {
    enum sim_actor_kind kind;
    char name[SIM_NAME_MAX]; /* for reports; defaults to the kind name */
    uint32_t count;          /* members: users, crawler instances, bots, phones */
    double rate_per_min;     /* events per member per minute, at the daily mean */
    uint32_t ips;            /* address pool: CGNAT, device farm, residential proxy */
    uint32_t rotate;         /* device farm: events per device id before it resets */
    uint32_t ua_pool;        /* botnet: user agents each bot rotates through */
    bool spread;             /* every event to a random region (else the home region) */
    int region;              /* home region of every member; -1 = drawn by traffic share */
    double click_share;      /* fraction of events that are clicks */
    double impression_share; /* fraction that are impressions (the rest: requests) */
    uint32_t asns[SIM_MAX_ASNS];
    size_t n_asns;          /* restrict addresses to these ASNs (0: the whole table) */
    char pub[SIM_NAME_MAX]; /* fraud publisher: the publisher id it inflates */
};

/* Fills the defaults of a kind (documented in docs/simulator.md). */
void sim_actor_defaults(struct sim_actor_config *a, enum sim_actor_kind kind);

struct sim_workload_config {
    uint64_t seed;
    ivt_ms start_wall;                    /* unix ms at simulated time 0 */
    uint32_t n_regions;                   /* at least 1 */
    double region_share[SIM_MAX_REGIONS]; /* home-region weights (need not sum to 1) */
    uint32_t publishers;                  /* honest publishers "pub-0000".., picked by a Zipf law */
    double diurnal;                       /* 0..1: amplitude of the daily rate swing */
    double peak_hour;                     /* UTC hour of the daily peak */
    double rate_scale;                    /* multiplies every rate (quick scaling of a scenario) */
    size_t n_actors;
    struct sim_actor_config actors[SIM_MAX_ACTORS];
};

void sim_workload_config_defaults(struct sim_workload_config *cfg);

/* ---- events ------------------------------------------------------------ */

enum { SIM_DEVICE_MAX = 17, SIM_PUB_MAX = SIM_NAME_MAX };

/* One ad event and its truth. ua points into the sim_data (stable). */
struct sim_event {
    ivt_ms t;    /* simulated ms since start */
    ivt_ms wall; /* start_wall + t: the ad server's timestamp */
    uint32_t ip; /* IPv4, host order */
    uint32_t asn;
    const char *ua;
    uint16_t ua_len;
    uint8_t device_len; /* 0: no device id */
    uint8_t pub_len;
    char device[SIM_DEVICE_MAX];
    char pub[SIM_PUB_MAX];
    uint8_t kind;   /* 0 request, 1 impression, 2 click (node_event_kind values) */
    uint8_t label;  /* enum sim_label */
    uint8_t actor;  /* index into the configured actors */
    uint8_t region; /* where the load balancer sends it */
    uint32_t member;
    uint32_t lb; /* a uniform draw the host uses to pick a node in the region */
};

struct sim_workload;

/* Returns 0, or IVT_ENOMEM, IVT_EINVAL (no regions, an actor with a region
 * out of range, an ASN filter that matches no address range). data must
 * outlive the workload. */
int sim_workload_new(struct sim_workload **out, const struct sim_workload_config *cfg,
                     const struct sim_data *data);
void sim_workload_delete(struct sim_workload *wl);

/* The time of the next event (IVT_MS_NEVER when no actor has a rate). */
ivt_ms sim_workload_peek(const struct sim_workload *wl);
/* Produces the next event, in time order (ties: actor order). */
void sim_workload_next(struct sim_workload *wl, struct sim_event *ev);

/* Formats "a.b.c.d" into buf (at least 16 bytes); returns buf. */
const char *sim_ip_format(uint32_t ip, char *buf, size_t cap);

/* Writes the event as one JSON line with the PROTOCOL-SPEC event keys (ts,
 * ip, ua, device, pub, kind, asn) and a trailing newline. Returns the length,
 * or IVT_ENOSPC when cap is too small. */
int sim_event_json(char *buf, size_t cap, const struct sim_event *ev);

#endif
