// Package atomicwriter lays a folder out the way the kubelet's atomic
// writer does for a ConfigMap or Secret volume, so tests can mount a
// policy "from a ConfigMap" on a plain file system and update it the same
// way a cluster does.
//
// The layout: the real files live in a hidden "..<timestamp>" folder;
// "..data" is a symlink to it; every top-level entry is a symlink through
// "..data" (authz -> ..data/authz). An update writes a new timestamp
// folder, points a "..data_tmp" symlink at it, renames that over "..data"
// (the atomic step), fixes the top-level links and removes the old folder.
package atomicwriter
