#!/usr/bin/env bash
# Installs what livejit needs on Debian 12 (bookworm) or later: LLVM 19 (the JIT), the
# Boehm GC (arrays), clang 19 (only for `cargo bench`'s C baselines), and a Rust toolchain if
# none is present. Safe to run again; does nothing when everything is there.
set -euo pipefail

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

need=()
command -v llvm-config-19 >/dev/null 2>&1 || need+=(llvm-19-dev)
[ -e /usr/include/gc/gc.h ] || need+=(libgc-dev)
command -v clang-19 >/dev/null 2>&1 || need+=(clang-19)
command -v cc >/dev/null 2>&1 || need+=(build-essential)
command -v curl >/dev/null 2>&1 || need+=(curl ca-certificates)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/cargo" ]; then
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
fi
