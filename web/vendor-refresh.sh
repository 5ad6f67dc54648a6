#!/bin/sh
# Refresh the vendored asciinema-player (Apache-2.0) from the npm registry.
# The build never runs Node: the built files are committed under
# web/assets/vendor/asciinema-player/ with their LICENSE and VERSION.
#
#   web/vendor-refresh.sh            # the version in VERSION (re-fetch, e.g. to verify)
#   web/vendor-refresh.sh 3.18.0     # pin another version (then test: tests/tests/web_browser.rs)
#
# Needs npm. The player's "segmented" source (keyframe seek) is not in its
# index.d.ts: review the changelog before moving to another version.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dest=$here/assets/vendor/asciinema-player
version=${1:-$(cat "$dest/VERSION")}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "asciinema-player@$version" >/dev/null)
tar -xzf "$tmp/asciinema-player-$version.tgz" -C "$tmp"
pkg=$tmp/package
cp "$pkg/dist/bundle/asciinema-player.min.js" "$pkg/dist/bundle/asciinema-player.css" "$pkg/LICENSE" "$dest/"
echo "$version" > "$dest/VERSION"
echo "asciinema-player $version vendored into $dest"
