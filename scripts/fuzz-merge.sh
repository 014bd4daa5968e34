#!/bin/sh
# fuzz-merge.sh OUTDIR: copy the corpus a fuzz-all.sh run collected in
# OUTDIR into each package's testdata/fuzz/TARGET (the seed corpus go test
# runs), keeping existing files. Crashers are not merged: fix them first,
# then add each as a named seed.
set -eu
out=${1:?usage: fuzz-merge.sh OUTDIR}
for dir in $(cd "$out/corpus" && find . -mindepth 2 -type d -name 'Fuzz*'); do
	dst="testdata/fuzz/$(basename "$dir")"
	pkg=$(dirname "$dir")
	mkdir -p "$pkg/$dst"
	cp -n "$out/corpus/$dir"/* "$pkg/$dst/" 2>/dev/null || true
	echo "$pkg/$dst: $(ls "$pkg/$dst" | wc -l) files"
done
