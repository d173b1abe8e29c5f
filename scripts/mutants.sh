#!/usr/bin/env bash
# Mutation testing of the runtime's core files with cargo-mutants: each mutant (a changed
# operator, a function body replaced by a default value, ...) is built and the runtime's tests
# run against it; a mutant that no test notices ("missed") points at a missing test.
#
# Usage: scripts/mutants.sh [FILE...]
#   default files: runtime/src/core/cancel.rs runtime/src/channel.rs
# Needs cargo-mutants (`cargo install cargo-mutants`). Slow: minutes per file per core.
# Results land in mutants.out/ (outcomes.json, missed.txt, caught.txt, timeout.txt, unviable.txt).
# Record the catch rate and every missed mutant, with why it is equivalent, in
# docs/mutation-testing.md.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo-mutants >/dev/null 2>&1; then
    echo "cargo-mutants is not installed: cargo install cargo-mutants" >&2
    exit 2
fi

files=("$@")
if [ ${#files[@]} -eq 0 ]; then
    files=(runtime/src/core/cancel.rs runtime/src/channel.rs)
fi

args=()
for file in "${files[@]}"; do
    args+=(--file "$file")
done

# Every test of the trio package (unit, integration and doc tests) judges each mutant; the
# cross-crate tests add little for these files and would double the time.
cargo mutants --package trio "${args[@]}" --timeout-multiplier 3 -j 1 || status=$?
status=${status:-0}

if [ -f mutants.out/outcomes.json ]; then
    caught=$(wc -l < mutants.out/caught.txt || echo 0)
    missed=$(wc -l < mutants.out/missed.txt || echo 0)
    timeout=$(wc -l < mutants.out/timeout.txt || echo 0)
    viable=$((caught + missed + timeout))
    if [ "$viable" -gt 0 ]; then
        echo "caught $caught, timed out $timeout, missed $missed of $viable viable mutants" \
             "($(( (caught + timeout) * 100 / viable ))% caught)"
    fi
    echo "missed mutants:"
    cat mutants.out/missed.txt
fi
# cargo-mutants exits 2 when some mutants were missed: that is a result, not a failure here.
if [ "$status" -ne 0 ] && [ "$status" -ne 2 ]; then
    exit "$status"
fi
