//go:build !unix

package benchproc

// Freeze is a no-op where processes cannot be stopped by signal.
func (p *Proc) Freeze(bool) {}
