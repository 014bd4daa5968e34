//go:build !mpi

package dist

// Tag is the build's transport: "" without the mpi build tag.
const Tag = ""

// Open returns Local: this build has no MPI (build with -tags mpi).
func Open() (Comm, error) { return Local{}, nil }
