# fstab for the read-only A/B image: the data partition and the bind mounts that make
# the streetwatch state and config writable (see yocto/README.md). Only under
# DISTRO = "streetwatch".
FILESEXTRAPATHS:prepend:streetwatch := "${THISDIR}/files:"
SRC_URI:append:streetwatch = " file://fstab"
