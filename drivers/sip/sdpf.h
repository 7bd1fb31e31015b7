/* sdpf: SDP for fax calls.  Reads a peer's session description (RFC 4566) with
 * sofia-sip's SDP parser and boils it down to the two streams a fax call can use,
 * G.711 audio over RTP/AVP and T.38 over UDPTL (RFC 4612, T.38 Annex D); writes
 * our own offers and answers (RFC 3264); negotiates T.38 parameters
 * (T.38 Annex D.2.3 / RFC 4612 section 3).
 *
 * faxd runs nua with its SDP offer/answer engine off, so the SIP driver calls
 * these functions itself.
 *
 * Ownership: every structure here is plain data owned by the caller; nothing is
 * allocated that outlives a call (the parser's memory is released before
 * sdpf_parse() returns).  Strings passed in sdpf_local_t are borrowed.
 * Threads: no state is shared between calls; any thread may call any function.
 * Input: the SDP text is hostile (it came over the network): every number is
 * bounded and every rejection comes with a reason a person can act on. */
#ifndef FAX_SDPF_H
#define FAX_SDPF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* T38FaxUdpEC (T.38 Annex D.2.3): error correction on the UDPTL stream. */
typedef enum { SDPF_EC_NONE = 0, SDPF_EC_REDUNDANCY, SDPF_EC_FEC } sdpf_ec_t;

/* T38FaxRateManagement (T.38 Annex D.2.3): how the training check (TCF) is done.
 * transferredTCF is the one required over UDPTL (T.38 clause 9.2). */
typedef enum { SDPF_RM_TRANSFERRED_TCF = 0, SDPF_RM_LOCAL_TCF } sdpf_rate_mgmt_t;

/* The T.38 capabilities carried in the a=T38Fax* attributes of an image/t38 stream. */
typedef struct sdpf_t38 {
    int version;                /* T38FaxVersion, 0..255; 0 when absent */
    unsigned max_bitrate;       /* T38MaxBitRate in bit/s; 0 = not stated */
    sdpf_rate_mgmt_t rate_mgmt; /* transferredTCF when absent */
    unsigned max_buffer;        /* T38FaxMaxBuffer in bytes; 0 = not stated */
    unsigned max_datagram;      /* T38FaxMaxDatagram in bytes; 0 = not stated: the
                                 * caller then assumes a safe floor such as 72 */
    sdpf_ec_t udp_ec;           /* T38FaxUdpEC; SDPF_EC_NONE when absent */
    bool fill_bit_removal, transcoding_mmr, transcoding_jbig;
} sdpf_t38_t;

/* a=sendrecv/sendonly/recvonly/inactive (RFC 3264 section 5.1), as the peer wrote it. */
typedef enum {
    SDPF_DIR_SENDRECV = 0,
    SDPF_DIR_SENDONLY,
    SDPF_DIR_RECVONLY,
    SDPF_DIR_INACTIVE
} sdpf_dir_t;

typedef struct sdpf_media {
    bool present;  /* stream is in the SDP with a non-zero port */
    int index;     /* position of its m= line in the SDP, 0-based; -1 when absent */
    char addr[64]; /* connection address (media c= or session c=); IPv4 or IPv6 */
    uint16_t port;
    sdpf_dir_t dir; /* a "c=... 0.0.0.0" or "::" hold (RFC 3264 section 8.4) takes the
                     * receive half away: sendrecv -> sendonly, recvonly -> inactive */
    /* audio only: RTP payload types offered, in the peer's order (the first 16),
     * and which we recognise (searched over all of them) */
    int n_pt;
    int pt[16];
    int pt_pcmu, pt_pcma, pt_tevent; /* -1 when absent */
    unsigned ptime;                  /* 0 if not given */
    sdpf_t38_t t38;                  /* image/t38 only */
} sdpf_media_t;

/* audio: the first m=audio RTP/AVP with a non-zero port; t38: the first
 * m=image udptl t38 with a non-zero port. */
typedef struct sdpf_desc {
    char origin_user[32]; /* o= username, truncated to fit */
    uint64_t sess_id, sess_version;
    unsigned n_media; /* number of m= lines (an answer must have as many, RFC 3264 6) */
    sdpf_media_t audio, t38;
} sdpf_desc_t;

/* Parses peer SDP: text[0..len) (need not be NUL-terminated; a NUL inside is an
 * error).  On success fills *out and returns 0.  On failure returns FX_EPARSE,
 * leaves *out untouched and writes to why[whylen] a human reason suitable for a
 * SIP Warning header or 488 reason phrase (printable ASCII only, no double quotes),
 * e.g. "no connection address for m=audio", "T38FaxMaxDatagram not a number",
 * "no usable media: need PCMU/PCMA audio or image/t38".  why may be NULL.
 * Succeeding needs at least a usable image/t38 stream, or an audio stream that
 * offers PCMU or PCMA. */
int sdpf_parse(const char *text, size_t len, sdpf_desc_t *out, char *why, size_t whylen);

/* Defaults for our own T.38 capabilities: version 0, 14400 bit/s,
 * transferredTCF, max_buffer 2000, max_datagram 400, redundancy, no
 * fill-bit removal or transcoding (SpanDSP does neither). */
void sdpf_t38_defaults(sdpf_t38_t *t);

/* Given the peer's offered T.38 parameters and ours, fills the answer per T.38
 * Annex D.2.3 / RFC 4612 section 3 rules:
 *   version      = min(offer, ours)
 *   max_bitrate  = min(offer, ours); ours when the offer did not state one (0)
 *   rate_mgmt    = the offer's, echoed (it is transferredTCF when the offer was silent)
 *   udp_ec       = none if the offer had none; FEC only if both do FEC;
 *                  else redundancy (which every UDPTL implementation must receive)
 *   max_buffer, max_datagram = ours: in the answer they state OUR receive limits
 *   booleans     = offer && ours.
 * answer may alias neither offer nor ours. */
void sdpf_t38_answer(const sdpf_t38_t *offer, const sdpf_t38_t *ours, sdpf_t38_t *answer);

typedef struct sdpf_local {
    const char *user; /* o= username; NULL or "" writes "-" */
    uint64_t sess_id, sess_version;
    const char *addr; /* our numeric IPv4 or IPv6 address (c= and o=) */
    /* Normally exactly one of these streams is active (both may be, for an offer of
     * audio and T.38 together); the other one is written as rejected with port 0
     * when reject_<other>_line is set (needed when answering an offer that had
     * both, RFC 3264 section 6). */
    bool audio;
    uint16_t audio_port;
    bool offer_pcma_first;
    int pt_pcmu, pt_pcma; /* payload types to put, 0..127; -1 leaves one out */
    bool t38;
    uint16_t t38_port;
    sdpf_t38_t t38p;
    bool reject_audio_line;
    bool reject_t38_line;
    bool t38_first; /* m-line order must follow the offer in answers */
} sdpf_local_t;

/* Writes a complete SDP body (v=, o=, s=, c=, t=, then m= lines: audio with
 * rtpmap, ptime 20 and sendrecv; image/t38 with all T38Fax* attributes spelled as
 * in RFC 4612 section 3 / T.38 Annex D.2.3: T38FaxVersion, T38MaxBitRate,
 * T38FaxFillBitRemoval, T38FaxTranscodingMMR, T38FaxTranscodingJBIG (the three
 * booleans only when true), T38FaxRateManagement, T38FaxMaxBuffer,
 * T38FaxMaxDatagram, T38FaxUdpEC:t38UDPRedundancy|t38UDPFEC (left out for none)).
 * An IPv6 addr gives "IN IP6".  Lines end in CRLF; out is NUL-terminated.
 * Returns the length written (without the NUL), FX_ERANGE if cap is too small,
 * or -EINVAL if *l is inconsistent (no active stream, bad address, port 0 on an
 * active stream, payload type out of 0..127, no codec, a stream both active and
 * rejected, a user name with spaces or control characters). */
int sdpf_build(const sdpf_local_t *l, char *out, size_t cap);

/* Names for logs. */
const char *sdpf_ec_name(sdpf_ec_t ec);
const char *sdpf_rate_mgmt_name(sdpf_rate_mgmt_t rm);
const char *sdpf_dir_name(sdpf_dir_t dir);

#endif
