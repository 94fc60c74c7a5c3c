// Package rounds orders the targets of interleaved load rounds, so no
// target always runs first or right after the same other one.
package rounds
