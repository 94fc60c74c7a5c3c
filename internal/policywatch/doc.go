// Package policywatch turns file changes in policy folders into reloads:
// it watches folder trees and calls a reload function once a burst of
// changes (an editor saving, a git checkout) has settled.
package policywatch
