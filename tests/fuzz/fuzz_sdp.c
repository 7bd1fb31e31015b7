/* Fuzz target: sdpf_parse() on arbitrary bytes (SDP from the network is
 * hostile, DESIGN.md invariant 7).  Beyond "no crash", whatever parses must be
 * self-consistent, and an answer built from it must parse back to the same
 * streams: a failed check aborts, so the fuzzer reports it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fax/fx.h"
#include "sdpf.h"

#define CHECK(x)          \
    do {                  \
        if (!(x))         \
            abort();      \
    } while (0)

static void check_media(const sdpf_media_t *m, unsigned n_media)
{
    if (!m->present) {
        CHECK(m->index == -1);
        return;
    }
    CHECK(m->port != 0);
    CHECK(m->index >= 0 && (unsigned)m->index < n_media);
    CHECK(memchr(m->addr, '\0', sizeof m->addr) != NULL && m->addr[0] != '\0');
    CHECK(m->dir >= SDPF_DIR_SENDRECV && m->dir <= SDPF_DIR_INACTIVE);
    CHECK(m->n_pt >= 0 && m->n_pt <= 16);
    for (int i = 0; i < m->n_pt; i++)
        CHECK(m->pt[i] >= 0 && m->pt[i] <= 127);
    CHECK(m->pt_pcmu >= -1 && m->pt_pcmu <= 127);
    CHECK(m->pt_pcma >= -1 && m->pt_pcma <= 127);
    CHECK(m->pt_tevent >= -1 && m->pt_tevent <= 127);
    CHECK(m->ptime <= 1000);
    CHECK(m->t38.version >= 0 && m->t38.version <= 255);
    CHECK(m->t38.max_datagram <= 65535);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sdpf_desc_t d;
    char why[128];
    memset(why, 'X', sizeof why);
    int rc = sdpf_parse((const char *)data, size, &d, why, sizeof why);
    if (rc != 0) {
        CHECK(rc == FX_EPARSE);
        CHECK(memchr(why, '\0', sizeof why) != NULL && why[0] != '\0');
        for (const char *c = why; *c != '\0'; c++)
            CHECK(*c >= 0x20 && *c < 0x7f && *c != '"' && *c != '\\');
        return 0;
    }
    CHECK(memchr(d.origin_user, '\0', sizeof d.origin_user) != NULL);
    check_media(&d.audio, d.n_media);
    check_media(&d.t38, d.n_media);
    CHECK(d.t38.present || d.audio.pt_pcmu >= 0 || d.audio.pt_pcma >= 0);

    /* Answer it the way the SIP driver would, and read our answer back. */
    sdpf_local_t l;
    memset(&l, 0, sizeof l);
    l.user = "fuzz";
    l.sess_id = d.sess_id;
    l.sess_version = d.sess_version;
    l.addr = strchr(d.t38.present ? d.t38.addr : d.audio.addr, ':') ? "2001:db8::1" : "192.0.2.1";
    if (d.t38.present) {
        sdpf_t38_t ours;
        sdpf_t38_defaults(&ours);
        sdpf_t38_answer(&d.t38.t38, &ours, &l.t38p);
        l.t38 = true;
        l.t38_port = 4000;
        l.reject_audio_line = d.audio.present;
        l.t38_first = !d.audio.present || d.t38.index < d.audio.index;
    } else {
        l.audio = true;
        l.audio_port = 4002;
        l.pt_pcmu = d.audio.pt_pcmu;
        l.pt_pcma = d.audio.pt_pcmu >= 0 ? -1 : d.audio.pt_pcma;
    }
    char out[1024];
    int n = sdpf_build(&l, out, sizeof out);
    CHECK(n > 0 && (size_t)n == strlen(out));

    sdpf_desc_t back;
    CHECK(sdpf_parse(out, (size_t)n, &back, why, sizeof why) == 0);
    CHECK(back.sess_id == d.sess_id && back.sess_version == d.sess_version);
    CHECK(back.t38.present == d.t38.present);
    if (d.t38.present) {
        CHECK(back.t38.port == 4000);
        CHECK(back.t38.t38.version == l.t38p.version);
        CHECK(back.t38.t38.max_bitrate == l.t38p.max_bitrate);
        CHECK(back.t38.t38.rate_mgmt == l.t38p.rate_mgmt);
        CHECK(back.t38.t38.udp_ec == l.t38p.udp_ec);
        CHECK(back.t38.t38.fill_bit_removal == l.t38p.fill_bit_removal);
        CHECK(back.audio.present == false);
    } else {
        CHECK(back.audio.port == 4002 && back.audio.n_pt == 1);
        CHECK(back.audio.pt[0] == (l.pt_pcmu >= 0 ? l.pt_pcmu : l.pt_pcma));
    }
    return 0;
}
