# daemon/storage: the segment index benchmark (30 days x 64 cameras of
# one-minute segments = 2.8 M segments): start-up time and range-query time.
BENCHES += bench-index
.PHONY: bench-index
bench-index:
	@$(GO) test -run '^$$' -bench 'BenchmarkIndex' -benchtime 3x ./daemon/storage/ | awk ' \
	  /^BenchmarkIndexStartup/ { for (i = 1; i < NF; i++) if ($$(i+1) == "ms/startup") print "BENCH index_startup_64cam_30d", $$i, "ms" } \
	  /^BenchmarkIndexQuery/   { for (i = 1; i < NF; i++) if ($$(i+1) == "ms/query") print "BENCH index_query_1h", $$i, "ms" } \
	  /^(FAIL|panic)/ { print; bad = 1 } END { exit bad }'
