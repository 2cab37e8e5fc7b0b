# streetwatch system.conf (A/B rootfs slots, U-Boot, data directory on /data) and the
# bundle-signing CA. Only under DISTRO = "streetwatch".
FILESEXTRAPATHS:prepend:streetwatch := "${THISDIR}/files:"

# The CA certificate is not in this repository. Point the keyring at it from site.conf or
# the CI's local.conf, e.g.
#   RAUC_KEYRING_FILE = "streetwatch-ca.cert.pem"
#   RAUC_KEYRING_URI = "file:///srv/streetwatch-pki/streetwatch-ca.cert.pem"
# (yocto/README.md, "Signing"). Without it, meta-rauc's example ca.cert.pem (a comment
# only) is installed and the build warns.

SRC_URI:append:streetwatch = " file://streetwatch-boot-check.service"

# Fill in the compatible string (STREETWATCH_RAUC_COMPATIBLE, distro conf) and the
# keyring's file name; install the boot check that gates rauc-mark-good.
do_install:append:streetwatch() {
    sed -i \
        -e 's|@RAUC_COMPATIBLE@|${STREETWATCH_RAUC_COMPATIBLE}|' \
        -e 's|@RAUC_KEYRING_FILE@|${RAUC_KEYRING_FILE}|' \
        ${D}${sysconfdir}/rauc/system.conf
    install -d ${D}${systemd_system_unitdir}/boot-complete.target.requires
    install -m 0644 ${WORKDIR}/streetwatch-boot-check.service ${D}${systemd_system_unitdir}/
    # Statically enabled (the [Install] section says the same), so no systemd class and
    # no preset handling are needed in this bbappend.
    ln -sf ../streetwatch-boot-check.service \
        ${D}${systemd_system_unitdir}/boot-complete.target.requires/streetwatch-boot-check.service
}

FILES:${PN}:append:streetwatch = " ${systemd_system_unitdir}"
