SUMMARY = "ONNX Runtime shared library, prebuilt (CPU execution provider)"
DESCRIPTION = "libonnxruntime.so taken unchanged from Microsoft's official onnxruntime \
PyPI wheel (manylinux_2_28, glibc >= 2.28) for the target architecture, installed where \
streetwatch looks for it: ${libdir}/streetwatch/libonnxruntime.so.${PV}. Only the C \
library is used; no Python is installed. Building ONNX Runtime from source in bitbake \
takes hours and is only worth it for platform execution providers (CUDA/TensorRT on \
Jetson, CANN on Ascend, RKNPU), which need vendor builds anyway."
HOMEPAGE = "https://onnxruntime.ai"
SECTION = "libs"
LICENSE = "MIT"
LIC_FILES_CHKSUM = "file://onnxruntime/LICENSE;md5=0f7e3b1308cb5c00b372a6e78835732d"

# The wheel is a zip. Naming the download *.zip makes bitbake unzip it (and pull in
# unzip-native); subdir keeps the tree under ${S}. The Python tag does not matter for the
# C library: cp312 is scarthgap's Python. The sha256 sums are the real ones published on
# PyPI for these files (and re-checked with `pip download` + sha256sum when this recipe
# was written); they must be updated together with PV.
ORT_WHEEL_BASE = "https://files.pythonhosted.org/packages"
SRC_URI:x86-64 = "${ORT_WHEEL_BASE}/eb/27/c6a823bac55b2977bea2027c3ec9393a2c1002cb9a09eb40354563e02730/onnxruntime-${PV}-cp312-cp312-manylinux_2_28_x86_64.whl;downloadfilename=onnxruntime-${PV}-x86_64.zip;subdir=wheel;name=x86-64"
SRC_URI[x86-64.sha256sum] = "1f3dea47f2f0e5117c2404cea7d21fd253ae7836a3bf167a501cdfbb2600d536"
SRC_URI:aarch64 = "${ORT_WHEEL_BASE}/ba/e4/1ed1a7a5f4702d899091fa2b976d377995250c307326ec8dc9ae6378aa13/onnxruntime-${PV}-cp312-cp312-manylinux_2_28_aarch64.whl;downloadfilename=onnxruntime-${PV}-aarch64.zip;subdir=wheel;name=aarch64"
SRC_URI[aarch64.sha256sum] = "0b9a492176886992e0e875f06bc0367e333f5fff11711a2d642e18b02f3009cc"

# Microsoft publishes Linux wheels for x86_64 and aarch64 only (no 32-bit ARM).
COMPATIBLE_HOST = "(x86_64|aarch64).*-linux"

S = "${WORKDIR}/wheel"

# Nothing to configure or build: the binary is used as shipped.
do_configure[noexec] = "1"
do_compile[noexec] = "1"

do_install() {
    install -d ${D}${libdir}/streetwatch
    install -m 0755 ${S}/onnxruntime/capi/libonnxruntime.so.${PV} ${D}${libdir}/streetwatch/
    install -d ${D}${datadir}/licenses/${PN}
    install -m 0644 ${S}/onnxruntime/ThirdPartyNotices.txt ${D}${datadir}/licenses/${PN}/
}

FILES:${PN} = "${libdir}/streetwatch/libonnxruntime.so.${PV} ${datadir}/licenses/${PN}"

# soname libonnxruntime.so.1 lives outside the linker path and is dlopen()ed by path:
# keep it out of the shlib provider tables so nothing links against it by accident.
PRIVATE_LIBS = "libonnxruntime.so.1"

# Prebuilt upstream binary, stripped already: no stripping, no -dbg split (which also
# keeps the "already-stripped" QA check quiet without INSANE_SKIP). Built against
# manylinux_2_28's glibc, it runs on scarthgap's newer glibc; it has GNU_HASH and a
# harmless RUNPATH of $ORIGIN.
INHIBIT_PACKAGE_STRIP = "1"
INHIBIT_SYSROOT_STRIP = "1"
INHIBIT_PACKAGE_DEBUG_SPLIT = "1"

RPROVIDES:${PN} += "onnxruntime"
