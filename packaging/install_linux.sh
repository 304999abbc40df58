#!/bin/sh
# Install a built bundle (packaging/build.py) for the current user: the app in ~/.local/lib/baton,
# `baton` on the PATH, the menu entry, the icon and the AppStream metadata. PREFIX overrides ~/.local.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
bundle=${1:-$here/build/dist/baton}
prefix=${PREFIX:-$HOME/.local}
[ -x "$bundle/baton" ] || { echo "no bundle at $bundle; run python packaging/build.py first" >&2; exit 1; }
mkdir -p "$prefix/lib" "$prefix/bin" "$prefix/share/applications" "$prefix/share/metainfo" \
         "$prefix/share/icons/hicolor/scalable/apps"
rm -rf "$prefix/lib/baton"
cp -a "$bundle" "$prefix/lib/baton"
ln -sf "$prefix/lib/baton/baton" "$prefix/bin/baton"
cp "$here/assets/baton.desktop" "$prefix/share/applications/baton.desktop"
cp "$here/assets/io.baton.Baton.metainfo.xml" "$prefix/share/metainfo/"
cp "$here/assets/icons/baton.svg" "$prefix/share/icons/hicolor/scalable/apps/baton.svg"
for size in 16 24 32 48 64 128 256 512; do
  png="$here/assets/icons/baton-$size.png"
  if [ -f "$png" ]; then
    mkdir -p "$prefix/share/icons/hicolor/${size}x${size}/apps"
    cp "$png" "$prefix/share/icons/hicolor/${size}x${size}/apps/baton.png"
  fi
done
command -v update-desktop-database >/dev/null && update-desktop-database "$prefix/share/applications" || true
echo "installed: $prefix/bin/baton (make sure $prefix/bin is on your PATH)"
