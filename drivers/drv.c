/* drv: driver-layer helpers shared by every line driver. */
#include "fax/drv.h"

#include <spandsp.h>
#include <spandsp/version.h>
#include <sofia-sip/su_config.h>
#include <sofia-sip/sofia_features.h>
#include <stdio.h>

void drv_versions(char *buf, size_t len)
{
    snprintf(buf, len, "spandsp=%s sofia-sip=%s", SPANDSP_RELEASE_DATETIME_STRING,
             SOFIA_SIP_VERSION);
}
