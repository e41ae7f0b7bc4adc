// Package appliance is the supervisor of teamtalkd: it starts the TeamTalk
// services in the reference's order, restarts a failed one with backoff,
// stops them in reverse, and serves the control API.
package appliance

// Version is the appliance's version, stamped at build time by the Makefile
// (-X teamtalk/appliance.Version=...).
var Version = "dev"
