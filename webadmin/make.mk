# webadmin/: the admin page's browser tests and benchmarks in headless Chromium.
#   webadmin-npm  installs playwright-core (pinned) into webadmin/e2e/node_modules
#   e2e           runs the browser tests against webtestd over camsim cameras
#   bench-web     prints BENCH live_webrtc_latency_p95_ms, live_first_frame_ms, wall_16_ready_ms (WebRTC) with their
#                 MSE figures (live_mse_latency_p95_ms, live_first_frame_mse_ms, wall_16_ready_mse_ms), api_p95_ms,
#                 playback_tap_first_frame_ms; on stderr each wall load's timeline (ms after navigation: HTML,
#                 app.js, DOM ready, camera list, offer, answer, connected, first/median/last tile's first frame)
#   bench-wall    the wall alone (WebRTC and MSE), for a quick look
WEB_E2E := webadmin/e2e
PLAYWRIGHT_VERSION := 1.65.1
PREREQS += webadmin-npm
TESTS   += e2e
BENCHES += bench-web
.PHONY: webadmin-npm e2e bench-web webadmin-bins

webadmin-npm: $(WEB_E2E)/node_modules/playwright-core/package.json
$(WEB_E2E)/node_modules/playwright-core/package.json: $(WEB_E2E)/package.json
	cd $(WEB_E2E) && npm install --no-audit --no-fund --no-save playwright-core@$(PLAYWRIGHT_VERSION)
	@test -f $@ && touch $@

webadmin-bins:
	@mkdir -p $(OUT)/bin
	$(GO) build -o $(OUT)/bin/camsim ./hwtest/cmd/camsim
	$(GO) build -o $(OUT)/bin/webtestd ./webadmin/cmd/webtestd
	$(GO) build -o $(OUT)/bin/fakeinit ./hwtest/cmd/fakeinit

e2e: webadmin-npm webadmin-bins $(CLIPS)
	cd $(WEB_E2E) && MATTHAN_OUT=$(OUT) node --test --test-concurrency=1 e2e.test.mjs layout.test.mjs video.test.mjs audio.test.mjs webrtc.test.mjs pairing.test.mjs firmware.test.mjs

bench-web: webadmin-npm webadmin-bins $(CLIPS)
	@cd $(WEB_E2E) && MATTHAN_OUT=$(OUT) node bench.mjs

# bench-wall: the 16-camera wall alone (WebRTC and MSE), with its timeline on stderr.
.PHONY: bench-wall
bench-wall: webadmin-npm webadmin-bins $(CLIPS)
	@cd $(WEB_E2E) && MATTHAN_OUT=$(OUT) BENCH_ONLY=wall node bench.mjs
