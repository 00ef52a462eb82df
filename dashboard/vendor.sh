#!/usr/bin/env bash
# Re-fetches the dashboard's one third-party file set, uPlot, from npm at
# the exact version below, checks it against the registry's integrity
# hash, and copies what the dashboard embeds into static/vendor/. Run it to
# upgrade (change VERSION and INTEGRITY) or to check that the vendored
# files are what npm serves: `git diff static/vendor` is then empty.
set -euo pipefail
cd "$(dirname "$0")"

VERSION=1.6.32
# `npm view uplot@$VERSION dist.integrity`
INTEGRITY='sha512-KIMVnG68zvu5XXUbC4LQEPnhwOxBuLyW1AHtpm6IKTXImkbLgkMy+jabjLgSLMasNuGGzQm/ep3tOkyTxpiQIw=='

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "uplot@$VERSION" >/dev/null)
tarball="$work/uplot-$VERSION.tgz"
got="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
if [ "$got" != "$INTEGRITY" ]; then
  echo "uplot-$VERSION.tgz: integrity $got, want $INTEGRITY" >&2
  exit 1
fi
tar -xzf "$tarball" -C "$work"

out=static/vendor
mkdir -p "$out"
cp "$work/package/dist/uPlot.esm.js" "$work/package/dist/uPlot.min.css" "$out/"
cp "$work/package/LICENSE" "$out/uPlot.LICENSE"
echo "uplot $VERSION $INTEGRITY" > "$out/VERSION"
# The dashboard's test checks the embedded files against these sums.
(cd "$out" && sha256sum uPlot.esm.js uPlot.min.css uPlot.LICENSE > SHA256SUMS)
echo "vendored uplot $VERSION into $out"
