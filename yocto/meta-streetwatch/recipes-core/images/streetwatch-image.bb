SUMMARY = "streetwatch roadside edge-box image"
DESCRIPTION = "Read-only root filesystem with the streetwatch daemon, written to A/B \
rootfs slots by RAUC; durable state lives on a separate data partition."
HOMEPAGE = "https://streetwatch.invalid/"
LICENSE = "MIT"
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/MIT;md5=0835ade698e0bcf8506ecda2f7b4f302"

REQUIRED_DISTRO_FEATURES = "systemd rauc"

inherit core-image features_check

# Root filesystem is read-only: nothing a field box does may depend on writing to /.
# /var/lib/streetwatch and /etc/streetwatch are bind mounts from the data partition
# (fstab from base-files_%.bbappend, layout in wic/streetwatch-ab.wks.in).
IMAGE_FEATURES += "read-only-rootfs"

# The kernel and device tree live inside the rootfs slot (/boot): U-Boot loads them from
# the slot it boots, so one RAUC slot update replaces kernel and userland together.
IMAGE_INSTALL += "streetwatch \
    onnxruntime-prebuilt \
    rauc \
    rauc-conf \
    kernel-image \
    kernel-devicetree \
    u-boot-fw-utils \
    chrony \
    ${STREETWATCH_PLATFORM_PACKAGES} \
"

# Hardware decoders and NPU runtimes per platform. STREETWATCH_PLATFORM comes from the
# distro conf, which derives it from the BSP's SoC override (rk3588 -> "rk3588",
# meta-tegra's tegra234 -> "jetson-orin", ascend310 -> "ascend310"), or from local.conf.
# Package names are those of the usual BSP layers; check them against the layer you use.
#   rk3588      (rockchip-linux/meta-rockchip): MPP decoder for GStreamer (mppvideodec),
#               RGA, the RKNPU2 runtime (librknnrt) for an RKNN execution provider.
#   jetson-orin (meta-tegra): nvv4l2decoder and nvvidconv, CUDA runtime and TensorRT for
#               ONNX Runtime's CUDA/TensorRT execution providers (needs an ORT build
#               with them: the PyPI wheel in onnxruntime-prebuilt is CPU-only).
#   ascend310   (board vendor's layer): NPU driver/firmware and the CANN runtime (DVPP
#               decoding, CANN execution provider); names are the vendor's.
STREETWATCH_PLATFORM_RDEPENDS[rk3588] = "gstreamer1.0-rockchip rockchip-mpp rockchip-librga rockchip-rknpu2"
STREETWATCH_PLATFORM_RDEPENDS[jetson-orin] = "gstreamer1.0-plugins-nvvideo4linux2 gstreamer1.0-plugins-nvvidconv tegra-libraries-multimedia cuda-cudart tensorrt-core"
STREETWATCH_PLATFORM_RDEPENDS[ascend310] = "ascend-driver ascend-cann-runtime"
STREETWATCH_PLATFORM_PACKAGES = "${@d.getVarFlag('STREETWATCH_PLATFORM_RDEPENDS', d.getVar('STREETWATCH_PLATFORM') or 'cpu') or ''}"

# The platform's drop-in (device nodes, groups, W^X exception) becomes
# /etc/systemd/system/streetwatch.service.d/platform.conf.
install_streetwatch_platform_dropin() {
    platform="${STREETWATCH_PLATFORM}"
    if [ -n "$platform" ]; then
        src=${IMAGE_ROOTFS}${datadir}/streetwatch/systemd/$platform.conf.example
        if [ ! -e "$src" ]; then
            bbfatal "no systemd drop-in for STREETWATCH_PLATFORM=$platform ($src)"
        fi
        install -d ${IMAGE_ROOTFS}${sysconfdir}/systemd/system/streetwatch.service.d
        install -m 0644 "$src" ${IMAGE_ROOTFS}${sysconfdir}/systemd/system/streetwatch.service.d/platform.conf
    fi
}

# Seed the data partition: wic builds it from ${IMAGE_ROOTFS}/data (see the .wks), so the
# first boot finds the default config and an empty state layout there. RAUC updates
# never write the data partition, so later images keep the technician's configuration.
seed_streetwatch_data_partition() {
    install -d -m 0755 ${IMAGE_ROOTFS}/data
    install -d -m 0750 ${IMAGE_ROOTFS}/data/streetwatch/etc ${IMAGE_ROOTFS}/data/streetwatch/state
    cp -a ${IMAGE_ROOTFS}${sysconfdir}/streetwatch/. ${IMAGE_ROOTFS}/data/streetwatch/etc/
    cp -a ${IMAGE_ROOTFS}${localstatedir}/lib/streetwatch/. ${IMAGE_ROOTFS}/data/streetwatch/state/
    chown -R streetwatch:streetwatch ${IMAGE_ROOTFS}/data/streetwatch
    install -d -m 0700 ${IMAGE_ROOTFS}/data/rauc
}

ROOTFS_POSTPROCESS_COMMAND += "install_streetwatch_platform_dropin; seed_streetwatch_data_partition;"

# A/B layout: boot, rootfs_a, rootfs_b, data.
WKS_FILE = "streetwatch-ab.wks.in"
IMAGE_FSTYPES += "ext4 wic.bz2 wic.bmap"
# The ext4 image must fit a rootfs slot (2048 MiB in the .wks); size in KiB.
IMAGE_ROOTFS_MAXSIZE = "2097152"
