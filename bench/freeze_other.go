//go:build !unix

package bench

// freeze is a no-op where processes cannot be stopped by signal.
func (p *trainProc) freeze(bool) {}
