/* faxctl: command-line client of faxd's control socket (see faxd/ctl.h). */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fax/arc.h" /* archive subcommands */
#include "fax/cfg.h"
#include "fax/fx.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: faxctl [-c FAXD.CONF | -s SOCKET] COMMAND [ARGS]\n"
            "commands:\n"
            "  send [options] TIFF DEST[,DEST...]\n"
            "                               queue a fax to SIP URIs (sip:NUMBER@host[:port]) or\n"
            "                               numbers routed through a trunk; waits for the result\n"
            "                               (exit 0 only when every page reached every recipient)\n"
            "      --no-wait                 return once the job is queued\n"
            "      --priority N              0 most urgent .. 255 (default 127)\n"
            "      --not-before SECONDS      hold the job back this long\n"
            "      --kill SECONDS            give up after this long (default job_lifetime)\n"
            "      --max-tries N --max-dials N  override the retry limits\n"
            "  jobs                         jobs in the queue, a line per recipient\n"
            "  cancel|hold|release|retry ID act on a queued job\n"
            "  status                       daemon status\n"
            "  calls                        live calls: state, mode, page, rate\n"
            "  job ID                       a finished job's or received fax's record\n"
            "  hangup ID                    end a live call now (BYE); its result follows\n"
            "  clock +SECONDS               move the queue's test clock (test_clock = yes only)\n"
            "  ping                         is faxd answering?\n"
            "archive (PostgreSQL, db_dsn from the config given with -c):\n"
            "  audit verify                 recompute the event hash chain; exit 1 on tampering\n"
            "  show ID                      a fax's or job's archived record, pages and timeline\n"
            "  search [--number N] [--from DATE] [--to DATE] [--status S] [--limit N] [TEXT]\n"
            "                               archived faxes, newest first (TEXT: full text)\n"
            "  export ID --pdf OUT          the archived image as a PDF (tiff2pdf)\n"
            "The socket is taken from -s, else from the config's control_socket (-c, default\n"
            "/etc/faxgate/faxd.conf), else $FAXGATE_SOCKET, else /run/faxgate/faxd.sock.\n");
}

/* ---- archive subcommands: straight to PostgreSQL, not through faxd ---- */
static int archive_cmd(const char *conf, int argc, char **argv)
{
    const char *cmd = argv[0];
    cfg_t *c = NULL;
    char err[4096];
    const char *path = conf ? conf : "/etc/faxgate/faxd.conf";
    if (cfg_load(path, &c, err, sizeof err) < 0) {
        fprintf(stderr, "%s", err);
        return 2;
    }
    char dsn[sizeof c->db_dsn];
    fx_strlcpy(dsn, c->db_dsn, sizeof dsn);
    cfg_free(c);
    if (dsn[0] == '\0') {
        fprintf(stderr, "faxctl: %s sets no db_dsn: there is no archive\n", path);
        return 2;
    }
    int rc;
    if (strcmp(cmd, "audit") == 0) {
        if (argc != 2 || strcmp(argv[1], "verify") != 0) {
            usage(stderr);
            return 2;
        }
        rc = arc_cli_verify(dsn, stdout);
        return rc == 0 ? 0 : rc == 1 ? 1 : 2;
    }
    if (strcmp(cmd, "show") == 0) {
        if (argc != 2) {
            usage(stderr);
            return 2;
        }
        rc = arc_cli_show(dsn, argv[1], stdout);
        if (rc == FX_ENOTFOUND)
            fprintf(stderr, "faxctl: %s is not in the archive\n", argv[1]);
        return rc == 0 ? 0 : rc == FX_ENOTFOUND ? 1 : 2;
    }
    if (strcmp(cmd, "export") == 0) {
        if (argc != 4 || strcmp(argv[2], "--pdf") != 0) {
            usage(stderr);
            return 2;
        }
        rc = arc_cli_export_pdf(dsn, argv[1], argv[3], stderr);
        if (rc == FX_ENOTFOUND)
            fprintf(stderr, "faxctl: no archived image for %s\n", argv[1]);
        return rc == 0 ? 0 : rc == FX_ENOTFOUND ? 1 : 2;
    }
    /* search */
    static const struct option sopts[] = {
        { "number", required_argument, NULL, 'n' }, { "from", required_argument, NULL, 'f' },
        { "to", required_argument, NULL, 't' },     { "status", required_argument, NULL, 's' },
        { "limit", required_argument, NULL, 'l' },  { NULL, 0, NULL, 0 },
    };
    arc_search_t q;
    memset(&q, 0, sizeof q);
    optind = 1;
    int o;
    while ((o = getopt_long(argc, argv, "+", sopts, NULL)) != -1) {
        switch (o) {
        case 'n': q.number = optarg; break;
        case 'f': q.from = optarg; break;
        case 't': q.to = optarg; break;
        case 's': q.status = optarg; break;
        case 'l': q.limit = atoi(optarg); break;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc - 1) {
        usage(stderr);
        return 2;
    }
    if (optind == argc - 1)
        q.text = argv[optind];
    rc = arc_cli_search(dsn, &q, stdout);
    return rc < 0 ? 2 : 0;
}

static int connect_to(const char *path)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa.sun_path) {
        fprintf(stderr, "faxctl: socket path too long: %s\n", path);
        return -1;
    }
    fx_strlcpy(sa.sun_path, path, sizeof sa.sun_path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        fprintf(stderr, "faxctl: cannot reach faxd at %s: %s (is faxd running?)\n", path,
                strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* Sends one command and prints the reply; returns 0 (OK and, for a RESULT,
 * result=ok), 1 (ERR or a fax that did not fully succeed), 2 (I/O). */
static int run(const char *sock, const char *cmd, bool quiet_ok)
{
    int fd = connect_to(sock);
    if (fd < 0)
        return 2;
    if (fx_write_all(fd, cmd, strlen(cmd)) < 0 || fx_write_all(fd, "\n", 1) < 0) {
        fprintf(stderr, "faxctl: write to faxd failed: %s\n", strerror(errno));
        close(fd);
        return 2;
    }
    FILE *f = fdopen(fd, "r");
    char line[8192];
    int rc = 2;
    bool first = true;
    while (fgets(line, sizeof line, f) != NULL) {
        size_t n = strlen(line);
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (strcmp(line, ".") == 0)
            break;
        if (first) {
            first = false;
            if (strncmp(line, "OK", 2) == 0) {
                rc = 0;
                if (quiet_ok && line[2] == '\0')
                    continue;
            } else {
                rc = 1;
                fprintf(stderr, "faxctl: %s\n", strncmp(line, "ERR ", 4) == 0 ? line + 4 : line);
                continue;
            }
        }
        if (strncmp(line, "RESULT ", 7) == 0 && strstr(line, " result=ok ") == NULL)
            rc = 1;
        printf("%s\n", line);
    }
    fclose(f);
    if (first) {
        fprintf(stderr, "faxctl: faxd closed the connection without an answer\n");
        return 2;
    }
    return rc;
}

int main(int argc, char **argv)
{
    const char *conf = NULL;
    const char *sock = NULL;
    int o;
    /* Options stop at the command ('+'), so command options parse below. */
    while ((o = getopt(argc, argv, "+c:s:h")) != -1) {
        switch (o) {
        case 'c': conf = optarg; break;
        case 's': sock = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    /* archive subcommands talk to PostgreSQL, not to faxd */
    if (strcmp(argv[optind], "audit") == 0 || strcmp(argv[optind], "show") == 0
        || strcmp(argv[optind], "search") == 0 || strcmp(argv[optind], "export") == 0)
        return archive_cmd(conf, argc - optind, argv + optind);
    char sockbuf[512];
    if (sock == NULL) {
        const char *path = conf ? conf : "/etc/faxgate/faxd.conf";
        cfg_t *c = NULL;
        char err[4096];
        if (cfg_load(path, &c, err, sizeof err) == 0) {
            fx_strlcpy(sockbuf, c->control_socket, sizeof sockbuf);
            cfg_free(c);
            sock = sockbuf;
        } else if (conf != NULL) {
            fprintf(stderr, "%s", err);
            return 2;
        } else {
            sock = getenv("FAXGATE_SOCKET");
            if (sock == NULL)
                sock = "/run/faxgate/faxd.sock";
        }
    }
    const char *cmd = argv[optind];
    char line[PATH_MAX + 600];
    if (strcmp(cmd, "send") == 0) {
        static const struct option sopts[] = {
            { "no-wait", no_argument, NULL, 'n' },
            { "priority", required_argument, NULL, 'p' },
            { "not-before", required_argument, NULL, 'b' },
            { "kill", required_argument, NULL, 'k' },
            { "max-tries", required_argument, NULL, 't' },
            { "max-dials", required_argument, NULL, 'd' },
            { "owner", required_argument, NULL, 'o' },
            { NULL, 0, NULL, 0 },
        };
        bool wait = true;
        char opts[512] = "";
        size_t ol = 0;
        optind++;
        int so;
        while ((so = getopt_long(argc, argv, "+", sopts, NULL)) != -1) {
            const char *key = NULL;
            switch (so) {
            case 'n': wait = false; continue;
            case 'p': key = "priority="; break;
            case 'b': key = "not_before=+"; break;
            case 'k': key = "kill=+"; break;
            case 't': key = "max_tries="; break;
            case 'd': key = "max_dials="; break;
            case 'o': key = "owner="; break;
            default: usage(stderr); return 2;
            }
            if (strchr(optarg, ' ') != NULL) {
                fprintf(stderr, "faxctl: option values may not contain spaces\n");
                return 2;
            }
            int w = snprintf(opts + ol, sizeof opts - ol, " %s%s", key, optarg);
            if (w < 0 || (size_t)w >= sizeof opts - ol) {
                fprintf(stderr, "faxctl: options too long\n");
                return 2;
            }
            ol += (size_t)w;
        }
        if (argc - optind != 2) {
            usage(stderr);
            return 2;
        }
        char abs[PATH_MAX];
        if (realpath(argv[optind], abs) == NULL) {
            fprintf(stderr, "faxctl: %s: %s\n", argv[optind], strerror(errno));
            return 2;
        }
        if (strchr(abs, ' ') != NULL || strchr(argv[optind + 1], ' ') != NULL) {
            fprintf(stderr, "faxctl: file names and destinations may not contain spaces\n");
            return 2;
        }
        snprintf(line, sizeof line, "SEND %s %s%s%s", abs, argv[optind + 1], wait ? " wait" : "",
                 opts);
        return run(sock, line, false);
    }
    static const struct {
        const char *name, *verb;
    } job_cmds[] = { { "cancel", "CANCEL" }, { "hold", "HOLD" },   { "release", "RELEASE" },
                     { "retry", "RETRY" },   { "job", "JOB" },     { "hangup", "HANGUP" },
                     { "clock", "CLOCK" } };
    for (unsigned i = 0; i < sizeof job_cmds / sizeof job_cmds[0]; i++) {
        if (strcmp(cmd, job_cmds[i].name) == 0) {
            if (optind + 1 >= argc) {
                usage(stderr);
                return 2;
            }
            snprintf(line, sizeof line, "%s %s", job_cmds[i].verb, argv[optind + 1]);
            return run(sock, line, false);
        }
    }
    if (strcmp(cmd, "jobs") == 0)
        return run(sock, "JOBS", false);
    if (strcmp(cmd, "status") == 0)
        return run(sock, "STATUS", true);
    if (strcmp(cmd, "calls") == 0)
        return run(sock, "CALLS", false);
    if (strcmp(cmd, "ping") == 0)
        return run(sock, "PING", false);
    usage(stderr);
    return 2;
}
