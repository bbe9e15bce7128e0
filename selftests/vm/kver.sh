#!/bin/sh
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# Print the release of Debian 12's kernel (e.g. 6.1.0-56-amd64): the one
# the installed linux-headers-amd64 points at.  The VM boots that kernel
# and out-of-tree modules are built against its headers, so both take the
# release from here and can never disagree.
set -u

dep=$(dpkg-query -W -f='${Depends}' linux-headers-amd64 2>/dev/null) || {
	echo "kver: linux-headers-amd64 is not installed: run 'make deps'" >&2
	exit 1
}
# "linux-headers-6.1.0-56-amd64 (= 6.1.192-2)" -> "6.1.0-56-amd64"
kver=$(printf '%s\n' "$dep" | sed -n 's/^linux-headers-\([^ ,]*\).*/\1/p')
if [ -z "$kver" ]; then
	echo "kver: cannot read a kernel release from linux-headers-amd64's Depends '$dep'" >&2
	exit 1
fi
echo "$kver"
