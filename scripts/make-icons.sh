#!/usr/bin/env bash
# Regenerates the application icons: a ¥ on a rounded teal square, drawn by
# ImageMagick as an RGBA PNG (Tauri refuses RGB icons), then every platform
# size through the Tauri CLI. The results are committed under icons/.
set -euo pipefail
cd "$(dirname "$0")/.."

font=/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf
[ -f "$font" ] || { echo "make-icons: missing $font (apt-get install fonts-dejavu-core)" >&2; exit 1; }

convert -size 1024x1024 xc:none \
  -fill '#0F766E' -draw 'roundrectangle 64,64 960,960 200,200' \
  -fill white -font "$font" -pointsize 720 -gravity center -annotate +0+20 '¥' \
  PNG32:icons/source.png

(cd ui && npx tauri icon ../icons/source.png --output ../icons)
# Mobile sets are not used by a desktop till.
rm -rf icons/android icons/ios
# The freedesktop (hicolor) sizes a desktop menu and the Debian package use
# that the Tauri set lacks.
for size in 16 48 256; do
  convert icons/source.png -resize "${size}x${size}" PNG32:"icons/${size}x${size}.png"
done
