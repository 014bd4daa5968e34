#!/bin/sh
# fuzz-build.sh: build every package's fuzz targets into static, coverage-
# instrumented test binaries (fuzzbin/, ignored by git) and pack them as
# fuzzbin/bins.tar.gz (small enough to carry to another machine).
# Run from the repository root. The targets are listed in scripts/fuzz-all.sh.
set -eu
mkdir -p fuzzbin
for pkg in bitpack recipes ste datasets optim cmd/lowbit serve interop/torch; do
	name=$(echo "$pkg" | tr / _)
	# -fuzz makes the go command instrument the binary for coverage-guided fuzzing.
	CGO_ENABLED=0 go test -c -fuzz='^Fuzz' -ldflags='-s -w' -o "fuzzbin/$name.test" "./$pkg"
done
(cd fuzzbin && tar czf bins.tar.gz ./*.test)
ls -l fuzzbin
