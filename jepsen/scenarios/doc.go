// Package scenarios holds the harness runs that `make test` executes: short
// runs of each nemesis on a correct build, which must be valid, and runs on
// a build with deliberate bugs (the kqd_bugs tag), which must be invalid. A
// checker that has never failed proves nothing.
package scenarios
