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

#include "ctl.h"
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
    ctl_t *ctl;
    int sigfd;
    bool stopping;
    uint64_t started_ms;
    unsigned long rx_ok, rx_failed, tx_ok, tx_failed;
} faxd_t;

/* A job sent through the control socket. */
typedef struct send_job {
    faxd_t *d;
    char id[17];
    char dest[256];
    ctl_conn_t *waiter;    /* holds a reference while waiting */
} send_job_t;

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

static void on_send_done(void *arg, const sipfax_call_info_t *info, const faxres_t *r)
{
    send_job_t *j = arg;
    faxd_t *d = j->d;
    char line[600];
    faxres_format(r, line, sizeof line);
    if (r->status == FAXRES_OK)
        d->tx_ok++;
    else
        d->tx_failed++;
    /* The job's outcome joins its record; the image moves with it. */
    spool_rec_t rec;
    char why[200];
    char rec_name[40], tif_name[40];
    snprintf(rec_name, sizeof rec_name, "%s.rec", j->id);
    snprintf(tif_name, sizeof tif_name, "%s.tif", j->id);
    if (spool_load_rec(d->spool, "queue", rec_name, &rec, why, sizeof why) != 0)
        spool_rec_init(&rec);
    spool_rec_add(&rec, "result", faxres_status_name(r->status));
    spool_rec_addf(&rec, "pages", "%d", r->pages);
    spool_rec_addf(&rec, "pages_total", "%d", r->pages_total);
    spool_rec_addf(&rec, "rate", "%d", r->bit_rate);
    spool_rec_add(&rec, "ecm", r->ecm ? "yes" : "no");
    spool_rec_add(&rec, "mode", r->mode);
    spool_rec_add(&rec, "remote_ident", r->remote_ident);
    spool_rec_addf(&rec, "duration_s", "%.1f", r->duration_s);
    spool_rec_addf(&rec, "code", "%d", r->code);
    spool_rec_add(&rec, "reason", r->code_text);
    spool_rec_addf(&rec, "ended_ms", "%llu", (unsigned long long)fx_wall_ms());
    const char *to = r->status == FAXRES_OK ? "done" : "failed";
    int rc = spool_store_rec(d->spool, to, rec_name, &rec);
    if (rc == 0) {
        spool_move(d->spool, "queue", tif_name, to, tif_name);
        char p[1024];
        if (spool_path(d->spool, "queue", rec_name, p, sizeof p) == 0)
            unlink(p);
    } else {
        fx_log(FX_LOG_ERR, FX_FAC_QUEUE, "cannot store job result job=%s err=%s", j->id,
               fx_strerror(rc));
    }
    spool_rec_free(&rec);
    fx_log(FX_LOG_NOTICE, FX_FAC_QUEUE, "job ended job=%s dest=%s %s", j->id, j->dest, line);
    (void)info;
    if (j->waiter != NULL) {
        ctl_reply(j->waiter, "RESULT job=%s %s", j->id, line);
        ctl_end(j->waiter);
        ctl_conn_unref(j->waiter);
    }
    free(j);
}

/* SEND <dest> <tiff> [wait]: the TIFF is copied into the spool and fsync'd
 * before the job is acknowledged (invariant 2). */
static void cmd_send(faxd_t *d, ctl_conn_t *conn, char *args)
{
    char *save = NULL;
    char *dest = strtok_r(args, " ", &save);
    char *tiff = strtok_r(NULL, " ", &save);
    char *opt = strtok_r(NULL, " ", &save);
    if (dest == NULL || tiff == NULL) {
        ctl_reply(conn, "ERR usage: SEND <dest> <tiff> [wait]");
        return;
    }
    if (d->stopping) {
        ctl_reply(conn, "ERR faxd is shutting down");
        return;
    }
    send_job_t *j = fx_calloc(1, sizeof *j);
    j->d = d;
    fx_make_id(j->id);
    fx_strlcpy(j->dest, dest, sizeof j->dest);
    char tif_name[40], rec_name[40], path[1024];
    snprintf(tif_name, sizeof tif_name, "%s.tif", j->id);
    snprintf(rec_name, sizeof rec_name, "%s.rec", j->id);
    int rc = spool_store_copy(d->spool, tiff, "queue", tif_name);
    if (rc < 0) {
        ctl_reply(conn, "ERR cannot take %s: %s", tiff, fx_strerror(rc));
        free(j);
        return;
    }
    spool_rec_t rec;
    spool_rec_init(&rec);
    spool_rec_add(&rec, "id", j->id);
    spool_rec_add(&rec, "kind", "send");
    spool_rec_add(&rec, "dest", dest);
    spool_rec_add(&rec, "image", tif_name);
    spool_rec_addf(&rec, "created_ms", "%llu", (unsigned long long)fx_wall_ms());
    rc = spool_store_rec(d->spool, "queue", rec_name, &rec);
    spool_rec_free(&rec);
    spool_path(d->spool, "queue", tif_name, path, sizeof path);
    if (rc < 0) {
        unlink(path);
        ctl_reply(conn, "ERR cannot queue job: %s", fx_strerror(rc));
        free(j);
        return;
    }
    rc = sipfax_send(d->sip, dest, path, j->id, on_send_done, j);
    if (rc < 0) {
        const char *why = rc == FX_ENOTFOUND ? "no trunk configured for that number"
                          : rc == FX_EPARSE  ? "destination is neither a SIP URI nor a number"
                                             : fx_strerror(rc);
        /* XXX: with the scheduler (issue 3) the job would wait for a retry; for now
         * a job that cannot be dialled is failed at once. */
        faxres_t r;
        memset(&r, 0, sizeof r);
        r.status = FAXRES_FAILED;
        r.sending = true;
        r.pages_total = -1;
        r.code = -1;
        fx_strlcpy(r.code_text, why, sizeof r.code_text);
        ctl_reply(conn, "OK job=%s", j->id);
        if (opt != NULL && strcmp(opt, "wait") == 0) {
            ctl_conn_ref(conn);
            ctl_hold(conn);
            j->waiter = conn;
        }
        sipfax_call_info_t info = { j->id, true, "", dest, path };
        on_send_done(j, &info, &r);
        return;
    }
    ctl_reply(conn, "OK job=%s", j->id);
    if (opt != NULL && strcmp(opt, "wait") == 0) {
        ctl_conn_ref(conn);
        ctl_hold(conn);
        j->waiter = conn;
    }
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
        ctl_reply(conn, "calls=%d", sipfax_call_count(d->sip));
        ctl_reply(conn, "received_ok=%lu", d->rx_ok);
        ctl_reply(conn, "received_failed=%lu", d->rx_failed);
        ctl_reply(conn, "sent_ok=%lu", d->tx_ok);
        ctl_reply(conn, "sent_failed=%lu", d->tx_failed);
        ctl_reply(conn, "sip=%s:%d", d->cfg->sip_address, d->cfg->sip_port);
        ctl_reply(conn, "spool=%s", d->cfg->spool_dir);
        ctl_reply(conn, "state=%s", d->stopping ? "stopping" : "running");
    } else if (strcasecmp(line, "CALLS") == 0) {
        char buf[32768];
        sipfax_list_calls(d->sip, buf, sizeof buf);
        ctl_reply(conn, "OK calls=%d", sipfax_call_count(d->sip));
        char *save = NULL;
        for (char *l = strtok_r(buf, "\n", &save); l != NULL; l = strtok_r(NULL, "\n", &save))
            ctl_reply(conn, "%s", l);
    } else if (strcasecmp(line, "SEND") == 0) {
        cmd_send(d, conn, args ? args : (char *)"");
    } else if (strcasecmp(line, "HANGUP") == 0) {
        if (args == NULL || sipfax_hangup(d->sip, args) < 0)
            ctl_reply(conn, "ERR no live call with id '%.40s'", args ? args : "");
        else
            ctl_reply(conn, "OK hanging up %s", args);
    } else if (strcasecmp(line, "JOB") == 0) {
        cmd_job(d, conn, args);
    } else {
        ctl_reply(conn, "ERR unknown command '%.40s' (try PING, STATUS, CALLS, SEND, JOB, HANGUP)", line);
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
