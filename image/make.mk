# image/: the firmware. `make image BOARD=qemu-virt|rpi4` builds
# out/BOARD/{vmlinuz,initrd.cpio,matthan.img}; DEBUG=1 adds a shell.
BOARD ?= qemu-virt
IMAGE_TOOL := $(GO) run ./image/cmd/matthan-image

# kernel: fetch and verify the pinned Debian packages of the QEMU board
# (kernel, systemd-boot, e2fsprogs) into $(OUT)/cache (cached).
PREREQS += kernel
BENCHES += bench-boot bench-field
.PHONY: kernel image run bench-boot bench-field flash repin

kernel:
	@$(IMAGE_TOOL) fetch -board qemu-virt -out $(OUT) >/dev/null

# The image trusts the update keys in UPDATE_KEYS (firmware/make.mk:
# the test key unless told otherwise).
image: $(UPDATE_KEYS)
	$(IMAGE_TOOL) build -board $(BOARD) -out $(OUT) -update-keys $(UPDATE_KEYS) $(if $(DEBUG),-debug)

# repin: move every package pin (board/*/board.json, image/userland.json)
# to the newest package in the Debian archive.
repin:
	$(IMAGE_TOOL) repin -out $(OUT)

# run: 4 simulated cameras (fault API on 127.0.0.1:8555), the firmware
# under UEFI in QEMU, the admin page on https://127.0.0.1:8443/
# (http://127.0.0.1:8080/ redirects); Ctrl-C shuts the box down cleanly and
# exits 0. The box's disk, $(OUT)/run/disk.img (16 GiB sparse), is kept
# across runs; FRESH=1 starts over.
run: deps kernel $(CLIPS) $(UPDATE_KEYS)
	$(GO) run ./hwtest/qemu/cmd/matthan-run -out $(OUT) $(if $(DEBUG),-debug) $(if $(DIRECT),-direct) $(if $(FRESH),-fresh)

bench-boot: kernel $(CLIPS)
	@$(GO) run ./hwtest/qemu/cmd/matthan-bootbench -out $(OUT)

# bench-field: BENCH flash_seconds_per_gib (matthan-flash onto a loop
# device), first_boot_grow_s (64 GiB sparse disk, QEMU) and
# days_of_video_per_tb (18 cameras at the simulator clips' bitrate); root.
bench-field: kernel $(CLIPS)
	@mkdir -p $(OUT); MATTHAN_BENCH=1 $(GO) test -count=1 -v -timeout 30m -run '^TestFieldBench$$' ./hwtest/qemu/ \
	  > $(OUT)/bench-field.log 2>&1 || { cat $(OUT)/bench-field.log >&2; exit 1; }; grep '^BENCH ' $(OUT)/bench-field.log

# flash: make flash DEV=/dev/sdX (or a file, or /dev/loopN) writes
# out/$(BOARD)/matthan.img (built if missing), skipping its zero blocks,
# and verifies it by reading back.
flash:
	@test -n "$(DEV)" || { echo "usage: make flash DEV=/dev/sdX [BOARD=$(BOARD)]"; exit 2; }
	@test -f $(OUT)/$(BOARD)/matthan.img || $(MAKE) --no-print-directory image BOARD=$(BOARD)
	$(GO) run ./image/cmd/matthan-flash -image $(OUT)/$(BOARD)/matthan.img -to $(DEV)
