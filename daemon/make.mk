# daemon/: the NVR daemon matthand.
#   make matthand      builds $(OUT)/bin/matthand
#   make dev           camsim with 4 cameras + matthand: admin page https://$(DEV_LISTEN_TLS)/
#                      (HTTP $(DEV_LISTEN) redirects), data in $(OUT)/dev; prints how to log
#                      in (the first-boot setup code); Ctrl-C stops both
#   make bench-abuse   the abuse mix (TestAbuse): BENCH abuse_max_recording_gap_s, abuse_peak_rss_mb
#   make bench-record  recorder CPU and RSS per stream (16 and 64 cameras), write overhead;
#                      BENCH_RECORD_SECONDS=10 for a quick look
#   make bench-memory  RSS: 16 cameras record-only, the whole box at 16 and 64 (issue 14)
DEV_LISTEN  ?= 127.0.0.1:8080
DEV_LISTEN_TLS ?= 127.0.0.1:8443
DEV_RTSP    ?= 127.0.0.1:8554
DEV_CONTROL ?= 127.0.0.1:8555
BENCH_RECORD_SECONDS ?= 60
BENCH_RECORD_CAMERAS ?= 16,64

.PHONY: matthand dev bench-record
matthand:
	@mkdir -p $(OUT)/bin
	$(GO) build -o $(OUT)/bin/matthand ./daemon/cmd/matthand

dev: $(OUT)/clips/.done camsim matthand
	@mkdir -p $(OUT)/dev; \
	$(OUT)/bin/camsim -clips $(OUT)/clips -listen $(DEV_RTSP) -control $(DEV_CONTROL) -quiet & cs=$$!; \
	trap 'kill $$cs $$mh 2>/dev/null; wait 2>/dev/null; echo; echo "dev: stopped"' EXIT; \
	trap 'exit 0' INT TERM; \
	sleep 1; \
	$(OUT)/bin/matthand -data $(OUT)/dev -listen $(DEV_LISTEN) -listen-tls $(DEV_LISTEN_TLS) -allow-loopback-cameras \
	  -camera cam1=rtsp://$(DEV_RTSP)/cam1,rtsp://$(DEV_RTSP)/cam1/sub -camera cam2=rtsp://$(DEV_RTSP)/cam2,rtsp://$(DEV_RTSP)/cam2/sub \
	  -camera cam3=rtsp://$(DEV_RTSP)/cam3,rtsp://$(DEV_RTSP)/cam3/sub -camera cam4=rtsp://$(DEV_RTSP)/cam4,rtsp://$(DEV_RTSP)/cam4/sub & mh=$$!; \
	sleep 2; echo; \
	echo "dev: trang quản trị / admin page: https://$(DEV_LISTEN_TLS)/ (self-signed certificate; http://$(DEV_LISTEN)/ redirects there)"; \
	if [ -s $(OUT)/dev/web/setup-code.txt ]; then \
	  echo "dev: lần đầu / first login: enter the setup code $$(cat $(OUT)/dev/web/setup-code.txt) on the page and create the technician account;"; \
	  echo "dev:   the technician then creates the first officer account (Users page); officers see live video, playback, search"; \
	else echo "dev: log in with the accounts made before (data in $(OUT)/dev; delete $(OUT)/dev/web to start over)"; fi; \
	echo "dev: cameras rtsp://$(DEV_RTSP)/cam1..cam4 (+ /sub), faults via http://$(DEV_CONTROL)/cameras; Ctrl-C stops both"; \
	wait $$mh

BENCHES += bench-record
bench-record: $(OUT)/clips/.done
	@set -o pipefail; MATTHAN_BENCH_RECORD=$(BENCH_RECORD_CAMERAS) MATTHAN_BENCH_SECONDS=$(BENCH_RECORD_SECONDS) \
	  $(GO) test -count=1 -v -timeout 20m -run '^TestRecordBench$$' ./daemon/e2e/ | \
	  awk '/^BENCH /{print; next} /^(--- FAIL|FAIL|panic)|e2e_test|bench_test|harness_test/{print > "/dev/stderr"}'
	@set -o pipefail; $(GO) test -count=1 -run '^$$' -bench '^BenchmarkIngestPath$$' -benchtime 400000x ./daemon/ingest/ | \
	  awk '/^BenchmarkIngestPath/{print "BENCH ingest_ns_per_packet", $$3, "ns"; print "BENCH ingest_allocs_per_packet", $$7, "allocs"}'

# bench-memory: matthand's RSS with 16 cameras recording only, and the whole
# box (motion on sub streams, live hub, event index) at 16 and 64 cameras:
# BENCH rss_record_only_16_mb, rss_box_16_mb, rss_box_64_mb (issue 14 targets
# 40, 64, 128 MB). BENCH_RECORD_SECONDS as for bench-record; MATTHAN_BENCH_MEMORY=64
# (running the test by hand) measures the 64-camera box alone.
BENCHES += bench-memory
.PHONY: bench-memory
bench-memory: $(OUT)/clips/.done
	@set -o pipefail; MATTHAN_BENCH_MEMORY=1 MATTHAN_BENCH_SECONDS=$(BENCH_RECORD_SECONDS) \
	  $(GO) test -count=1 -v -timeout 20m -run '^TestMemoryBench$$' ./daemon/e2e/ | \
	  awk '/^BENCH /{print; next} /^(--- FAIL|FAIL|panic)|e2e_test|bench_test|harness_test/{print > "/dev/stderr"}'

# bench-abuse: the abuse mix of TestAbuse (1,000 logins/s, 3,000 idle
# connections, 10,000 denied 64 KB requests, a data partition filling up; 4
# cameras, 60 s): the longest recording gap and the daemon's peak RSS.
BENCHES += bench-abuse
.PHONY: bench-abuse
bench-abuse: $(OUT)/clips/.done
	@set -o pipefail; MATTHAN_ABUSE_BENCH=1 $(GO) test -count=1 -v -timeout 10m -run '^TestAbuse$$' ./daemon/e2e/ | \
	  awk '/^BENCH /{print; next} /^(--- FAIL|FAIL|panic)|abuse_test/{print > "/dev/stderr"}'
