# daemon/h264/: test clips for the macroblock analyser (compared with
# ffmpeg by daemon/h264/mb's tests) and its parse-rate benchmark.
H264_CLIPS := $(OUT)/h264/.done
PREREQS += $(H264_CLIPS)
BENCHES += bench-mb
.PHONY: h264-clips bench-mb
h264-clips: $(H264_CLIPS)
$(H264_CLIPS): daemon/h264/testdata/gen-clips.sh
	daemon/h264/testdata/gen-clips.sh $(OUT)/h264
	@touch $@

# bench-mb prints the macroblock parse rate of camera-like P-frames.
bench-mb: $(H264_CLIPS)
	@$(GO) test -run '^$$' -bench 'BenchmarkAnalyze' -benchtime 3s ./daemon/h264/mb/ | \
	  awk '/^BenchmarkAnalyze\// { for (i = 1; i < NF; i++) if ($$(i+1) == "macroblocks/s") { \
	    n = $$1; sub(/^BenchmarkAnalyze\//, "", n); sub(/-[0-9]+$$/, "", n); \
	    printf "BENCH motion_parse_mb_per_s_%s %.0f MB/s\n", n, $$i; \
	    if (min == "" || $$i < min) min = $$i } } \
	    END { if (min == "") { print "bench-mb: no benchmark result" > "/dev/stderr"; exit 1 } \
	    printf "BENCH motion_parse_mb_per_s %.0f MB/s\n", min }'
