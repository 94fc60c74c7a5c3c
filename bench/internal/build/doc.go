// Package build finds the policygate repository a load command measures
// and builds the binaries it starts: the product's server and this
// module's baselines.
package build
