// Package e2e is the console's end-to-end check: it builds the real
// teamtalkd and ttctl, starts teamtalkd on loopback ports chosen by the
// kernel, and drives `ttctl tui` inside tmux (send-keys, capture-pane) the
// way an operator would. It needs tmux; under CI=true a missing tmux fails.
//
// The package has no code of its own beyond this comment; `make tui-e2e`
// runs it alone and `make test` runs it with everything else.
package e2e
