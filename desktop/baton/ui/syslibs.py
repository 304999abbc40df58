"""Checks, before the app starts, for the system libraries Qt's xcb platform needs on Linux.

On a fresh Debian or Ubuntu the PySide6 wheel starts only once a few X11/xcb libraries are installed; without
them Qt aborts with "Could not load the Qt platform plugin xcb". ``python -m baton.ui.syslibs`` lists what is
missing and prints the one command that installs it (apt for Debian/Ubuntu, dnf for Fedora); exit 1 when
something is missing, 0 otherwise (and always 0 off Linux or without an X display to use).
"""

from __future__ import annotations

import ctypes.util
import os
import shutil
import sys

# (soname stem for find_library, Debian/Ubuntu package, Fedora package)
NEEDED: tuple[tuple[str, str, str], ...] = (
    ("xcb-cursor", "libxcb-cursor0", "xcb-util-cursor"),
    ("xcb-icccm", "libxcb-icccm4", "xcb-util-wm"),
    ("xcb-keysyms", "libxcb-keysyms1", "xcb-util-keysyms"),
    ("xcb-image", "libxcb-image0", "xcb-util-image"),
    ("xcb-render-util", "libxcb-render-util0", "xcb-util-renderutil"),
    ("xcb-randr", "libxcb-randr0", "libxcb"),
    ("xcb-shape", "libxcb-shape0", "libxcb"),
    ("xcb-xinerama", "libxcb-xinerama0", "libxcb"),
    ("xcb-xkb", "libxcb-xkb1", "libxcb"),
    ("xkbcommon-x11", "libxkbcommon-x11-0", "libxkbcommon-x11"),
    ("xkbcommon", "libxkbcommon0", "libxkbcommon"),
    ("EGL", "libegl1", "libglvnd-egl"),
    ("GL", "libgl1", "libglvnd-glx"),
    ("fontconfig", "libfontconfig1", "fontconfig"),
    ("dbus-1", "libdbus-1-3", "dbus-libs"),
)


def missing_libraries(find=ctypes.util.find_library) -> list[tuple[str, str, str]]:
    """The entries of ``NEEDED`` whose library the dynamic linker cannot find."""
    return [entry for entry in NEEDED if not find(entry[0])]


def install_command(missing: list[tuple[str, str, str]]) -> str:
    """The one command that installs ``missing`` on this kind of system (apt when there is apt-get, else dnf)."""
    if shutil.which("apt-get") or not shutil.which("dnf"):
        return "sudo apt-get install -y " + " ".join(sorted({m[1] for m in missing}))
    return "sudo dnf install -y " + " ".join(sorted({m[2] for m in missing}))


def main() -> int:
    """Print what is missing and how to install it; exit 1 when the app cannot start for lack of it."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM", "") not in ("", "xcb"):
        return 0
    missing = missing_libraries()
    if not missing:
        return 0
    names = ", ".join(m[1] for m in missing)
    print(f"baton: the desktop app needs system libraries that are missing here ({names}); install them with:\n"
          f"  {install_command(missing)}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
