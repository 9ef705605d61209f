// Package failover runs the real pool binary with its miners through a
// Redis failover (Sentinel and Cluster, the master SIGKILLed under share
// load) and measures what the miners see: the window in which their shares
// are answered with an error, and that every share answered OK is counted
// exactly once afterwards. It has only tests; it is a package of its own so
// it runs beside the others.
package failover
