// Package archtest enforces the import direction of STYLE.md: its test parses
// every non-test Go file of the module and fails when a package imports an
// in-module package (or an outside module) that its row does not allow.
package archtest
