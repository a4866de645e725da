#!/bin/sh
# fake_xl.sh — a FAKE of Xen's `xl`, not Xen: it speaks the part of xl's command line that
# runner/xen.c uses, and "runs" a domain as a QEMU (TCG) process, so that the xen backend's xl
# driver can be tested on a machine without Xen (tests/vm/test_backend_xen.c, docs/xen.md).
#
#   xl create FILE   reads the xl.cfg(5) keys ripple writes (type, name, kernel, ramdisk, extra,
#                    memory, vcpus, on_*), refuses anything but type "pvh" and on_* "destroy",
#                    and starts QEMU daemonized (it returns once the "domain" runs, as xl does);
#                    exit 1 when the config is bad, the name is taken or QEMU does not start
#   xl list [NAME]   exit 0 when domain NAME runs, else "...does not exist" and exit 1
#   xl destroy NAME  kills the domain's QEMU and waits for it; exit 1 when there is no such domain
#
# Installed by a test as ROOT/bin/xl, it keeps its state under ROOT (the test's directory):
#   ROOT/console/guest-NAME.log  the console, appended as xenconsoled --log=guest does
#   ROOT/run/NAME.pid            the QEMU of domain NAME
#   ROOT/calls                   one line per call: "create NAME", "list NAME", "destroy NAME"
# What differs from Xen: a PVH guest's console is Xen's PV console (hvc0); this fake has none,
# so it gives the guest QEMU's serial port and turns console=hvc0 into console=ttyS0 in `extra`.
# The kernel must boot under QEMU's microvm machine (ripple's guests do, through the PVH entry).
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
PATH=/usr/local/bin:/usr/bin:/bin
mkdir -p "$root/console" "$root/run"

fail() {
	echo "xl: $*" >&2
	exit 1
}

# The pid of domain $1's QEMU when it runs (its command line names it), else nothing.
domain_pid() {
	pidfile=$root/run/$1.pid
	[ -f "$pidfile" ] || return 0
	pid=$(cat "$pidfile" 2>/dev/null)
	if [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "-name guest=$1 "; then
		echo "$pid"
	else
		rm -f "$pidfile"
	fi
}

alive() {
	state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null)
	[ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# The value of key $1 in config $2: the last `KEY = "..."` or `KEY = NUMBER` line, unquoted.
cfg() {
	sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*//p" "$2" | tail -n 1 |
		sed -e 's/[[:space:]]*$//' -e 's/^"\(.*\)"$/\1/' -e 's/\\"/"/g' -e 's/\\\\/\\/g'
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
create)
	[ $# -eq 1 ] || fail "usage: xl create FILE"
	file=$1
	[ -r "$file" ] || fail "cannot read $file"
	name=$(cfg name "$file")
	echo "create $name" >>"$root/calls"
	[ "$(cfg type "$file")" = pvh ] || fail "$file: this fake runs type = \"pvh\" only"
	for k in on_poweroff on_reboot on_crash; do
		[ "$(cfg $k "$file")" = destroy ] || fail "$file: $k must be \"destroy\" here"
	done
	kernel=$(cfg kernel "$file")
	ramdisk=$(cfg ramdisk "$file")
	extra=$(cfg extra "$file" | sed 's/console=hvc0/console=ttyS0/')
	memory=$(cfg memory "$file")
	vcpus=$(cfg vcpus "$file")
	[ -n "$name" ] && [ -n "$kernel" ] && [ -n "$memory" ] || fail "$file: name, kernel and memory are needed"
	[ -z "$(domain_pid "$name")" ] || fail "domain $name already exists"
	set -- -name "guest=$name" -M microvm,x-option-roms=off,pit=off,pic=off -accel tcg \
		-m "$memory" -smp "${vcpus:-1}" -nodefaults -no-user-config -display none -no-reboot \
		-monitor none -chardev "file,id=con0,path=$root/console/guest-$name.log,append=on" \
		-serial chardev:con0 -kernel "$kernel" -append "$extra" \
		-daemonize -pidfile "$root/run/$name.pid"
	[ -z "$ramdisk" ] || set -- "$@" -initrd "$ramdisk"
	qemu-system-x86_64 "$@" || fail "qemu-system-x86_64 exited with $?"
	;;
list)
	if [ $# -eq 0 ]; then
		echo "Name                                        ID   Mem VCPUs	State	Time(s)"
		for f in "$root"/run/*.pid; do
			[ -f "$f" ] || continue
			n=$(basename "$f" .pid)
			[ -n "$(domain_pid "$n")" ] && echo "$n"
		done
		exit 0
	fi
	echo "list $1" >>"$root/calls"
	[ -n "$(domain_pid "$1")" ] || fail "Domain $1 does not exist."
	;;
destroy)
	[ $# -eq 1 ] || fail "usage: xl destroy NAME"
	echo "destroy $1" >>"$root/calls"
	pid=$(domain_pid "$1")
	[ -n "$pid" ] || fail "Domain $1 does not exist."
	kill -KILL "$pid"
	# Dead once gone or a zombie (its parent, whoever adopted the daemon, reaps it).
	for _ in $(seq 100); do
		alive "$pid" || break
		sleep 0.05
	done
	! alive "$pid" || fail "domain $1 (pid $pid) did not die"
	rm -f "$root/run/$1.pid"
	;;
*)
	fail "this fake knows create, list and destroy, not \"$cmd\""
	;;
esac
