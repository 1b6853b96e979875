# Camera fan-out: cost on the camera's side of one 720p picture handed to
# 1 and 3 readers (the one copy and the queueing).
BENCHES += bench-stream
.PHONY: bench-stream
bench-stream:
	@$(GO) test -run '^$$' -bench 'BenchmarkPublish' -benchtime 2000x ./daemon/stream/ | awk ' \
	  /^BenchmarkPublish\// { split($$1, n, "/"); sub(/-[0-9]+$$/, "", n[2]); \
	    for (i = 1; i < NF; i++) { \
	      if ($$(i+1) == "ns/op") print "BENCH stream_publish_" n[2] "_time_per_picture", $$i, "ns"; \
	      if ($$(i+1) == "allocs/op") print "BENCH stream_publish_" n[2] "_allocs_per_picture", $$i, "allocs" } } \
	  /^(FAIL|panic)/ { print; bad = 1 } END { exit bad }'
