// Package stats holds the few statistics the load commands report:
// medians over rounds and paired ratios of two targets measured in the
// same rounds.
package stats
