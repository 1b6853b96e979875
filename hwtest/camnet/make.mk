# hwtest/camnet: the camera network's tests run in `go test ./...` (root:
# network namespaces; they skip otherwise). bench-camnet prints
# BENCH camnet_plug_to_recording_s: a camera plugged in, the pairing button
# pressed, paired by API, first segment on disk (target ≤ 20 s).
BENCHES += bench-camnet
.PHONY: bench-camnet
bench-camnet: $(CLIPS)
	@if [ "$$(id -u)" != 0 ]; then echo "bench-camnet: needs root (network namespaces): skipped"; exit 0; fi; \
	mkdir -p $(OUT); CAMNET_BENCH=1 $(GO) test -count=1 -v -timeout 10m \
	  -run '^TestCameraNetworkWholePath$$' ./hwtest/camnet/ > $(OUT)/bench-camnet.log 2>&1 \
	  || { cat $(OUT)/bench-camnet.log >&2; exit 1; }; grep '^BENCH ' $(OUT)/bench-camnet.log
