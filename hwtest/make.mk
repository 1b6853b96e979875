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
