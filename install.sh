#!/bin/sh
# install.sh: install teamtalk (teamtalkd + ttctl) as a systemd-managed appliance.
#
# Run as root from the unpacked release tarball, or from a source checkout (where it
# builds static binaries first when Go is present). Running it again upgrades the
# binaries and the unit and keeps the config and the data.
#
#   sudo ./install.sh [--prefix DIR] [--root DIR] [--no-start] [--no-user]
#   sudo ./install.sh --uninstall            remove binaries and unit; keep config and data
#   sudo ./install.sh --purge [--yes]        also remove config, data and the teamtalk user
#
# Options:
#   --prefix DIR   where bin/teamtalkd, bin/ttctl and share/teamtalk go (default /usr/local).
#   --root DIR     install into DIR as a root filesystem (also env INSTALL_ROOT): the user
#                  is created in DIR/etc/passwd, paths written into the unit and config
#                  are those seen from inside DIR, and nothing is started (implies --no-start).
#   --no-start     install, daemon-reload and enable, but neither start nor restart.
#   --no-user      create no user and chown nothing (staging a tree as non-root; with --root).
#   --uninstall    stop and disable teamtalkd, remove the binaries, the unit and the snippets.
#                  /etc/teamtalk and /var/lib/teamtalk are kept.
#   --purge        --uninstall, then remove /etc/teamtalk, /var/lib/teamtalk and the user;
#                  asks first unless --yes.
#   --yes          do not ask.
#   -h, --help     this text.
#
# What it installs (paths inside --root):
#   PREFIX/bin/teamtalkd, PREFIX/bin/ttctl        the programs
#   PREFIX/bin/teamtalk-uninstall.sh              generated: runs this script's --uninstall
#   PREFIX/share/teamtalk/                        this script and the example config
#   /etc/teamtalk/teamtalkd.toml                  only if absent (0640 root:teamtalk)
#   /var/lib/teamtalk                             the data directory (0750 teamtalk:teamtalk)
#   /etc/systemd/system/teamtalkd.service         the unit (+ .d/10-bind.conf for ports < 1024)
#   /etc/sysusers.d/teamtalk.conf, /etc/tmpfiles.d/teamtalk.conf
#
# Before anything is replaced the new teamtalkd checks the config (-check-config); a
# running teamtalkd is restarted only when its binary, unit or config changed.
set -eu

PREFIX=/usr/local
ROOT=${INSTALL_ROOT:-}
CONF_DIR=/etc/teamtalk
DATA_DIR=/var/lib/teamtalk
RUN_DIR=/run/teamtalk
UNIT_DIR=/etc/systemd/system
SYSUSERS=/etc/sysusers.d/teamtalk.conf
TMPFILES=/etc/tmpfiles.d/teamtalk.conf
USER_NAME=teamtalk

NO_START=
NO_USER=
ACTION=install
YES=
TMP_DIR=

info() { printf 'install.sh: %s\n' "$*"; }
warn() { printf 'install.sh: warning: %s\n' "$*" >&2; }
fatal() {
	printf 'install.sh: error: %s\n' "$*" >&2
	exit 1
}

usage() {
	sed -n '2,/^set -eu$/p' "$0" | sed -e '/^set -eu$/d' -e 's/^# \{0,1\}//'
}

parse_args() {
	while [ $# -gt 0 ]; do
		case $1 in
		--prefix) [ $# -ge 2 ] || fatal "--prefix needs a directory"; PREFIX=$2; shift ;;
		--prefix=*) PREFIX=${1#*=} ;;
		--root) [ $# -ge 2 ] || fatal "--root needs a directory"; ROOT=$2; shift ;;
		--root=*) ROOT=${1#*=} ;;
		--no-start) NO_START=1 ;;
		--no-user) NO_USER=1 ;;
		--uninstall) ACTION=uninstall ;;
		--purge) ACTION=purge ;;
		--yes | -y) YES=1 ;;
		-h | --help) usage; exit 0 ;;
		*) fatal "unknown option $1 (see --help)" ;;
		esac
		shift
	done
	case $PREFIX in
	/*) ;;
	*) fatal "--prefix must be an absolute path, not $PREFIX" ;;
	esac
	PREFIX=${PREFIX%/}
	if [ -n "$ROOT" ]; then
		[ -d "$ROOT" ] || fatal "--root $ROOT is not a directory"
		ROOT=$(cd "$ROOT" && pwd)
		[ "$ROOT" = / ] && ROOT=
	fi
	BIN_DIR=$PREFIX/bin
	SHARE_DIR=$PREFIX/share/teamtalk
	UNINSTALL=$BIN_DIR/teamtalk-uninstall.sh
}

# have_systemd reports whether systemd runs this box and we may drive it.
have_systemd() {
	[ -z "$ROOT" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1
}

check_root() {
	[ "$(id -u)" = 0 ] && return 0
	if [ -n "$NO_USER" ] && [ -n "$ROOT" ]; then
		return 0
	fi
	fatal "must be run as root (try: sudo $0 $*); staging as non-root needs --root DIR --no-user"
}

# go_arch prints the Go name of this machine's architecture.
go_arch() {
	m=$(uname -m)
	case $m in
	x86_64 | amd64) echo amd64 ;;
	aarch64 | arm64) echo arm64 ;;
	*) fatal "unsupported architecture $m: teamtalk is built for x86_64 (amd64) and aarch64 (arm64)" ;;
	esac
}

# find_binaries sets NEW_BIN to a directory holding teamtalkd and ttctl for this machine.
find_binaries() {
	src=$1 arch=$2
	if [ -f "$src/go.mod" ] && [ -d "$src/cmd/teamtalkd" ] && command -v go >/dev/null 2>&1; then
		version=$(git -C "$src" describe --tags --always --dirty 2>/dev/null || echo dev)
		info "building teamtalkd and ttctl $version for linux/$arch from $src"
		mkdir -p "$TMP_DIR/bin"
		(cd "$src" && CGO_ENABLED=0 GOOS=linux GOARCH=$arch go build -trimpath \
			-ldflags "-s -w -X teamtalk/appliance.Version=$version" \
			-o "$TMP_DIR/bin/" ./cmd/teamtalkd ./cmd/ttctl) || fatal "go build failed"
		NEW_BIN=$TMP_DIR/bin
	elif [ -x "$src/bin/teamtalkd" ] && [ -x "$src/bin/ttctl" ]; then
		NEW_BIN=$src/bin
	else
		fatal "no bin/teamtalkd and bin/ttctl next to $0, and no Go to build them: run it from the unpacked release tarball"
	fi
	if ! NEW_VERSION=$("$NEW_BIN/teamtalkd" -version 2>&1); then
		fatal "$NEW_BIN/teamtalkd does not run on this $(uname -m) machine ($NEW_VERSION): use the tarball for linux-$arch"
	fi
}

# check_config runs the new teamtalkd's -check-config on the config file $1.
check_config() {
	if ! out=$("$NEW_BIN/teamtalkd" -check-config -config "$1" 2>&1); then
		fatal "the config $1 does not pass teamtalkd -check-config; fix it and run install.sh again (nothing was changed):
$out"
	fi
}

# listen_ports prints the host:port of every listener the config $1 enables.
listen_ports() {
	"$NEW_BIN/teamtalkd" -print-config -config "$1" | awk '
		/^services = / {
			line = $0; sub(/^services = \[/, "", line); sub(/\].*$/, "", line); gsub(/[" ]/, "", line)
			n = split(line, s, ",")
			for (i = 1; i <= n; i++) on[s[i]] = 1
			next
		}
		/^\[/ { sect = $0; gsub(/[][]/, "", sect); next }
		/^[ \t]*[a-z_]*listen = "/ {
			v = $0; sub(/^[^"]*"/, "", v); sub(/".*$/, "", v)
			if (v == "") next
			if (sect == "metrics" || on["all"] || on[sect]) print v
		}'
}

# port_in_use reports whether something on this box listens on TCP port $1.
port_in_use() {
	hex=$(printf '%04X' "$1")
	for f in /proc/net/tcp /proc/net/tcp6; do
		[ -r "$f" ] || continue
		if awk -v p=":$hex" 'NR > 1 && $4 == "0A" && substr($2, length($2) - 4) == p { found = 1 } END { exit !found }' "$f"; then
			return 0
		fi
	done
	return 1
}

# check_ports prints a line for every configured listen port already taken.
check_ports() {
	taken=
	for addr in $(listen_ports "$1"); do
		port=${addr##*:}
		[ "$port" = 0 ] && continue
		if port_in_use "$port"; then
			taken="$taken
  $addr (port $port is already in use)"
		fi
	done
	printf '%s' "$taken"
}

# low_ports reports whether the config $1 listens on a port below 1024.
low_ports() {
	for addr in $(listen_ports "$1"); do
		port=${addr##*:}
		if [ "$port" -gt 0 ] && [ "$port" -lt 1024 ]; then
			return 0
		fi
	done
	return 1
}

# running reports whether a teamtalkd answers on the installed control socket.
running() {
	[ -x "$ROOT$BIN_DIR/ttctl" ] && "$ROOT$BIN_DIR/ttctl" -socket "$ROOT$RUN_DIR/teamtalkd.sock" status >/dev/null 2>&1
}

hashes() {
	for f in "$ROOT$BIN_DIR/teamtalkd" "$ROOT$UNIT_DIR/teamtalkd.service" \
		"$ROOT$UNIT_DIR/teamtalkd.service.d/10-bind.conf" "$ROOT$CONF_DIR/teamtalkd.toml"; do
		if [ -f "$f" ]; then
			sha256sum <"$f"
		else
			echo "absent $f"
		fi
	done
}

# create_user creates the teamtalk system user and group (in $ROOT) and sets UID_N, GID_N.
create_user() {
	if [ -n "$NO_USER" ]; then
		UID_N=$(id -u) GID_N=$(id -g)
		return
	fi
	if ! grep -q "^$USER_NAME:" "$ROOT/etc/passwd" 2>/dev/null; then
		if command -v systemd-sysusers >/dev/null 2>&1; then
			systemd-sysusers --root="${ROOT:-/}" "$SRC/systemd/teamtalk.sysusers.conf" ||
				fatal "systemd-sysusers could not create the $USER_NAME user"
		else
			set --
			[ -n "$ROOT" ] && set -- --prefix "$ROOT"
			if ! grep -q "^$USER_NAME:" "$ROOT/etc/group" 2>/dev/null; then
				groupadd "$@" --system "$USER_NAME" || fatal "groupadd $USER_NAME failed"
			fi
			useradd "$@" --system --gid "$USER_NAME" --home-dir "$DATA_DIR" --no-create-home \
				--shell /usr/sbin/nologin --comment "TeamTalk IM appliance" "$USER_NAME" ||
				fatal "useradd $USER_NAME failed"
		fi
		info "created the system user and group $USER_NAME"
	fi
	UID_N=$(awk -F: -v u="$USER_NAME" '$1 == u { print $3 }' "$ROOT/etc/passwd")
	GID_N=$(awk -F: -v u="$USER_NAME" '$1 == u { print $4 }' "$ROOT/etc/passwd")
	if [ -z "$UID_N" ] || [ -z "$GID_N" ]; then
		fatal "no $USER_NAME user in $ROOT/etc/passwd"
	fi
}

# put installs file $1 as $2 (inside $ROOT) with mode $3, atomically (a running binary is not disturbed).
put() {
	dst=$ROOT$2
	mkdir -p "$(dirname "$dst")"
	cp "$1" "$dst.new"
	chmod "$3" "$dst.new"
	mv -f "$dst.new" "$dst"
}

# own sets the owner of $2 (inside $ROOT) to $1 (uid:gid) unless --no-user.
own() {
	[ -n "$NO_USER" ] || chown "$1" "$ROOT$2"
}

write_uninstaller() {
	cat >"$TMP_DIR/uninstall" <<EOF
#!/bin/sh
# teamtalk-uninstall.sh: generated by install.sh ($NEW_VERSION, $(date -u +%Y-%m-%dT%H:%M:%SZ)).
# Stops teamtalkd and removes what install.sh installed under $PREFIX.
# Keeps $CONF_DIR and $DATA_DIR unless given --purge (asks unless --yes).
#   teamtalk-uninstall.sh [--purge] [--yes]
set -eu
exec "\${INSTALL_ROOT:-}$SHARE_DIR/install.sh" --prefix "$PREFIX" --uninstall "\$@"
EOF
	put "$TMP_DIR/uninstall" "$UNINSTALL" 0755
}

do_install() {
	arch=$(go_arch)
	find_binaries "$SRC" "$arch"
	[ -f "$SRC/systemd/teamtalkd.service" ] || fatal "missing $SRC/systemd/teamtalkd.service"
	[ -f "$SRC/teamtalkd.example.toml" ] || fatal "missing $SRC/teamtalkd.example.toml"
	info "installing $NEW_VERSION into ${ROOT:-/} (prefix $PREFIX)"

	# The config: the operator's if present, else the example with data_dir set. Check it
	# with the new binary before anything is replaced.
	sed "s#^data_dir = .*#data_dir = \"$DATA_DIR\"#" "$SRC/teamtalkd.example.toml" >"$TMP_DIR/teamtalkd.toml"
	conf=$ROOT$CONF_DIR/teamtalkd.toml
	if [ -f "$conf" ]; then
		check_config "$conf"
	else
		check_config "$TMP_DIR/teamtalkd.toml"
		conf=$TMP_DIR/teamtalkd.toml
	fi

	# The unit, with ExecStart under the prefix, and the bind capability only when needed.
	sed "s#/usr/local/bin/teamtalkd#$BIN_DIR/teamtalkd#" "$SRC/systemd/teamtalkd.service" >"$TMP_DIR/teamtalkd.service"
	bind=
	if low_ports "$conf"; then
		bind=1
		cat >"$TMP_DIR/10-bind.conf" <<'EOF'
# Written by install.sh: the config listens on a port below 1024.
[Service]
CapabilityBoundingSet=CAP_NET_BIND_SERVICE
AmbientCapabilities=CAP_NET_BIND_SERVICE
EOF
	fi

	before=$(hashes)
	was_running=
	running && was_running=1

	create_user
	ids=$UID_N:$GID_N
	rootgrp=0:$GID_N

	put "$NEW_BIN/teamtalkd" "$BIN_DIR/teamtalkd" 0755
	put "$NEW_BIN/ttctl" "$BIN_DIR/ttctl" 0755
	put "$0" "$SHARE_DIR/install.sh" 0755
	put "$SRC/teamtalkd.example.toml" "$SHARE_DIR/teamtalkd.example.toml" 0644
	write_uninstaller
	put "$TMP_DIR/teamtalkd.service" "$UNIT_DIR/teamtalkd.service" 0644
	if [ -n "$bind" ]; then
		put "$TMP_DIR/10-bind.conf" "$UNIT_DIR/teamtalkd.service.d/10-bind.conf" 0644
	else
		rm -f "$ROOT$UNIT_DIR/teamtalkd.service.d/10-bind.conf"
		rmdir "$ROOT$UNIT_DIR/teamtalkd.service.d" 2>/dev/null || true
	fi
	put "$SRC/systemd/teamtalk.sysusers.conf" "$SYSUSERS" 0644
	put "$SRC/systemd/teamtalk.tmpfiles.conf" "$TMPFILES" 0644

	mkdir -p "$ROOT$CONF_DIR"
	chmod 0750 "$ROOT$CONF_DIR"
	own "$rootgrp" "$CONF_DIR"
	if [ -f "$ROOT$CONF_DIR/teamtalkd.toml" ]; then
		info "keeping the config $CONF_DIR/teamtalkd.toml"
	else
		put "$TMP_DIR/teamtalkd.toml" "$CONF_DIR/teamtalkd.toml" 0640
		own "$rootgrp" "$CONF_DIR/teamtalkd.toml"
		info "wrote the config $CONF_DIR/teamtalkd.toml (from teamtalkd.example.toml)"
	fi
	mkdir -p "$ROOT$DATA_DIR"
	chmod 0750 "$ROOT$DATA_DIR"
	own "$ids" "$DATA_DIR"
	if ! have_systemd; then
		# Without systemd nobody makes the runtime directory for the control socket.
		mkdir -p "$ROOT$RUN_DIR"
		chmod 0750 "$ROOT$RUN_DIR"
		own "$ids" "$RUN_DIR"
	fi
	after=$(hashes)
	changed=
	[ "$before" = "$after" ] || changed=1

	final=$ROOT$CONF_DIR/teamtalkd.toml
	if [ -z "$was_running" ]; then
		taken=$(check_ports "$final")
		if [ -n "$taken" ]; then
			if have_systemd && [ -z "$NO_START" ]; then
				fatal "cannot start teamtalkd: listen addresses in $CONF_DIR/teamtalkd.toml are taken:$taken
Stop what holds them or change the ports, then run install.sh again."
			fi
			warn "listen addresses in $CONF_DIR/teamtalkd.toml are taken; teamtalkd will not start until they are free:$taken"
		fi
	fi

	if have_systemd; then
		systemctl daemon-reload
		systemctl enable teamtalkd.service >/dev/null 2>&1 || fatal "systemctl enable teamtalkd failed"
		if [ -n "$NO_START" ]; then
			info "installed and enabled; not started (--no-start): systemctl start teamtalkd"
		elif systemctl is-active --quiet teamtalkd.service; then
			if [ -n "$changed" ]; then
				info "restarting teamtalkd (binary, unit or config changed)"
				systemctl restart teamtalkd.service || fatal "teamtalkd did not restart: journalctl -u teamtalkd -e"
			else
				info "teamtalkd is running and nothing changed: not restarting"
			fi
		else
			info "starting teamtalkd"
			systemctl start teamtalkd.service || fatal "teamtalkd did not start: journalctl -u teamtalkd -e"
		fi
		[ -n "$NO_START" ] || wait_ready
	else
		[ -n "$changed" ] && [ -n "$was_running" ] && warn "teamtalkd is running the old version: restart it"
		where=
		[ -n "$ROOT" ] && where=" (inside $ROOT, e.g. with chroot)"
		info "installed; systemd is not running here, so teamtalkd was not started. Start it by hand$where:"
		info "  cd / && setpriv --reuid=$USER_NAME --regid=$USER_NAME --init-groups env RUNTIME_DIRECTORY=$RUN_DIR $BIN_DIR/teamtalkd -config $CONF_DIR/teamtalkd.toml"
	fi
	info "then: $BIN_DIR/ttctl status; $BIN_DIR/ttctl tui (the live console; as root or a member of group $USER_NAME)"
	info "add the first user: $BIN_DIR/ttctl user add NAME -password PASSWORD"
	info "config: $CONF_DIR/teamtalkd.toml (reload: systemctl reload teamtalkd, or SIGHUP); data: $DATA_DIR; uninstall: $UNINSTALL"
}

wait_ready() {
	i=0
	while ! "$BIN_DIR/ttctl" status >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -le 60 ] || fatal "teamtalkd does not answer on $RUN_DIR/teamtalkd.sock after 60s: journalctl -u teamtalkd -e"
		sleep 1
	done
	"$BIN_DIR/ttctl" status
}

confirm_purge() {
	[ -n "$YES" ] && return 0
	if ! (: </dev/tty) 2>/dev/null; then
		fatal "--purge deletes $DATA_DIR (every message and file) and there is no terminal to ask: add --yes"
	fi
	printf 'install.sh: delete %s, %s and the %s user for good? [y/N] ' "$ROOT$DATA_DIR" "$ROOT$CONF_DIR" "$USER_NAME" >/dev/tty
	read -r answer </dev/tty || answer=
	case $answer in
	y | Y | yes | YES) ;;
	*) fatal "not purged" ;;
	esac
}

do_uninstall() {
	[ "$ACTION" = purge ] && confirm_purge
	if have_systemd; then
		if systemctl is-active --quiet teamtalkd.service || systemctl is-enabled --quiet teamtalkd.service 2>/dev/null; then
			info "stopping and disabling teamtalkd"
			systemctl disable --now teamtalkd.service >/dev/null 2>&1 || warn "systemctl disable --now teamtalkd failed"
		fi
	elif running; then
		warn "a teamtalkd still answers on $ROOT$RUN_DIR/teamtalkd.sock: stop it"
	fi
	for f in "$BIN_DIR/teamtalkd" "$BIN_DIR/ttctl" "$UNINSTALL" "$SHARE_DIR/install.sh" \
		"$SHARE_DIR/teamtalkd.example.toml" "$UNIT_DIR/teamtalkd.service" \
		"$UNIT_DIR/teamtalkd.service.d/10-bind.conf" "$SYSUSERS" "$TMPFILES"; do
		rm -f "$ROOT$f"
	done
	rmdir "$ROOT$SHARE_DIR" "$ROOT$UNIT_DIR/teamtalkd.service.d" 2>/dev/null || true
	have_systemd && systemctl daemon-reload
	if [ "$ACTION" = uninstall ]; then
		info "removed teamtalk; kept $CONF_DIR and $DATA_DIR (remove them with --purge)"
		return
	fi
	rm -rf "$ROOT$DATA_DIR" "$ROOT$CONF_DIR" "$ROOT$RUN_DIR"
	if [ -z "$NO_USER" ] && grep -q "^$USER_NAME:" "$ROOT/etc/passwd" 2>/dev/null; then
		set --
		[ -n "$ROOT" ] && set -- --prefix "$ROOT"
		userdel "$@" "$USER_NAME" || warn "userdel $USER_NAME failed"
		if grep -q "^$USER_NAME:" "$ROOT/etc/group" 2>/dev/null; then
			groupdel "$@" "$USER_NAME" || warn "groupdel $USER_NAME failed"
		fi
	fi
	info "purged teamtalk: removed $DATA_DIR, $CONF_DIR and the $USER_NAME user"
}

main() {
	parse_args "$@"
	check_root "$@"
	SRC=$(cd "$(dirname "$0")" && pwd)
	case $ACTION in
	install)
		TMP_DIR=$(mktemp -d "${TMPDIR:-/tmp}/teamtalk-install.XXXXXX")
		trap 'rm -rf "$TMP_DIR"' EXIT
		trap 'exit 130' INT TERM
		do_install
		;;
	*) do_uninstall ;;
	esac
}

main "$@"
