#!/usr/bin/env bash
# Builds the container images the test environment's node runs, without Docker and
# without a registry, and writes each as an OCI archive into a cache outside the clone:
#   localhost/siding:e2e        siding's image, from the repository's Dockerfile
#   localhost/siding-pause:3.10.1   the pod sandbox, Kubernetes' own pause.c
# Prints the directory holding siding.oci.tar and pause.oci.tar as its last line;
# scripts/kube-testenv.sh imports them into the node's containerd.
#
# siding's image is built by buildah (Debian's, chroot isolation: no daemon, no user
# namespace) from the Dockerfile unchanged, with its base given as a build argument:
# `localhost/siding-base:...`, made here once from Debian packages (debootstrap minbase
# bookworm) plus Node 24 from the npm registry (scripts/install-node.sh). No image is
# ever pulled. Rebuilds happen only when the build context (what .dockerignore lets
# through), the Dockerfile or the base changed; buildah's layer cache keeps them short.
#
# Usage: scripts/build-image.sh [--check]
#   --check  build nothing; print the directory and exit 0 when the archives for the
#            current sources are there, exit 1 otherwise.
#
# Needs root, buildah, debootstrap, gcc (static libc), Go's module cache (pause.c comes
# from the k8s.io/kubernetes module test/kube pins). Settings (environment):
#   SIDING_CACHE           cache root                                  (/var/cache/siding)
#   SIDING_IMAGE_CA_FILE   a CA bundle npm inside the build must trust (a registry
#                          behind a TLS-inspecting proxy); it is mounted for the build
#                          only and never enters the image  ($NODE_EXTRA_CA_CERTS if set)
#   SIDING_DEBIAN_MIRROR   the Debian mirror for debootstrap  (the one apt uses, else
#                          http://deb.debian.org/debian)
set -euo pipefail

check_only=false
case ${1:-} in
  '') ;;
  --check) check_only=true ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${SIDING_CACHE:-/var/cache/siding}
out="$cache/image"
storage="$out/storage"     # buildah's own image store, apart from any system one
image=localhost/siding:e2e
pause_tag=3.10.1
pause_image=localhost/siding-pause:$pause_tag
# Bump when the base recipe below changes, so the cached base is rebuilt.
base_recipe=1

say() { echo "build-image: $*" >&2; }
die() { say "$*"; exit 1; }

# What the Dockerfile's build sees: the files .dockerignore lets through (it keeps
# package*.json, tsconfig.json, scripts/bundle.sh, src/), plus the Dockerfile itself.
context_hash() {
  (
    cd "$repo"
    {
      printf '%s\n' Dockerfile .dockerignore package.json package-lock.json tsconfig.json scripts/bundle.sh
      find src -type f
    } | LC_ALL=C sort | while IFS= read -r f; do
      printf '%s %s\n' "$(sha256sum <"$f" | cut -c1-64)" "$f"
    done
  ) | sha256sum | cut -c1-16
}

node_dir=$("$repo/scripts/install-node.sh" --check 2>/dev/null | tail -n 1) || node_dir=""
node_version=""
[[ -n $node_dir ]] && node_version=$("$node_dir/node" -p process.versions.node)
base_image="localhost/siding-base:bookworm-node${node_version:-none}-r$base_recipe"
stamp_want="$(context_hash) $base_image"

built() {
  [[ -f $out/siding.oci.tar && -f $out/pause.oci.tar && -f $out/siding.inputs ]] &&
    [[ $(<"$out/siding.inputs") == "$stamp_want" ]]
}

if built; then
  echo "$out"
  exit 0
fi
if $check_only; then
  say "the image archives in $out are missing or older than the sources (run scripts/build-image.sh)"
  exit 1
fi

[[ $(id -u) -eq 0 ]] || die "must run as root (buildah with chroot isolation, debootstrap)"
for tool in buildah debootstrap gcc; do
  command -v "$tool" >/dev/null || die "$tool not found (scripts/setup.sh installs it)"
done
[[ -n $node_dir ]] || die "Node 24 is not installed (scripts/install-node.sh)"

# Everything below mounts (buildah's overlay layers, the container it fills): do it in a
# private mount namespace, so that nothing is left in the machine's mount table even if
# the build is interrupted.
if [[ ${SIDING_BUILD_IMAGE_UNSHARED:-} != 1 ]]; then
  export SIDING_BUILD_IMAGE_UNSHARED=1
  exec unshare --mount --propagation private -- bash "$0" "$@"
fi

mkdir -p "$out" "$storage"
bah() { buildah --root "$storage/root" --runroot "$storage/run" --storage-driver overlay "$@"; }
start=$SECONDS

# ---------------------------------------------------------------------------
# The base: Debian bookworm (minbase) with Node 24 and its npm in /usr/local, the
# layout of the official node images.

debian_mirror() {
  local m=${SIDING_DEBIAN_MIRROR:-}
  if [[ -z $m ]]; then
    m=$(grep -rhoE '^URIs: *http[^ ]*/debian/?$' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1 | sed 's/^URIs: *//') || true
  fi
  echo "${m:-http://deb.debian.org/debian}"
}

make_base() {
  if bah inspect --type image "$base_image" >/dev/null 2>&1; then return 0; fi
  local mirror rootfs ctr mnt npm_dir
  mirror=$(debian_mirror)
  rootfs=$(mktemp -d "$out/rootfs.XXXXXX")
  say "making $base_image: debootstrap minbase bookworm from $mirror"
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$out/debootstrap.log" 2>&1 ||
    { tail -n 20 "$out/debootstrap.log" >&2; rm -rf "$rootfs"; die "debootstrap failed (log: $out/debootstrap.log)"; }
  # Package lists and caches only make the image bigger; the Dockerfile's apt-get
  # update fetches fresh lists.
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
    "$rootfs"/var/log/* "$rootfs"/debootstrap
  npm_dir=$(readlink -f "$node_dir/npm")
  npm_dir=${npm_dir%/bin/npm-cli.js}
  install -m 0755 "$node_dir/node" "$rootfs/usr/local/bin/node"
  mkdir -p "$rootfs/usr/local/lib/node_modules"
  cp -a "$npm_dir" "$rootfs/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
  ctr=$(bah from scratch)
  mnt=$(bah mount "$ctr")
  cp -a "$rootfs"/. "$mnt"/
  bah umount "$ctr" >/dev/null
  rm -rf "$rootfs"
  bah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env NODE_VERSION="$node_version" --cmd node --os linux --arch amd64 "$ctr"
  bah commit --quiet --rm "$ctr" "$base_image" >/dev/null
  say "made $base_image ($((SECONDS - start))s)"
}

# ---------------------------------------------------------------------------
# siding's image: the Dockerfile as is, on the local base.

make_siding() {
  local ca=${SIDING_IMAGE_CA_FILE:-${NODE_EXTRA_CA_CERTS:-}} npmrc_dir args t0=$SECONDS
  args=(bud --layers --isolation chroot --build-arg "BASE=$base_image" -t "$image" -f "$repo/Dockerfile")
  if [[ -n $ca ]]; then
    [[ -f $ca ]] || die "SIDING_IMAGE_CA_FILE $ca is not a file"
    # npm reads $PREFIX/etc/npmrc (/usr/local/etc/npmrc in the base). A directory is
    # mounted, not single files: a file mount leaves an empty file behind in the layer.
    npmrc_dir=$(mktemp -d "$out/npmrc.XXXXXX")
    cp "$ca" "$npmrc_dir/ca.pem"
    printf 'cafile=/usr/local/etc/ca.pem\n' >"$npmrc_dir/npmrc"
    args+=(--volume "$npmrc_dir:/usr/local/etc:ro")
  fi
  say "building $image from the Dockerfile (BASE=$base_image)"
  if ! bah "${args[@]}" "$repo" >"$out/build.log" 2>&1; then
    tail -n 30 "$out/build.log" >&2
    [[ -n ${npmrc_dir:-} ]] && rm -rf "$npmrc_dir"
    die "buildah bud failed (log: $out/build.log)"
  fi
  [[ -n ${npmrc_dir:-} ]] && rm -rf "$npmrc_dir"
  rm -f "$out/siding.oci.tar.tmp"
  bah push --quiet "$image" "oci-archive:$out/siding.oci.tar.tmp:$image" >/dev/null
  mv "$out/siding.oci.tar.tmp" "$out/siding.oci.tar"
  say "built $image ($((SECONDS - t0))s)"
}

# ---------------------------------------------------------------------------
# The pause image: Kubernetes' pause.c, static, alone in an image.

make_pause() {
  [[ -f $out/pause.oci.tar ]] && bah inspect --type image "$pause_image" >/dev/null 2>&1 && return 0
  local src dir ctr mnt version
  version=$(cd "$repo/test/kube" && go list -m -f '{{.Version}}' k8s.io/kubernetes)
  src=$(cd "$repo/test/kube" && go list -m -f '{{.Dir}}' k8s.io/kubernetes)/build/pause/linux/pause.c
  [[ -f $src ]] || (cd "$repo/test/kube" && go mod download k8s.io/kubernetes)
  [[ -f $src ]] || die "pause.c not found at $src"
  dir=$(mktemp -d "$out/pause.XXXXXX")
  gcc -Os -Wall -Werror -static -DVERSION="$pause_tag-siding-$version" -o "$dir/pause" "$src"
  strip "$dir/pause"
  ctr=$(bah from scratch)
  mnt=$(bah mount "$ctr")
  install -m 0755 "$dir/pause" "$mnt/pause"
  bah umount "$ctr" >/dev/null
  rm -rf "$dir"
  bah config --entrypoint '["/pause"]' --user 65535:65535 --os linux --arch amd64 "$ctr"
  bah commit --quiet --rm "$ctr" "$pause_image" >/dev/null
  rm -f "$out/pause.oci.tar.tmp"
  bah push --quiet "$pause_image" "oci-archive:$out/pause.oci.tar.tmp:$pause_image" >/dev/null
  mv "$out/pause.oci.tar.tmp" "$out/pause.oci.tar"
  say "built $pause_image"
}

make_base
make_pause
make_siding
printf '%s\n' "$stamp_want" >"$out/siding.inputs"
say "images ready in $out ($((SECONDS - start))s)"
echo "$out"
