/* ctl: faxd's local control socket (a Unix stream socket, mode 0660).
 *
 * Protocol: the client sends one command line; faxd answers with lines, the
 * first "OK ..." or "ERR <reason>", and a line "." at the end. Commands:
 *   PING                      -> OK pong
 *   STATUS                    -> OK, then key=value lines
 *   CALLS                     -> OK, then one line per live call
 *   SEND <dest> <tiff> [wait] -> OK job=<id>; with "wait" the connection stays
 *                                open and a line "RESULT job=<id> result=..."
 *                                follows when the fax has ended
 *   JOB <id>                  -> OK, then the job's record as key=value lines
 *   HANGUP <id>               -> OK; the live call with that id gets a BYE
 * Runs on the main loop. */
#ifndef FAXD_CTL_H
#define FAXD_CTL_H

#include "fax/ev.h"

typedef struct ctl ctl_t;
typedef struct ctl_conn ctl_conn_t;

/* Handles one command line; replies through ctl_reply and ctl_end. A handler that
 * keeps the connection (SEND wait) calls ctl_hold() and later ctl_end(). */
typedef void (*ctl_handler)(void *arg, ctl_conn_t *conn, char *line);

int ctl_open(ev_loop_t *loop, const char *path, ctl_handler h, void *arg, ctl_t **out);
void ctl_close(ctl_t *c);
void ctl_reply(ctl_conn_t *conn, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ctl_hold(ctl_conn_t *conn);
void ctl_end(ctl_conn_t *conn);
void ctl_conn_ref(ctl_conn_t *conn);
void ctl_conn_unref(ctl_conn_t *conn);

#endif
