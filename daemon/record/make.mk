# daemon/record: the recorder core's cost per 720p25 ~4 Mbit/s stream (CPU
# time of muxing, writing, fsyncing and indexing; RTSP ingest not included)
# and bytes written to disk per byte of video received; the Go heap the
# recorders hold per camera (the fragment being collected).
BENCHES += bench-record-core
.PHONY: bench-record-core
bench-record-core:
	@$(GO) test -run '^$$' -bench 'BenchmarkRecorderMemory$$' -benchtime 1x ./daemon/record/ | awk ' \
	  /^BenchmarkRecorderMemory/ { for (i = 1; i < NF; i++) if ($$(i+1) == "heap-MB/camera") print "BENCH record_core_heap_per_camera", $$i, "MB" } \
	  /^(FAIL|panic)/ { print; bad = 1 } END { exit bad }'
	@$(GO) test -run '^$$' -bench 'BenchmarkRecorder$$' -benchtime 7500x ./daemon/record/ | awk ' \
	  /^BenchmarkRecorder/ { for (i = 1; i < NF; i++) { \
	    if ($$(i+1) == "%core/stream") print "BENCH record_core_cpu_per_stream", $$i, "%core"; \
	    if ($$(i+1) == "written/received") print "BENCH record_core_bytes_written_overhead", $$i, "ratio"; \
	    if ($$(i+1) == "allocs/op") print "BENCH record_core_allocs_per_frame", $$i, "allocs" } } \
	  /^(FAIL|panic)/ { print; bad = 1 } END { exit bad }'

# Bytes the block device receives per byte of video on a real ext4 (loop
# image in a private mount namespace; root only): our writes plus ext4's
# journal and metadata for one fsync per second.
BENCHES += bench-record-ext4
.PHONY: bench-record-ext4
bench-record-ext4:
	@if [ "$$(id -u)" != 0 ]; then echo "bench-record-ext4: skipped (needs root to loop-mount ext4)"; exit 0; fi; \
	$(GO) test -run '^$$' -bench 'BenchmarkDiskBytesExt4$$' -benchtime 1x ./daemon/record/ | awk ' \
	  /^BenchmarkDiskBytesExt4/ { for (i = 1; i < NF; i++) if ($$(i+1) == "disk/received") print "BENCH record_core_disk_bytes_ext4", $$i, "ratio" } \
	  /^(FAIL|panic)/ { print; bad = 1 } END { exit bad }'

# Days of video a 1 TB USB recording disk holds for 18 cameras at the rates
# the recorder measures for camsim's clips (segments + index on disk).
BENCHES += bench-capacity
.PHONY: bench-capacity
bench-capacity:
	@$(GO) test -run '^$$' -bench 'BenchmarkDaysOfVideoPerTB$$' -benchtime 1x ./daemon/record/ | awk ' \
	  /^BenchmarkDaysOfVideoPerTB/ { for (i = 1; i < NF; i++) { \
	    if ($$(i+1) == "days/TB") print "BENCH days_of_video_per_tb", $$i, "days"; \
	    if ($$(i+1) == "GB/day") print "BENCH video_gb_per_day_18cam", $$i, "GB" } } \
	  /^(FAIL|panic)/ { print; bad = 1 } END { exit bad }'
