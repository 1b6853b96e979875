# Live view feed: cost of one 720p picture through a camera's Feed, without a
# viewer (every camera, all the time) and with one.
BENCHES += bench-live
.PHONY: bench-live
bench-live:
	@$(GO) test -run '^$$' -bench 'BenchmarkFeedWriteAccessUnit' -benchtime 5000x ./daemon/live/ | awk ' \
	  /^BenchmarkFeedWriteAccessUnit\// { split($$1, n, "/"); sub(/-[0-9]+$$/, "", n[2]); gsub(/-/, "_", n[2]); \
	    for (i = 1; i < NF; i++) { \
	      if ($$(i+1) == "ns/op") print "BENCH live_feed_" n[2] "_time_per_picture", $$i, "ns"; \
	      if ($$(i+1) == "allocs/op") print "BENCH live_feed_" n[2] "_allocs_per_picture", $$i, "allocs"; \
	      if ($$(i+1) == "B/op") print "BENCH live_feed_" n[2] "_bytes_per_picture", $$i, "B" } } \
	  /^(FAIL|panic)/ { print; bad = 1 } END { exit bad }'
