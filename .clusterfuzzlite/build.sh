#!/bin/bash -eu
# Builds every cargo-fuzz target into $OUT with its seed corpus and dictionary, as OSS-Fuzz and
# ClusterFuzzLite expect. Inside their image SRC and OUT are set and the default toolchain is
# nightly; to try it elsewhere: SRC=$(mktemp -d) OUT=$(mktemp -d) RUSTUP_TOOLCHAIN=nightly
# VNET_SRC=. bash .clusterfuzzlite/build.sh

fuzz_dir="${VNET_SRC:-$SRC/vnet}/fuzz"
cd "$fuzz_dir"

# -O: optimised; --debug-assertions: overflow checks and debug_assert! stay on while fuzzing.
cargo fuzz build -O --debug-assertions

triple=$(rustc -vV | sed -n 's/^host: //p')
for target in $(cargo fuzz list); do
  cp "target/$triple/release/$target" "$OUT/"
  cp dict/vnet.dict "$OUT/$target.dict"
  # The seed corpus: committed seeds and fixed crashes (files only, flat, as libFuzzer reads them).
  seeds=()
  for dir in "corpus/$target" "regressions/$target"; do
    if [[ -d $dir ]]; then
      while IFS= read -r -d '' file; do seeds+=("$file"); done < <(find "$dir" -type f ! -name .gitkeep -print0)
    fi
  done
  rm -f "$OUT/${target}_seed_corpus.zip"
  if ((${#seeds[@]} > 0)); then
    zip -q -j "$OUT/${target}_seed_corpus.zip" "${seeds[@]}"
  fi
done
