#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# Run every selftest inside a VM booted on Debian 12's own kernel, and end
# with "N passed, N failed, N skipped".
#
# Usage: selftests/vm/vm.sh [BUILD]
#
#   BUILD/static/	  the tree of 'make STATIC=1 BUILD=BUILD/static all'
#			  (the initramfs has no shared libraries): its
#			  programs and selftests/test_*
#   BUILD/static/selftests/kmod/test_*	kernel module selftests, if any
#   BUILD/kmod/*.ko	  kernel modules, if any (in the VM: /lib/rpd/)
#   BUILD/vm/		  the kernel, the initramfs and console.log
#
# The kernel is linux-image-KVER fetched with 'apt-get download' (cached in
# BUILD/vm/), KVER from kver.sh, so it matches the headers modules are
# built against.  QEMU runs with TCG: no KVM needed.
#
# Environment: KVER (default: kver.sh), VM_TIMEOUT (seconds, default
# 600), VM_MEM (MiB, default 1024), VM_SMP (default 2).
set -u

here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build}
static=$build/static
vmdir=$build/vm
timeout_s=${VM_TIMEOUT:-600}

# The closing line when the VM could not report its own
fail()
{
	echo "vm: $*" >&2
	echo "0 passed, 1 failed, 0 skipped"
	exit 1
}

for tool in qemu-system-x86_64 cpio gzip dpkg-deb apt-get readelf timeout; do
	command -v "$tool" >/dev/null || fail "$tool not found: run 'make deps'"
done
# The initramfs has no dynamic loader: an ELF that asks for one cannot run.
is_dynamic()
{
	readelf -l "$1" 2>/dev/null | grep -q 'program interpreter'
}

busybox=/bin/busybox
[ -x "$busybox" ] || fail "$busybox not found: run 'make deps' (busybox-static)"
is_dynamic "$busybox" && fail "$busybox is dynamically linked: install busybox-static"
for f in rpdctl rpd-httpd rpd-get; do
	[ -x "$static/$f" ] || fail "$static/$f not built: run 'make STATIC=1 BUILD=$static all'"
	is_dynamic "$static/$f" && fail "$static/$f is dynamically linked: rebuild it with STATIC=1"
done

kver=${KVER:-$("$here/kver.sh")} || fail "no kernel release (kver.sh failed)"
[ -n "$kver" ] || fail "no kernel release (kver.sh printed nothing)"
mkdir -p "$vmdir" || fail "cannot create $vmdir"
kernel=$vmdir/vmlinuz-$kver

# --- the kernel ---------------------------------------------------------------
# apt fetches as the user _apt, which cannot write to the build tree; it
# then falls back to root with an "unsandboxed" warning.  Fetch as root
# from the start.
download()
{
	(cd "$1" && apt-get download -q=2 -o APT::Sandbox::User=root "linux-image-$kver")
}

if [ ! -s "$kernel" ]; then
	dl=$(mktemp -d "$vmdir/dl.XXXXXX") || fail "cannot create a directory in $vmdir"
	trap 'rm -rf "$dl"' EXIT
	echo "vm: apt-get download linux-image-$kver"
	if ! download "$dl"; then
		# stale package lists: refresh them once (root only) and retry
		if [ "$(id -u)" = 0 ] && apt-get update -qq && download "$dl"; then
			:
		else
			fail "apt-get download linux-image-$kver failed"
		fi
	fi
	debs=("$dl"/linux-image-"$kver"_*.deb)
	deb=${debs[0]}
	[ -f "$deb" ] || fail "apt-get download linux-image-$kver left no .deb in $dl"
	# only the kernel and its config; the modules are not needed
	if ! dpkg-deb --fsys-tarfile "$deb" |
	     tar -x -C "$dl" "./boot/vmlinuz-$kver" "./boot/config-$kver"; then
		fail "dpkg-deb: cannot extract boot/vmlinuz-$kver from ${deb##*/}"
	fi
	mv "$dl/boot/config-$kver" "$vmdir/config-$kver" &&
		mv "$dl/boot/vmlinuz-$kver" "$kernel" ||
		fail "cannot move vmlinuz-$kver into $vmdir"
	rm -rf "$dl"
	trap - EXIT
fi

# --- the initramfs ------------------------------------------------------------
root=$vmdir/root
initrd=$vmdir/initramfs.cpio.gz
rm -rf "$root"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,root,lib/rpd,rpd/selftests} ||
	fail "cannot create $root"

cp "$busybox" "$root/bin/busybox" || fail "cannot copy $busybox"
# every applet at the path busybox would install it to
for applet in $("$busybox" --list-full); do
	[ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
done
install -m 0755 "$here/init" "$root/init" || fail "cannot copy $here/init"

# rpd-httpd --user resolves the user with getpwnam() and initgroups(); static
# glibc reads these files itself, no NSS module needed.
cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
EOF
cat >"$root/etc/nsswitch.conf" <<'EOF'
passwd: files
group: files
EOF

# Without debug info the initramfs is a fraction of the size, and TCG
# spends seconds less unpacking it.  What strip does not know (a script)
# goes in as it is.
copy_prog()
{
	mkdir -p "$(dirname "$2")" || fail "cannot create $(dirname "$2")"
	strip --strip-debug -o "$2" "$1" 2>/dev/null || cp "$1" "$2" ||
		fail "cannot copy $1 into the initramfs"
}

# every program of the build (the selftests run them from BUILD/)
for f in "$static"/*; do
	[ -f "$f" ] && [ -x "$f" ] || continue
	is_dynamic "$f" && fail "$f is dynamically linked: rebuild it with STATIC=1"
	copy_prog "$f" "$root/rpd/${f##*/}"
done
ntests=0
for t in "$static"/selftests/test_* "$static"/selftests/kmod/test_*; do
	[ -f "$t" ] && [ -x "$t" ] || continue
	is_dynamic "$t" && fail "$t is dynamically linked: rebuild it with STATIC=1"
	copy_prog "$t" "$root/rpd/selftests/${t#"$static"/selftests/}"
	ntests=$((ntests + 1))
done
[ "$ntests" -gt 0 ] || fail "no selftests in $static/selftests: run 'make STATIC=1 BUILD=$static all'"
for ko in "$build"/kmod/*.ko; do
	[ -f "$ko" ] || continue
	cp "$ko" "$root/lib/rpd/" || fail "cannot copy $ko into the initramfs"
done

(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) |
	gzip -1 >"$initrd"
[ "${PIPESTATUS[*]}" = "0 0" ] || fail "cannot write $initrd"

# --- boot ---------------------------------------------------------------------
log=$vmdir/console.log
echo "vm: booting $kver under QEMU/TCG ($ntests test programs, timeout ${timeout_s}s)"
start=$(date +%s)
# stdin from /dev/null: QEMU leaves the terminal alone and ^C stops it
timeout -k 10 "$timeout_s" qemu-system-x86_64 \
	-accel tcg -cpu max -smp "${VM_SMP:-2}" -m "${VM_MEM:-1024}" \
	-nodefaults -no-user-config -display none -serial stdio -no-reboot \
	-kernel "$kernel" -initrd "$initrd" \
	-append "console=ttyS0 panic=-1 quiet" </dev/null 2>&1 |
	tr -d '\r' | tee "$log"
rc=${PIPESTATUS[0]}
elapsed=$(($(date +%s) - start))
echo "vm: QEMU exited $rc after ${elapsed}s; console in $log"

summary=$(grep -a -E '^vm: [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$log" | tail -n 1)
if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
	echo "vm: timed out after ${timeout_s}s" >&2
fi
if [ -z "$summary" ]; then
	grep -a -m 1 'Kernel panic' "$log" >&2
	echo "vm: the VM never reported its results (see $log)" >&2
	# keep what the programs that finished counted, plus this failure
	passed=0 failed=1 skipped=0
	while read -r p f s e; do
		passed=$((passed + p))
		failed=$((failed + f + e))
		skipped=$((skipped + s))
	done < <(sed -n -E 's/^# Totals: pass:([0-9]+) fail:([0-9]+) .* skip:([0-9]+) error:([0-9]+)$/\1 \2 \3 \4/p' "$log")
	echo "$passed passed, $failed failed, $skipped skipped"
	exit 1
fi
read -r passed failed skipped < <(sed -E 's/^vm: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped$/\1 \2 \3/' <<<"$summary")
# results, then a hang on the way down: still a failure
if [ "$rc" != 0 ]; then
	failed=$((failed + 1))
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
