# daemon/motion, daemon/search: labelled motion scenes and the benchmarks.
#   make motion-scenes   out/scenes/*.h264 + truth *.json (640x360 and 1280x720)
#   make bench-motion    accuracy per scene family, ours and the Motion daemon
#                        (apt motion) side by side; CPU per camera at 360p25 and
#                        1080p25, ours and Motion's, in the same run
#                        and pipeline_cpu_per_camera (1080p main + 360p sub);
#                        mixed_mode_bytes_per_day against continuous (10 events an hour)
#   make bench-search    1 M event bleve index (built once into out/search-bench):
#                        p95 query latency, index bytes per event
SCENES := $(OUT)/scenes/.done
.PHONY: motion-scenes bench-motion bench-search
motion-scenes: $(SCENES)
$(SCENES): $(wildcard daemon/motion/internal/scenes/*.go daemon/motion/cmd/scenegen/*.go)
	$(GO) run ./daemon/motion/cmd/scenegen -out $(OUT)/scenes -sizes 640x360,1280x720 -pair
	@touch $@

bench-motion: $(SCENES)
	@command -v motion >/dev/null || { echo "the Motion daemon is missing: apt-get install -y motion"; exit 1; }
	$(GO) run ./daemon/motion/cmd/motionbench -scenes $(OUT)/scenes -motion-daemon -cost -mixed

bench-search:
	set -o pipefail; cd daemon/search && $(GO) test -run '^$$' -bench 'Search1M' -benchtime 1x -timeout 60m . | grep -E '^(BENCH|ok|FAIL|---)'

BENCHES += bench-motion bench-search
