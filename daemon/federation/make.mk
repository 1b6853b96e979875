# daemon/federation: the box ↔ district link over NATS JetStream.
#   make bench-federation   BENCH federation_replay_events_per_s (the outbox replaying
#                           100,000 events after an outage, 5,000 of them again past
#                           JetStream's duplicate window) and BENCH federation_clip_fetch_s
#                           (a 60 s 1080p clip over a link shaped to 10 Mbit/s with tc in a
#                           network namespace dist-box; needs root)
BENCHES += bench-federation
.PHONY: bench-federation
bench-federation:
	@set -o pipefail; MATTHAN_FEDERATION_BENCH=1 $(GO) test -count=1 -v -timeout 20m -run '^(TestReplayBench|TestClipBench)$$' ./daemon/federation/ | \
	  awk '/^BENCH /{print; next} /^(--- FAIL|FAIL|panic)|bench_test/{print > "/dev/stderr"}'
