# Sourced by scripts/demo and scripts/test: cargo builds that say what they are doing and, when
# they fail, end with one line naming the missing tool and the command that installs it.

# The Cargo target directory cargo will use (CARGO_TARGET_DIR, a config file, or ./target).
target_dir() {
  cargo metadata --no-deps --format-version 1 2>/dev/null |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p'
}

# first_build_notice PROFILE: HiGHS is a C++ build of several minutes; say so before a silent wait.
first_build_notice() {
  local dir
  dir="$(target_dir)/$1"
  if ! compgen -G "$dir/build/highs-sys-*/out/lib/libhighs.a" >/dev/null; then
    echo "first build: compiling the HiGHS solver from source (C++, several minutes on 2 cores)," >&2
    echo "then the workspace; later builds reuse it and take seconds." >&2
  fi
}

# cargo_or_explain ARGS...: runs cargo; on failure, diagnoses the log and prints one line.
cargo_or_explain() {
  local log status=0
  log=$(mktemp /tmp/ets-build.XXXXXX)
  cargo "$@" 2> >(tee "$log" >&2) || status=$?
  wait
  if [ $status != 0 ]; then
    explain_build_failure "$log"
  fi
  rm -f "$log"
  return $status
}

explain_build_failure() {
  local log=$1 missing
  missing=$(ETS_NEED_POSTGRES=0 "$(dirname "${BASH_SOURCE[0]}")/../install-deps" --check 2>&1 |
    sed -n 's/^missing: \([^ ]*\).*/\1/p' | tr '\n' ' ')
  if [ -n "$missing" ]; then
    echo "build failed: missing ${missing% }; install with: scripts/install-deps (or: sudo apt-get install ${missing% })" >&2
  elif grep -q 'Unable to find libclang' "$log"; then
    echo "build failed: bindgen cannot load libclang; install with: sudo apt-get install libclang-dev (or set LIBCLANG_PATH)" >&2
  elif grep -qi 'cmake.*not installed\|failed to execute command.*cmake' "$log"; then
    echo "build failed: cmake is missing; install with: sudo apt-get install cmake" >&2
  elif grep -q 'linker .cc. not found\|failed to find tool' "$log"; then
    echo "build failed: no C/C++ compiler; install with: sudo apt-get install g++" >&2
  else
    echo "build failed: see the first 'error' above (cargo's own message)" >&2
  fi
}
