# nooelint: oelint.file.underscores,oelint.var.mandatoryvar.SRC_URI
# (file.underscores: like meta-rauc's own update-bundle.bb, a bundle carries no version
# in its file name, the manifest version is DISTRO_VERSION; mandatoryvar.SRC_URI: a
# bundle fetches nothing, it packs streetwatch-image's output from DEPLOY_DIR_IMAGE.)
SUMMARY = "streetwatch RAUC update bundle"
DESCRIPTION = "Signed verity bundle with the streetwatch-image root filesystem; RAUC \
writes it to the inactive rootfs slot and switches U-Boot to it."
HOMEPAGE = "https://streetwatch.invalid/"
LICENSE = "MIT"
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/MIT;md5=0835ade698e0bcf8506ecda2f7b4f302"

inherit bundle

# Must equal the compatible= in /etc/rauc/system.conf (rauc-conf.bbappend).
RAUC_BUNDLE_COMPATIBLE = "streetwatch-${MACHINE}"
RAUC_BUNDLE_VERSION = "${DISTRO_VERSION}"
RAUC_BUNDLE_DESCRIPTION = "streetwatch edge box firmware"
RAUC_BUNDLE_FORMAT = "verity"

# The kernel and device tree live in the rootfs slot (/boot), so one slot class
# updates everything; the boot partition (boot script) and data partition are untouched.
RAUC_BUNDLE_SLOTS = "rootfs"
RAUC_SLOT_rootfs = "streetwatch-image"
RAUC_SLOT_rootfs[fstype] = "ext4"
# Installs only the blocks that changed when the slot still holds an older image.
RAUC_SLOT_rootfs[adaptive] = "block-hash-index"

# Signing key and certificate are never committed. Set them in site.conf or the CI's
# local.conf (yocto/README.md, "Signing"):
#   RAUC_KEY_FILE = "/srv/streetwatch-pki/release-1.key.pem"   (or a PKCS#11 URI)
#   RAUC_CERT_FILE = "/srv/streetwatch-pki/release-1.cert.pem"
RAUC_KEY_FILE ??= ""
RAUC_CERT_FILE ??= ""
