SUMMARY = "streetwatch roadside edge-box daemon"
DESCRIPTION = "Reads RTSP cameras through GStreamer, runs ONNX Runtime detectors and \
publishes city-management events over MQTT; serves the technician web page on 8443."
HOMEPAGE = "https://streetwatch.invalid/"
SECTION = "multimedia"
# The repository has no LICENSE file yet; Cargo.toml declares Apache-2.0. Switch to
# file://LICENSE;md5=... once it is committed.
LICENSE = "Apache-2.0"
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/Apache-2.0;md5=89aea4e17d99a7cacdbeed46a0096b10"

# The URI below and HOMEPAGE are placeholders (.invalid) for the project's real
# repository: set STREETWATCH_GIT_URI (and SRCREV) in local.conf or a distro/release
# conf. Release builds pin SRCREV to the tag's commit (AUTOREV needs network access at
# parse time and is not reproducible).
STREETWATCH_GIT_URI ??= "git://git.streetwatch.invalid/streetwatch.git;protocol=https;branch=main"
SRC_URI = "${STREETWATCH_GIT_URI}"
PV = "0.1.0+git"
SRCREV ??= "${AUTOREV}"

# Every crates.io dependency, generated from Cargo.lock by scripts/gen-yocto-crates.py
# (checked by scripts/checks/yocto.sh) so that do_compile runs offline.
require streetwatch-crates.inc

# cargo-update-recipe-crates adds `bitbake -c update_crates streetwatch`, which writes
# the same .inc as scripts/gen-yocto-crates.py.
inherit cargo cargo-update-recipe-crates pkgconfig systemd useradd

# gstreamer-rs links against these (pkg-config via system-deps). ort uses load-dynamic:
# libonnxruntime is dlopen()ed at run time, so it is an RDEPENDS, not a DEPENDS.
DEPENDS += "glib-2.0 gstreamer1.0 gstreamer1.0-plugins-base gstreamer1.0-rtsp-server"

S = "${WORKDIR}/git"

# GStreamer elements the pipelines use, by package (gst-inspect-1.0 <element> names the
# plugin; OE splits plugins into one package each):
#   rtspsrc                    -> plugins-good-rtsp (+ -rtpmanager for rtpbin and the
#                                 jitterbuffer, -udp for UDP transport)
#   rtph264depay/rtph265depay  -> plugins-good-rtp
#   qtdemux, mp4mux            -> plugins-good-isomp4
#   h264parse, h265parse       -> plugins-bad-videoparsersbad
#   openh264enc                -> plugins-bad-openh264 (PACKAGECONFIG, see bbappend)
#   avdec_h264/avdec_h265      -> gstreamer1.0-libav (LICENSE_FLAGS "commercial")
#   appsrc, appsink            -> plugins-base-app
#   videoconvert, videoscale   -> plugins-base-videoconvertscale (merged in 1.22)
#   videorate                  -> plugins-base-videorate
#   uridecodebin (file:// demo)-> plugins-base-playback + -typefindfunctions
#   tee, queue, filesrc        -> gstreamer1.0 core (pulled in via shlibs)
# Hardware decoders (mppvideodec, nvv4l2decoder, Ascend DVPP) are machine-specific and
# belong to the image (streetwatch-image.bb), not to this package.
RDEPENDS:${PN} += "ca-certificates \
    gstreamer1.0-libav \
    gstreamer1.0-plugins-bad-openh264 \
    gstreamer1.0-plugins-bad-videoparsersbad \
    gstreamer1.0-plugins-base-app \
    gstreamer1.0-plugins-base-playback \
    gstreamer1.0-plugins-base-typefindfunctions \
    gstreamer1.0-plugins-base-videoconvertscale \
    gstreamer1.0-plugins-base-videorate \
    gstreamer1.0-plugins-good-isomp4 \
    gstreamer1.0-plugins-good-rtp \
    gstreamer1.0-plugins-good-rtpmanager \
    gstreamer1.0-plugins-good-rtsp \
    gstreamer1.0-plugins-good-udp \
    onnxruntime-prebuilt \
"

SYSTEMD_SERVICE:${PN} = "streetwatch.service"
SYSTEMD_AUTO_ENABLE:${PN} = "enable"

# Users are created at rootfs time (the rootfs is read-only, so systemd-sysusers could
# not add them at boot); the sysusers.d file is installed as well and is a no-op then.
USERADD_PACKAGES = "${PN}"
GROUPADD_PARAM:${PN} = "--system streetwatch"
USERADD_PARAM:${PN} = "--system --gid streetwatch --groups video \
    --home-dir ${localstatedir}/lib/streetwatch --no-create-home \
    --shell ${base_sbindir}/nologin --comment 'streetwatch roadside edge box' streetwatch"

do_install:append() {
    # Binary: the cargo class installs ${bindir}/streetwatch.

    install -d ${D}${systemd_system_unitdir}
    install -m 0644 ${S}/systemd/streetwatch.service ${D}${systemd_system_unitdir}/

    # Platform drop-in examples; streetwatch-image installs the machine's one as
    # streetwatch.service.d/platform.conf.
    install -d ${D}${datadir}/streetwatch/systemd
    install -m 0644 ${S}/systemd/streetwatch.service.d/*.conf.example ${D}${datadir}/streetwatch/systemd/

    install -d ${D}${nonarch_libdir}/sysusers.d ${D}${nonarch_libdir}/tmpfiles.d
    install -m 0644 ${S}/systemd/streetwatch.sysusers ${D}${nonarch_libdir}/sysusers.d/streetwatch.conf
    install -m 0644 ${S}/systemd/streetwatch.tmpfiles ${D}${nonarch_libdir}/tmpfiles.d/streetwatch.conf

    # Default configuration (a CONFFILE: package upgrades keep local edits).
    install -d -m 0750 -o streetwatch -g streetwatch ${D}${sysconfdir}/streetwatch
    install -m 0600 -o streetwatch -g streetwatch ${S}/config/streetwatch.toml ${D}${sysconfdir}/streetwatch/streetwatch.toml

    # Model manifests (weights are provisioned into /var/lib/streetwatch/models).
    install -d ${D}${datadir}/streetwatch/models
    for manifest in ${S}/models/*/model.toml; do
        [ -e "$manifest" ] || continue
        id="$(basename "$(dirname "$manifest")")"
        install -d ${D}${datadir}/streetwatch/models/$id
        install -m 0644 "$manifest" ${D}${datadir}/streetwatch/models/$id/model.toml
    done

    # State layout (the data partition is bind-mounted over it on the image).
    install -d -m 0750 -o streetwatch -g streetwatch ${D}${localstatedir}/lib/streetwatch
    for dir in evidence outbox models; do
        install -d -m 0750 -o streetwatch -g streetwatch ${D}${localstatedir}/lib/streetwatch/$dir
    done

    install -d ${D}${docdir}/streetwatch
    install -m 0644 ${S}/docs/deployment.md ${D}${docdir}/streetwatch/
}

CONFFILES:${PN} = "${sysconfdir}/streetwatch/streetwatch.toml"

# ${datadir}/streetwatch (drop-ins, model manifests) is in FILES:${PN} by default.
FILES:${PN} += "${systemd_system_unitdir}/streetwatch.service \
    ${nonarch_libdir}/sysusers.d/streetwatch.conf \
    ${nonarch_libdir}/tmpfiles.d/streetwatch.conf \
    ${sysconfdir}/streetwatch \
    ${localstatedir}/lib/streetwatch \
"
