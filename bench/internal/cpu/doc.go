// Package cpu samples CPU time from Linux's /proc: the seconds all cores
// spent busy and the seconds one process used, so a load run can say how
// much of the machine the server, the load generator and everything else
// took.
package cpu
