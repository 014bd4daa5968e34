package bitpack

// AsmAvailable reports whether the AVX-512 VPOPCNTDQ binary kernels can
// run: the CPU has them and LOWBIT_NOASM=1 was not set at start.
func AsmAvailable() bool { return asmAllowed && cpuHasPopcnt512 }

// VNNIAvailable reports whether the AVX-512 VNNI int8 kernel can run.
func VNNIAvailable() bool { return asmAllowed && cpuHasVNNI }

// UsingAsm reports whether the binary kernels currently dispatch to assembly.
func UsingAsm() bool { return kernels.popcnt }

// UseAsm switches the assembly kernels on (where AsmAvailable) or off, for
// the pure-Go ones, and returns a function restoring the previous choice.
// It lets a benchmark time both paths in one process; it must not be
// called while other goroutines run kernels.
func UseAsm(on bool) (restore func()) { return setAsm(on) }
