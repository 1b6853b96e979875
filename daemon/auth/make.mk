# daemon/auth/: accounts, sessions, password hashing.
#   make bench-auth   a flood of 2,000 wrong-password logins at once (real argon2id):
#                     BENCH login_flood_peak_heap_mb, login_flood_peak_hashes (bound 2)
.PHONY: bench-auth
BENCHES += bench-auth
bench-auth:
	@set -o pipefail; $(GO) test -count=1 -run '^$$' -bench '^BenchmarkLoginFlood$$' -benchtime 1x ./daemon/auth/ | \
	  awk '/^BENCH /{print}'
