#!/bin/sh
# Installs everything Faxgate needs to build, run and test on Debian 12.
# Debian package names only; nothing is fetched from anywhere else.
# kamailio: the SIP proxy of tests/integration/cluster_kamailio.sh (its dispatcher
# module ships in the main kamailio package, not in kamailio-extra-modules).
set -eu
PKGS="build-essential cmake pkg-config clang libclang-rt-14-dev
      libspandsp-dev libsofia-sip-ua-dev libtiff-dev libtiff-tools libcmocka-dev
      libpq-dev postgresql sip-tester python3 procps iproute2
      kamailio"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "deps.sh: missing packages:$missing (run as root to install them)" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing
    # The tests start their own Kamailio; the packaged service (UDP 5060 on
    # every address) would clash with a faxd on the default port.
    case " $missing " in
    *" kamailio "*) systemctl disable --now kamailio >/dev/null 2>&1 || true ;;
    esac
fi
