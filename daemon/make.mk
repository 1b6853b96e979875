# daemon/: the NVR daemon matthand.
#   make matthand      builds $(OUT)/bin/matthand
#   make dev           camsim with 4 cameras + matthand on $(DEV_LISTEN), data in $(OUT)/dev
#   make bench-record  recorder CPU/RSS per stream (16 and 64 cameras) and write overhead
DEV_LISTEN ?= 127.0.0.1:8080
# Seconds each bench-record run measures (60 for the real figure; 10 for a quick look).
BENCH_RECORD_SECONDS ?= 60
BENCH_RECORD_CAMERAS ?= 16,64

.PHONY: matthand dev bench-record
matthand:
	@mkdir -p $(OUT)/bin
	$(GO) build -o $(OUT)/bin/matthand ./daemon/cmd/matthand

dev: $(OUT)/clips/.done camsim matthand
	@mkdir -p $(OUT)/dev; \
	$(OUT)/bin/camsim -clips $(OUT)/clips -quiet & cs=$$!; \
	trap 'kill $$cs $$mh 2>/dev/null; wait 2>/dev/null; echo; echo "dev: stopped"' EXIT; \
	trap 'exit 0' INT TERM; \
	sleep 1; \
	$(OUT)/bin/matthand -data $(OUT)/dev -listen $(DEV_LISTEN) \
	  -camera cam1=rtsp://127.0.0.1:8554/cam1 -camera cam2=rtsp://127.0.0.1:8554/cam2 \
	  -camera cam3=rtsp://127.0.0.1:8554/cam3 -camera cam4=rtsp://127.0.0.1:8554/cam4 & mh=$$!; \
	echo "dev: matthand on http://$(DEV_LISTEN)/api/cameras (data in $(OUT)/dev); Ctrl-C stops camsim and matthand"; \
	wait $$mh

BENCHES += bench-record
bench-record: $(OUT)/clips/.done
	@set -o pipefail; MATTHAN_BENCH_RECORD=$(BENCH_RECORD_CAMERAS) MATTHAN_BENCH_SECONDS=$(BENCH_RECORD_SECONDS) \
	  $(GO) test -count=1 -v -timeout 20m -run '^TestRecordBench$$' ./daemon/e2e/ | \
	  awk '/^BENCH /{print; next} /^(--- FAIL|FAIL|panic)|e2e_test|bench_test/{print > "/dev/stderr"}'
