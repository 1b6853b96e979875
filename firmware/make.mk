# firmware/: signed update bundles.
#   make bundle BOARD=rpi4 KEY=/path/release.key   out/BOARD/matthan.bundle (xz -9e, signed)
#   make test-key                                   out/keys/test.{key,pub} (tests, make run)
# KEY defaults to the test key; a release key lives off the repository
# (see firmware/README.md). UPDATE_KEYS is the public keys file images
# trust (make image embeds it).
KEY         ?= $(OUT)/keys/test.key
UPDATE_KEYS ?= $(OUT)/keys/test.pub
BENCHES += bench-update-bundle soak-update
.PHONY: bundle test-key bench-update-bundle soak-update

test-key: $(OUT)/keys/test.key
$(OUT)/keys/test.key:
	@mkdir -p $(OUT)/keys
	$(IMAGE_TOOL) keygen -key $@ -pub $(OUT)/keys/test.pub

$(OUT)/keys/test.pub: $(OUT)/keys/test.key

bundle: $(KEY) $(UPDATE_KEYS)
	$(IMAGE_TOOL) bundle -board $(BOARD) -out $(OUT) -key $(KEY) -update-keys $(UPDATE_KEYS) $(if $(SINCE),-since $(SINCE)) $(if $(COUNTER),-counter $(COUNTER))

# bench-update-bundle: BENCH update_bundle_mb for a full bundle (kernel
# and initramfs, xz -9e) and for one that leaves the unchanged kernel out.
bench-update-bundle: kernel $(KEY) $(UPDATE_KEYS)
	@d=$(OUT)/bench-update; mkdir -p $$d; \
	$(IMAGE_TOOL) bundle -board qemu-virt -out $$d -cache $(OUT)/cache -key $(KEY) -update-keys $(UPDATE_KEYS) > $$d/full.log 2>&1 || { cat $$d/full.log >&2; exit 1; }; \
	awk '/^bundle /{printf "BENCH update_bundle_mb %.1f MB (full: kernel and initramfs)\n", $$3/1e6}' $$d/full.log; \
	cp $$d/qemu-virt/release.json $$d/installed-release.json; \
	$(IMAGE_TOOL) bundle -board qemu-virt -out $$d -cache $(OUT)/cache -key $(KEY) -update-keys $(UPDATE_KEYS) -since $$d/installed-release.json > $$d/nokernel.log 2>&1 || { cat $$d/nokernel.log >&2; exit 1; }; \
	awk '/^bundle /{printf "BENCH update_bundle_mb %.1f MB (the kernel unchanged, left out)\n", $$3/1e6}' $$d/nokernel.log

# soak-update: the UEFI update test with 20 power cuts at seeded random
# phases (writing, arming, first boot, confirmation); prints
# BENCH update_apply_s and BENCH update_power_cuts_survived.
soak-update: kernel clips
	@mkdir -p $(OUT); MATTHAN_UPDATE_CUTS=20 $(GO) test -count=1 -v -timeout 180m -run '^TestUpdateUEFI$$' ./hwtest/qemu/ \
	  > $(OUT)/soak-update.log 2>&1 || { grep -v 'console:' $(OUT)/soak-update.log | tail -50 >&2; exit 1; }; grep '^BENCH ' $(OUT)/soak-update.log
