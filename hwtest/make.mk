# hwtest/: camera-simulator clips (PREREQ of tests, run and bench).
CLIPS := $(OUT)/clips/.done
PREREQS += $(CLIPS)
.PHONY: clips
clips: $(CLIPS)
$(CLIPS): hwtest/clips/gen.sh
	hwtest/clips/gen.sh $(OUT)/clips
	@touch $@
