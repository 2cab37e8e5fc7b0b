# openh264enc re-encodes annotated evidence clips; the openh264 recipe comes from
# meta-multimedia (meta-openembedded). Only under DISTRO = "streetwatch".
PACKAGECONFIG:append:streetwatch = " openh264"
