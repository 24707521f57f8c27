# Shared by scripts/demo, scripts/test and bench/: packages and builds.
# Source it from the top of the checkout.

BUILD_PACKAGES=(build-essential cmake pkg-config libmicrohttpd-dev libpq-dev libldap-dev
    libcurl4-openssl-dev libssl-dev libjansson-dev libyaml-dev libcmocka-dev libpcre2-dev
    libidn2-dev libunistring-dev)
PG_PACKAGES=(postgresql-15 postgresql-contrib)
LDAP_PACKAGES=(slapd ldap-utils)
TEST_PACKAGES=(python3 python3-pytest python3-requests python3-cryptography python3-aiosmtpd clang-format curl openssl
    chromium clang-14 libclang-rt-14-dev wrk procps)
# scripts/package: the Debian package's build and checks (systemd: systemd-analyze;
# python3-seccomp: conf/systemd/sandbox-run).
PACKAGE_PACKAGES=(debhelper dpkg-dev fakeroot lintian systemd python3-seccomp)

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" = 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root or sudo to run: $*"
    fi
}

# Installs the Debian packages that are missing, and only those.
ensure_packages() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    say "installing ${missing[*]}"
    if printf '%s\n' "${missing[@]}" | grep -q '^postgresql-15$' &&
        [ ! -e /etc/postgresql-common/createcluster.conf ]; then
        # Our clusters are private: do not let the package create and start its own.
        as_root mkdir -p /etc/postgresql-common
        echo "create_main_cluster = false" | as_root tee /etc/postgresql-common/createcluster.conf >/dev/null
    fi
    if printf '%s\n' "${missing[@]}" | grep -q '^slapd$'; then
        # Tests and demo run private slapd instances: no system directory wanted.
        echo "slapd slapd/no_configuration boolean true" | as_root debconf-set-selections
    fi
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
}

# build DIR [cmake options...]: configure once, then build.
build() {
    local dir=$1
    shift
    if [ ! -f "$dir/CMakeCache.txt" ]; then
        cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
    fi
    cmake --build "$dir" -j "$(nproc)" >/dev/null || cmake --build "$dir" -j1
}
