#!/bin/bash
# fuzz-all.sh DURATION OUTDIR: run every fuzz target at once for DURATION
# (a Go duration such as 9m) from the binaries scripts/fuzz-build.sh made,
# and collect into OUTDIR:
#   summary.tsv         target, exit status, execs, new interesting inputs
#   logs/TARGET.log     each target's output
#   corpus/PKG/TARGET/  the inputs each run found (go test fuzz v1 files)
#   crashers/PKG/TARGET/ any failing input the run wrote to testdata/fuzz
# Run from the repository root (the binaries read their seed corpus from the
# package's testdata/fuzz). FUZZ_PARALLEL sets the workers per target
# (default: cores / targets, rounded up); FUZZ_TARGETS="pkg:FuzzX ..." runs a
# subset; FUZZ_MINIMIZE bounds the minimization of each new input (default
# 5s: Go's 60s default lets one worker spend a short run minimizing the
# multi-KB model-file inputs). Exits 1 when a target failed.
set -u
dur=${1:?usage: fuzz-all.sh DURATION OUTDIR}
out=${2:?usage: fuzz-all.sh DURATION OUTDIR}
root=$(pwd)
bins="$root/fuzzbin"
if [ ! -e "$bins/bitpack.test" ] && [ -e "$bins/bins.tar.gz" ]; then
	tar xzf "$bins/bins.tar.gz" -C "$bins"
fi
targets=${FUZZ_TARGETS:-"bitpack:FuzzModel bitpack:FuzzModelHeader recipes:FuzzCheckpoint recipes:FuzzCheckpointHeader
ste:FuzzParse datasets:FuzzIDX datasets:FuzzCIFAR datasets:FuzzImage datasets:FuzzClassIndex
optim:FuzzSetState cmd/lowbit:FuzzInferInput serve:FuzzClassifyRequest interop/torch:FuzzReadFile"}
n=$(echo $targets | wc -w)
par=${FUZZ_PARALLEL:-$(( ($(nproc) + n - 1) / n ))}
[ "$par" -ge 1 ] || par=1
mkdir -p "$out/logs" "$out/corpus" "$out/crashers"
touch "$out/.start" # crashers are the testdata/fuzz files newer than this
pids=()
for t in $targets; do
	pkg=${t%%:*} name=${t#*:} bin="$bins/$(echo "${t%%:*}" | tr / _).test"
	mkdir -p "$out/corpus/$pkg"
	(cd "$root/$pkg" && exec "$bin" -test.run='^$' -test.fuzz="^$name\$" -test.fuzztime="$dur" \
		-test.fuzzcachedir="$out/corpus/$pkg" -test.parallel="$par" \
		-test.fuzzminimizetime="${FUZZ_MINIMIZE:-5s}") >"$out/logs/$name.log" 2>&1 &
	pids+=("$!:$t")
done
printf 'target\tstatus\texecs\tnew_interesting\n' >"$out/summary.tsv"
fail=0
for p in "${pids[@]}"; do
	pid=${p%%:*} t=${p#*:} pkg=${t%%:*} name=${t##*:}
	wait "$pid"; st=$?
	[ "$st" -eq 0 ] || fail=1
	last=$(grep 'fuzz: elapsed' "$out/logs/$name.log" | tail -1)
	execs=$(echo "$last" | sed -n 's/.*execs: \([0-9]*\).*/\1/p')
	newi=$(echo "$last" | sed -n 's/.*new interesting: \([0-9]*\).*/\1/p')
	printf '%s/%s\t%s\t%s\t%s\n' "$pkg" "$name" "$st" "${execs:-?}" "${newi:-0}" >>"$out/summary.tsv"
	if [ -d "$root/$pkg/testdata/fuzz/$name" ]; then
		# A failing input is written to testdata/fuzz/TARGET beside the seeds.
		mkdir -p "$out/crashers/$pkg/$name"
		find "$root/$pkg/testdata/fuzz/$name" -type f -newer "$out/.start" -exec cp {} "$out/crashers/$pkg/$name/" \;
	fi
done
cat "$out/summary.tsv"
exit $fail
