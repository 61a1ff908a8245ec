#!/usr/bin/env bash
# Builds the Debian packages weir_<version>_<arch>.deb and weir-dbgsym_<version>_<arch>.deb (the
# split debug symbols) from the committed tree.
#
#   scripts/package.sh [--arch amd64|arm64] [--swift-sdk PATH|ID] [--version V] [--out DIR] [--overlay PATH]...
#
# --overlay PATH (repeatable, for work on the packaging itself) copies PATH from the working tree
# over the export, so that packaging changes can be tried before they are committed; the package
# is then not what HEAD alone builds, and the script says so.
#
# The build uses a clean export of HEAD (`git archive`) in .build-pkg/src, never the working tree,
# and a static Swift standard library, so the package depends only on Debian's own libraries.
# Everything it writes is under .build-pkg/ (gitignored) and --out (default .build-pkg/out).
# See docs/operations.md, "Packaging".
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
PKG_DIR="$REPO/.build-pkg"
HOST_ARCH=$(dpkg --print-architecture)

ARCH=$HOST_ARCH
SWIFT_SDK=""
VERSION=""
OUT="$PKG_DIR/out"
OVERLAY=()

usage() {
    sed -n '5p' "$0" | sed 's/^#  *//'
    exit 2
}

die() {
    echo "package.sh: $*" >&2
    exit 1
}

log() { echo "==> $*"; }

parse_args() {
    while [ $# -gt 0 ]; do
        case "$1" in
        --arch) ARCH=${2:?--arch needs a value}; shift 2 ;;
        --swift-sdk) SWIFT_SDK=${2:?--swift-sdk needs a value}; shift 2 ;;
        --version) VERSION=${2:?--version needs a value}; shift 2 ;;
        --out) OUT=${2:?--out needs a value}; shift 2 ;;
        --overlay) OVERLAY+=("${2:?--overlay needs a path}"); shift 2 ;;
        -h | --help) usage ;;
        *) echo "unknown argument: $1" >&2; usage ;;
        esac
    done
    case "$ARCH" in amd64 | arm64) ;; *) die "--arch must be amd64 or arm64, not '$ARCH'" ;; esac
    mkdir -p "$OUT"
    OUT=$(cd "$OUT" && pwd)
}

# The packaging tools and the -dev packages the build links against, installed once (the same
# way scripts/lib.sh installs the test dependencies).
install_build_deps() {
    local wanted=(dpkg-dev binutils rsync git pkg-config libmosquitto-dev librocksdb-dev libzstd-dev libpcre2-dev libyaml-dev libssl-dev)
    local missing=() p
    for p in "${wanted[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Cross builds (arm64 on an amd64 machine) need a Swift SDK for the target whose sysroot holds
# Debian 12's arm64 libmosquitto, librocksdb, libzstd and libpcre2, plus the target's binutils and
# the arm64 runtime packages registered with dpkg (dpkg-shlibdeps maps each library to its
# package through dpkg's database). None of that exists offline here, so this fails early and
# says what is missing rather than producing a half-made package.
check_cross() {
    [ "$ARCH" = "$HOST_ARCH" ] && return 0
    [ -n "$SWIFT_SDK" ] || die "building for $ARCH on $HOST_ARCH needs --swift-sdk PATH (a Swift SDK for ${TRIPLE} with Debian 12's arm64 -dev libraries in its sysroot)"
    command -v "${GNU_TYPE}-objcopy" >/dev/null || die "cross build: ${GNU_TYPE}-objcopy missing (apt-get install binutils-${GNU_TYPE})"
    local lib missing=()
    for lib in libmosquitto1 librocksdb7.8 libzstd1 libpcre2-8-0 libyaml-0-2 libssl3 libstdc++6 libc6; do
        dpkg-query -W -f='${Status}' "$lib:$ARCH" 2>/dev/null | grep -q "install ok installed" || missing+=("$lib:$ARCH")
    done
    [ ${#missing[@]} -eq 0 ] || die "cross build: dpkg-shlibdeps needs the $ARCH libraries installed (dpkg --add-architecture $ARCH; apt-get update; apt-get install ${missing[*]})"
}

set_arch_vars() {
    case "$ARCH" in
    amd64) TRIPLE=x86_64-unknown-linux-gnu GNU_TYPE=x86_64-linux-gnu ;;
    arm64) TRIPLE=aarch64-unknown-linux-gnu GNU_TYPE=aarch64-linux-gnu ;;
    esac
    if [ "$ARCH" = "$HOST_ARCH" ]; then
        OBJCOPY=objcopy STRIP=strip
    else
        OBJCOPY="${GNU_TYPE}-objcopy" STRIP="${GNU_TYPE}-strip"
    fi
    SCRATCH="$PKG_DIR/build-$ARCH"
}

# The package version. --version wins; otherwise from `git describe --tags --always --dirty`:
#   tag v1.2.3 (or 1.2.3) on HEAD        -> 1.2.3
#   3 commits after tag v1.2.3           -> 1.2.3+git<YYYYMMDD>.3.<hash>   ('+' sorts after 1.2.3)
#   no tag at all                        -> 0.1.0~git<YYYYMMDD>.<commits>.<hash>
#                                           ('~' sorts before 0.1.0, so a real 0.1.0 replaces it)
# YYYYMMDD is HEAD's commit date (UTC) and <commits> the number of commits up to HEAD, so later
# commits get higher versions (the hash alone does not order). A "-dirty" suffix is dropped with a
# warning: the package is built from HEAD, so uncommitted changes are not in it. Debian versions
# allow [0-9A-Za-z.+~] in the upstream part (a '-' only before a Debian revision), which this
# keeps; the result is checked with dpkg --validate-version either way.
derive_version() {
    local described date count hash tag ahead
    described=$(git -C "$REPO" describe --tags --always --dirty)
    if [[ "$described" == *-dirty ]]; then
        echo "package.sh: warning: uncommitted changes are not packaged (the build uses HEAD)" >&2
        described=${described%-dirty}
    fi
    date=$(TZ=UTC git -C "$REPO" log -1 --format=%cd --date=format-local:%Y%m%d HEAD)
    count=$(git -C "$REPO" rev-list --count HEAD)
    hash=$(git -C "$REPO" rev-parse --short=7 HEAD)
    if [[ "$described" =~ ^v?([0-9][0-9A-Za-z.+~]*)-([0-9]+)-g([0-9a-f]+)$ ]]; then
        tag=${BASH_REMATCH[1]} ahead=${BASH_REMATCH[2]}
        echo "${tag}+git${date}.${ahead}.${hash}"
    elif [[ "$described" =~ ^v?([0-9][0-9A-Za-z.+~]*)$ ]] && git -C "$REPO" describe --tags --exact-match >/dev/null 2>&1; then
        echo "${BASH_REMATCH[1]}"
    else
        echo "0.1.0~git${date}.${count}.${hash}"
    fi
}

resolve_version() {
    [ -n "$VERSION" ] || VERSION=$(derive_version)
    dpkg --validate-version "$VERSION" 2>/dev/null || die "'$VERSION' is not a valid Debian version"
    # The version goes into a Swift string literal and a file name: keep it to Debian's characters.
    [[ "$VERSION" =~ ^[0-9A-Za-z.+~:-]+$ ]] || die "'$VERSION': only [0-9A-Za-z.+~:-] allowed"
}

# Exports HEAD into .build-pkg/src with the version stamped in. rsync --checksum rewrites only
# files whose content changed, so unchanged sources keep their timestamps and the next build is
# incremental (a plain re-extract would recompile everything).
export_source() {
    local tmp
    tmp=$(mktemp -d "$PKG_DIR/export.XXXXXX")
    git -C "$REPO" archive HEAD | tar -x -C "$tmp"
    local version_file="$tmp/Sources/weir/Version.swift"
    grep -qx 'let weirVersion = "0.0.0-dev"' "$version_file" ||
        die "Sources/weir/Version.swift has no line 'let weirVersion = \"0.0.0-dev\"' to replace"
    sed -i "s|^let weirVersion = \"0.0.0-dev\"\$|let weirVersion = \"$VERSION\"|" "$version_file"
    local path
    for path in ${OVERLAY[@]+"${OVERLAY[@]}"}; do
        [ -e "$REPO/$path" ] || die "--overlay $path: no such path in the working tree"
        echo "package.sh: warning: $path taken from the working tree, not from HEAD" >&2
        rm -rf "${tmp:?}/$path"
        mkdir -p "$(dirname "$tmp/$path")"
        cp -a "$REPO/$path" "$tmp/$path"
    done
    # Package.resolved is not committed (gitignored): reuse the working tree's, so the package
    # links the dependency versions the test suite ran with.
    [ -f "$REPO/Package.resolved" ] && cp "$REPO/Package.resolved" "$tmp/Package.resolved"
    mkdir -p "$PKG_DIR/src"
    rsync -a --checksum --delete "$tmp/" "$PKG_DIR/src/"
    rm -rf "$tmp"
}

build_binary() {
    # -z now (with the default relro): the GOT is read-only once loaded, as Debian's hardening
    # flags ask (lintian: hardening-no-bindnow). Link-time only: it does not recompile anything.
    #
    # -function-sections (swift-frontend): every Swift function in a section of its own. Without it
    # only some functions get one; the others share each object file's .text, which --gc-sections
    # can drop only whole and the order below can move only whole (1,381 such sections, 15.4 MB of
    # the 20.6 MB .text). With it: 909 KB less code, and the order places single functions
    # (BENCHMARKS.md, "The package and its link"). Compile-time: changing it rebuilds everything.
    # The flag goes through -Xfrontend: SwiftPM's own argument parser rejects a bare
    # -function-sections when it re-plans an existing build.
    local args=(-c release --static-swift-stdlib --product weir --scratch-path "$SCRATCH" --package-path "$PKG_DIR/src"
        -Xswiftc -Xfrontend -Xswiftc -function-sections -Xlinker -z -Xlinker now)
    # The functions a running daemon uses (start, idle, one rule firing; scripts/footprint.sh
    # --order writes the list) laid out together: fewer pages of code resident (BENCHMARKS.md,
    # "Footprint (issue 12)"). Link-time only; functions the list does not name keep their place,
    # and names that no longer exist are ignored, so a list a few commits old still helps.
    local order="$PKG_DIR/src/packaging/weir.order"
    [ -f "$order" ] && args+=(-Xlinker "--symbol-ordering-file=$order" -Xlinker --no-warn-symbol-ordering)
    if [ -n "$SWIFT_SDK" ]; then
        if [ -e "$SWIFT_SDK" ]; then
            # A path to an SDK bundle: let SwiftPM look for SDKs beside it and pick ours by triple.
            args+=(--swift-sdks-path "$(cd "$(dirname "$SWIFT_SDK")" && pwd)" --swift-sdk "$TRIPLE")
        else
            args+=(--swift-sdk "$SWIFT_SDK") # an installed SDK's id (swift sdk list)
        fi
    fi
    # swift-driver's incremental build does not count -Xfrontend flags: a scratch directory built
    # without -function-sections keeps its old object files (measured: the package's binary did not
    # change). So the Swift objects go whenever the flags recorded in the scratch directory differ.
    local stamp="$SCRATCH/weir-swift-flags" swift_flags="-Xfrontend -function-sections"
    if [ -d "$SCRATCH" ] && [ "$(cat "$stamp" 2>/dev/null)" != "$swift_flags" ]; then
        log "Swift flags changed to '$swift_flags': removing the Swift object files in $SCRATCH (all Swift modules recompile)"
        find "$SCRATCH" -path '*/release/*.build/*.swift.o' -delete
    fi
    mkdir -p "$SCRATCH"
    echo "$swift_flags" >"$stamp"
    log "swift build ${args[*]}"
    local start=$SECONDS
    swift build "${args[@]}"
    log "built in $((SECONDS - start)) s"
    BIN="$(swift build "${args[@]}" --show-bin-path)/weir"
    [ -x "$BIN" ] || die "no binary at $BIN"
}

# A binary that runs on this machine, for --version, completions: the package's own when native;
# for a cross build, the native build of the same exported tree.
runnable_binary() {
    if [ "$ARCH" = "$HOST_ARCH" ]; then
        RUN_BIN=$BIN
        return 0
    fi
    log "building a native weir from the same tree (for completions and the version check)"
    local saved_arch=$ARCH saved_sdk=$SWIFT_SDK saved_bin=$BIN
    ARCH=$HOST_ARCH SWIFT_SDK=""
    set_arch_vars
    build_binary
    RUN_BIN=$BIN
    ARCH=$saved_arch SWIFT_SDK=$saved_sdk BIN=$saved_bin
    set_arch_vars
}

check_binary() {
    local printed
    printed=$("$RUN_BIN" --version)
    [ "$printed" = "$VERSION" ] || die "weir --version printed '$printed', expected '$VERSION'"
    if [ "$ARCH" = "$HOST_ARCH" ] && ldd "$BIN" | grep -E "libswift|libFoundation|libdispatch|libBlocksRuntime|not found"; then
        die "the binary links Swift runtime libraries dynamically (or misses a library)"
    fi
}

build_id() {
    readelf -n "$1" | awk '/Build ID:/ {print $3; exit}'
}

# Debug symbols out, then a stripped binary that points at them (the same steps as dh_strip):
# the dbgsym package installs them as /usr/lib/debug/.build-id/<xx>/<rest>.debug, where gdb and
# debuginfod-style tools look them up by the binary's build id.
split_debug() {
    local stage=$1 dbg_stage=$2
    BUILD_ID=$(build_id "$BIN")
    [ -n "$BUILD_ID" ] || die "the binary has no GNU build id"
    local debug_dir="$dbg_stage/usr/lib/debug/.build-id/${BUILD_ID:0:2}"
    local debug_file="$debug_dir/${BUILD_ID:2}.debug"
    install -d -m 0755 "$debug_dir" "$stage/usr/bin"
    "$OBJCOPY" --only-keep-debug --compress-debug-sections "$BIN" "$debug_file"
    chmod 0644 "$debug_file"
    install -m 0755 "$BIN" "$stage/usr/bin/weir"
    "$STRIP" --remove-section=.comment --remove-section=.note "$stage/usr/bin/weir"
    "$OBJCOPY" --add-gnu-debuglink="$debug_file" "$stage/usr/bin/weir"
    [ "$(build_id "$stage/usr/bin/weir")" = "$BUILD_ID" ] || die "stripping lost the build id"
}

install_config_and_unit() {
    local stage=$1 src=$PKG_DIR/src
    install -d -m 0755 "$stage/etc/weir" "$stage/etc/weir/rules" "$stage/usr/lib/systemd/system"
    install -m 0644 "$src/packaging/deb/weir.yaml" "$stage/etc/weir/weir.yaml"
    install -m 0644 "$src/rules/overheat.yaml" "$stage/etc/weir/rules/overheat.yaml"
    install -m 0644 "$src/systemd/weir.service" "$stage/usr/lib/systemd/system/weir.service"
}

install_docs() {
    local stage=$1 src=$PKG_DIR/src
    local doc="$stage/usr/share/doc/weir"
    install -d -m 0755 "$doc/docs" "$doc/examples"
    install -m 0644 "$src/README.md" "$doc/README.md" # plain: weir.service's Documentation= names it
    # Compressed as dh_compress does (Debian policy 12.3: documentation over 4 kB is gzip -9n'd);
    # the examples stay as they are, ready to copy.
    install -m 0644 "$src"/docs/*.md "$doc/docs/"
    find "$doc/docs" -name '*.md' -size +4k -exec gzip -9n {} +
    gzip -9n -c "$src/CHANGELOG.md" >"$doc/changelog.gz"
    install -m 0644 "$src/packaging/deb/copyright" "$doc/copyright"
    # Examples: the full configuration and every shipped rule, function and worker. Scripts stay
    # executable so that a copied example runs as is.
    install -m 0644 "$src/config/weir.yaml" "$doc/examples/weir.yaml"
    cp -r "$src/rules" "$doc/examples/rules"
    find "$doc/examples" -type d -exec chmod 0755 {} +
    find "$doc/examples" -type f -exec chmod go-w,a+r {} +
    chmod 0644 "$doc/changelog.gz"
}

install_completions_and_man() {
    local stage=$1 src=$PKG_DIR/src
    install -d -m 0755 "$stage/usr/share/bash-completion/completions" "$stage/usr/share/zsh/vendor-completions" \
        "$stage/usr/share/fish/vendor_completions.d" "$stage/usr/share/man/man1"
    # bash-completion sources the file: a #! line would only mislead (lintian: bash-completion-with-hashbang).
    "$RUN_BIN" --generate-completion-script bash | sed '1{/^#!/d}' >"$stage/usr/share/bash-completion/completions/weir"
    "$RUN_BIN" --generate-completion-script zsh >"$stage/usr/share/zsh/vendor-completions/_weir"
    "$RUN_BIN" --generate-completion-script fish >"$stage/usr/share/fish/vendor_completions.d/weir.fish"
    chmod 0644 "$stage/usr/share/bash-completion/completions/weir" "$stage/usr/share/zsh/vendor-completions/_weir" \
        "$stage/usr/share/fish/vendor_completions.d/weir.fish"
    sed "s/@VERSION@/$VERSION/" "$src/packaging/deb/weir.1" | gzip -9n >"$stage/usr/share/man/man1/weir.1.gz"
    chmod 0644 "$stage/usr/share/man/man1/weir.1.gz"
    install -d -m 0755 "$stage/usr/share/lintian/overrides"
    install -m 0644 "$src/packaging/deb/lintian-overrides" "$stage/usr/share/lintian/overrides/weir"
}

install_maintainer_scripts() {
    local stage=$1 src=$PKG_DIR/src
    install -d -m 0755 "$stage/DEBIAN"
    install -m 0755 "$src/packaging/deb/postinst" "$src/packaging/deb/prerm" "$src/packaging/deb/postrm" "$stage/DEBIAN/"
    # Every file under /etc is a conffile: dpkg keeps the administrator's changes on upgrade.
    (cd "$stage" && find etc -type f -printf '/%p\n' | sort) >"$stage/DEBIAN/conffiles"
    chmod 0644 "$stage/DEBIAN/conffiles"
}

# Depends: from dpkg-shlibdeps, which reads the binary's NEEDED entries and maps each library to
# its Debian package and minimum version (shlibs/symbols files). It wants a debian/control,
# so it runs in a throwaway directory with a minimal one.
compute_depends() {
    local binary=$1 tmp
    tmp=$(mktemp -d "$PKG_DIR/shlibdeps.XXXXXX")
    mkdir -p "$tmp/debian"
    printf 'Source: weir\n\nPackage: weir\nArchitecture: any\n' >"$tmp/debian/control"
    local line
    line=$(cd "$tmp" && DEB_HOST_ARCH=$ARCH dpkg-shlibdeps -O -e"$binary" 2>"$tmp/stderr") ||
        { cat "$tmp/stderr" >&2; die "dpkg-shlibdeps failed"; }
    rm -rf "$tmp"
    DEPENDS=${line#shlibs:Depends=}
    [ -n "$DEPENDS" ] || die "dpkg-shlibdeps found no dependencies"
    # Only Debian's libraries: anything else means a library from outside Debian was linked.
    local dep
    while read -r dep; do
        case "$dep" in
        libc6* | libgcc-s1* | libstdc++6* | zlib1g* | libmosquitto1* | librocksdb7.8* | libzstd1* | libpcre2-8-0* | libyaml-0-2* | libssl3*) ;;
        *) die "unexpected dependency '$dep' (from dpkg-shlibdeps: $DEPENDS)" ;;
        esac
    done < <(tr ',' '\n' <<<"$DEPENDS" | sed 's/^ *//')
}

installed_size() {
    du -s -k --apparent-size --exclude=DEBIAN "$1" | cut -f1
}

maintainer() {
    echo "${WEIR_MAINTAINER:-$(git -C "$REPO" log -1 --format='%an <%ae>' HEAD)}"
}

write_control() {
    local stage=$1
    cat >"$stage/DEBIAN/control" <<EOF
Package: weir
Version: $VERSION
Architecture: $ARCH
Maintainer: $(maintainer)
Installed-Size: $(installed_size "$stage")
Depends: $DEPENDS
Recommends: mosquitto, tzdata
Suggests: mosquitto-clients
Section: net
Priority: optional
Description: IoT edge event processor for MQTT gateways
 Weir runs as a systemd service next to the gateway's MQTT broker: device
 events come in over MQTT, rules written in SQL select and reshape them, and
 matching rows trigger functions (publish, log, external programs, HTTP) and
 forwarding upstream through a durable on-disk outbox.
 .
 Installing the package enables and starts weir.service (unless policy-rc.d
 forbids it) without waiting for it: the service reports ready once it is
 connected to the broker configured in /etc/weir/weir.yaml (127.0.0.1:1883,
 the mosquitto package). Upgrades restart it and keep /etc/weir and the
 state. Removing the package stops the service and keeps its state in
 /var/lib/weir (an undelivered outbox is data); purging also deletes the
 state (/var/lib/private/weir, behind the /var/lib/weir symlink).
EOF
}

write_dbgsym_control() {
    local dbg_stage=$1
    install -d -m 0755 "$dbg_stage/DEBIAN" "$dbg_stage/usr/share/doc"
    # As debhelper does: the dbgsym package's doc directory is the main package's.
    ln -sfn weir "$dbg_stage/usr/share/doc/weir-dbgsym"
    cat >"$dbg_stage/DEBIAN/control" <<EOF
Package: weir-dbgsym
Source: weir
Version: $VERSION
Auto-Built-Package: debug-symbols
Architecture: $ARCH
Maintainer: $(maintainer)
Installed-Size: $(installed_size "$dbg_stage")
Depends: weir (= $VERSION)
Section: debug
Priority: optional
Description: debug symbols for weir
Build-Ids: $BUILD_ID
EOF
}

write_md5sums() {
    local stage=$1
    (cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\n' | LC_ALL=C sort |
        grep -vxF -f <(sed 's|^/||' DEBIAN/conffiles 2>/dev/null || true) | xargs -r -d '\n' md5sum) >"$stage/DEBIAN/md5sums"
    chmod 0644 "$stage/DEBIAN/md5sums"
}

build_deb() {
    local stage=$1 name=$2
    # --root-owner-group: every file root:root whatever the builder's own uid.
    dpkg-deb --root-owner-group -Zxz --build "$stage" "$OUT/$name" >/dev/null
    log "$OUT/$name ($(du -h "$OUT/$name" | cut -f1))"
}

main() {
    parse_args "$@"
    set_arch_vars
    check_cross
    install_build_deps
    resolve_version
    log "weir $VERSION for $ARCH"
    mkdir -p "$PKG_DIR"
    export_source
    build_binary
    runnable_binary
    check_binary

    local stage="$PKG_DIR/stage-$ARCH/weir" dbg_stage="$PKG_DIR/stage-$ARCH/weir-dbgsym"
    rm -rf "$PKG_DIR/stage-$ARCH"
    umask 022
    install -d -m 0755 "$stage" "$dbg_stage"
    split_debug "$stage" "$dbg_stage"
    install_config_and_unit "$stage"
    install_docs "$stage"
    install_completions_and_man "$stage"
    install_maintainer_scripts "$stage"
    compute_depends "$stage/usr/bin/weir"
    write_control "$stage"
    write_md5sums "$stage"
    write_dbgsym_control "$dbg_stage"
    write_md5sums "$dbg_stage"

    local file_version=${VERSION#*:} # dpkg leaves the epoch out of file names
    rm -f "$OUT/weir_${file_version}_${ARCH}.deb" "$OUT/weir-dbgsym_${file_version}_${ARCH}.deb"
    build_deb "$stage" "weir_${file_version}_${ARCH}.deb"
    build_deb "$dbg_stage" "weir-dbgsym_${file_version}_${ARCH}.deb"
    log "Depends: $DEPENDS"
    log "stripped binary: $(stat -c %s "$stage/usr/bin/weir") bytes; installed: $(installed_size "$stage") KiB"
}

main "$@"
