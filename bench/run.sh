#!/usr/bin/env bash
# bench/run.sh — ttbench's standard set against a freshly started teamtalkd
# (what `make bench` runs). It starts teamtalkd in a temp data dir with every
# listener on a kernel-chosen loopback port and the per-connection message rate
# limit lifted, provisions the bench users through the control API, runs the
# scenarios, prints the summary table, and stops teamtalkd and removes the dir.
#
# Usage: bench/run.sh [BIN_DIR]        (default ./bin: teamtalkd and ttbench)
# Environment (defaults in brackets):
#   LOGIN_C [100]      login storm concurrency     LOGIN_COUNT [20000] logins
#   PAIRS [100]        p2p pairs                   INFLIGHT [4 10] msgs in flight per sender
#                      (a list: one p2p run each, latency against throughput)
#   SIZE [100]         p2p message bytes           DURATION [10s] p2p send time
#   IDLE_N [10000]     idle connections            IDLE_HOLD [10s] idle hold time
#   GROUP_SIZE [500]   group members (all online)  GROUP_SENDERS [1] members sending
#   GROUP_INFLIGHT [32] group msgs in flight per sender; GROUP_DURATION [10s]
#   MIXED_USERS [2000] users online in mixed (10% active)  MIXED_DURATION [10s]
#   MIXED_ARGS []      more flags for ttbench mixed (rates: -p2p-rate 500 ...)
#   PPROF [0]          1: serve /debug/pprof on the metrics address (printed) during the run
#   KEEP [0]           1: keep the data dir and teamtalkd.log
#   EXTRA_SET []       more -set KEY=VALUE words for teamtalkd
#   MYSQL [0]          1: store.backend=mysql on a private mariadbd started in
#                      the temp dir (mariadb-install-db + mariadbd, durable:
#                      innodb_flush_log_at_trx_commit=1), stopped and removed
#                      at the end; MYSQL_COMMITTERS sets store.mysql.committers
set -eu

info() { printf 'bench: %s\n' "$*" >&2; }
fatal() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

main() {
	local bin=${1:-bin}
	local login_c=${LOGIN_C:-100} login_count=${LOGIN_COUNT:-20000}
	local pairs=${PAIRS:-100} inflight=${INFLIGHT:-4 10} size=${SIZE:-100} duration=${DURATION:-10s}
	local idle_n=${IDLE_N:-10000} idle_hold=${IDLE_HOLD:-10s}
	local group_size=${GROUP_SIZE:-500} group_senders=${GROUP_SENDERS:-1} group_inflight=${GROUP_INFLIGHT:-32} group_duration=${GROUP_DURATION:-10s}
	local mixed_users=${MIXED_USERS:-2000} mixed_duration=${MIXED_DURATION:-10s}
	[ -x "$bin/teamtalkd" ] || fatal "$bin/teamtalkd missing (make build)"
	[ -x "$bin/ttbench" ] || fatal "$bin/ttbench missing (make build)"

	local users=$idle_n
	[ $((2 * pairs)) -gt "$users" ] && users=$((2 * pairs))
	[ "$group_size" -gt "$users" ] && users=$group_size
	[ "$mixed_users" -gt "$users" ] && users=$mixed_users

	dir=$(mktemp -d "${TMPDIR:-/tmp}/ttbench.XXXXXX")
	pid=
	dbpid=
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	sock=$dir/teamtalkd.sock

	local sets=(
		login.http_listen=127.0.0.1:0 login.client_listen=127.0.0.1:0 login.msgserver_listen=127.0.0.1:0
		msg.listen=127.0.0.1:0 route.listen=127.0.0.1:0 dbproxy.listen=127.0.0.1:0
		file.client_listen=127.0.0.1:0 file.msg_listen=127.0.0.1:0 msfs.listen=127.0.0.1:0
		httpmsg.listen=127.0.0.1:0 push.listen=127.0.0.1:0 metrics.listen=127.0.0.1:0
		'msg.dbproxy=["dbproxy"]' 'msg.route=["route"]' 'msg.login=["login"]' 'msg.file=["file"]' msg.push=push
		'httpmsg.dbproxy=["dbproxy"]' 'httpmsg.route=["route"]'
		msg.max_msgs_per_second=0
	)
	[ "${PPROF:-0}" = 1 ] && sets+=(metrics.pprof=true)
	local store=bolt
	if [ "${MYSQL:-0}" = 1 ]; then
		start_mariadb
		sets+=(store.backend=mysql "store.mysql.dsn=root@tcp(127.0.0.1:$dbport)/teamtalk" store.mysql.create_schema=true)
		[ -n "${MYSQL_COMMITTERS:-}" ] && sets+=("store.mysql.committers=$MYSQL_COMMITTERS")
		store="mysql ($("$mariadbd" --version | awk '{print $3}'), private, innodb_flush_log_at_trx_commit=$(dbq 'SELECT @@innodb_flush_log_at_trx_commit'))"
	fi
	# shellcheck disable=SC2206
	[ -n "${EXTRA_SET:-}" ] && sets+=(${EXTRA_SET})
	args=(-data "$dir" -socket "$sock")
	for s in "${sets[@]}"; do args+=(-set "$s"); done

	start_server
	info "provisioning $users users through the control API"
	if ! "$bin/ttbench" provision -socket "$sock" -n "$users" 2>"$dir/provision.err"; then
		cat "$dir/provision.err" >&2
		[ "${MYSQL:-0}" = 1 ] && fatal "control API import failed (the im.db fallback is for the bolt store only)"
		info "control API import failed: stopping teamtalkd and writing im.db directly"
		stop_server
		"$bin/ttbench" provision -data "$dir" -n "$users"
		start_server
	fi

	local results=$dir/results.jsonl failed=0
	: >"$results"
	scenario login -n "$users" -c "$login_c" -count "$login_count" || failed=1
	local n
	for n in $inflight; do
		scenario p2p -pairs "$pairs" -inflight "$n" -size "$size" -duration "$duration" || failed=1
	done
	scenario group -size "$group_size" -senders "$group_senders" -inflight "$group_inflight" -duration "$group_duration" || failed=1
	# shellcheck disable=SC2086
	scenario mixed -users "$mixed_users" -duration "$mixed_duration" ${MIXED_ARGS:-} || failed=1
	scenario idle -n "$idle_n" -duration "$idle_hold" -marginal || failed=1

	echo
	echo "== ttbench standard set ($(nproc) CPUs; generator on the same box; teamtalkd $("$bin/teamtalkd" -version | cut -d' ' -f2); store $store)"
	"$bin/ttbench" table "$results"
	if [ "${MYSQL:-0}" = 1 ]; then
		local q="SELECT (SELECT COUNT(*) FROM IMMessage_0)" i
		for i in 1 2 3 4 5 6 7; do q="$q + (SELECT COUNT(*) FROM IMMessage_$i)"; done
		echo "mysql: $(dbq "USE teamtalk; $q") one-to-one messages in IMMessage_0..7"
	fi
	[ "$failed" = 0 ] || fatal "a scenario failed (see above)"
}

# scenario NAME FLAGS...: runs one ttbench scenario against the server,
# showing its table and keeping its JSON line.
scenario() {
	local name=$1; shift
	echo
	echo "== ttbench $name $*"
	local rc=0
	"$bin/ttbench" "$name" -socket "$sock" "$@" >"$dir/$name.out" || rc=$?
	cat "$dir/$name.out"
	grep '^{' "$dir/$name.out" >>"$results" || true
	return $rc
}

start_server() {
	"$bin/teamtalkd" "${args[@]}" >>"$dir/teamtalkd.log" 2>&1 &
	pid=$!
	if ! "$bin/ttbench" wait -socket "$sock" -timeout 30s >"$dir/addrs"; then
		tail -20 "$dir/teamtalkd.log" >&2
		fatal "teamtalkd did not become ready"
	fi
	info "teamtalkd pid $pid ready: msg $(awk '$1=="msg.listen"{print $2}' "$dir/addrs"), metrics $(awk '$1=="metrics"{print $2}' "$dir/addrs"), data $dir"
}

# stop_pid PID TENTHS: SIGTERM, up to TENTHS tenths of a second to exit, then SIGKILL; reaps it.
stop_pid() {
	kill -TERM "$1" 2>/dev/null || true
	for _ in $(seq 1 "$2"); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

stop_server() {
	[ -n "$pid" ] || return 0
	stop_pid "$pid" 100
	pid=
}

# find_bin NAME...: the first of the names found in PATH or the sbin dirs.
find_bin() {
	local n d
	for n in "$@"; do
		command -v "$n" 2>/dev/null && return 0
		for d in /usr/sbin /usr/local/sbin /usr/bin; do
			[ -x "$d/$n" ] && { echo "$d/$n"; return 0; }
		done
	done
	return 1
}

# dbq SQL: runs SQL on the private server, printing bare values.
dbq() { "$dbclient" --no-defaults -uroot -S "$dir/mariadb/sock" -N -B -e "$1"; }

# start_mariadb: a private mariadbd in $dir/mariadb on a free loopback port
# (sets dbport, dbpid), with an empty database teamtalk.
start_mariadb() {
	mariadbd=$(find_bin mariadbd mysqld) || fatal "MYSQL=1: mariadbd not found (apt-get install mariadb-server)"
	local installdb
	installdb=$(find_bin mariadb-install-db mysql_install_db) || fatal "MYSQL=1: mariadb-install-db not found (apt-get install mariadb-server)"
	dbclient=$(find_bin mariadb mysql) || fatal "MYSQL=1: the mariadb client not found (apt-get install mariadb-client)"
	local m=$dir/mariadb user=()
	[ "$(id -u)" = 0 ] && user=(--user=root)
	mkdir -p "$m/tmp"
	"$installdb" --no-defaults --datadir="$m/data" --auth-root-authentication-method=normal --skip-test-db "${user[@]}" \
		>"$m/install.log" 2>&1 || { cat "$m/install.log" >&2; fatal "mariadb-install-db failed"; }
	local try
	for try in 1 2 3; do
		dbport=$(free_port)
		"$mariadbd" --no-defaults --datadir="$m/data" --tmpdir="$m/tmp" --socket="$m/sock" --pid-file="$m/pid" \
			--port="$dbport" --bind-address=127.0.0.1 --skip-name-resolve --skip-grant-tables --skip-log-bin \
			--max-connections=1000 --innodb-buffer-pool-size=256M --log-error="$m/error.log" "${user[@]}" &
		dbpid=$!
		for _ in $(seq 1 300); do
			kill -0 "$dbpid" 2>/dev/null || break
			dbq 'SELECT 1' >/dev/null 2>&1 && {
				dbq 'CREATE DATABASE teamtalk CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci'
				info "mariadbd pid $dbpid ready on 127.0.0.1:$dbport (data $m/data)"
				return 0
			}
			sleep 0.1
		done
		stop_mariadb
		info "mariadbd did not start (try $try)"
	done
	tail -20 "$m/error.log" >&2
	fatal "mariadbd did not start"
}

# free_port: a random loopback port in 20000-59999 that nothing listens on.
free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 40000))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
	done
}

stop_mariadb() {
	[ -n "$dbpid" ] || return 0
	stop_pid "$dbpid" 300
	dbpid=
}

cleanup() {
	local rc=$?
	stop_server
	stop_mariadb
	if [ "${KEEP:-0}" = 1 ]; then
		info "kept $dir"
	else
		rm -rf "$dir"
	fi
	exit $rc
}

main "$@"
