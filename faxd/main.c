/* faxd: the Faxgate daemon. The only file with globals (signal plumbing).
 * Main thread: sofia-sip's reactor hosting the main ev loop (SIP signalling,
 * control socket, signals via signalfd); media loops run in their own threads. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <strings.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "cluster.h" /* cluster: leases, takeover (docs/cluster.md) */
#include "ctl.h"
#include "fax/arc.h" /* archive: PostgreSQL worker */
#include "queue.h"
#include "recover.h"
#include "fax/cfg.h"
#include "fax/drv.h"
#include "fax/ev.h"
#include "fax/fx.h"
#include "fax/sipfax.h"
#include "fax/spool.h"

#define FAXD_VERSION "0.1.0"
#define SHUTDOWN_GRACE_MS 60000

typedef struct old_cfg {
    struct old_cfg *next;
    cfg_t *cfg;
} old_cfg_t;

typedef struct faxd {
    cfg_t *cfg;
    old_cfg_t *old;        /* configs replaced by reloads; calls may still point into them */
    char conf_path[512];
    ev_loop_t *main;
    spool_t *spool;
    sipfax_t *sip;
    queue_t *queue;
    ctl_t *ctl;
    arc_t *arc;            /* archive worker; NULL when db_dsn is empty */
    cluster_t *cluster;    /* cluster mode (cluster = yes); NULL otherwise */
    int sigfd;
    bool stopping;
    uint64_t started_ms;
    unsigned long rx_ok, rx_failed;
} faxd_t;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: faxd [-c FILE] [--check-config] [--print-config] [--version]\n"
            "  -c, --config FILE   configuration file (default /etc/faxgate/faxd.conf)\n"
            "      --check-config  parse the configuration, print errors as file:line: message\n"
            "      --print-config  print every setting with its value and help\n"
            "      --print-reference  print the settings reference (markdown)\n"
            "  -V, --version       print versions and exit\n");
}

static void on_rx_done(void *arg, const sipfax_call_info_t *info, const faxres_t *r)
{
    faxd_t *d = arg;
    if (r->status == FAXRES_FAILED)
        d->rx_failed++;
    else
        d->rx_ok++;
    fx_log(FX_LOG_NOTICE, FX_FAC_QUEUE, "received fax=%s result=%s pages=%d from=%s to=%s",
           info->id, faxres_status_name(r->status), r->pages, info->from, info->to);
}

static void cmd_job(faxd_t *d, ctl_conn_t *conn, const char *id)
{
    static const char *const subs[] = { "queue", "done", "failed", "incoming" };
    char name[64];
    if (id == NULL || strlen(id) != 16 || strspn(id, "0123456789ABCDEF") != 16) {
        ctl_reply(conn, "ERR usage: JOB <16-hex-digit id>");
        return;
    }
    snprintf(name, sizeof name, "%s.rec", id);
    for (unsigned i = 0; i < sizeof subs / sizeof subs[0]; i++) {
        spool_rec_t rec;
        char why[200];
        int rc = spool_load_rec(d->spool, subs[i], name, &rec, why, sizeof why);
        if (rc == -ENOENT)
            continue;
        if (rc < 0) {
            ctl_reply(conn, "ERR record damaged: %s", rc == FX_ECORRUPT ? why : fx_strerror(rc));
            return;
        }
        ctl_reply(conn, "OK folder=%s", subs[i]);
        for (int k = 0; k < rec.n; k++)
            ctl_reply(conn, "%s=%s", rec.keys[k], rec.values[k]);
        spool_rec_free(&rec);
        return;
    }
    ctl_reply(conn, "ERR no such job or fax: %s", id);
}

static void on_command(void *arg, ctl_conn_t *conn, char *line)
{
    faxd_t *d = arg;
    char *sp = strchr(line, ' ');
    char *args = sp ? sp + 1 : NULL;
    if (sp)
        *sp = '\0';
    fx_log(FX_LOG_DEBUG, FX_FAC_CTL, "control command=%s", line);
    if (strcasecmp(line, "PING") == 0) {
        ctl_reply(conn, "OK pong");
    } else if (strcasecmp(line, "STATUS") == 0) {
        ctl_reply(conn, "OK");
        ctl_reply(conn, "node=%s", d->cfg->node_name);
        ctl_reply(conn, "version=%s", FAXD_VERSION);
        ctl_reply(conn, "uptime_s=%llu",
                  (unsigned long long)((fx_now_ms() - d->started_ms) / 1000));
        int jobs, active;
        unsigned long done, failed;
        queue_counts(d->queue, &jobs, &active, &done, &failed);
        ctl_reply(conn, "calls=%d", sipfax_call_count(d->sip));
        ctl_reply(conn, "received_ok=%lu", d->rx_ok);
        ctl_reply(conn, "received_failed=%lu", d->rx_failed);
        ctl_reply(conn, "jobs_queued=%d", jobs);
        ctl_reply(conn, "jobs_calling=%d", active);
        ctl_reply(conn, "jobs_done=%lu", done);
        ctl_reply(conn, "jobs_failed=%lu", failed);
        ctl_reply(conn, "sip=%s:%d", d->cfg->sip_address, d->cfg->sip_port);
        ctl_reply(conn, "spool=%s", d->cfg->spool_dir);
        /* archive: ok | down | connecting | off, and markers not yet archived */
        if (d->arc != NULL) {
            arc_state_t ast;
            int backlog;
            arc_status(d->arc, &ast, &backlog);
            ctl_reply(conn, "archive=%s", arc_state_name(ast));
            ctl_reply(conn, "archive_backlog=%d", backlog);
        } else {
            ctl_reply(conn, "archive=off");
        }
        if (d->cluster != NULL)
            cluster_status(d->cluster, conn);
        ctl_reply(conn, "state=%s", d->stopping ? "stopping" : "running");
    } else if (strcasecmp(line, "CALLS") == 0) {
        char buf[32768];
        sipfax_list_calls(d->sip, buf, sizeof buf);
        ctl_reply(conn, "OK calls=%d", sipfax_call_count(d->sip));
        char *save = NULL;
        for (char *l = strtok_r(buf, "\n", &save); l != NULL; l = strtok_r(NULL, "\n", &save))
            ctl_reply(conn, "%s", l);
    } else if (strcasecmp(line, "SEND") == 0 && d->stopping) {
        ctl_reply(conn, "ERR faxd is shutting down; no new jobs");
    } else if (queue_command(d->queue, conn, line, args)) {
        /* answered by the queue */
    } else if (strcasecmp(line, "HANGUP") == 0) {
        if (args == NULL || sipfax_hangup(d->sip, args) < 0)
            ctl_reply(conn, "ERR no live call with id '%.40s'", args ? args : "");
        else
            ctl_reply(conn, "OK hanging up %s", args);
    } else if (strcasecmp(line, "JOB") == 0) {
        cmd_job(d, conn, args);
    } else {
        ctl_reply(conn, "ERR unknown command '%.40s' (try PING, STATUS, CALLS, SEND, JOBS, JOB, CANCEL, HOLD, RELEASE, RETRY, HANGUP)", line);
    }
}

static void on_idle(void *arg)
{
    faxd_t *d = arg;
    fx_log(FX_LOG_NOTICE, FX_FAC_MAIN, "all calls ended, stopping");
    sipfax_stop(d->sip);
}

static void reload(faxd_t *d)
{
    cfg_t *n = NULL;
    char err[4096];
    int rc = cfg_load(d->conf_path, &n, err, sizeof err);
    if (rc < 0) {
        fx_log(FX_LOG_ERR, FX_FAC_CONF, "reload failed, keeping running config: %s", err);
        return;
    }
    char names[512];
    if (cfg_restart_needed(d->cfg, n, names, sizeof names) > 0)
        fx_log(FX_LOG_WARN, FX_FAC_CONF,
               "reload: these settings take full effect only after a restart: %s", names);
    old_cfg_t *o = fx_malloc(sizeof *o);
    o->cfg = d->cfg;
    o->next = d->old;
    d->old = o;
    d->cfg = n;
    fx_log_setup((fx_log_level_t)n->log_level, n->log_facilities, "faxd");
    sipfax_reload(d->sip, n);
    queue_reload(d->queue, n);
    fx_log(FX_LOG_NOTICE, FX_FAC_CONF, "configuration reloaded file=%s", d->conf_path);
}

static void on_signal(ev_loop_t *loop, int fd, unsigned events, void *arg)
{
    faxd_t *d = arg;
    (void)loop;
    (void)events;
    struct signalfd_siginfo si;
    while (read(fd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGHUP) {
            reload(d);
        } else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
            if (d->stopping) {
                fx_log(FX_LOG_WARN, FX_FAC_MAIN, "second stop signal: ending calls now");
                sipfax_shutdown(d->sip, 0, on_idle, d);
                continue;
            }
            d->stopping = true;
            fx_log(FX_LOG_NOTICE, FX_FAC_MAIN, "stop signal: finishing calls in progress");
            sipfax_shutdown(d->sip, SHUTDOWN_GRACE_MS, on_idle, d);
        }
    }
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "config", required_argument, NULL, 'c' },
        { "check-config", no_argument, NULL, 'k' },
        { "print-config", no_argument, NULL, 'p' },
        { "print-reference", no_argument, NULL, 'r' },
        { "version", no_argument, NULL, 'V' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *conf = "/etc/faxgate/faxd.conf";
    bool check = false, print = false;
    int o;
    while ((o = getopt_long(argc, argv, "c:Vh", opts, NULL)) != -1) {
        switch (o) {
        case 'c': conf = optarg; break;
        case 'k': check = true; break;
        case 'p': print = true; break;
        case 'r': cfg_print_reference(stdout); return 0;
        case 'V': {
            char v[256];
            drv_versions(v, sizeof v);
            printf("faxd %s %s\n", FAXD_VERSION, v);
            return 0;
        }
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    faxd_t d;
    memset(&d, 0, sizeof d);
    fx_strlcpy(d.conf_path, conf, sizeof d.conf_path);
    char err[8192];
    int rc = cfg_load(conf, &d.cfg, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, "%s", err);
        if (err[0] != '\0' && err[strlen(err) - 1] != '\n')
            fputc('\n', stderr);
        return 1;
    }
    if (check) {
        printf("%s: configuration ok\n", conf);
        cfg_free(d.cfg);
        return 0;
    }
    if (print) {
        cfg_print(d.cfg, stdout);
        cfg_free(d.cfg);
        return 0;
    }
    fx_log_setup((fx_log_level_t)d.cfg->log_level, d.cfg->log_facilities, "faxd");
    d.started_ms = fx_now_ms();
    signal(SIGPIPE, SIG_IGN);
    sigset_t ss;
    sigemptyset(&ss);
    sigaddset(&ss, SIGTERM);
    sigaddset(&ss, SIGINT);
    sigaddset(&ss, SIGHUP);
    /* Blocked before any thread starts, so media loops inherit the mask. */
    pthread_sigmask(SIG_BLOCK, &ss, NULL);
    rc = spool_open(d.cfg->spool_dir, &d.spool);
    if (rc < 0)
        fx_fatal("cannot open spool dir=%s err=%s", d.cfg->spool_dir, fx_strerror(rc));
    int nrec = recover_spool(d.spool, d.cfg->node_name);
    if (nrec > 0)
        fx_log(FX_LOG_NOTICE, FX_FAC_QUEUE, "recovered received faxes=%d", nrec);
    /* archive: its own thread and connection; the loops never wait on it. */
    if (d.cfg->db_dsn[0] != '\0' && !d.cfg->cluster) {
        rc = arc_open(d.cfg->db_dsn, d.spool, d.cfg->node_name, &d.arc);
        if (rc < 0)
            fx_fatal("cannot start the archive err=%s", fx_strerror(rc));
    }
    rc = ev_new(&d.main);
    if (rc < 0)
        fx_fatal("cannot create main loop err=%s", fx_strerror(rc));
    d.sigfd = signalfd(-1, &ss, SFD_NONBLOCK | SFD_CLOEXEC);
    if (d.sigfd < 0 || ev_fd_add(d.main, d.sigfd, EV_READ, on_signal, &d) < 0)
        fx_fatal("cannot watch signals err=%s", strerror(errno));
    rc = sipfax_new(d.cfg, d.main, d.spool, on_rx_done, &d, &d.sip);
    if (rc < 0)
        fx_fatal("cannot start SIP driver on %s:%d err=%s", d.cfg->sip_address, d.cfg->sip_port,
                 fx_strerror(rc));
    queue_new(d.cfg, d.main, d.spool, d.sip, &d.queue);
    int recovered = queue_recover(d.queue);
    if (recovered > 0)
        fx_log(FX_LOG_NOTICE, FX_FAC_QUEUE, "recovered jobs=%d", recovered);
    /* cluster: the archive worker starts in cluster mode once the queue is
     * loaded; the queue dials only after it checked which jobs are still ours. */
    if (d.cfg->cluster) {
        rc = cluster_new(d.cfg, d.main, d.spool, d.queue, &d.cluster, &d.arc);
        if (rc < 0)
            fx_fatal("cannot start the cluster worker err=%s", fx_strerror(rc));
    }
    rc = ctl_open(d.main, d.cfg->control_socket, on_command, &d, &d.ctl);
    if (rc < 0)
        fx_fatal("cannot open control socket path=%s err=%s", d.cfg->control_socket,
                 fx_strerror(rc));
    fx_log(FX_LOG_NOTICE, FX_FAC_MAIN, "faxd %s started node=%s sip=%s:%d spool=%s control=%s",
           FAXD_VERSION, d.cfg->node_name, d.cfg->sip_address, d.cfg->sip_port,
           d.cfg->spool_dir, d.cfg->control_socket);
    sipfax_run(d.sip);
    ctl_close(d.ctl);
    sipfax_free(d.sip);
    queue_free(d.queue);
    arc_close(d.arc); /* archive: markers left over are taken at the next start */
    cluster_free(d.cluster); /* cluster: after arc_close (the worker reports to it) */
    ev_fd_del(d.main, d.sigfd);
    close(d.sigfd);
    ev_free(d.main);
    spool_close(d.spool);
    while (d.old != NULL) {
        old_cfg_t *n = d.old->next;
        cfg_free(d.old->cfg);
        free(d.old);
        d.old = n;
    }
    fx_log(FX_LOG_NOTICE, FX_FAC_MAIN, "faxd stopped");
    cfg_free(d.cfg);
    return 0;
}
