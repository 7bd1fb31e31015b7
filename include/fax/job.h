/* job: outbound fax jobs and their scheduler, as a pure engine.
 *
 * A job sends one document to one or more recipients; each recipient has its own
 * state, counters and result. The scheduler decides when to dial whom (priority,
 * not-before time, per-destination and total line limits, retry delays by kind
 * of failure) and how a call's outcome changes the job. It touches no fds and no
 * clocks: time comes in as `now_ms` (the caller's clock, faked in tests), dials
 * and state changes leave through the ops table.
 *
 * Counting follows fax administrators' habits (HylaFAX's tries/dials): a "dial"
 * is a call placed, a "try" is a call that connected. A recipient fails for good
 * when it used up max_dials or max_tries, when its kill time passes, or on a
 * permanent failure (number does not exist, call refused by policy).
 *
 * Ownership: job_sched_add() takes ownership of the job; jobs stay in the
 * scheduler until job_sched_remove(). Threads: main thread only. */
#ifndef FAX_JOB_H
#define FAX_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JOB_MAX_RCPT 32
#define JOB_MAX_EVENTS 256

typedef enum {
    JOB_ST_QUEUED = 0, /* waiting for its turn */
    JOB_ST_SLEEPING,   /* waiting for a retry time or not-before time */
    JOB_ST_DIALING,    /* call placed, not yet answered */
    JOB_ST_SENDING,    /* call connected, pages going */
    JOB_ST_DONE,       /* every page confirmed */
    JOB_ST_FAILED,     /* gave up */
    JOB_ST_CANCELLED,  /* cancelled by a person */
    JOB_ST_HELD,       /* held by a person; release puts it back */
} job_state_t;

typedef enum {
    JOB_FAIL_NONE = 0,
    JOB_FAIL_BUSY,      /* far end busy (SIP 486/600) */
    JOB_FAIL_NOANSWER,  /* no answer (408/480/487, timeouts, 5xx) */
    JOB_FAIL_NOFAX,     /* connected, but no fax machine / no carrier / media refused */
    JOB_FAIL_PROTOCOL,  /* connected, fax started, ended early */
    JOB_FAIL_PERMANENT, /* number does not exist, refused, no route: no retry */
} job_fail_t;

const char *job_state_name(job_state_t s);
const char *job_fail_name(job_fail_t f);
bool job_state_final(job_state_t s);

/* Retry policy and limits; defaults from job_policy_defaults(). */
typedef struct job_policy {
    int max_tries;          /* default 3 */
    int max_dials;          /* default 12 */
    int delay_busy_s;       /* default 180 */
    int delay_noanswer_s;   /* default 300 */
    int delay_nofax_s;      /* default 300 */
    int delay_protocol_s;   /* default 60 */
    int per_dest_limit;     /* concurrent calls to one destination, default 1 */
    int max_lines;          /* concurrent outbound calls in all, default 8 */
    int kill_after_s;       /* default lifetime of a job, default 3 h */
} job_policy_t;

void job_policy_defaults(job_policy_t *p);

/* All fields public; the scheduler writes state, counters and times. */
typedef struct job_rcpt {
    char dest[256];
    job_state_t state;
    job_fail_t last_fail;
    int tries, dials;
    int pages_confirmed;     /* pages the far end confirmed, over all calls */
    uint64_t next_ms;        /* when a sleeping recipient may dial again */
    char last_reason[128];   /* how the last call ended, in plain words */
    char final_reason[160];  /* why the job gave up on this recipient */
    char remote_ident[24];
    int last_rate;
    bool last_ecm;
    char mode[8];
    double duration_s;       /* length of the last call */
    double image_s;          /* pure image-data time of the last call */
} job_rcpt_t;

typedef struct job {
    char id[17];
    char image[512];         /* the rendered TIFF in the spool */
    char owner[64];          /* who submitted it (control socket user, mail sender...) */
    int pages_total;
    int priority;            /* 0 most urgent .. 255; default 127 (HylaFAX's convention) */
    uint64_t created_ms, not_before_ms, kill_ms;
    int max_tries, max_dials;/* per job, from the policy unless given */
    int n_rcpt;
    job_rcpt_t rcpt[JOB_MAX_RCPT];
    int n_events;
    char *events[JOB_MAX_EVENTS]; /* "<ms> <text>", oldest first; the list is capped */
} job_t;

/* Overall state derived from the recipients: held if held, else the least
 * advanced live state; done only when every recipient is done. */
job_state_t job_state(const job_t *j);

job_t *job_new(const char *id, const char *image, int pages_total, uint64_t now_ms);
void job_free(job_t *j);
/* Adds a recipient; FX_ERANGE when full. */
int job_add_rcpt(job_t *j, const char *dest);
/* Appends an event (copied; "<now_ms> <text>"). */
void job_event(job_t *j, uint64_t now_ms, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

typedef struct job_sched job_sched_t;

typedef struct job_ops {
    /* Place a call to recipient r of j, sending from page start_page (0-based:
     * the pages already confirmed are not resent). Return 0 if the call is on
     * its way (its outcome comes back via job_sched_result), <0 if it could not
     * even be placed (the scheduler then records a permanent failure). */
    int (*dial)(void *user, job_t *j, int r, int start_page);
    /* End the live call to recipient r (cancel): its result still comes back. */
    void (*hangup)(void *user, job_t *j, int r);
    /* j changed (state, counters or a new event): persist it before returning. */
    void (*changed)(void *user, job_t *j);
} job_ops_t;

int job_sched_new(const job_policy_t *p, const job_ops_t *ops, void *user, job_sched_t **out);
void job_sched_free(job_sched_t *s);  /* frees the jobs still in it */
void job_sched_set_policy(job_sched_t *s, const job_policy_t *p);

/* Takes ownership. A job whose recipients are in DIALING/SENDING (recovered
 * after a crash) has those recipients put back to sleep for a short while. */
void job_sched_add(job_sched_t *s, job_t *j, uint64_t now_ms);
/* Removes (without freeing) a job, e.g. once it is final and archived. */
void job_sched_remove(job_sched_t *s, job_t *j);
job_t *job_sched_find(job_sched_t *s, const char *id);
/* Iterates jobs: returns the i-th job or NULL past the end. */
job_t *job_sched_at(job_sched_t *s, int i);
int job_sched_active_calls(const job_sched_t *s);

/* Starts what is due. Call on every tick and after any change. Returns the
 * number of calls placed. */
int job_sched_tick(job_sched_t *s, uint64_t now_ms);
/* Milliseconds until something is due, or -1 for nothing. */
int64_t job_sched_next_due(const job_sched_t *s, uint64_t now_ms);

/* The call to recipient r connected (the far end answered). */
void job_sched_connected(job_sched_t *s, job_t *j, int r, uint64_t now_ms);
/* The far end confirmed another page; pages_confirmed counts over all calls. */
void job_sched_page(job_sched_t *s, job_t *j, int r, int pages_confirmed, uint64_t now_ms);
/* The call ended: ok, or how it failed. */
typedef struct job_outcome {
    bool ok;                 /* every page confirmed */
    bool connected;          /* the far end answered */
    job_fail_t fail;         /* when !ok */
    int pages_confirmed;     /* over all calls */
    const char *reason;      /* plain words */
    const char *remote_ident;
    int rate;
    bool ecm;
    const char *mode;
    double duration_s;
    double image_s;
} job_outcome_t;
void job_sched_result(job_sched_t *s, job_t *j, int r, const job_outcome_t *o, uint64_t now_ms);

/* Operator actions; FX_ESTATE when they do not fit the state. */
int job_sched_cancel(job_sched_t *s, job_t *j, uint64_t now_ms);
int job_sched_hold(job_sched_t *s, job_t *j, uint64_t now_ms);
int job_sched_release(job_sched_t *s, job_t *j, uint64_t now_ms);
/* Retry now: a sleeping recipient dials at once; a failed one gets a fresh
 * set of tries and dials. */
int job_sched_retry(job_sched_t *s, job_t *j, uint64_t now_ms);

#endif
