"""`make run` names the system libraries Qt needs before it starts the app."""

from baton.ui import syslibs


def test_missing_libraries_are_named_with_one_install_command():
    present = {"xkbcommon", "EGL", "GL", "fontconfig", "dbus-1"}
    missing = syslibs.missing_libraries(find=lambda name: f"lib{name}.so" if name in present else None)
    debs = {m[1] for m in missing}
    assert {"libxcb-cursor0", "libxcb-icccm4", "libxcb-keysyms1"} <= debs and "libegl1" not in debs
    cmd = syslibs.install_command(missing)
    assert cmd.startswith(("sudo apt-get install -y ", "sudo dnf install -y "))
    assert all(pkg in cmd for pkg in debs) or "dnf" in cmd


def test_nothing_missing_means_nothing_to_install():
    assert syslibs.missing_libraries(find=lambda name: f"lib{name}.so") == []
