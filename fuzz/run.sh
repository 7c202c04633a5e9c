#!/usr/bin/env bash
# Builds the fuzz targets with cargo-afl (AFL++, stable toolchain) and runs
# each for SECONDS (default 10), one after another; fails if any target
# found a crash or a hang, and prints each run's figures.
#
#   fuzz/run.sh [SECONDS] [TARGET ...]       (make test: fuzz/run.sh 5)
#   fuzz/run.sh 600                          (the long run: 10 minutes each)
#
# Seeds: fuzz/seeds/<target>/, and real traffic from ../shared/fixtures
# (AMI captures, ARI events, webhook bodies), gathered under target/ at run
# time. Findings stay in fuzz/target/afl/<target>/default/{crashes,hangs}:
# reproduce one with `fuzz/target/release/<target> < FILE`, and turn it into
# a regression test.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-10}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(ami_codec engine_io socket_io ari_event webhook_retell webhook_twilio client_json jwt)
fi
fixtures="${SWITCHBOARD_FIXTURES:-../../shared/fixtures}"

cargo afl build --release --quiet

export AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1
export AFL_QUIET=1 AFL_NO_AFFINITY=1
work=target/afl
failed=0
for target in "${targets[@]}"; do
  seeds="$work/seeds/$target"
  out="$work/$target"
  rm -rf "$seeds" "$out"
  mkdir -p "$seeds"
  cp seeds/"$target"/* "$seeds"/
  case "$target" in
    ami_codec)
      for capture in "$fixtures"/ami/asterisk-22/*.ami; do
        [ -f "$capture" ] && head -c 16384 "$capture" >"$seeds/$(basename "$capture")"
      done ;;
    ari_event)
      n=0
      while IFS= read -r line && [ $n -lt 24 ]; do
        printf '%s' "$line" >"$seeds/capture-$n.json"; n=$((n + 1))
      done <"$fixtures/ari/asterisk-22/stasis_call.ari.jsonl" ;;
    webhook_retell)
      for body in "$fixtures"/retell/docs_sample_webhook_call_ended.json; do
        [ -f "$body" ] && { printf 'v=1765000000000,d=00\n'; cat "$body"; } >"$seeds/$(basename "$body")"
      done ;;
  esac
  cargo afl fuzz -V "$seconds" -t 1000 -i "$seeds" -o "$out" "target/release/$target" >"$work/$target.log" 2>&1 || {
    echo "fuzz: $target: afl-fuzz failed (see fuzz/$work/$target.log)"; tail -5 "$work/$target.log"; failed=1; continue; }
  stats="$out/default/fuzzer_stats"
  field() { sed -n "s/^$1 *: //p" "$stats"; }
  crashes=$(find "$out/default/crashes" -type f ! -name README.txt | wc -l)
  hangs=$(find "$out/default/hangs" -type f | wc -l)
  echo "fuzz: $target: $(field execs_done) executions in $(field run_time) s, corpus $(field corpus_count), coverage $(field bitmap_cvg), crashes $crashes, hangs $hangs"
  if [ "$crashes" -gt 0 ] || [ "$hangs" -gt 0 ]; then
    failed=1
  fi
done
exit $failed
