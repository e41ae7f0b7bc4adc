// Package install holds the tests of the release path: `make dist` builds the
// tarball, install.sh installs it into a throwaway root filesystem (creating the
// teamtalk system user for real in that root's /etc/passwd), teamtalkd runs from
// the installed layout as that user inside a chroot, and upgrade, uninstall and
// purge keep or remove exactly what they promise. It also runs shellcheck on
// install.sh and systemd-analyze verify on systemd/teamtalkd.service.
//
// TestSystemd does the same under a real systemd: it boots a Debian root
// (debootstrap minbase with systemd, cached once per machine under
// /var/cache/teamtalk or $XDG_CACHE_HOME/teamtalk) with systemd-nspawn -b on a
// throwaway overlay, runs install.sh from the tarball inside it and checks what
// systemctl, the unit's hardening, ttctl and a client see through install,
// upgrade, restart, Restart=on-failure, a reboot, --uninstall and --purge. It
// needs systemd-nspawn (systemd-container), debootstrap and nsenter; `make
// systemd-test` runs it alone.
//
// The package has no code of its own; the tests need root (chown, chroot, mount)
// and the tools make, tar, shellcheck and systemd-analyze (and those above).
// Without them the tests skip, except under CI=true, where they fail.
package install
