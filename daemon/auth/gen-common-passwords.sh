#!/bin/sh
# Regenerates common-passwords.txt: the 10,000 most common passwords, most
# common first, one a line, lower case. The source is the "passwords"
# frequency list (30,000 entries ranked by frequency in leaked password
# sets) that zxcvbn ships; Debian packages it as python3-zxcvbn. The
# package is pinned by version and SHA-256 so the output is reproducible.
#
#   sh daemon/auth/gen-common-passwords.sh   (needs apt-get, dpkg-deb, python3)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
ver=4.4.28-3
sum=49b4ba60a369e685d3a3bc5706cdd79041a063894d35093db288591ddffeb508
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
apt-get download "python3-zxcvbn=$ver" >/dev/null 2>&1
echo "$sum  python3-zxcvbn_${ver}_all.deb" | sha256sum -c - >/dev/null
dpkg-deb -x "python3-zxcvbn_${ver}_all.deb" x
PYTHONPATH=x/usr/lib/python3/dist-packages python3 -c '
from zxcvbn.frequency_lists import FREQUENCY_LISTS
words = FREQUENCY_LISTS["passwords"].split(",") if isinstance(FREQUENCY_LISTS["passwords"], str) else FREQUENCY_LISTS["passwords"]
assert len(words) >= 10000, len(words)
print("\n".join(w.lower() for w in words[:10000]))
' >"$here/common-passwords.txt"
wc -l "$here/common-passwords.txt"
