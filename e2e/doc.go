// Package e2e holds the end-to-end tests of the appliance: they build the
// real teamtalkd once, start it (one or several instances) on loopback ports
// chosen by the kernel, and talk to it with our own Go client (package
// client) and control API client, as a TeamTalk client and an operator would.
//
// The package has no code of its own beyond this comment; everything is in
// its _test.go files.
package e2e
