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

#include "fax/cfg.h"
#include "fax/fx.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: faxctl [-c FAXD.CONF | -s SOCKET] COMMAND [ARGS]\n"
            "commands:\n"
            "  send [--no-wait] TIFF DEST   send a TIFF to a SIP URI (sip:NUMBER@host[:port])\n"
            "                               or a number routed through a trunk; waits for the\n"
            "                               result unless --no-wait (exit 0 only when every\n"
            "                               page was confirmed)\n"
            "  status                       daemon status\n"
            "  calls                        live calls: state, mode, page, rate\n"
            "  job ID                       a job's or received fax's record\n"
            "  hangup ID                    end a live call now (BYE); its result follows\n"
            "  ping                         is faxd answering?\n"
            "The socket is taken from -s, else from the config's control_socket (-c, default\n"
            "/etc/faxgate/faxd.conf), else $FAXGATE_SOCKET, else /run/faxgate/faxd.sock.\n");
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
        if (strncmp(line, "RESULT ", 7) == 0)
            rc = strstr(line, " result=ok ") != NULL ? 0 : 1;
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
        bool wait = true;
        int i = optind + 1;
        if (i < argc && strcmp(argv[i], "--no-wait") == 0) {
            wait = false;
            i++;
        }
        if (argc - i != 2) {
            usage(stderr);
            return 2;
        }
        char abs[PATH_MAX];
        if (realpath(argv[i], abs) == NULL) {
            fprintf(stderr, "faxctl: %s: %s\n", argv[i], strerror(errno));
            return 2;
        }
        if (strchr(abs, ' ') != NULL || strchr(argv[i + 1], ' ') != NULL) {
            fprintf(stderr, "faxctl: file names and destinations may not contain spaces\n");
            return 2;
        }
        snprintf(line, sizeof line, "SEND %s %s%s", argv[i + 1], abs, wait ? " wait" : "");
        return run(sock, line, false);
    }
    if (strcmp(cmd, "status") == 0)
        return run(sock, "STATUS", true);
    if (strcmp(cmd, "calls") == 0)
        return run(sock, "CALLS", false);
    if (strcmp(cmd, "ping") == 0)
        return run(sock, "PING", false);
    if (strcmp(cmd, "hangup") == 0 && optind + 1 < argc) {
        snprintf(line, sizeof line, "HANGUP %s", argv[optind + 1]);
        return run(sock, line, false);
    }
    if (strcmp(cmd, "job") == 0 && optind + 1 < argc) {
        snprintf(line, sizeof line, "JOB %s", argv[optind + 1]);
        return run(sock, line, false);
    }
    usage(stderr);
    return 2;
}
