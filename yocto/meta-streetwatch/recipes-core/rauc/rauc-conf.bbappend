# streetwatch system.conf (A/B rootfs slots, U-Boot, data directory on /data) and the
# bundle-signing CA. Only under DISTRO = "streetwatch".
FILESEXTRAPATHS:prepend:streetwatch := "${THISDIR}/files:"

# The CA certificate is not in this repository. Point the keyring at it from site.conf or
# the CI's local.conf, e.g.
#   RAUC_KEYRING_FILE = "streetwatch-ca.cert.pem"
#   RAUC_KEYRING_URI = "file:///srv/streetwatch-pki/streetwatch-ca.cert.pem"
# (yocto/README.md, "Signing"). Without it, meta-rauc's example ca.cert.pem (a comment
# only) is installed and the build warns.

# Fill in the compatible string (STREETWATCH_RAUC_COMPATIBLE, distro conf) and the
# keyring's file name.
do_install:append:streetwatch() {
    sed -i \
        -e 's|@RAUC_COMPATIBLE@|${STREETWATCH_RAUC_COMPATIBLE}|' \
        -e 's|@RAUC_KEYRING_FILE@|${RAUC_KEYRING_FILE}|' \
        ${D}${sysconfdir}/rauc/system.conf
}
