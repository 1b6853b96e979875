# hwtest/: camera-simulator clips (PREREQ of tests, run and bench).
CLIPS := $(OUT)/clips/.done
PREREQS += $(CLIPS)
.PHONY: clips
clips: $(CLIPS)
$(CLIPS): hwtest/clips/gen.sh
	hwtest/clips/gen.sh $(OUT)/clips
	@touch $@

# The camera simulator (hwtest/camsim): `make camsim` builds $(OUT)/bin/camsim.
.PHONY: camsim
camsim:
	@mkdir -p $(OUT)/bin
	$(GO) build -o $(OUT)/bin/camsim ./hwtest/cmd/camsim

# bench-camsim: camsim's own CPU with 16 and 64 cameras, one reader each
# (prints BENCH camsim_cpu_per_camera_16 / _64 in % of one core, and RSS).
BENCHES += bench-camsim
.PHONY: bench-camsim
bench-camsim: $(CLIPS)
	@mkdir -p $(OUT); CAMSIM_BENCH=16,64 $(GO) test -count=1 -v -timeout 10m \
	  -run '^TestCPUBench$$' ./hwtest/camsim/camsimtest/ > $(OUT)/bench-camsim.log 2>&1 \
	  || { cat $(OUT)/bench-camsim.log >&2; exit 1; }; grep '^BENCH ' $(OUT)/bench-camsim.log
