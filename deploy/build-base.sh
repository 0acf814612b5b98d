#!/usr/bin/env bash
# build-base.sh — build the local base image `passer-base:<suite>` (by default
# passer-base:bookworm) WITHOUT any container registry.
#
# It debootstraps a minimal Debian root filesystem (--variant=minbase, same
# release and apt mirror as the host), adds ca-certificates and python3,
# applies the release's -updates and -security packages, trims it (apt caches
# and lists, docs except copyright files, man/info pages, locales), and feeds
# it to `docker import`. The downloaded .debs are cached as a debootstrap
# tarball under deploy/.cache/ (git-ignored), so a rebuild only re-fetches
# the updates.
#
# Usage: deploy/build-base.sh [--force] [--no-upgrade] [--tag IMAGE]
#   --force        rebuild even if the image already exists
#   --no-upgrade   skip applying -updates/-security (then only the cached
#                  tarball is needed: fully offline once the cache exists)
#   --tag IMAGE    image name (default passer-base:<suite>)
# Environment overrides:
#   PASSER_DEBIAN_SUITE     release codename   (default: host's VERSION_CODENAME)
#   PASSER_DEBIAN_MIRROR    archive mirror     (default: host's apt source for it)
#   PASSER_DEBIAN_SECURITY  security mirror    (default: host's, or deb.debian.org)
#   PASSER_BASE_PACKAGES    packages added to minbase, comma-separated
#                           (default: ca-certificates,python3)
# Needs root, docker and debootstrap (installed with apt-get if missing).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
force=0
upgrade=1
tag=""
while [ $# -gt 0 ]; do
    case "$1" in
        --force) force=1 ;;
        --no-upgrade) upgrade=0 ;;
        --tag) tag=${2:?--tag needs a value}; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "build-base.sh: unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done

die() { echo "build-base.sh: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (debootstrap and chroot need it)"
command -v docker >/dev/null || die "docker not found"
if ! command -v debootstrap >/dev/null; then
    command -v apt-get >/dev/null ||
        die "debootstrap not found (on Debian: apt-get install -y debootstrap)"
    echo "build-base.sh: installing debootstrap from Debian's packages"
    apt-get install -y -qq debootstrap >/dev/null 2>&1 ||
        { apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; } ||
        die "cannot install debootstrap: apt-get update && apt-get install -y debootstrap"
fi

# --- which release and mirror -------------------------------------------
host_codename() {
    # shellcheck disable=SC1091
    (. /etc/os-release && echo "${VERSION_CODENAME:-}")
}
suite=${PASSER_DEBIAN_SUITE:-$(host_codename)}
[ -n "$suite" ] || die "cannot tell the host's Debian codename; set PASSER_DEBIAN_SUITE"
tag=${tag:-passer-base:$suite}

# Print the first URI of an enabled apt source serving suite $1, looking at
# deb822 *.sources files and one-line *.list files.
apt_uri_for_suite() {
    local want=$1 f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -r "$f" ] || continue
        awk -v want="$want" 'BEGIN { RS = ""; FS = "\n" }
            {
                types = ""; uris = ""; suites = ""; enabled = "yes"
                for (i = 1; i <= NF; i++) {
                    line = $i
                    if (line ~ /^[ \t]*#/) continue
                    if (match(line, /^Types:[ \t]*/))   types  = substr(line, RLENGTH + 1)
                    if (match(line, /^URIs:[ \t]*/))    uris   = substr(line, RLENGTH + 1)
                    if (match(line, /^Suites:[ \t]*/))  suites = substr(line, RLENGTH + 1)
                    if (match(line, /^Enabled:[ \t]*/)) enabled = substr(line, RLENGTH + 1)
                }
                if (enabled == "no" || (" " types " ") !~ / deb /) next
                n = split(suites, s, /[ \t]+/)
                for (j = 1; j <= n; j++) if (s[j] == want) { split(uris, u, /[ \t]+/); print u[1]; exit }
            }' "$f"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -r "$f" ] || continue
        # deb [options] URI SUITE COMPONENTS...
        awk -v want="$want" '$1 == "deb" {
                i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                if ($(i + 1) == want) { print $i; exit }
            }' "$f"
    done
}
mirror=${PASSER_DEBIAN_MIRROR:-$(apt_uri_for_suite "$suite" | head -n1)}
mirror=${mirror:-http://deb.debian.org/debian}
security=${PASSER_DEBIAN_SECURITY:-$(apt_uri_for_suite "$suite-security" | head -n1)}
security=${security:-http://deb.debian.org/debian-security}
packages=${PASSER_BASE_PACKAGES:-ca-certificates,python3}
arch=$(dpkg --print-architecture)

# --- idempotent -------------------------------------------------------------
if [ "$force" = 0 ] && docker image inspect "$tag" >/dev/null 2>&1; then
    size=$(docker image inspect --format '{{.Size}}' "$tag")
    echo "build-base.sh: $tag already exists ($((size / 1000000)) MB); use --force to rebuild"
    exit 0
fi

old_id=$(docker image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)
start=$(date +%s)
cache_dir=$here/.cache
mkdir -p "$cache_dir"
key=$(printf '%s\n' "$suite" "$arch" "$mirror" "$packages" | sha256sum | cut -c1-12)
tarball=$cache_dir/debootstrap-$suite-$arch-minbase-$key.tgz

work=$(mktemp -d "${TMPDIR:-/tmp}/passer-base.XXXXXX")
rootfs=$work/rootfs
cleanup() {
    # Never leave a mount behind (and never rm -rf through one).
    for m in "$rootfs/proc" "$rootfs/sys" "$rootfs/dev/pts"; do
        if mountpoint -q "$m" 2>/dev/null; then umount -l "$m" || true; fi
    done
    rm -rf --one-file-system "$work"
}
trap cleanup EXIT

# The noisy steps log to $log; on failure its tail is shown.
log=$cache_dir/build-base.log
: >"$log"
quiet() {
    if ! "$@" >>"$log" 2>&1; then
        tail -n 30 "$log" >&2
        die "failed: $* (full log: $log)"
    fi
}

echo "build-base.sh: $tag from Debian $suite/$arch, mirror $mirror, packages: $packages"

# --- debootstrap (download once, cached) -----------------------------------
if [ ! -s "$tarball" ]; then
    echo "build-base.sh: downloading packages into $tarball"
    quiet debootstrap --variant=minbase --include="$packages" --arch="$arch" \
        --make-tarball="$tarball.part" "$suite" "$work/dl" "$mirror"
    mv "$tarball.part" "$tarball"
    rm -rf "$work/dl"
else
    echo "build-base.sh: using cached $tarball"
fi
echo "build-base.sh: debootstrap into $rootfs (log: $log)"
quiet debootstrap --variant=minbase --include="$packages" --arch="$arch" \
    --unpack-tarball="$tarball" "$suite" "$rootfs" "$mirror"

# --- apt sources, container-friendly dpkg/apt settings ---------------------
rm -f "$rootfs/etc/apt/sources.list"
cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF

# Like debian:*-slim: later `apt-get install`s in derived images stay small.
cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker-excludes" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
cat >"$rootfs/etc/apt/apt.conf.d/docker-no-recommends" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
EOF
# Nothing may start services inside the build chroot or the image.
printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
chmod 755 "$rootfs/usr/sbin/policy-rc.d"

# --- point-release and security updates -----------------------------------
if [ "$upgrade" = 1 ]; then
    cp /etc/resolv.conf "$rootfs/etc/resolv.conf" 2>/dev/null || true
    mount -t proc proc "$rootfs/proc"
    echo "build-base.sh: applying $suite-updates and $suite-security"
    quiet chroot "$rootfs" env DEBIAN_FRONTEND=noninteractive LC_ALL=C \
        sh -c 'apt-get update -qq && apt-get -y -qq -o Dpkg::Use-Pty=0 upgrade && apt-get clean'
    umount "$rootfs/proc"
fi

# --- trim ---------------------------------------------------------------
(
    cd "$rootfs"
    rm -rf var/lib/apt/lists/* var/cache/apt/* var/cache/debconf/*-old \
           var/log/* var/tmp/* tmp/* root/.cache \
           usr/share/man/* usr/share/info/* usr/share/groff/* \
           usr/share/lintian/* usr/share/linda/* usr/share/bug/* \
           var/lib/dpkg/*-old
    find usr/share/doc -mindepth 1 -not -name copyright -not -type d -delete
    find usr/share/doc -mindepth 1 -type d -empty -delete
    find usr/share/locale -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
    # Docker provides these at run time; the image should not carry the
    # build host's.
    rm -rf dev/* proc/* sys/* run/*
    rm -f etc/resolv.conf etc/hostname etc/hosts
    : >etc/machine-id
    mkdir -p run/lock && chmod 1777 tmp var/tmp
)

# --- import -----------------------------------------------------------------
created=$(date -u +%Y-%m-%dT%H:%M:%SZ)
tar --numeric-owner --xattrs -C "$rootfs" -c . |
    docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'CMD ["/bin/bash"]' \
        --change "LABEL org.opencontainers.image.title=passer-base" \
        --change "LABEL org.opencontainers.image.description=\"Debian $suite minbase + $packages, built by debootstrap without a registry\"" \
        --change "LABEL org.opencontainers.image.created=$created" \
        --message "debootstrap --variant=minbase $suite ($packages)" \
        - "$tag" >/dev/null

# A replaced image is removed unless images built on it still use it.
new_id=$(docker image inspect --format '{{.Id}}' "$tag")
if [ -n "$old_id" ] && [ "$old_id" != "$new_id" ]; then
    docker image rm "$old_id" >/dev/null 2>&1 || true
fi

elapsed=$(( $(date +%s) - start ))
size=$(docker image inspect --format '{{.Size}}' "$tag")
echo "build-base.sh: built $tag in ${elapsed}s, image size $((size / 1000000)) MB ($size bytes)"
