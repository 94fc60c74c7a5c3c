// Package cli runs a load command's body the way all of them run it:
// cancelled on SIGINT or SIGTERM, bounded by a time budget, its error
// printed under the command's name with exit status 1.
package cli
