#!/usr/bin/env bash
# Builds switchboard with a per-socket "send these already framed messages"
# added to socketioxide and engine.io (upstream.patch), and the fan-out using
# it (switchboard.patch), to measure what that API would buy. Not part of the
# product: the patched crates live only under target/send-framed/.
#
#   experiments/send-framed/build.sh
#   target/send-framed/target/release/switchboard load --grpc 10 --seconds 10 \
#     --calls-per-second 200 --socketio 1000 --seeds 002
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(git -C "$here" rev-parse --show-toplevel)"
work="$repo/target/send-framed"
# The commit switchboard.patch was written against.
base=a884a74
crates=(socketioxide-0.18.9 engineioxide-0.17.9 engineioxide-core-0.2.3)

cargo fetch --manifest-path "$repo/Cargo.toml" --quiet
registry="${CARGO_HOME:-$HOME/.cargo}/registry/src"
rm -rf "$work/crates"
mkdir -p "$work/crates"
for crate in "${crates[@]}"; do
  source_dir="$(find "$registry" -maxdepth 2 -type d -name "$crate" | head -1)"
  if [[ -z "$source_dir" ]]; then
    echo "build.sh: $crate is not in $registry" >&2
    exit 1
  fi
  cp -r "$source_dir" "$work/crates/"
done
patch --quiet -d "$work/crates" -p1 < "$here/upstream.patch"

if [[ ! -d "$work/switchboard" ]]; then
  git -C "$repo" worktree add --detach "$work/switchboard" "$base"
fi
cd "$work/switchboard"
git checkout --quiet --force "$base"
git apply "$here/switchboard.patch"
cat >> Cargo.toml <<EOF

[patch.crates-io]
socketioxide = { path = "$work/crates/socketioxide-0.18.9" }
engineioxide = { path = "$work/crates/engineioxide-0.17.9" }
engineioxide-core = { path = "$work/crates/engineioxide-core-0.2.3" }
EOF
CARGO_TARGET_DIR="$work/target" cargo build --release
echo "built: $work/target/release/switchboard"
