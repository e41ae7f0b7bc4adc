// Package install holds the tests of the release path: `make dist` builds the
// tarball, install.sh installs it into a throwaway root filesystem (creating the
// teamtalk system user for real in that root's /etc/passwd), teamtalkd runs from
// the installed layout as that user inside a chroot, and upgrade, uninstall and
// purge keep or remove exactly what they promise. It also runs shellcheck on
// install.sh and systemd-analyze verify on systemd/teamtalkd.service.
//
// The package has no code of its own; the tests need root (chown, chroot) and the
// tools make, tar, shellcheck and systemd-analyze. Without them the tests skip,
// except under CI=true, where they fail.
package install
